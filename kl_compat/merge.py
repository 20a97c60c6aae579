"""`kl-compat merge`: shard results files -> one results file, as an unsharded run would have written it.

Records are put in the run's order (adapter, then the matrix's case order, then surface); counts and the
known-differences verdicts (stale, fixed) are recomputed over the union, which no single shard can do.
Only timing and provenance fields differ from an unsharded run: started, finished, argv, seconds, and
run.merged_from. Shards must share the goldens and kl_compat version; a case seen twice is an error, and
so are a partial input and a missing shard unless allowed (--allow-partial).
"""

from __future__ import annotations

from pathlib import Path

import dataclasses

from . import golden, known, results
from .errors import KlCompatError
from .record import AdapterLine, Record
from .run import RunSummary, end_line, load_known


class MergeError(KlCompatError):
    pass


def merge(paths: list[Path], out: Path, *, known_path: Path | list[Path] | None = None, golden_dir: Path | None = None,
          allow_partial: bool = False, warn=None) -> RunSummary:
    """Merge results files into `out` (written whole or not at all, under its lock: results.Writer).

    Inputs must be shards of one run: the same goldens, matrix size, kl_compat version and case
    patterns (MergeError otherwise). A partial input (no end line: the run was killed or failed) or a
    missing shard (an adapter in shards 1/3 and 3/3 only) is a MergeError too, unless `allow_partial`:
    then each is passed to `warn`, the merged file's run line lists them under "incomplete" (so that it
    reads as partial: results.read), and stale or fixed known-differences entries are not judged.
    """
    if not paths:
        raise MergeError("nothing to merge: give at least one results file")
    parts = [results.read(p) for p in paths]
    first = parts[0]
    incomplete = _incomplete(parts)
    if incomplete and not allow_partial:
        more = f" (and {len(incomplete) - 1} more problem(s))" if len(incomplete) > 1 else ""
        raise MergeError(f"{incomplete[0]}{more}; --allow-partial merges what there is")
    for problem in incomplete:
        (warn or (lambda m: None))(problem)
    entries = load_known(known_path)
    adapters = _adapter_lines(parts)
    records = _ordered_records(parts, adapters, {c.id: i for i, c in enumerate(golden.load(golden_dir))})
    summary = RunSummary(Path(out))
    names = {label: line.registry_name for label, line in adapters.items()}
    records = [known.explained(entries, r, name=names[r.adapter]) for r in records]
    for r in records:
        summary.add(r)
    summary.unavailable = {label: line.reason for label, line in adapters.items() if not line.available}
    summary.partial = incomplete
    summary.known_problems = ([str(p) for p in known.problems(entries, summary.judged, names=names,
                                                               ran=_versions_ran(adapters, names))]
                              if not incomplete and not first.run.patterns else [])
    run_line = dataclasses.replace(first.run, shard=None, selected=sum(p.run.selected or 0 for p in parts),
                                   started=min(str(p.run.started or "") for p in parts),
                                   merged_from=[str(p.path) for p in parts], incomplete=incomplete or None)
    _write(out, run_line, adapters, records, parts, summary, entries)
    return summary


def _incomplete(parts) -> list[str]:
    """What is missing from the shards (partial files, missing shards); a MergeError when they are not
    shards of one run."""
    first = parts[0]
    incomplete = []
    for part in parts:
        if part.truncated:
            incomplete.append(f"{part.path}: incomplete (partial: no end line, {len(part.records)} records): "
                              "that run did not finish")
        for key in ("goldens", "cases", "kl_compat", "patterns"):
            if getattr(part.run, key) != getattr(first.run, key):
                raise MergeError(f"{part.path}: {key} {getattr(part.run, key)!r} differs from {first.path}'s "
                                 f"{getattr(first.run, key)!r}: not shards of one run")
    return incomplete + _missing_shards(parts)


def _adapter_lines(parts) -> dict[str, AdapterLine]:
    """Each adapter's line, by label: from a shard where it ran, not one where it could not."""
    adapters: dict[str, AdapterLine] = {}
    for part in parts:
        for line in part.adapters:
            label = line.adapter
            if label not in adapters or (line.available and not adapters[label].available):
                adapters[label] = line
    return adapters


def _versions_ran(adapters: dict[str, AdapterLine], names: dict[str, str]) -> dict[str, set]:
    ran: dict[str, set] = {}
    for label, line in adapters.items():
        if line.available:
            ran.setdefault(names[label], set()).add(line.version)
    return ran


