"""Which hyperparameters differ between runs (the runs table's extra columns)."""

from __future__ import annotations

from metricwatch.hparams import config_of, differing, flatten


def test_nested_configs_flatten_to_dotted_keys_and_print_as_text():
    config = {"optimizer": {"lr": 0.001, "betas": [0.9, 0.99]}, "epochs": 10, "amp": True}
    assert flatten(config) == {
        "optimizer.lr": "0.001",
        "optimizer.betas": "[0.9, 0.99]",
        "epochs": "10",
        "amp": "True",
    }
    assert flatten(["not", "a", "mapping"]) == {}
    assert config_of({"config": {"seed": None}}) == {"seed": ""}
    assert config_of({}) == {}


def test_only_keys_that_differ_are_columns_and_a_missing_key_differs():
    configs = {
        "a": {"lr": "0.1", "batch": "32", "seed": "1"},
        "b": {"lr": "0.01", "batch": "32", "seed": "1"},
        "c": {"lr": "0.1", "batch": "32"},
    }
    assert differing(configs) == ["lr", "seed"]
    assert differing({"a": {"lr": "0.1"}}) == []
    assert differing({"a": {"lr": "0.1"}, "b": {"lr": "0.1"}}) == []
