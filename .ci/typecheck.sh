#!/usr/bin/env bash
# mypy over the package as it is installed: kl_compat with adapters/ and conformance/ mapped under it
# (pyproject.toml's package-dir). mypy has no such mapping, and an editable install's import hook is
# invisible to it, so the installed layout is made of symbolic links in .kl-compat-cache/typecheck; the
# messages name the repository's files. Settings: pyproject.toml's [tool.mypy]. Exits 1 on any error.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
lay=.kl-compat-cache/typecheck
rm -rf "$lay"
mkdir -p "$lay/kl_compat"
for f in kl_compat/*; do ln -s "$root/$f" "$lay/kl_compat/"; done
ln -s "$root/adapters" "$lay/kl_compat/adapters"
ln -s "$root/conformance" "$lay/kl_compat/conformance"
cd "$lay"
"$root/.venv/bin/mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.kl-compat-cache/mypy" -p kl_compat 2>&1 \
  | sed -e 's#^kl_compat/adapters/#adapters/#' -e 's#^kl_compat/conformance/#conformance/#'