def _write(out: Path, run_line, adapters: dict[str, AdapterLine], records: list[Record], parts, summary: RunSummary,
           entries) -> None:
    """The merged file: the run line, each adapter's line followed by its records, the end line."""
    with results.Writer(out) as w:
        w.write(run_line)
        for label, line in adapters.items():
            w.write(line)
            for r in records:
                if r.adapter == label:
                    w.write(r)
        ends = [p.end for p in parts if p.end is not None]
        end = end_line(summary, any(e.strict for e in ends), entries)
        end.finished = max((str(e.finished or "") for e in ends), default=end.finished)
        w.write(end)


def _ordered_records(parts, adapters: dict[str, AdapterLine], order: dict[str, int]) -> list[Record]:
    """Every record of `parts`, in the run's order (adapter, the matrix's case order, surface); a record
    in two parts, or naming a case or adapter the goldens and adapter lines lack, is a MergeError."""
    adapter_rank = {label: i for i, label in enumerate(adapters)}
    surface_rank = {label: {s: i for i, s in enumerate(line.surfaces or [])} for label, line in adapters.items()}
    seen: dict[tuple, Path] = {}
    records = []
    for part in parts:
        for r in part.records:
            record_key = (r.adapter, r.surface, r.case)
            if record_key in seen:
                raise MergeError(f"{part.path}: {r.adapter}.{r.surface} {r.case} is also in {seen[record_key]}")
            seen[record_key] = part.path
            records.append(r)
    try:
        records.sort(key=lambda r: (adapter_rank[r.adapter], order[r.case], surface_rank[r.adapter].get(r.surface, 0)))
    except KeyError as e:
        raise MergeError(f"a record names {e.args[0]!r}, which is not in the goldens or adapter lines") from None
    return records


def _missing_shards(parts) -> list[str]:
    """Per adapter: the shards of its run that are not among `parts` (an adapter in an unsharded input is
    whole). Shards of different splits (1/2 with 2/3) are a MergeError."""
    by_label: dict[str, list] = {}
    for p in parts:
        for line in p.adapters:
            by_label.setdefault(line.adapter, []).append(p)
    out = []
    for label, ps in by_label.items():
        if any(not p.run.shard for p in ps):
            continue
        given: dict[tuple, results.Results] = {}
        for p in ps:
            shard = tuple(p.run.shard)
            if shard in given:
                raise MergeError(f"{p.path}: shard {shard[0]}/{shard[1]} of {label} is also in {given[shard].path}")
            given[shard] = p
        shards = set(given)
        splits = {n for _, n in shards}
        if len(splits) > 1:
            raise MergeError(f"{label}: shards of different splits ({', '.join(f'{i}/{n}' for i, n in sorted(shards))}): "
                             "not shards of one run")
        n = splits.pop()
        lacking = sorted(set(range(1, n + 1)) - {i for i, _ in shards})
        if lacking:
            out.append(f"{label}: shard(s) {', '.join(f'{i}/{n}' for i in lacking)} missing "
                       f"(have {', '.join(f'{i}/{n}' for i, _ in sorted(shards))})")
    return out


def add_parser(sub) -> None:
    # (its description, examples and exit statuses: kl_compat.cli.helptext, with every subcommand's)
    p = sub.add_parser("merge", help="merge shard results files into one, as an unsharded run writes it")
    p.add_argument("inputs", nargs="+", type=Path, metavar="RESULTS")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--known", type=Path, action="append", default=None, metavar="FILE",
                   help="known-differences file (default: the package's); repeatable, the files' entries "
                        "combined in order (e.g. the package's, then your own)")
    p.add_argument("--strict", action="store_true", help="fail on stale or fixed known-difference entries")
    p.add_argument("--allow-partial", action="store_true",
                   help="merge partial inputs and incomplete sets of shards (said on stderr; the merged file "
                        "is marked incomplete, and stale or fixed entries are not judged)")
    p.set_defaults(func=cmd_merge)


def cmd_merge(args) -> int:
    import sys

    def warn(message):
        print(f"kl-compat merge: warning: {message}", file=sys.stderr)

    summary = merge(args.inputs, args.out, known_path=args.known, allow_partial=args.allow_partial, warn=warn)
    print(f"merged {len(args.inputs)} file(s): {summary.records} records -> {args.out}")
    for p in summary.known_problems:
        print(("error: " if args.strict else "warning: ") + p)
    if summary.new:
        print(f"{len(summary.new)} new difference(s)")
    for label, why in summary.not_run().items():
        warn(f"{label} did not run: {why}")
    status = summary.exit_status(args.strict, allow_unavailable=True)
    if status == 4:
        print("kl-compat merge: error: nothing was checked: the inputs hold no observed record", file=sys.stderr)
    return status
