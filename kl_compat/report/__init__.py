"""`kl-compat report`: conformance reports in Markdown, HTML and JSON, from one or more results files.

    kl-compat report                      run the matrix on the registered adapters (results/latest.jsonl),
                                          then write conformance/report/ and conformance/guides/, both
                                          under the current folder (and, when that is the source
                                          checkout's own report, its shipped measurements: measurements.py)
    kl-compat report A.jsonl B.jsonl --out DIR    only read the given results files; guides go to DIR/guides
    kl-compat report --out DIR            run, then write DIR and DIR/guides (nothing outside DIR but the run's
                                          results file, --run-out)

assemble.py builds the model and renders the files; model.py, markdown.py, html.py and json_report.py are
its parts; the command itself is kl_compat.cli.report. Every output is written to a temporary file beside
its target and renamed into place once all are on disk (write_files): no file is ever half-written.
This __init__ imports nothing from the package, so that the modules using the report's parts (the
porting guides, reproducers, diff, scan) do not import the report's assembly with them.

Exit status: 1 when a record shows a difference the known-differences file does not explain (a new
difference), 2 for unusable inputs, else 0.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

DEFAULT_OUT = Path("conformance/report")
DEFAULT_GUIDES = Path("conformance/guides")


def write_files(out_dir: Path, texts: dict[str, str]) -> list[Path]:
    """Write several files so that each is whole, and none is replaced until all are written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in texts:  # temporary files left by a writer that was killed
        for old in out_dir.glob(f".{name}.*.tmp"):
            old.unlink(missing_ok=True)
    staged = []
    try:
        for name, text in texts.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
            staged.append((tmp, out_dir / name))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    return [target for _, target in staged]


def chromium() -> str | None:
    """The headless browser used for screenshots and the browser test (Debian's `chromium`)."""
    return os.environ.get("KL_COMPAT_CHROMIUM") or shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
