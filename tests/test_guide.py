"""Porting guides generated from measured results: `kl-compat guide --from A --to B`."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from kl_compat import guide
from kl_compat.cli import main
from kl_compat.report import json_report
from kl_compat.report.assemble import build
from kl_compat.run import AdapterSpec, run

from test_report import adapter_line, record, write_results

KNOWN = '''
[[difference]]
adapter = "paddle"
cases = "edge/negative-target/*"
kind = "nan-inf"
reason = "Paddle returns 0 for negative labels."
advice = "Targets are probabilities: clip them to 0."
advice_code = { paddle = "label = label.clip(min=0)", torch = "target = target.clamp(min=0)" }

[[difference]]
adapter = "paddle"
cases = "edge/zero-target/*"
kind = "nan-inf"
reason = "Paddle computes 0 * inf = nan for log-targets of -inf."
'''


def _outcome(status, kinds, value, observed="ok"):
    return {"status": status, "kinds": kinds, "messages": [f"{k} message" for k in kinds], "observed": observed,
            "shape": [1, 1], "dtype": "float32", "value": value}


@pytest.fixture
def model(tmp_path):
    recs = [
        record("edge/negative-target/2d/float32/none/prob", "paddle", version="3.3.1", status="differs", kinds=["nan-inf"]),
        record("edge/zero-target/2d/float32/none/log", "paddle", version="3.3.1", status="differs", kinds=["nan-inf"]),
        record("legacy/proper/2d/float32/sum,size_average=False,reduce=None/prob", "paddle", version="3.3.1",
               status="unsupported", kinds=["unsupported-argument"], unsupported="size_average/reduce"),
        record("core/proper/2d/float32/mean/log", "paddle", version="3.3.1"),
        record("edge/negative-target/2d/float32/none/prob", "torch", version="2.13.0"),
        record("edge/zero-target/2d/float32/none/log", "torch", version="2.13.0", status="differs", kinds=["nan-inf"]),
        record("legacy/proper/2d/float32/sum,size_average=False,reduce=None/prob", "torch", version="2.13.0"),
    ]
    path = write_results(tmp_path / "r.jsonl", [adapter_line("torch", "2.13.0"), adapter_line("paddle", "3.3.1"),
                                                adapter_line("rtorch", available=False, reason="R torch missing")], recs)
    known_file = tmp_path / "known.toml"
    known_file.write_text(KNOWN)
    m = build([path], known_path=known_file, reproduce=False, probe=False)
    for f in m["findings"]:
        base = {"surface": "functional", "minimised": True, "note": None, "input_shape": [1, 1], "target_shape": [1, 1],
                "input_dtype": "float32", "target_dtype": "float32", "language": "python", "code": None,
                "call": {"reduction": "none", "log_target": False, "size_average": None, "reduce": None}}
        if f["reason"] == "Paddle returns 0 for negative labels.":
            f["reproducer"] = dict(base, case=f["cases"][0]["case"], input=[[0.5]], target=[[-0.25]],
                                   spec={"outcome": "value", "dtype": "float32", "shape": [1, 1], "value": [["nan"]]},
                                   observed=_outcome("differs", ["nan-inf"], [[0.0]]),
                                   others={"torch": _outcome("match", [], [["nan"]])})
        elif f["reason"] == "Paddle computes 0 * inf = nan for log-targets of -inf.":
            f["reproducer"] = dict(base, case=f["cases"][0]["case"], input=[[0.5]], target=[["-inf"]],
                                   call=dict(base["call"], log_target=True),
                                   spec={"outcome": "value", "dtype": "float32", "shape": [1, 1], "value": [[0.0]]},
                                   observed=_outcome("differs", ["nan-inf"], [["nan"]]),
                                   others={"torch": _outcome("differs", ["nan-inf"], [["nan"]])})
        else:  # the legacy arguments: torch accepts them, paddle does not
            f["reproducer"] = dict(base, case=f["cases"][0]["case"], input=[[0.5]], target=[[0.25]],
                                   call=dict(base["call"], reduction="sum", size_average=False),
                                   spec={"outcome": "value", "dtype": "float32", "shape": [], "value": 0.1},
                                   observed={"status": "unsupported", "kinds": ["unsupported-argument"],
                                             "messages": ["no size_average"], "observed": "unsupported",
                                             "unsupported": "size_average/reduce"},
                                   others={"torch": _outcome("match", [], 0.1)})
    return m


def test_signatures_and_argument_mapping(model):
    text = guide.render(model, "torch", "paddle")
    assert text.startswith("# Porting the KL divergence loss: PyTorch → PaddlePaddle")
    assert "| `target` | `label` | renamed; positional calls need no change" in text
    assert re.search(r"\| `size_average` \| — \| .*PaddlePaddle 3\.3\.1 refused it on 1 case\(s\) \(measured\)", text)
    assert "PyTorch 2.13.0 accepted it on 1 case(s) (measured)" in text
    assert f"`{guide.FRAMEWORKS['paddle']['module']}`" in text and "documented: paddle-KLDivLoss.txt" in text
    # A signature with a union type must not break the Markdown table.
    col = next(c for c in model["columns"] if c["id"] == "torch")
    col["signatures"] = {"functional": "kl_div(input, target, size_average: bool | None = None)", "module": "m()",
                         "params": ["input", "target", "size_average", "reduce", "reduction", "log_target"]}
    text = guide.render(model, "torch", "paddle")
    assert "`kl_div(input, target, size_average: bool \\| None = None)`" in text
    assert "measured (inspect.signature where it ran)" in text


def test_differences_are_measured_and_shared_ones_set_apart(model):
    text = guide.render(model, "torch", "paddle")
    body = text.split("## Behavioural differences (measured)")[1]
    diffs, shared = body.split("## Same in both")
    assert "Paddle returns 0 for negative labels" in diffs
    assert "- PaddlePaddle (3.3.1): float32, shape (1, 1), \\[\\[0.0\\]\\]" in diffs  # (brackets escaped: no link)
    assert "- PyTorch (2.13.0): float32, shape (1, 1), \\[\\[nan\\]\\] (as the spec)" in diffs
    # the fix is the explaining entry's, in the language ported to
    assert "Portable: Targets are probabilities: clip them to 0." in diffs and "label = label.clip(min=0)" in diffs
    assert "target = target.clamp(min=0)" not in diffs
    assert "Paddle computes 0 * inf" in shared and "Paddle computes 0 * inf" not in diffs
    # a difference no entry explains (the refused legacy argument here) gets no advice: none is known
    (legacy,) = [sec for sec in diffs.split("\n### ") if "size_average" in sec.split("\n")[0] or "legacy" in sec]
    assert "Portable:" not in legacy
    # The smallest input, written as PaddlePaddle code that runs as printed.
    (section,) = [sec for sec in diffs.split("\n### ") if "Paddle returns 0 for negative labels" in sec]
    code = re.search(r"Reproducer in PaddlePaddle:\n\n```python\n(.*?)```", section, re.S).group(1)
    assert "paddle.to_tensor([[0.5]], dtype='float32', stop_gradient=False)" in code
    assert "paddle.to_tensor([[-0.25]], dtype='float32', stop_gradient=False)" in code


def test_every_fix_in_the_committed_guides_is_its_entrys_advice():
    """Each "Portable:" paragraph of each committed guide is the advice of the known-differences entry
    named by the "Why:" paragraph just before it, and its code the entry's code for the framework ported
    to; and every explained difference with advice shows it."""
    from pathlib import Path

    from kl_compat import known

    entries = {" ".join(e.reason.split()): e for e in known.load()}
    root = Path(__file__).resolve().parents[1] / "conformance" / "guides"
    pages = sorted(root.glob("*-to-*.md"))
    assert len(pages) == len(guide.pairs())
    checked = 0
    for page in pages:
        dst = page.stem.split("-to-")[1]
        language = guide.FRAMEWORKS[dst]["language"]
        for section in page.read_text().split("\n### ")[1:]:
            why = re.search(r"\nWhy: (.*)\n", section)
            portable = re.search(r"\nPortable: (.*)\n", section)
            if why is None:
                assert portable is None, (page.name, section[:80])
                continue
            entry = entries[_plain(why.group(1))]  # (the page shows them escaped: report.markdown.text)
            assert portable is not None and _plain(portable.group(1)) == " ".join(entry.advice.split()), \
                (page.name, why.group(1))
            code = re.search(r"\nPortable: [^\n]*\n\n```" + language + r"\n(.*?)\n```", section, re.S)
            want = entry.advice_code.get(dst)
            assert (code.group(1) if code else None) == want, (page.name, why.group(1))
            checked += 1
    assert checked >= 30


def _plain(markdown_text: str) -> str:
    """What Markdown text renders as: backslash escapes and entities resolved (CommonMark's, for text
    that holds no markup of its own, as report.markdown.text writes it)."""
    import html

    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown_text))


def test_reasons_and_advice_render_as_written():
    """Each entry's reason and advice, escaped as the guides show them, reads back as the entry's words."""
    from kl_compat import known
    from kl_compat.report.markdown import text

    for e in known.load():
        for words in (e.reason, e.advice):
            if words:
                assert _plain(text(words)) == " ".join(words.split()), (e.index, words)


def test_python_and_r_advice_code_parses():
    from kl_compat import known
    from kl_compat.adapters.rtorch_backend import r_session

    snippets = [(e.index, fw, code) for e in known.load() for fw, code in e.advice_code.items()]
    assert {"torch", "paddle", "rtorch"} <= {fw for _, fw, _ in snippets}
    for index, fw, code in snippets:
        assert fw in guide.FRAMEWORKS, (index, fw)
        if guide.FRAMEWORKS[fw]["language"] == "python":
            compile(code, f"entry {index} ({fw})", "exec")
    try:
        session = r_session()
    except ImportError:
        pytest.skip("R is not available to parse the R advice")
    for index, fw, code in snippets:
        if fw == "rtorch":
            session.ri.baseenv["parse"](text=session.ri.StrSexpVector([code]))


def test_the_reverse_direction_and_frameworks_that_did_not_run(model):
    back = guide.render(model, "paddle", "torch")
    assert "# Porting the KL divergence loss: PaddlePaddle → PyTorch" in back
    assert "| `label` | `target` |" in back
    assert "Reproducer in PyTorch:" in back and "torch.tensor([[-0.25]], dtype=torch.float32" in back
    r = guide.render(model, "torch", "rtorch")
    assert "**R torch did not run** on the machine that generated this page (R torch missing)" in r
    assert "Not measured: both frameworks must run" in r
    assert "`nn_kl_div_loss(reduction = \"mean\"), called as loss(input, target)`" in r
    pages = guide.render_all(model)
    assert sorted(pages) == sorted(f"{a}-to-{b}.md" for a, b in guide.pairs())
    assert {"torch", "paddle", "rtorch"} <= set(guide.FRAMEWORKS)  # (and any framework installed beside them)


def test_guide_command_reads_a_report(model, tmp_path, capsys):
    report = tmp_path / "report.json"
    report.write_text(json_report.dumps(model))
    out = tmp_path / "g.md"
    assert main(["guide", str(report), "--from", "torch", "--to", "paddle", "--out", str(out)]) == 0
    assert out.read_text() == guide.render(json_report.read(report), "torch", "paddle")
    assert main(["guide", str(report), "--from", "torch", "--to", "nosuch"]) == 2
    assert "unknown framework 'nosuch'" in capsys.readouterr().err


@pytest.mark.slow
def test_real_guide_from_measured_results(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("paddle")
    out = tmp_path / "r.jsonl"
    run([AdapterSpec("torch"), AdapterSpec("paddle")], out,
        patterns=["edge/negative-target/2d/float32/*", "edge/zero-target/2d/float32/*", "core/proper/2d/float32/*"])
    m = build([out])
    text = guide.render(m, "torch", "paddle")
    assert "| measured (inspect.signature where it ran) | measured (inspect.signature where it ran) |" in text
    sections = re.split(r"\n### \d+\. ", text.split("## Behavioural differences (measured)")[1])[1:]
    assert sections, "no measured difference between torch and Paddle on these cases"
    for sec in sections:
        torch_line = re.search(r"^- PyTorch \(.*?\): (.*)$", sec, re.M).group(1)
        paddle_line = re.search(r"^- PaddlePaddle \(.*?\): (.*)$", sec, re.M).group(1)
        if "they happen to do the same" not in sec:
            assert torch_line != paddle_line  # a listed difference is a difference between the two
        code = re.search(r"Reproducer in PaddlePaddle:\n\n```python\n(.*?)```", sec, re.S)
        if code:
            script = tmp_path / "snippet.py"
            script.write_text(code.group(1))
            proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0 or "Error" in proc.stderr, proc.stderr[-1500:]


# ---- guides rendered from small synthetic measurements (guide_sections) -------------------------------

from kl_compat import guide_sections  # noqa: E402

NEGINF_PROB = "edge/neginf-input-zero-target/2d/float32/sum/prob"
NEGINF_LOG = "edge/neginf-input-zero-target/2d/float32/sum/log"


def _column(cid, name, version):
    return {"id": cid, "name": name, "version": version, "available": True, "label": name, "reason": None,
            "surfaces": ["functional", "module"], "arguments": {}}


def _finding(fid, column, title, kinds, cases, reproducer=None):
    return {"id": fid, "column": column, "title": title, "kinds": kinds, "known": True, "reason": title,
            "advice": None, "advice_code": {}, "count": len(cases), "examples": [], "link": None,
            "cases": [{"case": c, "surface": "functional", "status": s} for c, s in cases],
            "reproducer": reproducer or {}}


def _repro(case, observed, others, value_in="-inf", target=0.0, spec_value=0.0):
    return {"case": case, "surface": "functional", "minimised": True, "note": None, "input": [[value_in]],
            "target": [[target]], "input_shape": [1, 1], "target_shape": [1, 1], "input_dtype": "float32",
            "target_dtype": "float32", "language": "python", "observed": observed, "others": others,
            "call": {"reduction": "sum", "log_target": False, "size_average": None, "reduce": None},
            "spec": {"outcome": "value", "dtype": "float32", "shape": [], "value": spec_value}}


def _ok(value, status="differs", kinds=("nan-inf",)):
    return {"status": status, "kinds": list(kinds), "messages": [], "observed": "ok", "shape": [], "dtype": "float32",
            "value": value}


def _synthetic():
    """torch and Paddle measured on a few cases. The differences, as the ranking must order them:
    Paddle's missing label gradient (silent, 3 cases), torch's nan for y = 0, x = -inf in probability
    space where Paddle gives 0 (silent, 1 case: on the log-space case both give nan), Paddle's missing
    warning (warning, 2 cases), Paddle's refused legacy arguments (loud, 4 cases). Paddle's nan for
    log-targets of -inf is the same in both; a torch finding whose case Paddle never ran is not compared."""
    grad = [f"core/proper/{d}/float32/sum/prob" for d in ("0d", "1d", "2d")]
    warn = [f"core/proper/{d}/float32/mean/prob" for d in ("1d", "2d")]
    legacy = [f"legacy/proper/2d/float32/sum,size_average={a}/prob" for a in ("False", "True", "None", "x")]
    zero_log = "edge/zero-target/2d/float32/sum/log"
    only_torch = "edge/torch-only/2d/float32/sum/prob"
    torch_rec = {NEGINF_PROB: {"status": "differs", "kinds": ["nan-inf"]},
                 NEGINF_LOG: {"status": "differs", "kinds": ["nan-inf"]},
                 zero_log: {"status": "differs", "kinds": ["nan-inf"]},
                 only_torch: {"status": "differs", "kinds": ["nan-inf"]},
                 **{c: {"status": "match"} for c in grad + warn + legacy}}
    paddle_rec = {NEGINF_PROB: {"status": "differs", "kinds": ["gradient"]},  # Paddle gives 0, as the spec
                  NEGINF_LOG: {"status": "differs", "kinds": ["gradient", "nan-inf"]},
                  zero_log: {"status": "differs", "kinds": ["nan-inf"]},
                  **{c: {"status": "differs", "kinds": ["gradient"]} for c in grad},
                  **{c: {"status": "differs", "kinds": ["warning"]} for c in warn},
                  **{c: {"status": "unsupported", "kinds": ["unsupported-argument"]} for c in legacy}}
    records = [{"column": cid, "name": cid, "version": v, "surface": "functional", "cases": recs}
               for cid, v, recs in (("torch", "2.13.0", torch_rec), ("paddle", "3.3.1", paddle_rec))]
    nan_both = _repro(NEGINF_LOG, _ok("nan"), {"paddle": _ok("nan")})
    findings = [
        _finding("t-neginf", "torch", "torch: y = 0 and x = -inf give nan", ["nan-inf"],
                 [(NEGINF_PROB, "differs"), (NEGINF_LOG, "differs")], nan_both),
        _finding("p-zero-log", "paddle", "Paddle: log-target -inf gives nan", ["nan-inf"], [(zero_log, "differs")],
                 _repro(zero_log, _ok("nan"), {"torch": _ok("nan")})),
        _finding("p-grad", "paddle", "Paddle: no label gradient", ["gradient"], [(c, "differs") for c in grad],
                 _repro(grad[0], _ok(0.5, kinds=["gradient"]), {"torch": _ok(0.5, "match", [])}, 0.1, 0.5, 0.5)),
        _finding("p-warn", "paddle", "Paddle: no mean warning", ["warning"], [(c, "differs") for c in warn],
                 _repro(warn[0], _ok(0.5, kinds=["warning"]), {"torch": _ok(0.5, "match", [])}, 0.1, 0.5, 0.5)),
        _finding("p-legacy", "paddle", "Paddle: no size_average", ["unsupported-argument"],
                 [(c, "unsupported") for c in legacy],
                 _repro(legacy[0], {"status": "unsupported", "kinds": ["unsupported-argument"], "messages": [],
                                    "observed": "unsupported", "unsupported": "size_average/reduce"},
                        {"torch": _ok(0.5, "match", [])}, 0.1, 0.5, 0.5)),
        _finding("t-only", "torch", "torch: measured on one side only", ["nan-inf"], [(only_torch, "differs")],
                 dict(_repro(only_torch, None, {}), note="its input could not be run through the other framework")),
    ]
    return {"generated": "2026-12-01T00:00:00+00:00", "run_info": {"kl_compat": "0.1.0"},
            "columns": [_column("torch", "torch", "2.13.0"), _column("paddle", "paddle", "3.3.1")],
            "findings": findings, "records": records, "summary": [], "new": 0}


def _speed_file(tmp_path, rows):
    path = tmp_path / "porting_speed.json"
    path.write_text(json.dumps({"schema": guide_sections.SPEED_SCHEMA, "measured": "2026-12-01", "rows": rows}))
    return path


def _sections(page):
    return {sec.split("\n", 1)[0]: sec for sec in page.split("\n## ")}


def test_drop_in_leads_the_guide_and_names_the_adapter_and_the_measured_speed(tmp_path):
    speed = _speed_file(tmp_path, [{"framework": "paddle", "semantics": "torch", "elements": 1000000, "ratio": 1.37},
                                   {"framework": "paddle", "semantics": "torch", "elements": 1000, "ratio": 2.5},
                                   {"framework": "torch", "semantics": "spec", "elements": 1000000, "ratio": 9.0}])
    page = guide.render(_synthetic(), "torch", "paddle", speed)
    title, first = page.split("\n## ")[:2]
    assert title.startswith("# Porting the KL divergence loss") and "\n" not in title.strip()
    assert first.startswith("Drop-in: PyTorch's behaviour on PaddlePaddle tensors")
    assert "kl_compat.kl_div(input, target, reduction, log_target, semantics='torch')" in first
    assert "`paddle-as-torch`" in first
    assert "not measured: these measurements hold no `paddle-as-torch` column" in first
    assert "2.5x at 1,000 elements, 1.37x at 1,000,000 elements" in first and "9x" not in first
    assert "measured 2026-12-01" in first and "paddle.nn.functional.kl_div" in first
    # No row for the pair, or no file: the cost is said to be unmeasured, and the benchmark named.
    back = _sections(guide.render(_synthetic(), "paddle", "torch", speed))["Drop-in: PaddlePaddle's behaviour on PyTorch tensors"]
    assert "`torch-as-paddle`" in back and "Cost: not measured" in back and "bench_porting.py --json" in back
    none = guide.render(_synthetic(), "torch", "paddle", tmp_path / "absent.json")
    assert "Cost: not measured" in none.split("\n## ")[1]


def test_drop_in_counts_the_porting_adapter_against_its_reference(tmp_path):
    m = _synthetic()
    m["columns"].append(_column("paddle-as-torch", "paddle-as-torch", "0.1.0 on paddle 3.3.1"))
    torch_cases = next(r for r in m["records"] if r["column"] == "torch")["cases"]
    port = {c: dict(r) for c, r in torch_cases.items()}
    port[NEGINF_PROB] = {"status": "match"}  # one case where the porting layer is not torch
    port["edge/not-in-torch/2d/float32/sum/prob"] = {"status": "match"}  # not compared: torch has no record
    m["records"].append({"column": "paddle-as-torch", "name": "paddle-as-torch", "version": "x",
                         "surface": "functional", "cases": port})
    drop = guide.render(m, "torch", "paddle", tmp_path / "absent.json").split("\n## ")[1]
    assert f"held to PyTorch's records on {len(torch_cases)} case(s)" in drop and ": 1 difference(s)" in drop


def test_drop_in_for_r_torch_is_klc_kl_div_and_none_where_kl_compat_has_none(tmp_path):
    m = _synthetic()
    for page_src, page_dst in (("torch", "rtorch"), ("paddle", "rtorch")):
        page = guide.render(m, page_src, page_dst, tmp_path / "absent.json")
        drop = page.split("\n## ")[1]
        if page_src == "torch":
            assert "klc_kl_div(input, target" in drop and "`rtorch-as-torch`" in drop and "R_SOURCE" in drop
        else:
            assert drop.startswith("Drop-in: PaddlePaddle's behaviour on R torch tensors\n\nNone:")


def test_what_will_bite_you_is_ranked_by_silence_then_cases(tmp_path):
    page = guide.render(_synthetic(), "torch", "paddle", tmp_path / "absent.json")
    heads = [h.split("\n", 1)[0] for h in page.split("\n## ")]
    assert heads[1].startswith("Drop-in") and heads[2] == "What will bite you"
    bite = _sections(page)["What will bite you"]
    assert guide_sections.RANKING_RULE in bite  # the rule is written in the guide
    items = re.findall(r'^(\d+)\. <a href="#(difference-\d+)">(.*?)</a> \(.*?\): (\d+) case\(s\), \*\*(\w+)\*\*$', bite, re.M)
    assert [(t, int(n), how) for _i, _a, t, n, how in items] == [
        ("Paddle: no label gradient", 3, "silent"),
        ("torch: y = 0 and x = -inf give nan", 1, "silent"),
        ("Paddle: no mean warning", 2, "warning"),
        ("Paddle: no size_average", 4, "loud")]
    # each line links to its section, numbered in the same order
    for i, target, title, _n, _how in items:
        section = page.split(f'<a id="{target}"></a>\n\n### ')[1]
        assert section.startswith(f"{i}. {title}\n")


def test_ranking_rule_in_code():
    c = lambda level, n, title: guide_sections.Comparison({"title": title, "id": title}, "x", None,  # noqa: E731
                                                          tuple(map(str, range(n))), (), (), level)
    ranked = sorted([c("loud", 50, "a"), c("warning", 9, "b"), c("silent", 1, "c"), c("silent", 7, "d")],
                    key=guide_sections.rank_key)
    assert [x.finding["title"] for x in ranked] == ["d", "c", "b", "a"]
    assert guide_sections.loudness("differs", "match", ["gradient", "warning"]) == "silent"
    assert guide_sections.loudness("differs", "match", ["warning"]) == "warning"
    assert guide_sections.loudness("error", "match", ["error-vs-value"]) == "loud"
    assert guide_sections.loudness("differs", "unsupported", ["nan-inf"]) == "loud"


def test_same_in_both_only_where_both_were_measured_and_agree(tmp_path):
    page = guide.render(_synthetic(), "torch", "paddle", tmp_path / "absent.json")
    same = next(sec for head, sec in _sections(page).items() if head.startswith("Same in both"))
    assert "Paddle: log-target -inf gives nan" in same
    # y = 0, x = -inf in probability space: PyTorch gives nan, Paddle 0. Not "the same", though both
    # give nan on the log-space case the reproducer shows.
    assert "y = 0 and x = -inf" not in same
    diffs = _sections(page)["Behavioural differences (measured)"]
    assert "torch: y = 0 and x = -inf give nan" in diffs
    (section,) = [sec for sec in diffs.split("\n### ") if sec.split("\n")[0].endswith("give nan")]
    assert f"differ on 1 case(s), silent (e.g. `{NEGINF_PROB}`). On the smallest input below they happen to do " \
        "the same" in section  # where they differ, named; and that the input shown is not one of those cases
    grad = next(sec for sec in diffs.split("\n### ") if sec.split("\n")[0].endswith("no label gradient"))
    assert "happen to do the same" not in grad
    # a case measured on one side only is never "the same"
    assert "one side only" not in same
    assert "torch: measured on one side only" in _sections(page)["Not compared"]


def test_an_outcome_the_reproducer_did_not_keep_is_the_record_of_its_case(tmp_path):
    m = _synthetic()
    f = next(f for f in m["findings"] if f["id"] == "t-neginf")
    f["reproducer"] = dict(f["reproducer"], case=NEGINF_PROB, observed=None, others={}, minimised=False)
    page = guide.render(m, "torch", "paddle", tmp_path / "absent.json")
    section = page.split("### 2. torch: y = 0 and x = -inf give nan")[1].split("\n### ")[0]
    assert "not measured" not in section
    assert "- PyTorch (2.13.0): as recorded on this case (its outcome not kept): differs from the spec (nan-inf)" in section
    assert "- PaddlePaddle (3.3.1): as recorded on this case (its outcome not kept): differs from the spec (gradient)" in section


def test_numbers_print_as_numbers(tmp_path):
    page = guide.render(_synthetic(), "torch", "paddle", tmp_path / "absent.json")
    # no number as a quoted string; in code, Python's own spelling (float("inf"))
    assert re.findall(r"""(?<!float\()["'](-?inf|nan)["']""", page) == []
    section = page.split("### 2. torch: y = 0 and x = -inf give nan")[1].split("\n### ")[0]
    assert "input `[[-inf]]`, target `[[0.0]]`" in section
    assert "- PyTorch (2.13.0): float32, shape (), nan" in section
    assert '-float("inf")' in section  # the reproducer in Python's spelling
    assert guide_sections.numbers([["nan", 1.0], ["-inf", "inf"]])[1] == [float("-inf"), float("inf")]
    assert guide_sections.numbers("label") == "label"


def test_the_speed_file_reader(tmp_path):
    path = _speed_file(tmp_path, [{"framework": "paddle", "semantics": "torch", "elements": 1000, "ratio": 1.5}])
    speed = guide_sections.load_speed(path)
    assert speed is not None and speed.measured == "2026-12-01"
    assert speed.for_pair("paddle", "torch") == [guide_sections.SpeedRow("paddle", "torch", 1000, 1.5)]
    assert speed.for_pair("torch", "paddle") == []
    assert guide_sections.load_speed(tmp_path / "absent.json") is None
    bad_rows = ([{"framework": "paddle", "semantics": "torch", "elements": 0, "ratio": 1.5}],
                [{"framework": "paddle", "semantics": "torch", "elements": 10, "ratio": "fast"}],
                [{"framework": "paddle", "elements": 10, "ratio": 1.0}], "rows")
    for rows in bad_rows:
        with pytest.raises(guide_sections.PortingSpeedError, match="porting_speed.json"):
            guide_sections.load_speed(_speed_file(tmp_path, rows))
    for text_ in ("{", json.dumps({"schema": "other/1", "measured": "2026-12-01", "rows": []}),
                  json.dumps({"schema": guide_sections.SPEED_SCHEMA, "measured": "yesterday", "rows": []})):
        path.write_text(text_)
        with pytest.raises(guide_sections.PortingSpeedError) as e:
            guide_sections.load_speed(path)
        assert "\n" not in str(e.value)


def test_a_report_made_without_reproducers_still_gets_its_guides(model):
    import copy

    bare = copy.deepcopy(model)
    for f in bare["findings"]:
        f["reproducer"] = None  # as `kl-compat report --no-reproducers` leaves them
    page = guide.render(bare, "torch", "paddle")
    assert "Smallest input: not reduced (the report was made without reproducers)." in page
    assert "Reproducer in" not in page


def test_the_guide_command_shows_the_committed_porting_speed(capsys):
    # The shipped measurements and the committed porting_speed.json, as `kl-compat guide` reads them.
    speed = guide_sections.load_speed()
    assert speed is not None, "conformance/porting_speed.json is missing"
    rows = speed.for_pair("paddle", "torch")
    assert rows and all(r.ratio > 0 for r in rows)
    assert main(["guide", "--from", "torch", "--to", "paddle"]) == 0
    page = capsys.readouterr().out
    cost = next(line for line in page.splitlines() if line.startswith("- Cost: "))
    assert f"{rows[0].ratio:.3g}x at {rows[0].elements:,} elements" in cost and f"measured {speed.measured}" in cost


def test_bench_porting_writes_the_speed_schema(tmp_path):
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        import bench_porting
    finally:
        sys.path.pop(0)
    rows = [{"framework": "paddle", "semantics": "torch", "elements": 1000, "ratio": 2.5, "cpu_ratio": 2.4}]
    bench_porting.write_json(str(tmp_path / "porting_speed.json"), rows)
    speed = guide_sections.load_speed(tmp_path / "porting_speed.json")
    assert speed is not None and speed.for_pair("paddle", "torch") == [guide_sections.SpeedRow("paddle", "torch", 1000, 2.5)]


def test_the_porting_summary_says_how_the_porting_adapter_held_where_its_column_is_not_shipped():
    from dataclasses import asdict

    from kl_compat import measurements, porting_check

    m = _synthetic()
    checked = porting_check.to_check(m)
    assert checked["paddle-as-torch"] == "torch" and checked["torch-as-paddle"] == "paddle"
    assert "torch-as-rtorch" not in checked  # R torch did not run in these measurements
    (torch_records,) = [r for r in m["records"] if r["column"] == "torch"]
    ported = dict(torch_records["cases"])
    ported[NEGINF_PROB] = {"status": "match"}  # one case where the porting adapter did not do what torch did
    porting = {"columns": [_column("paddle-as-torch", "paddle-as-torch", "0.1.0")],
               "records": [{"column": "paddle-as-torch", "name": "paddle-as-torch", "version": "0.1.0",
                            "surface": "functional", "cases": ported}]}
    (held,) = porting_check.summarise(m, porting, checked)  # torch-as-paddle did not run: left out
    assert (held.adapter, held.source, held.source_column) == ("paddle-as-torch", "torch", "torch")
    assert (held.cases, held.differences) == (len(ported), 1)
    m["porting"] = [asdict(held)]
    first = _sections(guide.render(m, "torch", "paddle"))["Drop-in: PyTorch's behaviour on PaddlePaddle tensors"]
    assert f"held to PyTorch's records on {len(ported)} case(s)" in first and ": 1 difference(s)." in first
    back = _sections(guide.render(m, "paddle", "torch"))["Drop-in: PaddlePaddle's behaviour on PyTorch tensors"]
    assert "not measured: these measurements hold no `torch-as-paddle` column" in back
    assert measurements.compact(m)["porting"] == m["porting"]  # shipped with the measurements
    # a report of results files holding the porting column itself: summarised from its own columns
    both = dict(m, columns=m["columns"] + porting["columns"], records=m["records"] + porting["records"])
    assert porting_check.for_report(both, None, timeout=1.0) == m["porting"]


def test_a_porting_adapter_is_held_to_the_primary_surface_of_a_source_without_its_kind():
    from kl_compat import porting_check

    cases = {"core/proper/2d/float32/sum/prob": {"status": "match"},
             "edge/zero-target/2d/float32/sum/prob": {"status": "differs", "kinds": ["nan-inf"]}}
    jax = dict(_column("jax", "jax", "0.4.30"), surfaces=["eager", "jit"])
    m = {"columns": [jax], "records": [
        {"column": "jax", "name": "jax", "version": "0.4.30", "surface": "eager", "cases": cases},
        {"column": "jax", "name": "jax", "version": "0.4.30", "surface": "jit",
         "cases": {c: {"status": "match"} for c in cases}}]}  # jit differs from eager: never compared
    ported = {"columns": [_column("torch-as-jax", "torch-as-jax", "0.1.0")],
              "records": [{"column": "torch-as-jax", "name": "torch-as-jax", "version": "0.1.0", "surface": s,
                           "cases": cases} for s in ("functional", "module")]}
    (held,) = porting_check.summarise(m, ported, {"torch-as-jax": "jax"})
    assert (held.cases, held.differences) == (2, 0)


def test_a_report_of_results_files_reads_the_porting_adapters_results_instead_of_running_them(tmp_path,
                                                                                               monkeypatch):
    """`report RESULTS --porting-results FILE` summarises an earlier run of the porting adapters: the same
    held counts as when they ran, and nothing runs."""
    pytest.importorskip("torch")
    pytest.importorskip("paddle")
    from kl_compat import porting_check, run
    from kl_compat.report.assemble import build

    patterns = ["edge/zero-target/2d/float32/*", "core/proper/2d/float32/*"]
    run.run([run.AdapterSpec("torch")], tmp_path / "torch.jsonl", patterns=patterns)
    m = build([tmp_path / "torch.jsonl"], reproduce=False, probe=False)
    ran = porting_check.for_report(m, tmp_path / "porting.jsonl", timeout=60.0)

    def no_run(*args, **kwargs):
        raise AssertionError("the porting adapters ran")

    monkeypatch.setattr(run, "run", no_run)
    read = porting_check.for_report(m, tmp_path / "porting.jsonl", timeout=60.0, run_them=False)
    assert read == ran
    assert any(h["adapter"] == "paddle-as-torch" and h["cases"] > 0 for h in read)
