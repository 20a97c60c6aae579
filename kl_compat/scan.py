"""`kl-compat scan PATH --from F --to G`: the kl_div call sites of a codebase, and what changes for each
when the code runs on G instead of F, from measured results.

Python sources are read with `ast` (imports and aliases followed: `import torch.nn.functional as F`,
`from torch.nn.functional import kl_div as kld`, `from torch import nn`, ...); R sources with R's own
parser (`parse()` in an Rscript process, which never loads R torch). A call's literal arguments are read
(reduction, log_target, size_average, reduce, positional or by name); an argument that is not a literal
stands for any value. The call is then matched to the conformance matrix's cases that make the same call
(case ids end in `/{reduction}[,size_average=..,reduce=..]/{prob|log}`), on the surface it uses
(function or module), and the measured records of F and G are compared case by case: a case where the
two frameworks' outcomes differ (status, or the kinds of difference from the spec) is a difference of
that call site, explained by the known-differences entries of the findings it belongs to, with their
advice. A difference is *silent* when both frameworks return a value there (no error, no refusal) and
the value, shape, dtype or gradient differs: code keeps running with another result.

Comparing outcomes by status and difference kinds finds every case where exactly one of the two follows
the spec; two frameworks that both differ from the spec in the same kind, with different values, are not
told apart here (the porting guides compare those values).

No table here names a framework: the frameworks are the registered adapters' descriptions
(kl_compat.adapters.framework.Framework) whose key is the adapter's own name, and the calls found are
their `scan_apis` (each name, its kind of call, positional parameters and the adapter surface measured for
it). A framework installed with its adapter is scanned for, and can be ported from and to.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .adapters import frameworks
from .errors import KlCompatError
from .exitcode import ExitCode

if TYPE_CHECKING:
    from .adapters.framework import Api, Framework

# kl_compat's own porting layer: one framework's semantics on any framework's tensors, already portable.
_PORTABLE = {"kl_compat.kl_div": "functional", "kl_compat.porting.kl_div": "functional",
             "kl_compat.porting.torch_module.KLDivLoss": "module", "kl_compat.porting.paddle_module.KLDivLoss": "module"}
_DEFAULTS = {"reduction": "mean", "log_target": False, "size_average": None, "reduce": None}
_ARGUMENTS = tuple(_DEFAULTS)
ANY = "<not a literal>"  # an argument whose value the source does not fix
_RETURNS = ("match", "differs")  # statuses where the framework returned a value
_SILENT_KINDS = {"value", "nan-inf", "shape", "dtype", "gradient"}


class ScanError(KlCompatError):
    pass


def _known(name: str, known: dict[str, Framework]) -> Framework:
    """`--from`/`--to`'s framework: one of frameworks(), else a ScanError naming them."""
    if name not in known:
        raise ScanError(f"unknown framework {name!r}: one of {', '.join(known)}")
    return known[name]


def apis(language: str, known: dict[str, Framework] | None = None) -> dict[str, tuple[Framework, Api]]:
    """{name: (framework, Api)} of every API the frameworks written in `language` declare (the first
    framework's where two declare one name)."""
    found: dict[str, tuple[Framework, Api]] = {}
    for described in (frameworks() if known is None else known).values():
        if described.language == language:
            for api in described.scan_apis:
                found.setdefault(api.name, (described, api))
    return found


@dataclass
class CallSite:
    path: str
    line: int
    framework: str  # whose API the call is
    surface: str  # "functional" | "module"
    api: str  # as written, e.g. "F.kl_div"
    arguments: dict  # reduction, log_target, size_average, reduce: a literal value, or ANY
    semantics: str | None = None  # for kl_compat's porting layer: the semantics asked for
    measured: str | None = None  # the adapter surface measured for the called API (its Api's), where known

    def pattern(self) -> str:
        """The call as written, e.g. "F.kl_div(reduction='batchmean', size_average=False)"."""
        if self.framework == "kl_compat":
            return f"{self.api}(..., semantics={self.semantics if self.semantics == ANY else repr(self.semantics)})"
        shown = [f"{k}={v if v == ANY else repr(v)}" for k, v in self.arguments.items() if v != _DEFAULTS[k]]
        return f"{self.api}({', '.join(shown)})"


