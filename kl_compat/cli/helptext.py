"""The texts of `kl-compat`'s help: each subcommand's description, examples and exit statuses.

argparse prints them as written (RawDescriptionHelpFormatter): they are wrapped here. Subcommands whose
arguments their own module defines (env, merge, fuzz) get their description and epilog from here too.
"""

from __future__ import annotations

TIMEOUT_HELP = ("seconds one observation (a case on one surface) may take before its worker is killed, batched or "
                "not (default 60); an adapter observing a batch in one call (R torch) has it times the batch's "
                "length")


# Exit statuses, per subcommand (each one's --help epilog; kl_compat.exitcode.ExitCode is the table of
# codes). The README's "Exit codes" section is the summary.
_INTERRUPTED = "  130  interrupted (Ctrl-C; 143 on SIGTERM)"
EXIT_STATUS_HELP = {
    "run": f"""\
exit status:
  0    every difference found is explained by the known-differences file
  1    a new difference (with --strict also: a stale or fixed known-differences entry)
  2    usage or input error: a bad option (--timeout must be positive and finite; --workers at most
       2 per CPU and one per ~300 MB of available memory), an unknown adapter name, an unreadable or
       malformed --known file, an --out that cannot be written or that another run is writing
  3    an adapter asked for did not run: unavailable, or its worker failed to start or could not be
       restarted (not with --allow-unavailable, for when a missing framework is expected)
  4    nothing at all was checked: no case selected, or every adapter unavailable (under
       --allow-unavailable; without it that is 3)
{_INTERRUPTED}
--out is replaced only when the run ends normally: a run that fails or is interrupted leaves it as it
was and its records in <stem>.partial<suffix> (results/latest.partial.jsonl: read by `report
--allow-partial`, flagged as partial). A worker may take max(--timeout, 120 s) to start (import its
framework) before its adapter counts as unavailable.
""",
    "report": f"""\
exit status:
  0    the report is written; every difference is explained by the known-differences file
  1    the report is written, and a record shows a new difference
  2    usage or input error: a bad option, an unknown adapter name, an unreadable or malformed
       results, --known or --claims file (an explicit --claims must exist), an --out or --guides that
       is not a directory or that another report is writing; a partial input (a run that did not end
       normally) unless --allow-partial; inputs judged against different goldens (than each other,
       or than this kl_compat's) unless --allow-mismatch
  3    an adapter named with --adapters did not run (not with --allow-unavailable). Adapters of the
       default list that cannot run are skipped, each named with its reason, and do not fail the report
  4    nothing at all was checked (no record of the inputs observed anything)
{_INTERRUPTED}
""",
    "diff": f"""\
exit status:
  0    nothing broke
  1    something broke (with --ignore-known: something NEW's known-differences entries do not explain);
       with --fail-on-worse also: accuracy got worse (listed as "worse accuracy" either way)
  2    usage or input error: an unreadable or malformed input; a partial input (a run that did not end
       normally) unless --allow-partial; inputs judged against other goldens, matrix sizes or
       selections of cases unless --allow-mismatch
  4    nothing was compared: NEW holds no records that could be compared
{_INTERRUPTED}
""",
    "golden": f"""\
exit status:
  0    the goldens match the spec (--check), or were written
  1    (--check) the stored goldens drift from the spec
  2    missing or corrupt goldens, a --dir that cannot be written, or another process writing it
{_INTERRUPTED}
""",
    "doctor": f"""\
exit status:
  0    every adapter listed (with the default list: available or not)
  2    an unknown adapter name
  3    an adapter named with --adapters is unavailable
{_INTERRUPTED}
""",
    "guide": f"""\
exit status:
  0    the guide is written
  2    usage or input error: an unknown framework, an unreadable or malformed input, an --out that
       cannot be written
{_INTERRUPTED}
""",
    "env": f"""\
exit status:
  0    done
  2    an unknown environment, or one that could not be created (pip's error shown)
{_INTERRUPTED}
""",
    "merge": """\
exit status:
  0    merged; every difference is explained by the known-differences file
  1    a new difference (with --strict also: a stale or fixed known-differences entry)
  2    usage or input error: an unreadable or malformed input, inputs that are not shards of one run
       (other goldens, matrix size or version; a record in two inputs), a partial input or a missing
       shard (unless --allow-partial), OUT being written by another process
  4    nothing at all was checked (the inputs hold no observed record)
  130  interrupted (Ctrl-C; 143 on SIGTERM): OUT is left as it was
OUT is written whole or not at all: to a temporary file beside it, renamed onto it at the end.
""",
    "fuzz": f"""\
exit status:
  0    no difference the known-differences file does not explain
  1    a new difference, shrunk to a minimal case and printed with its reproducer
  2    usage or input error
  3    an adapter asked for did not run (the others were fuzzed; no adapter at all: nothing was)
{_INTERRUPTED}
""",
}


