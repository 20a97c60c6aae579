"""`kl-compat scan`: call sites found in real code (PyTorch, R torch, PaConvert's Paddle output), and the
measured differences that apply to each when the code moves to another framework."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kl_compat import scan
from kl_compat.cli import main

SAMPLES = Path(__file__).with_name("scan_samples")


def _sites(tmp_path, source: str, name="code.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return scan.find_calls([path])


def test_python_calls_are_found_through_imports_and_aliases(tmp_path):
    sites = _sites(tmp_path, """
        import torch
        import torch.nn.functional as F
        from torch import nn
        from torch.nn.functional import kl_div as kld
        import paddle
        from paddle.nn import KLDivLoss as PL

        a = torch.nn.functional.kl_div(x, y)
        b = F.kl_div(x, y, None, None, 'sum', True)          # positional, torch's order
        c = kld(x, y, reduction=r)                            # not a literal
        d = nn.KLDivLoss(size_average=False)
        e = paddle.nn.functional.kl_div(x, y, 'batchmean')    # paddle's order: input, label, reduction
        f = PL('none', True)
        g = F.kl_div(*args)                                   # nothing is known
        alias = F.kl_div
        h = alias(x, y, reduction='none')
        i = other.kl_div(x, y)                                # not a known API
        def inner():
            import torch.nn.functional as G
            return G.kl_div(x, y, reduction='mean')
    """)
    got = [(s.line, s.framework, s.surface, s.arguments["reduction"], s.arguments["log_target"],
            s.arguments["size_average"]) for s in sites]
    any_ = scan.ANY
    assert got == [(9, "torch", "functional", "mean", False, None),
                   (10, "torch", "functional", "sum", True, None),
                   (11, "torch", "functional", any_, False, None),
                   (12, "torch", "module", "mean", False, False),
                   (13, "paddle", "functional", "batchmean", False, None),
                   (14, "paddle", "module", "none", True, None),
                   (15, "torch", "functional", any_, any_, any_),
                   (17, "torch", "functional", "none", False, None),
                   (21, "torch", "functional", "mean", False, None)]


def test_case_patterns_follow_the_call():
    site = scan.CallSite("x.py", 1, "torch", "functional", "F.kl_div",
                         {"reduction": "batchmean", "log_target": False, "size_average": False, "reduce": None})
    assert scan.case_patterns(site) == ["*/batchmean,size_average=False,reduce=None/prob"]
    site.arguments.update(reduction=scan.ANY, log_target=scan.ANY, size_average=None)
    assert scan.case_patterns(site) == ["*/*/prob", "*/*/log"]
    site.arguments.update(reduction="a*b[")
    assert scan.case_patterns(site)[0] == "*/a[*]b[[]/prob"  # a reduction's text is never a glob


def test_a_pytorch_distillation_step_scanned_for_paddle():
    reports = scan.scan(scan.find_calls([SAMPLES / "distill_torch.py"]), scan.load_measurements(None), "torch", "paddle")
    by_line = {r.site.line: r for r in reports}
    assert sorted(by_line) == [12, 22, 26]
    module, legacy, logt = by_line[12], by_line[22], by_line[26]
    assert module.site.surface == "module" and module.cases > 100
    # Paddle gives the teacher's probabilities no gradient: silent, explained, with its fix
    (grad,) = [d for d in module.differences if "no gradient with respect to the label" in d.reason]
    assert grad.silent and grad.explained and grad.column == "paddle" and "semantics='torch'" in grad.advice
    # size_average=False with 'batchmean': torch divides the sum by N, a converter's reduction='sum' does not
    assert legacy.silent and any("silently drops that division" in n for n in legacy.notes)
    (div,) = [d for d in legacy.differences if d.column.split("@")[0] == "torch"]  # the newest torch measured
    assert div.silent and div.cases == ["legacy/proper/2d/float32/batchmean,size_average=False,reduce=None/prob"]
    assert all(case.endswith("/sum/log") for d in logt.differences for case in d.cases)


def test_the_cli_exit_status_and_formats(tmp_path, capsys):
    sample = str(SAMPLES / "distill_torch.py")
    assert main(["scan", sample, "--from", "torch", "--to", "paddle", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["from"] == "torch" and [s["line"] for s in data["sites"]] == [12, 22, 26]
    assert all(s["silent"] for s in data["sites"])
    out = tmp_path / "scan.md"
    assert main(["scan", sample, "--from", "torch", "--to", "paddle", "--format", "markdown", "--out", str(out)]) == 1
    text = out.read_text()
    assert text.startswith("# kl_div call sites, torch → paddle") and "**silent**" in text
    # code that only uses kl_compat's porting layer has nothing silent left
    portable = tmp_path / "portable.py"
    portable.write_text("import kl_compat\nloss = kl_compat.kl_div(x, y, 'batchmean', semantics='torch')\n")
    assert main(["scan", str(portable), "--from", "torch", "--to", "paddle"]) == 0
    assert "[portable]" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["scan", "nosuch.py", "--from", "torch", "--to", "paddle"], "nosuch.py: no such file or folder"),
    (["scan", ".", "--from", "torch", "--to", "nosuch"], "unknown framework 'nosuch'"),
    (["scan", ".", "--from", "torch", "--to", "paddle", "--report", "nosuch.json"], "nosuch.json: no such report"),
])
def test_bad_input_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)


def test_bad_python_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    assert main(["scan", str(bad), "--from", "torch", "--to", "paddle"]) == 2
    assert "bad.py: not valid Python (line 1)" in capsys.readouterr().err


@pytest.mark.r
def test_r_calls_are_read_by_rs_parser():
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed")
    sites = scan.find_calls([SAMPLES / "distill.R"])
    got = [(s.line, s.framework, s.surface, s.arguments["reduction"]) for s in sites]
    assert got == [(4, "rtorch", "functional", "batchmean"), (7, "rtorch", "module", "sum"),
                   (8, "rtorch", "functional", scan.ANY)]
    reports = scan.scan(sites, scan.load_measurements(None), "rtorch", "torch")
    # R torch's 'batchmean' on a 0-d input divides by NA: silent, found by the measurements
    (na,) = [d for d in reports[0].differences if "NA" in d.reason]
    assert na.silent and all("/0d/" in c for c in na.cases)


def test_paconverts_own_conversion_is_scanned(tmp_path):
    """PaConvert (PyPI's PyTorch -> Paddle converter) converts the sample with no warning; scanning its
    output finds the same call sites as Paddle calls, each with Paddle's silent differences."""
    exe = shutil.which("paconvert") or str(Path(sys.executable).with_name("paconvert"))
    if not Path(exe).exists():
        pytest.skip("PaConvert is not installed (pip install paconvert: a test dependency)")
    out = tmp_path / "converted.py"
    run = subprocess.run([exe, "--in_dir", str(SAMPLES / "distill_torch.py"), "--out_dir", str(out)],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0 and out.exists(), run.stdout[-2000:] + run.stderr[-2000:]
    sites = scan.find_calls([out])
    assert [s.framework for s in sites] == ["paddle"] * 3
    assert {s.surface for s in sites} == {"functional", "module"}
    # PaConvert turned size_average=False + 'batchmean' into reduction='sum': torch's sum / N is gone
    assert sorted(s.arguments["reduction"] for s in sites) == ["batchmean", "sum", "sum"]
    reports = scan.scan(sites, scan.load_measurements(None), "torch", "paddle")
    assert all(r.silent for r in reports)
    original = scan.scan(scan.find_calls([SAMPLES / "distill_torch.py"]), scan.load_measurements(None), "torch",
                         "paddle")
    assert any("silently drops that division" in n for r in original for n in r.notes)


def _register(monkeypatch, *described):
    """Frameworks registered beside the installed adapters, as an installed package's adapter would be."""
    from kl_compat import adapters

    names, describe = adapters.registered, adapters.framework_of
    extra = {d.key: d for d in described}
    monkeypatch.setattr(adapters, "registered", lambda: [*names(), *extra])
    monkeypatch.setattr(adapters, "framework_of", lambda name: extra.get(name) or describe(name))


def _myfw():
    from kl_compat.adapters.framework import Api, Framework

    # Its own names for everything: the target is `truth`, the reduction `how`; surfaces named like torch's.
    return Framework(
        key="myfw", title="My framework", language="python", functional_api="myfw.losses.kl",
        module_api="myfw.KL", functional="myfw.losses.kl(pred, truth, how='mean')", module="myfw.KL(how='mean')",
        source="(a test)", params={"input": "pred", "target": "truth", "reduction": "how", "log_target": None,
                                   "size_average": None, "reduce": None},
        scan_apis=(Api("myfw.losses.kl", "functional", ("pred", "truth", "how"), "functional"),
                   Api("myfw.nn.KL", "module", ("how",), "module"), Api("myfw.KL", "module", ("how",), "module")))


def test_a_registered_frameworks_description_is_scanned_for(tmp_path, monkeypatch, capsys):
    """A framework installed with its adapter is found in code and can be ported from and to, through its
    description's scan_apis alone: scan.py names no framework."""
    _register(monkeypatch, _myfw())
    sites = _sites(tmp_path, """
        import myfw
        from myfw import KL
        import torch.nn.functional as F

        a = myfw.losses.kl(x, y, 'sum')
        b = KL(how='none')
        c = myfw.nn.KL()
        d = F.kl_div(x, y, reduction='sum')
    """)
    assert [(s.line, s.framework, s.surface, s.arguments["reduction"]) for s in sites] == [
        (6, "myfw", "functional", "sum"), (7, "myfw", "module", "none"), (8, "myfw", "module", "mean"),
        (9, "torch", "functional", "sum")]
    # measurements where myfw did exactly what torch did: the same cases are matched, and nothing differs
    m = scan.load_measurements(None)
    torch_col = next(c for c in m["columns"] if c["name"] == "torch")
    m = {**m, "columns": [*m["columns"], {**torch_col, "name": "myfw", "id": "myfw"}],
         "records": [*m["records"], *({**r, "column": "myfw"} for r in m["records"] if r["column"] == "torch")]}
    reports = scan.scan(sites, m, "myfw", "torch")
    assert all(r.cases > 0 and not r.differences for r in reports)
    assert reports[0].cases == scan.scan(sites[3:], m, "torch", "myfw")[0].cases  # both call reduction='sum'
    # a scan to another framework finds myfw's call with Paddle's differences, as it finds torch's
    to_paddle = scan.scan(sites, m, "myfw", "paddle")
    assert to_paddle[0].cases == scan.scan(sites[3:], m, "torch", "paddle")[0].cases
    assert to_paddle[0].differences and to_paddle[0].silent
    # the command line accepts it, and names it among the choices
    assert main(["scan", str(tmp_path), "--from", "myfw", "--to", "nosuch"]) == 2
    assert "one of " in (err := capsys.readouterr().err) and "myfw" in err.split("one of ")[-1]


def test_only_frameworks_own_adapters_are_scan_targets(capsys):
    """A porting adapter (its description is another framework's) is not a framework to port from or to."""
    assert "torch-as-paddle" not in scan.frameworks() and {"torch", "paddle", "rtorch"} <= set(scan.frameworks())
    assert main(["scan", ".", "--from", "torch-as-paddle", "--to", "paddle"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown framework 'torch-as-paddle'" in err and len(err.splitlines()) == 1


@pytest.mark.r
def test_a_registered_r_frameworks_functions_are_read_by_rs_parser(tmp_path, monkeypatch):
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed")
    from kl_compat.adapters.framework import Api, Framework

    _register(monkeypatch, Framework(
        key="rfw", title="R framework", language="r", functional_api="rfw_kl", module_api="rfw_loss",
        functional="rfw_kl(a, b, how = 'mean')", module="rfw_loss(how = 'mean')", source="(a test)",
        params={"reduction": "how", "log_target": None, "size_average": None, "reduce": None},
        scan_apis=(Api("rfw_kl", "functional", ("a", "b", "how"), "kl"),)))
    path = tmp_path / "code.R"
    path.write_text('x <- rfw_kl(p, q, "sum")\ny <- rfwpkg::rfw_kl(p, q, how = "none")\nz <- nnf_kl_div(p, q)\n')
    got = [(s.line, s.framework, s.surface, s.arguments["reduction"]) for s in scan.find_calls([path])]
    assert got == [(1, "rfw", "functional", "sum"), (2, "rfw", "functional", "none"), (3, "rtorch", "functional", "mean")]