@dataclass
class Difference:
    """One cause of a call site's differences: the finding (a known-differences entry on one framework)
    that explains them, or none (`explained` False) where no finding covers the differing cases."""

    column: str | None  # the framework column the finding is about
    reason: str
    advice: str | None
    code: str | None  # the advice as code, for the framework ported to
    link: str | None
    explained: bool
    silent: bool = False  # on some of its cases both frameworks return, and a value-like kind differs
    cases: list = field(default_factory=list)  # the case ids that show it, in matrix order
    example: dict = field(default_factory=dict)  # both frameworks' outcome on its first case


@dataclass
class SiteReport:
    site: CallSite
    cases: int  # matrix cases that make this call
    differences: list
    notes: list = field(default_factory=list)

    @property
    def silent(self) -> bool:
        return any(d.silent for d in self.differences)


# ---- finding the calls ---------------------------------------------------------------------------------

class _PythonCalls(ast.NodeVisitor):
    """Calls of the known APIs, with imports and aliases followed (module level and inside functions)."""

    def __init__(self, path: str, known: dict[str, tuple[Framework, Api]]):
        self.path = path
        self.known = known  # apis("python")
        self.names: dict[str, str] = {}  # a local name -> the dotted name it stands for
        self.sites: list[CallSite] = []

    def visit_Import(self, node):
        for a in node.names:
            if a.asname:
                self.names[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                self.names[top] = top

    def visit_ImportFrom(self, node):
        if node.module and not node.level:
            for a in node.names:
                self.names[a.asname or a.name] = f"{node.module}.{a.name}"

    def visit_Assign(self, node):
        # `kl = F.kl_div` or `Loss = nn.KLDivLoss`: an alias of a known API
        target = self._dotted(node.value)
        if target in self.known:
            for t in node.targets:
                if isinstance(t, ast.Name):
                    self.names[t.id] = target
        self.generic_visit(node)

    def _dotted(self, node) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.names:
            return None
        return ".".join([self.names[node.id]] + parts[::-1])

    def visit_Call(self, node):
        name = self._dotted(node.func)
        if name in _PORTABLE:
            semantics = next((k.value for k in node.keywords if k.arg == "semantics"), None)
            try:
                semantics = ast.literal_eval(semantics) if semantics is not None else "torch"
            except ValueError:
                semantics = ANY
            self.sites.append(CallSite(self.path, node.lineno, "kl_compat", _PORTABLE[name], ast.unparse(node.func),
                                       {k: ANY for k in _ARGUMENTS}, semantics))
        elif name in self.known:
            framework, api = self.known[name]
            arguments = {**_python_arguments(node, framework, api.params), **dict(api.fixed)}
            self.sites.append(CallSite(self.path, node.lineno, framework.key, api.kind, ast.unparse(node.func),
                                       arguments, measured=api.surface))
        self.generic_visit(node)


def _python_arguments(node: ast.Call, framework: Framework, order) -> dict:
    given = {}
    for param, arg in zip(order, node.args):
        given[param] = arg
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
        return {k: ANY for k in _ARGUMENTS}  # *args / **kwargs: nothing is known
    for k in node.keywords:
        given[k.arg] = k.value
    out = {}
    for key in _ARGUMENTS:
        written = given.get(_spelled(framework, key))
        if written is None:
            out[key] = _DEFAULTS[key]
            continue
        try:
            out[key] = ast.literal_eval(written)
        except ValueError:
            out[key] = ANY
    return out


def _spelled(framework: Framework, role: str) -> str:
    """The argument's name in the framework's calls (the role's own name where it has no such argument: a
    call that gives it anyway is read as giving it)."""
    return framework.param(role) or role


def python_calls(path: Path, known: dict[str, tuple[Framework, Api]] | None = None) -> list[CallSite]:
    """The calls of the frameworks' Python APIs (`known`: apis("python"), read now if not given) and of
    kl_compat's porting layer in one Python file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as e:
        raise ScanError(f"{path}: not valid Python (line {e.lineno}): {e.msg}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScanError(f"{path}: cannot be read: {e}") from None
    visitor = _PythonCalls(str(path), apis("python") if known is None else known)
    visitor.visit(tree)
    return visitor.sites


# R's own parser, in a separate Rscript process (R torch is never loaded: only the source is parsed). Given
# the file and the functions wanted (the R frameworks' scan_apis), for every call of one of them (also as
# pkg::name), one line: the line number, the function,
# then per argument its name (empty when positional), its kind (a literal's R type, or "expr") and its value
# as R writes a string (encodeString), tab-separated.
_R_SCANNER = r"""
args <- commandArgs(trailingOnly = TRUE)
exprs <- parse(file = args[[1]], keep.source = TRUE)
pd <- getParseData(exprs)
wanted <- args[-1]
calls <- pd[pd$token == "SYMBOL_FUNCTION_CALL" & pd$text %in% wanted, ]
calls <- calls[order(calls$line1, calls$col1), ]
found <- list()
walk <- function(e) {
  if (is.call(e)) {
    f <- e[[1]]
    name <- if (is.name(f)) as.character(f) else if (is.call(f) && identical(f[[1]], as.name("::"))) as.character(f[[3]]) else ""
    if (name %in% wanted) found[[length(found) + 1L]] <<- e
    for (part in as.list(e)) walk(part)
  }
}
for (e in exprs) walk(e)
if (length(found) != nrow(calls)) stop("R scanner: calls and parse data disagree")
for (i in seq_along(found)) {
  e <- found[[i]]
  f <- e[[1]]
  name <- if (is.name(f)) as.character(f) else as.character(f[[3]])
  a <- as.list(e)[-1]
  nms <- if (is.null(names(a))) rep("", length(a)) else names(a)
  fields <- c(calls$line1[i], name)
  for (j in seq_along(a)) {
    v <- a[[j]]
    kind <- if (is.character(v) && length(v) == 1L) "character" else if (is.logical(v) && length(v) == 1L) "logical" else
            if (is.numeric(v) && length(v) == 1L) "numeric" else if (is.null(v)) "NULL" else "expr"
    text <- if (kind == "expr") paste(deparse(v), collapse = " ") else as.character(v)
    if (kind == "NULL") text <- ""
    fields <- c(fields, encodeString(nms[[j]]), kind, encodeString(text, quote = '"'))
  }
  cat(paste(fields, collapse = "\t"), "\n", sep = "")
}
"""


def r_calls(path: Path, known: dict[str, tuple[Framework, Api]] | None = None) -> list[CallSite]:
    """The calls of the R frameworks' APIs (`known`: apis("r"), read now if not given) in one R file."""
    known = apis("r") if known is None else known
    try:
        out = subprocess.run(["Rscript", "-e", _R_SCANNER, str(path), *known], capture_output=True, text=True,
                             timeout=120)
    except FileNotFoundError:
        raise ScanError(f"{path}: R sources are read with R's own parser, and Rscript is not installed") from None
    except subprocess.TimeoutExpired:
        raise ScanError(f"{path}: R's parser did not finish in 120 s") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["R failed"])[-1]
        raise ScanError(f"{path}: R could not parse it: {last}")
    sites = []
    for line in out.stdout.splitlines():
        fields = line.split("\t")
        lineno, name, rest = int(fields[0]), fields[1], fields[2:]
        framework, api = known[name]
        order = api.params
        given, position = {}, 0
        for arg_name, kind, text in zip(rest[0::3], rest[1::3], rest[2::3]):
            arg_name = ast.literal_eval(f'"{arg_name}"') if arg_name else ""
            value = _r_literal(kind, text)
            if not arg_name:
                arg_name = order[position] if position < len(order) else f"..{position}"
                position += 1
            given[arg_name] = value
        arguments = {k: given.get(_spelled(framework, k), _DEFAULTS[k]) for k in _ARGUMENTS} | dict(api.fixed)
        sites.append(CallSite(str(path), lineno, framework.key, api.kind, name, arguments, measured=api.surface))
    return sites


