"""Nothing already written is lost: a run that is killed, interrupted or runs out of disk leaves the previous
results file byte for byte and its own records in a partial file; two processes never write one file; a
worker that hangs while starting is bounded by the timeout. Real `kl-compat` processes, real signals."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kl_compat import results, runner
from kl_compat.cli import EXIT_STATUS_HELP, build_parser, main

TESTS = Path(__file__).parent
ROOT = TESTS.parent
SPEC = "fault_adapters:SpecAdapter"
SLOW = "fault_adapters:SlowAdapter"  # 20 ms a case
SELECT = "core/proper/2d/float32/*"


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p))


def _kl(*argv) -> list[str]:
    return [sys.executable, "-m", "kl_compat.cli", *map(str, argv)]


def _start(out: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen(_kl("run", "--adapters", SLOW, "--quiet", "--out", out, *extra), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stream(out: Path, pid: int) -> Path:
    return out.with_name(f".{out.name}.partial-{pid}")


def _wait_for_records(out: Path, proc: subprocess.Popen, n: int = 20, limit: float = 60.0) -> None:
    """Until the run's stream holds `n` records (it is flushed every 0.2 s)."""
    stream, deadline = _stream(out, proc.pid), time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if stream.exists() and stream.read_text().count('"type": "record"') >= n:
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {n} records in {stream} within {limit} s")


