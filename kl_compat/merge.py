"""`kl-compat merge`: shard results files -> one results file, as an unsharded run would have written it.

Records are put in the run's order (adapter, then the matrix's case order, then surface); counts and the
known-differences verdicts (stale, fixed) are recomputed over the union, which no single shard can do.
Only timing and provenance fields differ from an unsharded run: started, finished, argv, seconds, and
run.merged_from. Shards must share the goldens and kl_compat version; a case seen twice is an error.
"""

from __future__ import annotations

from pathlib import Path

from . import compare, golden, known, results
from .run import RunSummary, end_line


class MergeError(Exception):
    pass


def merge(paths: list[Path], out: Path, *, known_path: Path | None = None, golden_dir: Path | None = None) -> RunSummary:
    if not paths:
        raise MergeError("nothing to merge: give at least one results file")
    parts = [results.read(p) for p in paths]
    first = parts[0]
    for part in parts:
        if part.truncated:
            raise MergeError(f"{part.path}: incomplete (no 'end' line): that shard did not finish")
        for key in ("goldens", "kl_compat", "patterns"):
            if part.run.get(key) != first.run.get(key):
                raise MergeError(f"{part.path}: {key} {part.run.get(key)!r} differs from {first.path}'s "
                                 f"{first.run.get(key)!r}: not shards of one run")
    order = {c.id: i for i, c in enumerate(golden.load(golden_dir))}
    adapters: dict[str, dict] = {}
    for part in parts:
        for line in part.adapters:
            adapters.setdefault(line["adapter"], line)
    adapter_rank = {label: i for i, label in enumerate(adapters)}
    surface_rank = {label: {s: i for i, s in enumerate(line.get("surfaces") or [])}
                    for label, line in adapters.items()}
    seen: dict[tuple, Path] = {}
    records = []
    for part in parts:
        for r in part.records:
            key = (r["adapter"], r["surface"], r["case"])
            if key in seen:
                raise MergeError(f"{part.path}: {r['adapter']}.{r['surface']} {r['case']} is also in {seen[key]}")
            seen[key] = part.path
            records.append(r)
    try:
        records.sort(key=lambda r: (adapter_rank[r["adapter"]], order[r["case"]],
                                    surface_rank[r["adapter"]].get(r["surface"], 0)))
    except KeyError as e:
        raise MergeError(f"a record names {e.args[0]!r}, which is not in the goldens or adapter lines") from None

    entries = known.load(known_path)
    summary = RunSummary(Path(out))
    ran: dict[str, set] = {}
    for line in adapters.values():
        if line.get("available"):
            ran.setdefault(line["name"], set()).add(line.get("version"))
    names = {label: line["name"] for label, line in adapters.items()}
    for r in records:
        diffs = [compare.Difference(d["kind"], d["message"]) for d in r["differences"]]
        known.mark(entries, names[r["adapter"]], r["surface"], r["case"], r.get("version"), diffs,
                   measured=r["status"] != compare.UNSUPPORTED)
        r["differences"] = [vars(d) for d in diffs]
        summary.add(r)
    summary.unavailable = {label: line.get("reason") for label, line in adapters.items() if not line.get("available")}
    complete = all(not p.run.get("shard") for p in parts) or _covers_all_shards(parts)
    summary.known_problems = known.problems(entries, ran) if complete and not first.run.get("patterns") else []
    run_line = dict(first.run, shard=None, selected=sum(p.run.get("selected", 0) for p in parts),
                    started=min(p.run["started"] for p in parts),
                    merged_from=[str(p.path) for p in parts])
    with results.Writer(out) as w:
        w.write(run_line)
        for label, line in adapters.items():
            w.write(line)
            for r in records:
                if r["adapter"] == label:
                    w.write(r)
        end = end_line(summary, any(p.end.get("strict") for p in parts))
        end["finished"] = max(p.end["finished"] for p in parts)
        w.write(end)
    return summary


def _covers_all_shards(parts) -> bool:
    shards = {tuple(p.run["shard"]) for p in parts if p.run.get("shard")}
    n = {s[1] for s in shards}
    return len(n) == 1 and {s[0] for s in shards} == set(range(1, next(iter(n)) + 1))


def add_parser(sub) -> None:
    p = sub.add_parser("merge", help="merge shard results files into one, as an unsharded run writes it")
    p.add_argument("inputs", nargs="+", type=Path, metavar="RESULTS")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--known", type=Path, default=None, help="known-differences file (default: the package's)")
    p.add_argument("--strict", action="store_true", help="fail on stale or fixed known-difference entries")
    p.set_defaults(func=cmd_merge)


def cmd_merge(args) -> int:
    from .cli import CLIError

    try:
        summary = merge(args.inputs, args.out, known_path=args.known)
    except (MergeError, results.ResultsError, known.KnownDifferencesError) as e:
        raise CLIError(str(e)) from None
    print(f"merged {len(args.inputs)} file(s): {summary.records} records -> {args.out}")
    for p in summary.known_problems:
        print(("error: " if args.strict else "warning: ") + p)
    if summary.new:
        print(f"{len(summary.new)} new difference(s)")
    return 1 if summary.failed(args.strict) else 0
