#!/usr/bin/env bash
# The README's test command: install into .venv (CPU PyTorch first, so the
# torch extra does not pull a multi-GB CUDA build), lint, then run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/venv.sh)
export PATH="$PWD/.venv/bin:$PATH"  # the tests run the installed `metricwatch`
"$py" -m pip install -q "torch==2.13.0"
"$py" -m pip install -q -e ".[test,torch]"
"$py" -m ruff check .
# Two workers (pytest-xdist), one per core of CI's machine; worksteal hands a worker that is
# done the tests another has not started yet, so the long ones do not end up queued on one.
"$py" -m pytest -q -n 2 --dist worksteal "$@"
