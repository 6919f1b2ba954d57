"""Which hyperparameters differ between runs: the runs table's extra columns. Pure.

A run's config is what its files saved (`meta["config"]`: the native meta's
config, Lightning's hparams.yaml, Ultralytics' args.yaml, MLflow params).
Nested sections are flattened to dotted keys (`optimizer.lr`), values are
compared as the text they print as, and a key some runs lack differs from a
key they all share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Nested configs are flattened this deep at most; deeper sections print as text.
MAX_DEPTH = 4


def flatten(config: Any, prefix: str = "", depth: int = 0) -> dict[str, str]:
    """`{"optimizer": {"lr": 0.1}}` -> `{"optimizer.lr": "0.1"}`; a non-mapping gives {}."""
    if not isinstance(config, Mapping):
        return {}
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and depth < MAX_DEPTH:
            out.update(flatten(value, name + ".", depth + 1))
        else:
            out[name] = value_text(value)
    return out


def value_text(value: Any) -> str:
    """How a config value prints: `0.001`, `True`, `[1, 2]`; None as an empty text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def config_of(meta: Mapping[str, Any]) -> dict[str, str]:
    """A run's flattened config from its meta (empty when it saved none)."""
    return flatten(meta.get("config"))


def differing(configs: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The keys whose value is not the same in every run (a key a run lacks counts as
    differing), in the order they first appear; nothing differs between fewer than two runs."""
    if len(configs) < 2:
        return []
    order: dict[str, None] = {}
    for config in configs.values():
        order.update(dict.fromkeys(config))
    out = []
    for key in order:
        values = {config.get(key) for config in configs.values()}
        if len(values) > 1:
            out.append(key)
    return out