def _r_literal(kind: str, text: str):
    value = ast.literal_eval(text)  # encodeString's quoting reads as a Python string literal
    if kind == "character":
        return value
    if kind == "logical":
        return {"TRUE": True, "FALSE": False}.get(value, ANY)
    if kind == "numeric":
        return float(value)
    if kind == "NULL":
        return None
    return ANY


_SKIPPED_FOLDERS = {"__pycache__", "site-packages", "node_modules"}


def _sources(folder: Path) -> list[Path]:
    """*.py, *.R and *.r under `folder`, leaving out hidden folders (.git, .venv) and installed packages."""
    out = []
    for f in sorted(folder.rglob("*")):
        parts = f.relative_to(folder).parts[:-1]
        if any(p.startswith(".") or p in _SKIPPED_FOLDERS for p in parts):
            continue
        if f.suffix in (".py", ".R", ".r") and f.is_file():
            out.append(f)
    return out


def find_calls(paths) -> list[CallSite]:
    """Every call site under `paths` (files or folders: *.py, *.R and *.r), in path and line order."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += _sources(p)
        elif p.is_file():
            files.append(p)
        else:
            raise ScanError(f"{p}: no such file or folder")
    known = frameworks()
    python, r = apis("python", known), apis("r", known)
    sites = []
    for f in files:
        sites += r_calls(f, r) if f.suffix in (".R", ".r") else python_calls(f, python)
    return sites


# ---- matching calls to measurements --------------------------------------------------------------------

def case_patterns(site: CallSite) -> list[str]:
    """Globs of the case ids that make this call: the last two parts of an id are the call's reduction
    (with the legacy arguments, if any) and the target's space."""
    a = site.arguments
    spaces = ["prob", "log"] if a["log_target"] == ANY else ["log" if a["log_target"] else "prob"]
    reduction = "*" if a["reduction"] == ANY else _glob_escape(str(a["reduction"]))
    if a["size_average"] is None and a["reduce"] is None:
        calls = [reduction]
    else:
        legacy = [f"{k}={'*' if a[k] == ANY else a[k]}" for k in ("size_average", "reduce")]
        calls = [f"{reduction},{','.join(legacy)}"]
    return [f"*/{c}/{s}" for c in calls for s in spaces]


