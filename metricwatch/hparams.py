"""Which hyperparameters differ between runs: the runs table's extra columns. Pure.

A run's config is what its files saved (`meta["config"]`: the native meta's
config, Lightning's hparams.yaml, Ultralytics' args.yaml, MLflow params).
Nested sections are flattened to dotted keys (`optimizer.lr`), values are
compared as the text they print as, and a key some runs lack differs from a
key they all share. Keys that say where a run's files and reports go rather
than how it trains are left out (see NOISE_KEYS).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Nested configs are flattened this deep at most; deeper sections print as text.
MAX_DEPTH = 4

#: Keys left out of the comparison, matched on a key's last dotted part. A config such as
#: Hugging Face's TrainingArguments (~110 keys) holds settings that differ between runs
#: by construction, or only say where files and reports go, and would crowd the table
#: with columns that tell nothing of the training. The rule:
#: - where files go: any key ending in `_dir` (HF output_dir and logging_dir, Ultralytics
#:   save_dir) and resume_from_checkpoint (a checkpoint's path);
#: - what the run is called and where it is reported: run_name, report_to, project (HF's
#:   trackio project, Ultralytics' runs folder) and trackio_*;
#: - uploading: hub_* (hub_model_id, hub_token, ...) and push_to_hub*;
#: - the process, not the run: local_rank.
#: Kept: seed and data_seed (a sweep over seeds is a real difference between runs), and
#: every other setting: one that is the same in every run is no column anyway.
NOISE_KEYS = frozenset({"resume_from_checkpoint", "run_name", "report_to", "project", "local_rank"})
NOISE_PREFIXES = ("hub_", "push_to_hub", "trackio_")
NOISE_SUFFIXES = ("_dir",)


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
    """A run's flattened config from its meta, noise keys left out (empty when it saved
    none): what the runs table compares and shows."""
    return {k: v for k, v in flatten(meta.get("config")).items() if not is_noise(k)}


def is_noise(key: str) -> bool:
    """Whether a flattened key is one NOISE_KEYS' rule leaves out (`trainer.output_dir` too)."""
    last = key.rsplit(".", 1)[-1]
    return last in NOISE_KEYS or last.startswith(NOISE_PREFIXES) or last.endswith(NOISE_SUFFIXES)


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
