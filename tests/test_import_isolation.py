"""`import metricwatch` and its core must not drag in torch or textual.

Checked in a fresh interpreter, since this test process may have imported
them already for other tests.
"""

import subprocess
import sys

CORE_MODULES = [
    "metricwatch",
    "metricwatch.cli",
    "metricwatch.model",
    "metricwatch.metrics",
    "metricwatch.readers",
    "metricwatch.sources.loader",
    "metricwatch.sources.discovery",
    "metricwatch.analysis.summary",
    "metricwatch.analysis.diagnostics",
    "metricwatch.writer",
]


def _loaded_after_import(module: str) -> set[str]:
    code = (
        f"import sys, {module}\n"
        "print(' '.join(m for m in ('torch', 'textual', 'textual_plotext', 'plotext') "
        "if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(output.split())


def test_core_modules_import_neither_torch_nor_textual():
    for module in CORE_MODULES:
        assert _loaded_after_import(module) == set(), module


def test_the_check_itself_can_see_an_import():
    # Guards the test above against passing vacuously.
    assert "textual" in _loaded_after_import("textual")
