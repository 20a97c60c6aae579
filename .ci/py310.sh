#!/usr/bin/env bash
# The Python 3.10 floor (requires-python = ">=3.10"), proved: a venv on a Python 3.10 interpreter with this
# project installed editable and nothing else but pytest and hypothesis (the `fuzz` extra, pure Python; the
# spec's tests draw with it), so no framework and no SciPy: the core is NumPy only, and tomli stands in for
# tomllib. Then the command (`--version`, `--help`, `run --help`, `python -m kl_compat`) and the tests that
# need no framework: the spec, the pytest plugin, the TOML reader and the packaging.
#
# Idempotent like setup.sh: the venv (.kl-compat-cache/py310) is re-created only when pyproject.toml, this
# script or the interpreter changed. The interpreter: $KL_COMPAT_PY310, else pyenv's 3.10 (`pyenv root`, or
# /root/.pyenv), else python3.10 on PATH. Exits non-zero when any step fails, or when there is no 3.10.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "py310: $*"; }

find_python310() {
  if [ -n "${KL_COMPAT_PY310:-}" ]; then echo "$KL_COMPAT_PY310"; return; fi
  local root
  root=$( (pyenv root || /root/.pyenv/bin/pyenv root) 2>/dev/null || echo /root/.pyenv)
  local candidate
  for candidate in $(ls -d "$root"/versions/3.10.* 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/bin/python3.10" ]; then echo "$candidate/bin/python3.10"; return; fi
  done
  command -v python3.10 || true
}

PY=$(find_python310)
if [ -z "$PY" ] || ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
  echo "py310: error: no Python 3.10 interpreter (set KL_COMPAT_PY310, or install one: pyenv install 3.10)" >&2
  exit 1
fi
VENV=.kl-compat-cache/py310
stamp=$VENV/.kl-compat-py310
want=$( (cat pyproject.toml .ci/py310.sh; "$PY" -VV) | sha256sum | cut -d' ' -f1)
start=$SECONDS

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/kl-compat" ]; then
  say "venv $VENV is up to date ($("$VENV/bin/python" -V))"
else
  say "creating $VENV with $PY ($("$PY" -V))"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  # (pipefail keeps pip's own exit status; the filter only drops a local index's noise.)
  pip310() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
  say "pip install -e '.[fuzz]' pytest (no framework, no SciPy)"
  pip310 install -e ".[fuzz]" "pytest>=7"
  echo "$want" > "$stamp"
fi

# Nothing but the core and the test tools: a framework here would make the check prove less.
"$VENV/bin/python" - <<'EOF'
import importlib.util, sys
present = [m for m in ("torch", "paddle", "rpy2", "scipy", "jinja2", "tqdm", "ml_dtypes") if importlib.util.find_spec(m)]
assert sys.version_info[:2] == (3, 10), sys.version
assert importlib.util.find_spec("tomllib") is None and importlib.util.find_spec("tomli") is not None
if present:
    sys.exit(f"py310: error: the 3.10 venv should hold no framework, but has {', '.join(present)}")
EOF

say "kl-compat --version: $("$VENV/bin/kl-compat" --version)"
say "kl-compat --help";       "$VENV/bin/kl-compat" --help >/dev/null
say "kl-compat run --help";   "$VENV/bin/kl-compat" run --help >/dev/null
say "python -m kl_compat golden --check: $("$VENV/bin/python" -m kl_compat golden --check)"
say "pytest (spec, pytest plugin, TOML reader, packaging) on $("$VENV/bin/python" -V)"
# -p no:cacheprovider: the main suite's .pytest_cache is left alone
"$VENV/bin/pytest" -q -p no:cacheprovider tests/test_spec.py tests/test_pytest_plugin.py tests/test_tomlfile.py \
  tests/test_packaging.py
say "passed in $((SECONDS - start)) s"
