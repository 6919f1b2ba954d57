#!/usr/bin/env bash
# The README's test command: install (CPU PyTorch first, so the torch extra
# does not pull a multi-GB CUDA build), lint, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test,torch]"
python -m ruff check .
python -m pytest -q "$@"