def _glob_escape(text: str) -> str:
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)


def _columns(m: dict, name: str) -> dict | None:
    ran = [c for c in m["columns"] if c["name"] == name and c["available"]]
    if not ran:
        return None
    from .guide import pick_column

    return pick_column(m, name)


def scan(sites, m: dict, src: str, dst: str) -> list[SiteReport]:
    """What differs for each call site when its code runs on `dst` instead of `src` (a report model)."""
    known = frameworks()
    described = {name: _known(name, known) for name in (src, dst)}
    cols: dict[str, dict] = {}
    for name in (src, dst):
        col = _columns(m, name)
        if col is None:
            raise ScanError(f"the measurements hold no results of {name}: run `kl-compat report` with it first")
        cols[name] = col
    records = {(r["column"], r["surface"]): r["cases"] for r in m["records"]}
    owners: dict = {}  # (column, surface, case) -> the findings that case belongs to
    for f in m["findings"]:
        for c in f["cases"]:
            owners.setdefault((f["column"], c["surface"], c["case"]), []).append(f)
    out = []
    for site in sites:
        if site.framework not in (src, dst, "kl_compat"):
            out.append(SiteReport(site, 0, [], [f"a {site.framework} call: not part of {src} -> {dst}"]))
            continue
        if site.framework == "kl_compat":
            out.append(SiteReport(site, 0, [], [
                f"kl_compat's porting layer: semantics={site.semantics!r} gives that framework's measured behaviour on "
                f"{dst} tensors as on any other (held to it case by case), so the port changes nothing here"]))
            continue
        patterns = case_patterns(site)
        a_surface, b_surface = (_measured_surface(site, described[name]) for name in (src, dst))
        a_cases = records.get((cols[src]["id"], a_surface), {})
        b_cases = records.get((cols[dst]["id"], b_surface), {})
        converted = _converted(site, described[dst])
        pairs = [(c, converted(c) if converted else c) for c in a_cases
                 if any(fnmatch.fnmatchcase(c, p) for p in patterns)]
        pairs = [(c, d) for c, d in pairs if d in b_cases]
        matched = [c for c, _ in pairs]
        causes: dict = {}
        for case, dst_case in pairs:
            ra, rb = a_cases[case], b_cases[dst_case]
            ka, kb = set(ra.get("kinds") or ()), set(rb.get("kinds") or ())
            if ra["status"] == rb["status"] and ka == kb:
                continue
            # Each side's findings of the kinds only that side shows (all its findings on the case where the
            # statuses differ and the kinds do not); a cause is silent on a case where both return values
            # and it accounts for a differing value-like kind.
            differing = (ka ^ kb) or (ka | kb)
            silent_kinds = (ka ^ kb) & _SILENT_KINDS if ra["status"] in _RETURNS and rb["status"] in _RETURNS else set()
            found = [f for col, surface, c in ((cols[dst]["id"], b_surface, dst_case), (cols[src]["id"], a_surface, case))
                     for f in owners.get((col, surface, c), []) if set(f["kinds"]) & differing]
            example = {"case": case, src: {"status": ra["status"], "kinds": sorted(ka)},
                       dst: {"status": rb["status"], "kinds": sorted(kb)}}
            for f in found or [None]:
                key = f["id"] if f else None
                if key not in causes:
                    causes[key] = _cause(f, dst, example)
                cause = causes[key]
                cause.cases.append(case)
                cause.silent |= bool(silent_kinds & set(f["kinds"] if f else silent_kinds))
        diffs = sorted(causes.values(), key=lambda d: (not d.silent, -len(d.cases), d.reason))
        out.append(SiteReport(site, len(matched), diffs, _notes(site, known[site.framework], described[dst], matched)))
    return out


