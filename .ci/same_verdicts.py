"""Whether two results files hold the same verdicts, record by record.

    python .ci/same_verdicts.py BEFORE.jsonl AFTER.jsonl

A refactoring must not change what kl_compat judges: run the same matrix with the old and the new code
(e.g. `kl-compat run --adapters torch,paddle,paddle@paddle-2.6.2,rtorch --out before.jsonl` from a
worktree of the old commit) and compare. A verdict is, per (case, adapter, surface): the status, and
each difference's kind with whether the known-differences file explains it. Messages, timings and the
schema's other fields may change. Reads both results schemas with the standard library only, so it
does not depend on the code it checks. Exit 0 when every record agrees and both files hold the same
records, 1 when something differs (listed), 2 on unreadable input.
"""

from __future__ import annotations

import json
import sys
from collections import Counter


def verdicts(path: str) -> dict[tuple[str, str, str], tuple]:
    out: dict[tuple[str, str, str], tuple] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            if obj.get("type") != "record":
                continue
            key = (obj["case"], obj["adapter"], obj["surface"])
            if key in out:
                raise ValueError(f"{path}:{n}: a second record for {key}")
            kinds = Counter((d["kind"], d.get("known") is not None) for d in obj.get("differences") or [])
            out[key] = (obj["status"], tuple(sorted(kinds.items())))
    if not out:
        raise ValueError(f"{path}: no records")
    return out


def describe(v: tuple | None) -> str:
    if v is None:
        return "no record"
    status, kinds = v
    parts = [f"{kind} ({'known' if known else 'new'}) x{n}" for (kind, known), n in kinds]
    return f"{status}: {', '.join(parts) or 'no differences'}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: same_verdicts.py BEFORE.jsonl AFTER.jsonl", file=sys.stderr)
        return 2
    try:
        before, after = (verdicts(p) for p in argv)
    except (OSError, ValueError, KeyError) as e:
        print(f"same_verdicts: error: {e}", file=sys.stderr)
        return 2
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    for key in changed[:50]:
        print(f"{'/'.join(key[1:])} {key[0]}: {describe(before.get(key))} -> {describe(after.get(key))}")
    if len(changed) > 50:
        print(f"... and {len(changed) - 50} more")
    print(f"{len(before)} records before, {len(after)} after, {len(changed)} with another verdict")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
