"""The labelled set of real curves: every run raises the findings it must and nothing it
may not (tests/corpus/LABELS.json; benchmarks/diagnostics_eval.py prints each rule's
precision and recall on the same set). A rule that starts missing or over-firing on a
real curve fails here, naming the run."""

import json
import sys
from pathlib import Path

import pytest

from metricwatch.analysis.diagnostics import FINDING_IDS, diagnose

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from diagnostics_eval import evaluate, labelled_runs, load_labels  # noqa: E402

RUNS = labelled_runs()
LABELS = load_labels()


def test_every_run_of_the_set_is_labelled_and_every_label_has_a_run():
    assert sorted(RUNS) == sorted(LABELS)
    assert len(RUNS) >= 70


def test_labels_name_known_findings_only():
    for key, label in LABELS.items():
        assert set(label["must"]) | set(label["may"]) <= set(FINDING_IDS), key
        assert not set(label["must"]) & set(label["may"]), key
        assert label["why"], key


@pytest.mark.parametrize("key", sorted(LABELS))
def test_run_raises_what_it_must_and_nothing_it_may_not(key):
    fired = {f.id for f in diagnose(RUNS[key])}
    must, may = set(LABELS[key]["must"]), set(LABELS[key]["may"])
    assert must <= fired, f"missed {sorted(must - fired)}: {LABELS[key]['why']}"
    assert fired <= must | may, f"false alarm {sorted(fired - must - may)}"


def test_every_new_rule_has_real_positives_in_the_set():
    counts, errors = evaluate(RUNS, LABELS)
    assert errors == []
    for rule in ("loss_diverging", "loss_spike", "no_improvement", "loss_oscillating"):
        assert counts[rule]["tp"] >= 2, rule


def test_healthy_real_logs_raise_nothing_above_info():
    healthy = [key for key, label in LABELS.items() if not label["must"]]
    assert len(healthy) >= 40
    for key in healthy:
        alarms = [f.id for f in diagnose(RUNS[key]) if f.severity.alarm]
        assert alarms == [] or set(alarms) <= set(LABELS[key]["may"]), key


def test_labels_file_is_sorted_json():
    text = (ROOT / "tests" / "corpus" / "LABELS.json").read_text()
    data = json.loads(text)
    keys = [k for k in data if not k.startswith("_")]
    assert keys == sorted(keys)
