"""The shipped measurements: what `kl-compat guide` and `kl-compat scan` read when given no report.

The committed report (conformance/report/report.json, 5.5 MB) stays in the repository; the wheel ships
this compact form of it instead, conformance/measurements.json.gz (about 110 kB): the report model's
`columns`, `findings` (their reproducers without the rendered code, which the guide renders again),
`records`, and `generated`, `run_info`, `summary`, `new` and `porting` (the porting adapters held to the
frameworks they port, kl_compat/porting_check.py), as gzipped JSON, schema
"kl-compat-measurements/1". Any field of the report that is kept means what it means there
(kl_compat/report/json_report.py); a reader that needs another field reads a report.json instead.
Fields added since a file was written are absent from it: the guide reads a reproducer's `sentences`
where they are, else cuts its `messages` at the call, so an older file still reads.

`kl-compat report` rewrites the file whenever it writes the source checkout's own report
(conformance/report/ of the checkout kl_compat runs from; never into an installed package), so that the
two always come from the same run; tests/test_measurements.py checks that they do. The bytes depend on
the report alone (sorted keys, no gzip timestamp): an unchanged report rewrites an identical file.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from .errors import KlCompatError

SCHEMA = "kl-compat-measurements/1"
FILE_NAME = "measurements.json.gz"
KEPT = ("generated", "run_info", "columns", "findings", "records", "summary", "new", "porting")
DROPPED_FROM_REPRODUCERS = ("code",)


class MeasurementsError(KlCompatError):
    """A measurements file that is missing, unreadable or of another schema."""


def default_path() -> Path:
    from .checkout import conformance_dir

    return conformance_dir() / FILE_NAME


def compact(report: dict) -> dict:
    """The measurements of a report model (a report.json's content)."""
    out: dict = {"schema": SCHEMA}
    for key in KEPT:
        if key in report:
            out[key] = report[key]
    findings = []
    for f in report.get("findings", []):
        f = dict(f)
        if f.get("reproducer"):
            f["reproducer"] = {k: v for k, v in f["reproducer"].items() if k not in DROPPED_FROM_REPRODUCERS}
        findings.append(f)
    out["findings"] = findings
    return out


def dumps(report: dict) -> bytes:
    """The file's bytes for a report model: the same report gives the same bytes."""
    from .jsonvalues import jsonable

    text = json.dumps(jsonable(compact(report)), sort_keys=True, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def write(report: dict, path: Path | None = None) -> Path:
    """Write the measurements of `report` atomically (default: the package's file, in a source checkout)."""
    from .npzio import atomic_write_bytes

    path = Path(path or default_path())
    atomic_write_bytes(path, dumps(report))
    return path


def load(path: Path | None = None) -> dict:
    """A measurements file as a report model holding the kept fields (default: the shipped one)."""
    path = Path(path or default_path())
    try:
        data = json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
    except FileNotFoundError:
        raise MeasurementsError(f"{path}: no such measurements file (this installation of kl_compat is "
                                "incomplete; give a report.json made by `kl-compat report` instead)") from None
    except (OSError, EOFError, ValueError) as e:  # gzip.BadGzipFile is an OSError; bad JSON a ValueError
        raise MeasurementsError(f"{path}: not a gzipped JSON measurements file ({e})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else None
        raise MeasurementsError(f"{path}: schema {got!r}; this kl_compat reads {SCHEMA!r}")
    return data