@pytest.fixture
def previous(tmp_path):
    """A results file from an earlier run: what an interrupted run must leave as it was."""
    out = tmp_path / "latest.jsonl"
    done = subprocess.run(_kl("run", "--adapters", SPEC, "--cases", SELECT, "--quiet", "--out", out), env=_env(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out, out.read_bytes()


def _last(err: str) -> str:
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def test_kill_9_leaves_the_previous_file_and_a_partial_one(previous):
    out, before = previous
    proc = _start(out)
    _wait_for_records(out, proc)
    proc.kill()
    proc.wait()
    assert out.read_bytes() == before
    stream = _stream(out, proc.pid)
    partial = results.read(stream)
    assert partial.truncated and len(partial.records) >= 20
    # The next run writing that file moves the killed run's stream to the partial file's name, and says so.
    done = subprocess.run(_kl("run", "--adapters", SPEC, "--cases", SELECT, "--quiet", "--out", out), env=_env(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"its partial results are in {results.partial_path(out)}" in done.stderr
    assert not stream.exists() and results.read(results.partial_path(out)).truncated
    assert not results.read(out).truncated and not out.with_name(out.name + ".lock").exists()


@pytest.mark.parametrize("sig, status, word", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_ctrl_c_and_sigterm_keep_the_previous_file_and_the_partial_one(previous, sig, status, word, tmp_path):
    out, before = previous
    proc = _start(out)
    _wait_for_records(out, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    partial = results.partial_path(out)
    assert _last(err) == (f"kl-compat run: {word}; partial results kept in {partial}, "
                          "the results file left as it was")
    assert out.read_bytes() == before
    assert results.read(partial).truncated and len(results.read(partial).records) >= 20
    assert not _stream(out, proc.pid).exists() and not out.with_name(out.name + ".lock").exists()
    # Downstream, the partial file is refused unless allowed (diff, report), and flagged when allowed.
    done = subprocess.run(_kl("diff", out, partial), env=_env(), capture_output=True, text=True)
    assert done.returncode == 2 and "is partial" in _last(done.stderr)
    report = ("report", partial, "--out", tmp_path / "report", "--no-reproducers", "--no-screenshot", "--quiet")
    done = subprocess.run(_kl(*report), env=_env(), capture_output=True, text=True)
    assert done.returncode == 2 and _last(done.stderr).startswith(f"kl-compat report: error: {partial} is partial")
    assert "--allow-partial" in _last(done.stderr) and not (tmp_path / "report").exists()
    done = subprocess.run(_kl(*report, "--allow-partial"), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"warning: {partial} is partial" in done.stderr
    assert '"truncated": true' in (tmp_path / "report" / "report.json").read_text()


def test_two_runs_writing_one_file_one_wins_the_other_is_refused(previous):
    out, _ = previous
    first = _start(out, "--cases", "core/*")  # ~13 s of 20 ms cases
    _wait_for_records(out, first, n=5)
    second = subprocess.run(_kl("run", "--adapters", SPEC, "--cases", SELECT, "--quiet", "--out", out), env=_env(),
                            capture_output=True, text=True)
    assert first.poll() is None, "the first run ended before the second tried: the test proves nothing"
    assert second.returncode == 2
    assert _last(second.stderr) == (f"kl-compat run: error: {out}: another kl-compat process (pid {first.pid}) is "
                                    f"writing it (lock {out}.lock); wait for it, or choose another output file")
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    res = results.read(out)
    assert not res.truncated and len(res.records) == 640


def test_an_output_locked_in_this_process_refuses_merge(previous, capsys):
    out, before = previous
    lock = results.OutputLock(out)
    try:
        assert main(["merge", str(out), "--out", str(out)]) == 2
    finally:
        lock.release()
    assert f"another kl-compat process (pid {os.getpid()}) is writing it" in _last(capsys.readouterr().err)
    assert out.read_bytes() == before
    assert main(["merge", str(out), "--out", str(out)]) == 0  # (merging a file onto itself: read, then replaced)


class _FullDisk:
    """A file that takes `room` characters, then fails as a full disk does."""

    room = 20_000

    def __init__(self, f):
        self._f, self._written = f, 0

    def write(self, s):
        if self._written + len(s) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._written += len(s)
        return self._f.write(s)

    def __getattr__(self, name):
        return getattr(self._f, name)


def _hold(*, dirs=(), file=None) -> subprocess.Popen:
    """Another process holding the locks a report (dirs) or a guide (file) holds while it writes."""
    code = ("import sys, time\nfrom pathlib import Path\nfrom kl_compat.cli.outputs import outputs_locked\n"
            f"with outputs_locked(*map(Path, {[str(d) for d in dirs]!r}), file={str(file) if file else None!r}):\n"
            "    print('locked', flush=True)\n    time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_two_reports_into_one_folder_the_second_is_refused(previous, tmp_path):
    out, _ = previous
    rep = tmp_path / "report"
    argv = ("report", out, "--out", rep, "--no-reproducers", "--no-screenshot", "--quiet")
    done = subprocess.run(_kl(*argv), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (rep / ".kl-compat.lock").exists()  # released, and removed, at the end
    before = {p.name: p.read_bytes() for p in rep.rglob("*") if p.is_file()}
    holder = _hold(dirs=[rep])
    try:
        done = subprocess.run(_kl(*argv), env=_env(), capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2
    assert _last(done.stderr) == (f"kl-compat report: error: {rep}: another kl-compat process (pid {holder.pid}) is "
                                  f"writing it (lock {rep}/.kl-compat.lock); wait for it, or choose another output file")
    assert len(done.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in rep.rglob("*") if p.is_file() and p.name != ".kl-compat.lock"} == before
    # An explicit --guides folder is locked too.
    guides = tmp_path / "guides"
    holder = _hold(dirs=[guides])
    try:
        done = subprocess.run(_kl(*argv, "--guides", guides), env=_env(), capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2 and f"{guides}: another kl-compat process" in _last(done.stderr)


def test_two_guides_into_one_file_the_second_is_refused(previous, tmp_path):
    out, _ = previous
    page = tmp_path / "g" / "torch-to-paddle.md"
    argv = ("guide", out, "--from", "torch", "--to", "paddle", "--out", page)
    holder = _hold(file=page)
    try:
        done = subprocess.run(_kl(*argv), env=_env(), capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2 and not page.exists()
    assert _last(done.stderr) == (f"kl-compat guide: error: {page}: another kl-compat process (pid {holder.pid}) is "
                                  f"writing it (lock {page}.lock); wait for it, or choose another output file")
    done = subprocess.run(_kl(*argv), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert page.read_text().startswith("# Porting the KL divergence loss") and not Path(f"{page}.lock").exists()


def test_disk_full_is_one_line_and_keeps_the_previous_file(previous, monkeypatch, capsys, fault_env):
    out, before = previous

    def full_open(*args, **kwargs):
        return _FullDisk(open(*args, **kwargs))

    monkeypatch.setattr(results, "open", full_open, raising=False)
    monkeypatch.setattr(results.Writer, "FLUSH_SECONDS", 0.0)
    assert main(["run", "--adapters", SPEC, "--cases", "core/*", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert _last(err) == f"kl-compat run: error: {out}: cannot write: No space left on device"
    assert f"partial results kept in {results.partial_path(out)}" in err
    assert out.read_bytes() == before
    assert results.read(results.partial_path(out)).truncated


def test_disk_full_on_a_real_tiny_filesystem(previous, tmp_path):
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(tiny)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = tiny / "latest.jsonl"
        shutil.copy(previous[0], out)
        before = out.read_bytes()
        done = subprocess.run(_kl("run", "--adapters", SPEC, "--cases", "core/*", "--quiet", "--out", out),
                              env=_env(), capture_output=True, text=True)
        assert done.returncode == 2
        assert _last(done.stderr) == f"kl-compat run: error: {out}: cannot write: No space left on device"
        assert out.read_bytes() == before
        assert results.read(results.partial_path(out)).truncated
    finally:
        subprocess.run(["umount", str(tiny)], check=True)


def test_an_interrupted_merge_keeps_the_previous_output(previous, tmp_path, monkeypatch, capsys):
    out, before = previous
    target = tmp_path / "merged.jsonl"
    target.write_bytes(before)
    real = results.Writer.write
    written = []

    def interrupted(self, obj):
        written.append(obj)
        if len(written) == 3:
            raise KeyboardInterrupt
        real(self, obj)

    monkeypatch.setattr(results.Writer, "write", interrupted)
    assert main(["merge", str(out), "--out", str(target)]) == 130
    assert _last(capsys.readouterr().err).startswith("kl-compat merge: interrupted; partial results kept in")
    assert target.read_bytes() == before
    assert results.read(results.partial_path(target)).truncated


def test_a_worker_hanging_in_its_import_is_bounded_by_the_timeout(tmp_path, monkeypatch, capsys, fault_env):
    monkeypatch.setattr(runner, "STARTUP_FLOOR", 1.0)
    start = time.monotonic()
    rc = main(["run", "--adapters", "fault_adapters:HangOnLoadAdapter", "--cases", SELECT, "--timeout", "2",
               "--quiet", "--out", str(tmp_path / "r.jsonl")])
    seconds = time.monotonic() - start
    out, err = capsys.readouterr()
    assert rc == 3 and "worker did not start within 2 s" in out, (out, err)
    assert seconds < 20
    assert runner.startup_limit(5.0) == 5.0 and runner.startup_limit(600.0) == 600.0


def test_the_start_up_limit_derives_from_the_timeout_with_a_floor():
    assert runner.startup_limit(1.0) == runner.STARTUP_FLOOR == 120.0
    assert runner.startup_limit(300.0) == 300.0


def test_exit_statuses_are_documented_in_every_subcommand_and_the_readme():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert "exit status" in p.format_help().lower(), f"{name}: add its exit statuses to cli.EXIT_STATUS_HELP"
    for name in (*EXIT_STATUS_HELP, "merge"):
        assert "  130  interrupted" in sub.choices[name].format_help(), name
    for name in ("run", "report", "diff"):
        assert "  2    usage or input error" in EXIT_STATUS_HELP[name]
    readme = (ROOT / "README.md").read_text()
    assert "## Exit codes" in readme
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 130 |"):
        assert code in section
