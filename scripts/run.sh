#!/usr/bin/env bash
# The README's first command: install metricwatch into .venv and open the
# monitor (arguments are passed to `metricwatch`; default: the sample runs).
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/venv.sh)
"$py" -m pip install -q -e .
if [ $# -eq 0 ]; then set -- sample_runs/; fi
exec .venv/bin/metricwatch "$@"
