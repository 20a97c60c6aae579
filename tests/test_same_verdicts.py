"""The verdict-identity check (.ci/same_verdicts.py) that guards refactorings: it must see a change."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "same_verdicts.py"


def _write(path, records):
    lines = [{"type": "run", "schema": "x"}] + [{"type": "record", **r} for r in records]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return str(path)


def _record(status="differs", known="entry 1", message="m"):
    return {"case": "edge/a", "adapter": "paddle", "surface": "functional", "status": status,
            "differences": [{"kind": "value", "message": message, "known": known}]}


def _run(tmp_path, before, after):
    a, b = _write(tmp_path / "a.jsonl", before), _write(tmp_path / "b.jsonl", after)
    return subprocess.run([sys.executable, str(SCRIPT), a, b], capture_output=True, text=True)


def test_same_verdicts_ignore_messages_and_known_text(tmp_path):
    r = _run(tmp_path, [_record()], [_record(known="paddle:3", message="other words")])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 with another verdict" in r.stdout


def test_a_known_difference_turned_new_is_a_change(tmp_path):
    r = _run(tmp_path, [_record()], [_record(known=None)])
    assert r.returncode == 1
    assert "value (known) x1 -> differs: value (new) x1" in r.stdout


def test_a_lost_record_and_a_status_change_are_changes(tmp_path):
    other = {**_record(), "case": "edge/b"}
    r = _run(tmp_path, [_record(), other], [_record(status="error")])
    assert r.returncode == 1
    assert "2 with another verdict" in r.stdout and "no record" in r.stdout


def test_an_empty_file_is_an_error_not_a_pass(tmp_path):
    r = _run(tmp_path, [], [])
    assert r.returncode == 2 and "no records" in r.stderr
