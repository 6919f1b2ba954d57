#!/usr/bin/env bash
# Create (once) the project's virtual environment in .venv and print its python.
# Needs nothing but Python >= 3.10: a system Python that refuses global installs
# (PEP 668) is fine, and so is one without ensurepip (Debian without python3-venv),
# where pip is bootstrapped from its own wheel on PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
py=""
for cand in python3 python; do
    if command -v "$cand" >/dev/null 2>&1 \
        && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        py=$cand
        break
    fi
done
[ -n "$py" ] || { echo "metricwatch needs Python 3.10 or newer (python3 not found or too old)" >&2; exit 2; }
if [ ! -x "$venv/bin/python" ]; then
    if ! "$py" -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        "$py" -m venv --without-pip "$venv"
    fi
fi
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    wheels=$(mktemp -d)
    # No ensurepip: take pip's wheel with the system's pip if there is one, else from PyPI.
    if ! "$py" -m pip download -q --no-deps --only-binary=:all: -d "$wheels" pip >/dev/null 2>&1; then
        "$py" - "$wheels" <<'PY'
import json, os, sys, urllib.parse, urllib.request
index = "https://pypi.org/pypi/pip/json"
meta = json.load(urllib.request.urlopen(index, timeout=60))
url = next(f["url"] for f in meta["urls"] if f["filename"].endswith(".whl"))
url = urllib.parse.urljoin(index, url)
urllib.request.urlretrieve(url, os.path.join(sys.argv[1], url.rsplit("/", 1)[1]))
PY
    fi
    wheel=$(ls "$wheels"/pip-*.whl | head -n 1)
    "$venv/bin/python" "$wheel/pip" install -q --no-index "$wheel"
    rm -rf "$wheels"
fi
echo "$venv/bin/python"