def _measured_surface(site: CallSite, framework: Framework) -> str | None:
    """The adapter surface whose records stand for the call on `framework`: on the call's own framework, its
    API's; elsewhere that framework's first API of the call's kind, else of its function (a framework with no
    loss class, such as optax, ports a class's call to its function, as a converter writes it)."""
    if site.framework == framework.key and site.measured:
        return site.measured
    return framework.surface_for(site.surface) or framework.surface_for("functional")


def _cause(f: dict | None, dst: str, example: dict) -> Difference:
    if f is None:
        return Difference(None, "not explained by the known-differences file", None, None, None, False,
                          example=example)
    return Difference(f["column"], " ".join((f.get("reason") or f["title"]).split()), f.get("advice"),
                      (f.get("advice_code") or {}).get(dst), f.get("link"), bool(f["known"]), example=example)


def _has_legacy(framework: Framework) -> bool:
    """Whether the framework's kl_div takes size_average and reduce (its description names both)."""
    return framework.param("size_average") is not None and framework.param("reduce") is not None


def _converted(site: CallSite, dst: Framework):
    """Where `dst` has no size_average/reduce and the call gives them as literals: a function mapping a
    matrix case of the call to the case of the call a converter writes instead (reduction= what the legacy
    arguments stand for, spec S4), which the matrix holds with the same inputs (`core/...` for
    `legacy/...`). None otherwise: the call is compared as it is."""
    from . import spec

    a = site.arguments
    if _has_legacy(dst) or (a["size_average"] is None and a["reduce"] is None) or ANY in (
            a["reduction"], a["size_average"], a["reduce"]):
        return None
    effective = spec.effective_reduction(spec.Call(a["reduction"], False, a["size_average"], a["reduce"]))

    def case(case_id: str) -> str:
        group, values, shape, dtypes, _, space = case_id.split("/")
        return "/".join(("core" if group == "legacy" else group, values, shape, dtypes, effective, space))
    return case


def _notes(site: CallSite, framework: Framework, dst_framework: Framework, matched) -> list[str]:
    """What a reader needs besides the differences: nothing measured, or how the call's legacy arguments
    were compared on a framework without them (`framework` is the call's, `dst_framework` the one ported to)."""
    from . import spec

    notes = []
    a, dst = site.arguments, dst_framework.key
    if not matched:
        notes.append("no case of the matrix makes this call: nothing measured to compare")
    legacy = {k: a[k] for k in ("size_average", "reduce") if a[k] is not None}
    if legacy and ANY not in legacy.values() and a["reduction"] != ANY and not _has_legacy(dst_framework):
        effective = spec.effective_reduction(spec.Call(a["reduction"], False, a["size_average"], a["reduce"]))
        what = f"reduction={effective!r}"
        if _batchmean_after_legacy(framework, site.surface) and a["reduction"] == "batchmean":
            what += (f" ({site.api} divides that by the batch size once more, because reduction='batchmean' "
                     "is still checked after the legacy arguments: a converter's reduction="
                     f"{effective!r} on {dst} silently drops that division)")
        # (the porting layer's 'torch' semantics: size_average/reduce are PyTorch's arguments)
        notes.append(f"{dst} has no size_average/reduce; these stand for {what}, and the cases are compared "
                     f"with {dst}'s reduction={effective!r}, as a converter writes the call. "
                     "kl_compat.kl_div(..., semantics='torch') keeps PyTorch's result on any framework")
    return notes


