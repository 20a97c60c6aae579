#!/usr/bin/env bash
# Set up everything kl_compat needs on a fresh Debian machine; safe to run again (idempotent).
#   - R (Debian's r-base-core / r-base-dev) for the R torch adapter; rpy2 builds against it, so first.
#   - a virtual environment at .venv/ with torch pinned to 2.13.0 (the local CPU wheel: any other
#     torch pulls GBs of CUDA packages), then this project with all its extras, editable.
#   - R torch from a prebuilt bundle where one is present (KL_COMPAT_RTORCH_BUNDLE, default
#     ../shared/rtorch/rtorch-bundle.tar.gz beside the repository) and R torch is not installed or is
#     linked to another venv's libtorch; elsewhere R torch comes from CRAN as usual (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "setup: need root for: $*" >&2; return 1; fi; }

# R for the R adapter; Chromium renders the HTML report (a test opens it, the report's screenshot).
if ! command -v R >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing R (r-base-core, r-base-dev) and chromium from Debian"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    r-base-core r-base-dev chromium >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv

# R torch from the bundle: it holds R torch 0.17.0 with lantern built for the torch 2.13.0 wheel, and
# links that venv's libtorch into R's site library. Installed when R torch does not load, and again when
# its libtorch links point to another venv (this .venv was recreated, or another checkout installed it).
rtorch_bundle() {
  local bundle=${KL_COMPAT_RTORCH_BUNDLE:-../shared/rtorch/rtorch-bundle.tar.gz}
  local venv_lib linked
  venv_lib=$(cd .venv && pwd)
  linked=$(Rscript -e 'cat(Sys.readlink(file.path(system.file(package = "torch"), "lib", "libtorch.so")))' 2>/dev/null || true)
  if Rscript -e 'quit(status = as.integer(!requireNamespace("torch", quietly = TRUE)))' >/dev/null 2>&1; then
    case "$linked" in
      "") return 0 ;;                 # R torch installed as usual (CRAN), not from a bundle
      "$venv_lib"/*) [ -e "$linked" ] && return 0 ;;
    esac
  fi
  if [ ! -f "$bundle" ]; then
    echo "setup: R torch is not installed and there is no bundle at $bundle: the rtorch adapter will be" \
         "unavailable (on a machine that reaches CRAN: in R, install.packages(\"torch\"); torch::install_torch())"
    return 0
  fi
  echo "setup: installing R torch from $bundle (linked to $venv_lib's libtorch)"
  local tmp
  tmp=$(mktemp -d)
  tar xzf "$bundle" -C "$tmp"
  "$tmp"/rtorch-bundle/install.sh .venv | tail -n 2
  rm -rf "$tmp"
}

# Skip pip when nothing it reads has changed since the last successful set-up.
stamp=.venv/.kl-compat-setup
want=$(cat pyproject.toml .ci/setup.sh conformance/environments.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  rtorch_bundle
  exit 0
fi

# (pipefail keeps pip's own exit status; the filter only drops a local index's noise.)
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@" 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
pip install "torch==2.13.0"
# rpy2 3.6 does not load against R < 4.5 (undefined symbol R_getVar: R 4.5 added it); 3.5.17 does.
if Rscript -e 'quit(status = as.integer(getRversion() >= "4.5.0"))' >/dev/null 2>&1; then
  pip install "rpy2==3.5.17"
fi
pip install -e ".[all,test]"
.venv/bin/python -c "import kl_compat, torch, paddle, rpy2" \
  || { echo "setup: the environment is incomplete (see the pip output above)" >&2; exit 1; }
# Other framework versions (conformance/environments.toml: Paddle 2.6.2), each in its own venv.
.venv/bin/kl-compat env create --all
rtorch_bundle
echo "$want" > "$stamp"
