"""The results file: JSON Lines, one object a line, written as the run goes (schema record.SCHEMA,
"kl-compat-results/2"; a file of another schema, /1 included, is refused in one line: run it again).

Writer streams the lines to a temporary file beside the target, `.<name>.partial-<pid>`, and renames it
onto the target only when the run ends normally: the target is always a whole file, and the previous
one stays until then. A run that fails or is interrupted (an exception, Ctrl-C, SIGTERM) leaves its
lines in `<stem>.partial<suffix>` (results/latest.partial.jsonl); one killed outright (SIGKILL) leaves
the hidden stream, which the next run writing the same target moves to that name. A lock on
`<target>.lock` (flock) keeps two processes from writing one target. The stream is flushed at most
every 0.2 s, so a killed run keeps the records judged up to a moment before; a reader accepts a file
whose last line was cut off or that has no end line, and says so (`Results.truncated`).

Every line is a typed record of kl_compat.record (RunLine, AdapterLine, Record, EndLine: the fields
are listed there), written with its to_json() and read back with from_json(): `read` gives typed lines,
and no reader looks into the JSON itself. In short, by "type":

  run      first line. schema, kl_compat version, started (ISO 8601 UTC), argv, python, numpy,
           platform, goldens (manifest sha256), cases (how many the matrix holds), shard, patterns; a
           merge adds merged_from, and incomplete [why, ...].
  adapter  one per adapter, before its records. adapter, name, available, framework, version, python,
           numpy, executable, environment (a named environment, or null), reason and hint when
           unavailable; what the adapter's runtime() reports among RUNTIME_FIELDS (r, libtorch, jax,
           jaxlib, xla_backend, jax_enable_x64, tensorflow, keras_backend) when it reports it. Shown to people as version_label() formats it.
  record   one per case x adapter x surface. case, group, adapter, surface, version, status
           (kl_compat.record.STATUSES), differences [{kind, form, where, expected, observed, by, note,
           call, follows, known, message}] (known: the explaining entry's id; message: rendered from
           the other fields, never read back), max_ulp, max_cond and grad_max_ulp (optional), convention, observed {status, shape, dtype,
           warnings [{category, message}], error {type, message}, value (a list when at most 64
           elements, else null), grad_input and grad_target {status, dtype, message}, seconds,
           detail, unsupported}.
  end      last line. finished, counts {adapter: {surface: {status: n}}}, known_problems (stale or
           fixed entries of the known-differences files), strict, unavailable, known {entry id:
           reason} (the entries the records name).
Non-finite numbers are written as the strings "nan", "inf" and "-inf" (JSON has no such numbers).
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import KlCompatError
from .jsonvalues import jsonable
from .record import SCHEMA, AdapterLine, EndLine, Record, RecordError, RunLine


class ResultsError(KlCompatError):
    """A results file that cannot be read or written."""


class OutputLocked(ResultsError):
    """Another process is writing the same output file."""


# Fields of an adapter's runtime() that the adapter line carries when the runtime reports them: R's
# version, and the version of the libtorch a framework runs on where it is not its own (R torch); the JAX
# and jaxlib versions, XLA's backend and whether float64 is on (jax_enable_x64: without it JAX computes
# float64 cases in float32); the TensorFlow version and the backend Keras runs on.
RUNTIME_FIELDS = ("r", "libtorch", "jax", "jaxlib", "xla_backend", "jax_enable_x64", "tensorflow", "keras_backend")


def version_label(name, version, runtime: dict | None = None) -> str:
    """An adapter's version as people are shown it: "<name> <version>", then " on libtorch <libtorch>"
    when its runtime (runtime() fields: a worker's hello, an adapter line, a report column) names the
    libtorch it runs on, e.g. "torch (R) 0.17.0 on libtorch 2.13.0". `name` or `version` may be None
    (left out). `version` stays the bare version elsewhere: known-differences ranges match on it."""
    label = " ".join(str(p) for p in (name, version) if p)
    libtorch = (runtime or {}).get("libtorch")
    return f"{label} on libtorch {libtorch}".strip() if libtorch else label


_encode = json.JSONEncoder(allow_nan=False).encode  # (json.dumps would build an encoder per line)


class Writer:
    """Writes a results file whole or not at all: lines stream to a temporary file beside the target
    (`.<name>.partial-<pid>`), renamed onto the target when the `with` block ends normally (`commit`).
    When it ends with an exception (KeyboardInterrupt included) the stream is kept as
    `partial_path(target)` (`abandon`; `kept` names it) and the target is left as it was. A lock
    (OutputLock) is held from start to end, so a second writer of the same target fails at once.

    Lines are flushed at most every FLUSH_SECONDS (a flush per line costs as much as judging a line): a
    run killed outright loses at most that long's lines; one that fails with an exception, or ends,
    loses none. Failures to write (a full disk, a path that is a directory) raise ResultsError."""

    FLUSH_SECONDS = 0.2

    def __init__(self, path: Path):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.kept: Path | None = None  # where the stream was left when the writer did not commit
        self.recovered: Path | None = None  # a killed run's stream, found and moved to `partial`
        if self.path.is_dir():
            raise ResultsError(f"{self.path}: is a directory; give a file name (e.g. {self.path / 'results.jsonl'})")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ResultsError(f"{self.path}: cannot create its folder {self.path.parent}: {_why(e)}") from None
        self._lock = OutputLock(self.path)
        self._tmp = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        try:
            self.recovered = self._recover()
            self._f = open(self._tmp, "w", encoding="utf-8")
        except OSError as e:
            self._lock.release()
            raise ResultsError(f"{self.path}: cannot write: {_why(e)}") from None
        except BaseException:
            self._lock.release()
            raise
        self._flushed = time.monotonic()
        self._done = False

    def _recover(self) -> Path | None:
        """Streams of runs killed outright (we hold the lock: no live writer owns one): the newest is
        moved to `partial`, older ones, superseded by it, are removed."""
        pattern = glob.escape(f".{self.path.name}") + ".partial-*"
        left = sorted(self.path.parent.glob(pattern), key=lambda p: p.stat().st_mtime)
        if not left:
            return None
        for old in left[:-1]:
            old.unlink(missing_ok=True)
        os.replace(left[-1], self.partial)
        return self.partial

    def write(self, obj) -> None:
        """One line: a typed line of kl_compat.record (its to_json()) or a dict."""
        if not isinstance(obj, dict):
            obj = obj.to_json()
        try:
            line = _encode(obj)
        except (ValueError, TypeError):  # non-finite floats or NumPy scalars: the slower, general route
            line = _encode(jsonable(obj))
        try:
            self._f.write(line + "\n")
            if time.monotonic() - self._flushed >= self.FLUSH_SECONDS:
                self._f.flush()
                self._flushed = time.monotonic()
        except OSError as e:
            raise ResultsError(f"{self.path}: cannot write: {_why(e)}") from None

    def commit(self) -> Path:
        """The stream, complete, becomes the target (atomically); the lock is released."""
        if self._done:
            return self.path
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            if self.path.exists():  # the file keeps its permissions (a new one gets the umask's)
                os.chmod(self._tmp, self.path.stat().st_mode & 0o7777)
            os.replace(self._tmp, self.path)
        except OSError as e:
            self.abandon()
            raise ResultsError(f"{self.path}: cannot write: {_why(e)}") from None
        self._done = True
        self._lock.release()
        return self.path

    def abandon(self) -> Path:
        """The stream stays, as `partial` (or under its temporary name when even the rename fails); the
        target is untouched; the lock is released. Returns where the stream is."""
        if self._done:
            return self.kept or self.path
        self._done = True
        try:
            self._f.close()
        except OSError:  # a full disk: what did reach the file stays
            pass
        try:
            os.replace(self._tmp, self.partial)
            self.kept = self.partial
        except OSError:
            self.kept = self._tmp
        self._lock.release()
        return self.kept

    def close(self):
        self.commit()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
            return
        kept = self.abandon()
        try:  # for the command line's message: where this run's lines went
            exc.kl_compat_partial = kept
        except AttributeError:
            pass


def refuse_or_warn(prog: str, verb: str, partial: list, mismatched: list, allow_partial: bool,
                   allow_mismatch: bool, error: type[KlCompatError]) -> None:
    """The one rule of diff, merge and report for their inputs' problems: a partial input, or inputs judged
    against other goldens, raise `error` (exit 2) unless allowed (--allow-partial / --allow-mismatch);
    allowed, each problem is said on stderr. The first refused problem is the error's line, said last."""
    import sys

    refused = [(p, "--allow-partial") for p in partial if not allow_partial]
    refused += [(p, "--allow-mismatch") for p in mismatched if not allow_mismatch]
    for p in partial + mismatched:
        if refused and p == refused[0][0]:
            continue
        print(f"{prog}: {'problem' if refused else 'warning'}: {p}", file=sys.stderr)
    if refused:
        problem, flag = refused[0]
        raise error(f"{problem} ({flag} to {verb} anyway)")


def partial_path(path: Path) -> Path:
    """Where a run that did not end normally leaves its lines: results/latest.jsonl ->
    results/latest.partial.jsonl (read by `report`, `diff` and `merge` with --allow-partial, flagged as
    partial)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}" if path.suffix else f"{path.name}.partial")


class OutputLock:
    """An exclusive lock for writing `target`: flock on `<target>.lock`, created beside it (or on
    `lock_path`: a directory's outputs, `report --out DIR`, lock DIR/.kl-compat.lock), removed when
    released (and released by the kernel when the holder dies, whatever becomes of the file). A second
    process fails at once with OutputLocked, naming the holder's pid."""

    def __init__(self, target: Path, lock_path: Path | None = None):
        self.target = Path(target)
        self.path = Path(lock_path) if lock_path is not None else self.target.with_name(self.target.name + ".lock")
        self._fd: int | None = None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise ResultsError(f"{self.target}: cannot create the lock file {self.path}: {_why(e)}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                raise OutputLocked(f"{self.target}: another kl-compat process{f' (pid {holder})' if holder else ''} "
                                   f"is writing it (lock {self.path}); wait for it, or choose another output "
                                   "file") from None
            try:  # the holder before us may have removed the file after we opened it: lock the current one
                st, cur = os.fstat(fd), os.stat(self.path)
                same = (st.st_dev, st.st_ino) == (cur.st_dev, cur.st_ino)
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:  # a full disk: the lock holds without the pid
            pass

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # while still holding it: a waiting opener then sees another inode
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _why(e: OSError) -> str:
    return e.strerror or str(e)


@dataclass
class Results:
    path: Path
    run: RunLine
    adapters: list[AdapterLine] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    end: EndLine | None = None
    truncated: bool = False  # partial: the file stops before its "end" line (the run did not end normally),
    # or it merges partial inputs (its run line lists them under "incomplete")

    def counts(self) -> dict:
        out: dict = {}
        for r in self.records:
            by_status = out.setdefault(r.adapter, {}).setdefault(r.surface, {})
            by_status[r.status] = by_status.get(r.status, 0) + 1
        return out


def read(path: Path) -> Results:
    """A results file, checked line by line: a line that is not JSON, of an unknown type, or missing a
    field or holding one of the wrong type raises ResultsError naming the file, the line and the field;
    a file of another schema (an older kl_compat's) raises it saying which, and to run again. A file
    whose last line was cut off, or that has no end line, reads as `truncated` (the run did not end
    normally: a `<stem>.partial<suffix>` file, or a killed run's stream)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except IsADirectoryError:
        raise ResultsError(f"{path}: is a directory, not a results file") from None
    except UnicodeDecodeError as e:
        raise ResultsError(f"{path}: not a text file ({e})") from None
    except OSError as e:
        raise ResultsError(f"{path}: cannot read: {_why(e)}") from None
    res = None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(lines) and res is not None:  # a run killed mid-line: keep what came before
                res.truncated = True
                break
            raise ResultsError(f"{path}:{n}: not JSON ({e})") from None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if res is None:
            _check_schema(obj, kind, path, n)
            _check(obj, _RUN_FIELDS, path, n)
            res = Results(path, RunLine.from_json(obj))
            continue
        if res.end is not None:
            raise ResultsError(f"{path}:{n}: a {kind!r} line after the end line (two files joined?)")
        _read_line(res, obj, kind, path, n)
    if res is None:
        raise ResultsError(f"{path}: empty results file")
    if res.end is None or res.run.incomplete:  # (a merge of partial inputs, allowed: merge.py)
        res.truncated = True
    return res


def _check_schema(obj, kind, path: Path, n: int) -> None:
    if kind != "run" or not isinstance(obj.get("schema"), str):
        raise ResultsError(f"{path}:{n}: not a kl-compat results file (first line must be a "
                           f"'run' line with schema {SCHEMA!r})")
    if obj["schema"] != SCHEMA:
        raise ResultsError(f"{path}:{n}: not a kl-compat results file of this version: schema "
                           f"{json.dumps(obj['schema'])[:60]}, this kl_compat reads {SCHEMA!r}; run it again "
                           "with this version (kl-compat run)")


def _read_line(res: Results, obj: dict, kind, path: Path, n: int) -> None:
    from .compare import KINDS
    from .record import FORMS, STATUSES

    if kind == "adapter":
        _check(obj, _ADAPTER_FIELDS, path, n)
        res.adapters.append(AdapterLine.from_json(obj))
    elif kind == "record":
        _check(obj, _RECORD_FIELDS, path, n)
        if obj["status"] not in STATUSES:
            raise ResultsError(f"{path}:{n}: record: status {obj['status']!r} is not one of {', '.join(STATUSES)}")
        for d in obj["differences"]:
            if not isinstance(d, dict):
                raise ResultsError(f"{path}:{n}: record: a difference must be an object, got {d!r}")
            _check(d, _DIFFERENCE_FIELDS, path, n, "difference")
            if d["kind"] not in KINDS:
                raise ResultsError(f"{path}:{n}: difference: kind {json.dumps(d['kind'])[:60]} is not one of "
                                   f"{', '.join(KINDS)}")
            if "form" in d and d["form"] not in FORMS:
                raise ResultsError(f"{path}:{n}: difference: form {json.dumps(d['form'])[:60]} is not one of "
                                   f"{', '.join(FORMS)}")
            if "form" not in d and "message" not in d:
                raise ResultsError(f"{path}:{n}: difference without 'message'")
            if "form" in d and "where" not in d:
                raise ResultsError(f"{path}:{n}: difference without 'where'")
        try:
            res.records.append(Record.from_json(obj))
        except (RecordError, TypeError, KeyError) as e:  # (the checks above make this the odd case)
            raise ResultsError(f"{path}:{n}: record: {e}") from None
    elif kind == "end":
        _check(obj, _END_FIELDS, path, n)
        res.end = EndLine.from_json(obj)
    else:
        raise ResultsError(f"{path}:{n}: unknown line type {kind!r}")


# Per line type: field -> (the types it may have, whether it is required). What readers of results files
# (diff, merge, report) rely on; a line may hold more.
_STR, _INT, _NONE = (str,), (int,), (type(None),)
_RUN_FIELDS = {"goldens": (_STR + _NONE, False), "cases": (_INT + _NONE, False), "selected": (_INT + _NONE, False),
               "shard": ((list,) + _NONE, False), "patterns": ((list,) + _NONE, False),
               "started": (_STR + _NONE, False),
               "kl_compat": (_STR + _NONE, False), "argv": ((list,), False),
               "merged_from": ((list,) + _NONE, False), "incomplete": ((list,) + _NONE, False)}
_ADAPTER_FIELDS = {"adapter": (_STR, True), "available": ((bool,), True), "name": (_STR + _NONE, False),
                   "version": (_STR + _NONE, False), "surfaces": ((list,) + _NONE, False),
                   "reason": (_STR + _NONE, False)}
_RECORD_FIELDS = {"case": (_STR, True), "adapter": (_STR, True), "surface": (_STR, True), "status": (_STR, True),
                  "differences": ((list,), True), "version": (_STR + _NONE, False),
                  "observed": ((dict,) + _NONE, False), "group": (_STR + _NONE, False),
                  "convention": (_STR + _NONE, False), "max_ulp": ((int, float, str) + _NONE, False),
                  "max_cond": ((int, float, str) + _NONE, False),
                  "grad_max_ulp": ((int, float, str) + _NONE, False)}
_OPT_STR = (_STR + _NONE, False)
_DIFFERENCE_FIELDS = {"kind": (_STR, True), "message": (_STR, False), "known": _OPT_STR, "form": (_STR, False),
                      "where": (_STR, False), "expected": _OPT_STR, "observed": _OPT_STR, "by": (_STR, False),
                      "note": _OPT_STR, "call": (_STR, False), "follows": _OPT_STR}
_END_FIELDS = {"finished": (_STR + _NONE, False), "counts": ((dict,), False), "known_problems": ((list,), False),
               "strict": ((bool,), False), "unavailable": ((dict,), False), "known": ((dict,), False)}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
               dict: "an object", type(None): "null"}


def _check(obj: dict, fields: dict, path: Path, n: int, what: str | None = None) -> None:
    what = what or obj.get("type")
    for name, (types, required) in fields.items():
        if name not in obj:
            if required:
                raise ResultsError(f"{path}:{n}: {what} without {name!r}")
            continue
        v = obj[name]
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):  # (bool is an int)
            want = " or ".join(_TYPE_NAMES[t] for t in types)
            raise ResultsError(f"{path}:{n}: {what}: {name!r} must be {want}, got {json.dumps(v)[:60]}")
    shard = obj.get("shard")
    if shard is not None and (len(shard) != 2 or not all(isinstance(i, int) and not isinstance(i, bool) for i in shard)
                              or not 1 <= shard[0] <= shard[1]):
        raise ResultsError(f"{path}:{n}: run: 'shard' must be [i, n] with 1 <= i <= n, got {json.dumps(shard)}")