def _batchmean_after_legacy(framework: Framework, kind: str) -> bool:
    """Whether the framework's calls of `kind` divide by the batch size after the legacy arguments chose
    'sum' (torch's F.kl_div), as its description's semantics say (a module that turns the legacy arguments
    into its reduction first does not)."""
    sem = framework.semantics
    return (sem is not None and sem.legacy == "override-then-batchmean"
            and not (kind == "module" and sem.module_converts_legacy))


# ---- output ---------------------------------------------------------------------------------------------

def _verdict(r: SiteReport) -> str:
    if r.site.framework == "kl_compat":
        return "portable"
    if not r.cases and not r.differences:
        return "not compared"
    return "SILENT DIFFERENCE" if r.silent else "differs (loudly)" if r.differences else "same"


def render_text(reports, src: str, dst: str) -> str:
    lines = [f"kl_div call sites, {src} -> {dst}: {len(reports)} found, "
             f"{sum(r.silent for r in reports)} with a silent difference"]
    for r in reports:
        s = r.site
        lines += ["", f"{s.path}:{s.line}: {s.pattern()}  [{_verdict(r)}]",
                  f"  {r.cases} matrix case(s) make this call on the {s.surface} surface"]
        for d in r.differences:
            lines.append(f"  - {'silent' if d.silent else 'loud'}, {len(d.cases)} case(s), e.g. {d.cases[0]}"
                         + (f" ({d.column})" if d.column else "") + f": {d.reason}")
            if d.advice:
                lines.append(f"    fix: {d.advice}")
        for n in r.notes:
            lines.append(f"  note: {n}")
    return "\n".join(lines) + "\n"


def render_markdown(reports, src: str, dst: str) -> str:
    from .text import cell, code

    lines = [f"# kl_div call sites, {src} → {dst}", "",
             f"{len(reports)} call site(s); {sum(r.silent for r in reports)} with a silent difference.", ""]
    for r in reports:
        lines += [f"## {cell(f'{r.site.path}:{r.site.line}')}: {code(r.site.pattern())}", "",
                  f"{_verdict(r)}; {r.cases} matrix case(s) make this call.", ""]
        if r.differences:
            lines += ["| | cases | framework | why | fix |", "|---|---|---|---|---|"]
            for d in r.differences:
                lines.append(f"| {'**silent**' if d.silent else 'loud'} | {len(d.cases)}, e.g. {code(d.cases[0])} | "
                             f"{cell(d.column or '—')} | {cell(d.reason)} | {cell(d.advice or '—')} |")
            lines.append("")
        lines += [f"Note: {cell(n)}" for n in r.notes] + ([""] if r.notes else [])
    return "\n".join(lines).rstrip() + "\n"


def render_json(reports, src: str, dst: str) -> str:
    return json.dumps({"from": src, "to": dst, "sites": [
        {**asdict(r.site), "call": r.site.pattern(), "silent": r.silent, "cases": r.cases, "notes": r.notes,
         "differences": [asdict(d) for d in r.differences]} for r in reports]}, indent=1, sort_keys=True) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def load_measurements(path: Path | None) -> dict:
    """A report model: the given report.json, else the committed report of this kl_compat."""
    from . import conformance
    from .report import json_report

    if path is None and not (Path(conformance.__file__).parent / "report" / "report.json").exists():
        from . import measurements  # installed: no committed report, but the measurements shipped with it

        return measurements.load()
    path = Path(path) if path else Path(conformance.__file__).parent / "report" / "report.json"
    if not path.exists():
        raise ScanError(f"{path}: no such report (give --report REPORT.json, made by `kl-compat report`)")
    return json_report.read(path)


def command(args) -> int:
    known = frameworks()
    for name in (args.src, args.dst):
        _known(name, known)
    measurements = load_measurements(args.report)
    reports = scan(find_calls(args.paths), measurements, args.src, args.dst)
    from .npzio import write_or_print

    write_or_print(RENDERERS[args.format](reports, args.src, args.dst), args.out)
    return ExitCode.FAILED if any(r.silent for r in reports) else ExitCode.OK
