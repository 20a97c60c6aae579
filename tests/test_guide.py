"""Porting guides generated from measured results: `kl-compat guide --from A --to B`."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from kl_compat import guide
from kl_compat.cli import main
from kl_compat.report import build, json_report
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
    assert "- PyTorch (2.13.0): float32, shape (1, 1), \\[\\['nan'\\]\\] (as the spec)" in diffs
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
    assert len(pages) == 6
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
    assert {fw for _, fw, _ in snippets} == {"torch", "paddle", "rtorch"}
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
    assert len(pages) == 6


def test_guide_command_reads_a_report(model, tmp_path, capsys):
    report = tmp_path / "report.json"
    report.write_text(json_report.dumps(model))
    out = tmp_path / "g.md"
    assert main(["guide", str(report), "--from", "torch", "--to", "paddle", "--out", str(out)]) == 0
    assert out.read_text() == guide.render(json_report.read(report), "torch", "paddle")
    assert main(["guide", str(report), "--from", "torch", "--to", "jax"]) == 2
    assert "unknown framework 'jax'" in capsys.readouterr().err


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
        assert torch_line != paddle_line  # a listed difference is a difference between the two
        code = re.search(r"Reproducer in PaddlePaddle:\n\n```python\n(.*?)```", sec, re.S)
        if code:
            script = tmp_path / "snippet.py"
            script.write_text(code.group(1))
            proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0 or "Error" in proc.stderr, proc.stderr[-1500:]
