#!/usr/bin/env bash
# The README's first command: install metricwatch into .venv and open the
# monitor (arguments are passed to `metricwatch`; default: the sample runs).
set -euo pipefail
here=$PWD
repo=$(cd "$(dirname "$0")/.." && pwd)
py=$(cd "$repo" && bash scripts/venv.sh)
(cd "$repo" && "$repo/$py" -m pip install -q -e .)
if [ $# -eq 0 ]; then set -- "$repo/sample_runs/"; fi
cd "$here"  # a relative PATH means what it says where the command was typed
exec "$repo/.venv/bin/metricwatch" "$@"
