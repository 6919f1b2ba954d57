"""Precision and recall of every diagnostic rule on the labelled set of real curves.

    .venv/bin/python benchmarks/diagnostics_eval.py [--markdown FILE] [--verbose]

The labelled set is every run in tests/corpus/ (real logs of each format, and
the tiny real trainings of tests/corpus/labelled/ made by
scripts/make_labelled_runs.py) and in sample_runs/. tests/corpus/LABELS.json
says, per run, the findings it must raise and those it may raise, from what its
curves show; any other finding is a false alarm. For each rule:

    true positive   it fired and the run must raise it
    false negative  the run must raise it and it did not fire
    false positive  it fired and the run neither must nor may raise it

("may" findings count as neither: a borderline curve is not held against a rule
either way.) tests/test_diagnostics_labelled.py fails on any miss or false alarm.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metricwatch.analysis.diagnostics import FINDING_IDS, diagnose  # noqa: E402
from metricwatch.model import Run  # noqa: E402
from metricwatch.sources.discovery import discover_runs  # noqa: E402
from metricwatch.sources.loader import RunLoader  # noqa: E402

LABELS = ROOT / "tests" / "corpus" / "LABELS.json"
SOURCES = {"corpus": ROOT / "tests" / "corpus", "samples": ROOT / "sample_runs"}


def labelled_runs() -> dict[str, Run]:
    """Every run of the labelled set, by its label key `<source>:<run name>`."""
    loader = RunLoader()
    runs: dict[str, Run] = {}
    for source, root in SOURCES.items():
        for location in discover_runs(root):
            run = loader.load(location.name, location.metrics_path)
            parts = run.parts or {"": run}
            for part, part_run in parts.items():
                name = f"{location.name}/{part}" if part else location.name
                runs[f"{source}:{name}"] = part_run
    return runs


def load_labels() -> dict[str, dict[str, list[str]]]:
    data = json.loads(LABELS.read_text())
    return {key: value for key, value in data.items() if not key.startswith("_")}


def evaluate(
    runs: dict[str, Run], labels: dict[str, dict[str, list[str]]]
) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Per rule: tp, fp, fn counts; and a line per miss or false alarm."""
    counts = {rule: {"tp": 0, "fp": 0, "fn": 0} for rule in FINDING_IDS}
    errors: list[str] = []
    for key in sorted(runs):
        label = labels.get(key)
        if label is None:
            errors.append(f"{key}: no label")
            continue
        fired = {f.id for f in diagnose(runs[key])}
        must, may = set(label.get("must", [])), set(label.get("may", []))
        for rule in fired:
            if rule in must:
                counts[rule]["tp"] += 1
            elif rule not in may:
                counts[rule]["fp"] += 1
                errors.append(f"{key}: false alarm {rule}")
        for rule in must - fired:
            counts[rule]["fn"] += 1
            errors.append(f"{key}: missed {rule}")
    for key in sorted(set(labels) - set(runs)):
        errors.append(f"{key}: labelled but not found")
    return counts, errors


def table(counts: dict[str, dict[str, int]]) -> str:
    lines = [
        "| rule | must fire (runs) | fired right | missed | false alarms | precision | recall |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rule, c in counts.items():
        if rule == "stalled":
            continue  # the live monitor's rule: needs a clock, not a curve
        tp, fp, fn = c["tp"], c["fp"], c["fn"]
        precision = f"{tp / (tp + fp):.2f}" if tp + fp else "—"
        recall = f"{tp / (tp + fn):.2f}" if tp + fn else "—"
        lines.append(f"| `{rule}` | {tp + fn} | {tp} | {fn} | {fp} | {precision} | {recall} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--verbose", action="store_true", help="every run's findings")
    args = parser.parse_args()
    runs = labelled_runs()
    labels = load_labels()
    if args.verbose:
        for key in sorted(runs):
            print(key, [f"{f.id}:{f.severity.value}" for f in diagnose(runs[key])])
    counts, errors = evaluate(runs, labels)
    text = table(counts)
    print(f"{len(runs)} labelled runs\n")
    print(text)
    for line in errors:
        print(line)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
