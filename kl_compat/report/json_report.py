"""The machine-readable report: one JSON object, schema "kl-compat-report/1".

Versioning: a reader checks `schema`. Fields may be added within version 1; a field that is removed,
renamed or changes meaning makes it "kl-compat-report/2". Non-finite numbers are the strings "nan",
"inf" and "-inf", as in the results file (kl_compat.results).

  schema        "kl-compat-report/1"
  generated     ISO 8601 UTC time the report was written
  run_info      kl_compat (version), goldens (sha256 digest of the goldens' manifest: what the report was
                judged against), goldens_in_results (the digests the inputs' runs used),
                known_differences {path, sha256, files? [{path, sha256}] (when several were combined:
                path and sha256 are the first's)}, claims {path, sha256}, machine {python, numpy,
                platform, r} (where the report was written), inputs [{path, sha256, truncated, kl_compat,
                started, finished, python, numpy, platform, goldens, cases, selected, shard, patterns, argv}]
  columns       [{id, label, name, version, available, framework, python, numpy, platform, r, libtorch,
                executable, environment, surfaces, reason, hint, sources}]: one per adapter and version.
                `id` is the label, or "label@version" when the inputs hold one label at several versions.
                `version` is the framework's own (bare: what known-differences ranges match on);
                `libtorch` the version of the libtorch it runs on where its runtime reports one (R torch:
                version "0.17.0", libtorch "2.13.0"), else null.
  summary       [{column, surface, run, match, differs_known, differs_new, unsupported, error, error_new,
                crashed, timeout}]: columns that ran; those that did not are columns with available false.
  matrix        {kinds [{kind, description}], cells [{column, surface, kind, known, new,
                cases [{case, status, new, message}]}]}: difference kinds x (column, surface)
  findings      [{id, column, title, known, reason, link, advice, advice_code {framework: code}, entry,
                entry_id (the known-differences entry's id, kl_compat.known; null for a new finding),
                family, kinds, surfaces, count,
                cases [{case, surface, status}], examples [{kind, case, surface, message, where}], conventions,
                reproducer {case, surface, minimised, note, input, target, input_shape, target_shape,
                input_dtype, target_dtype, call {reduction, log_target, size_average, reduce},
                spec {outcome, ...}, observed {status, kinds, messages, sentences (each message without
                its call), ...} | null,
                others {column: {status, kinds, messages, surface, ...}}, language, code}}]
  claims        [{id, framework, source, url (the page's public address, or null), quote, asserts, versions, check,
                results [{column, version, status, evidence, checked?, counter?}]}]
                status: "held" | "contradicted" | "not measured" | "not applicable"
  known_problems  stale or fixed entries of the known-differences file (judged on complete runs only)
  notes         things a reader should know about the inputs (truncated runs, duplicates, other goldens)
  errors        [{rule, expected, what, cases, columns {column: [{outcome, caught, count}]}}]: per kind of
                call the spec raises on (the rule it breaks first, S6/S7/S8, and the spec's exception class),
                each column's outcomes over those records: the exception's type (R: its class vector), "value"
                or "unsupported: ARG", and whether a handler for the spec's class catches it
                (kl_compat/report/errors.py)
  accuracy      [{column, dtype, n, median, p99, max}]: the records' max_ulp (worst finite error of a case's
                output, in ULPs) per column and dtype (float16, bfloat16, float32, float64, or "mixed"),
                over every surface; records with no finite max_ulp are not counted (kl_compat/report/accuracy.py)
  accuracy_by_reduction  [{column, dtype, reduction ("none", "sum", "mean", "batchmean" or "other"), measure
                ("ulp": max_ulp; "cond": max_cond, the error over eps * sum|terms|, kl_compat/tolerance.py;
                "grad_ulp": grad_max_ulp, either gradient's worst error in ULPs),
                n, median, p99, max}]: both measures per column, dtype and reduction (absent in older reports)
  history       null, or when the inputs hold one framework version run on several days (one results file
                each): [{name, by: "date", points [{label, version, run, match, known, new}], steps [{before,
                after, fixed, broken, changed ([[surface, case]]), same}]}] (kl_compat/report/history.py)
  new           how many records show a difference the known-differences file does not explain
  records       [{column, name, version, surface, cases {case: {status, kinds?, new?}}}]: every record of
                every column that ran, for `kl-compat diff`
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import KlCompatError
from ..jsonvalues import jsonable

SCHEMA = "kl-compat-report/1"


class ReportJSONError(KlCompatError):
    pass


def dumps(model: dict) -> str:
    return json.dumps(jsonable(model), indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"


def read(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportJSONError(f"{path}: no such report") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportJSONError(f"{path}: not JSON ({e})") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("kl-compat-report/"):
        raise ReportJSONError(f"{path}: not a kl-compat report (no 'schema': {SCHEMA!r})")
    if data["schema"] != SCHEMA:
        raise ReportJSONError(f"{path}: schema {data['schema']!r}; this kl_compat reads {SCHEMA!r}")
    return data