# What each subcommand does (its --help's description) and how it is used (the epilog's examples, before
# the exit statuses). Written wrapped: the help formatter keeps them as they are.
DESCRIPTIONS = {
    "golden": """\
Regenerate the goldens (the spec's outputs and gradients for every case of the matrix, byte-identical
on every run), or --check their checksums and that they still match the spec. The goldens of an
installed kl_compat are part of the package: they are regenerated only in a source checkout, or into
--dir.""",
    "run": """\
Run the conformance matrix (or the cases --cases selects) through each adapter, each in its own worker
process; judge every observation against the goldens and the known-differences file; write one record
per case and surface to a results file (JSON Lines); print a summary (--format json: one JSON object,
schema kl-compat-run-summary/1) and, with --junit, a JUnit XML file for CI systems.""",
    "doctor": """\
Start each adapter's worker as a run would and list it: available, with its framework's version, or
why not and how to fix it (--format json: schema kl-compat-doctor/1).""",
    "report": """\
Write the conformance report (report.md, report.html, report.json, report.png) and the porting guide of
every pair of frameworks, from results files; with none given, run the matrix first: on --adapters, or
on the default list, whose adapters that cannot run here are skipped, each named with its reason.
The report goes to --out, the guides to OUT/guides (--guides for another folder); without --out, to
conformance/report/ and conformance/guides/ under the current folder.""",
    "diff": """\
Compare two results files or JSON reports record by record: what is fixed, broken, changed, new and
removed.""",
    "guide": """\
Print the porting guide from one framework to another: signatures, the argument mapping, and every
behavioural difference measured between the two, with the smallest input that shows it and the portable
way to write it. Reads the measurements shipped with kl_compat, unless given a report.json, a
measurements file (.json.gz) or results files. Needs the [cli] extra (jinja2).""",
    "merge": """\
Combine the results files of shards (kl-compat run --shard i/n) into one, identical apart from timing
fields to an unsharded run's.""",
    "env": """\
Create or list the virtual environments that other framework versions run in (named in the package's
environments.toml, or ad hoc as ADAPTER==VERSION), under .kl-compat-cache/envs/ in the current folder
($KL_COMPAT_CACHE for another). A run names one as ADAPTER@ENV.""",
    "scan": """\
Finds every kl_div / KLDivLoss / nnf_kl_div / nn_kl_div_loss call (imports and aliases followed; R through
R's own parser), reads its literal arguments, and lists the measured differences between --from and --to on
the matrix cases that make the same call, with the reason and the fix. Works on converted code too (e.g.
PaConvert's output: scan it --from torch --to paddle).""",
    "fuzz": """\
Differential fuzzing: generate inputs with hypothesis (0-d and empty shapes, every dtype and mixed pairs,
edge values, reductions, log_target), run every adapter and the spec on them, and shrink a difference
the known-differences file does not explain to the smallest case, printed with its reproducer. Needs
the [fuzz] extra (hypothesis).""",
}
EXAMPLES = {
    "golden": """\
examples:
  kl-compat golden --check
  kl-compat golden --dir /tmp/goldens
""",
    "run": """\
examples:
  kl-compat run --adapters torch --cases 'core/proper/2d/*'
  kl-compat run --adapters paddle,paddle@paddle-2.6.2 --strict
  kl-compat run --quiet --format json --junit junit.xml
""",
    "doctor": """\
examples:
  kl-compat doctor
  kl-compat doctor --adapters torch,rtorch --format json
""",
    "report": """\
examples:
  kl-compat report
  kl-compat report --adapters torch,paddle --out my-report
  kl-compat report shard-1.jsonl shard-2.jsonl --out my-report --no-screenshot
""",
    "diff": """\
examples:
  kl-compat diff old.jsonl results/latest.jsonl
  kl-compat diff old/report.json new/report.json --format markdown --ignore-known
""",
    "guide": """\
examples:
  kl-compat guide --from torch --to paddle
  kl-compat guide my-report/report.json --from paddle --to rtorch --out guide.md
""",
    "merge": """\
examples:
  kl-compat merge shard-*.jsonl --out results.jsonl --strict
""",
    "env": """\
examples:
  kl-compat env list
  kl-compat env create paddle-2.6.2
  kl-compat env create paddle==2.5.2
""",
    "scan": """\
examples:
  kl-compat scan src/ --from torch --to paddle
  kl-compat scan model.R --from rtorch --to torch --format json
""",
    "fuzz": """\
examples:
  kl-compat fuzz --adapters torch,paddle --max-examples 200 --seed 1
""",
}


# scan's exit statuses, in one line (it has no interrupted state worth a line of its own)
SCAN_EXIT_STATUS = ("exit status: 0 no call site has a silent difference; 1 one has (both frameworks return a "
                    "value, and it differs); 2 usage or input error")


def epilog(name: str) -> str:
    """A subcommand's --help epilog: its examples, then its exit statuses."""
    status = EXIT_STATUS_HELP.get(name) or (SCAN_EXIT_STATUS if name == "scan" else "")
    return EXAMPLES[name] + (f"\n{status}" if status else "")
