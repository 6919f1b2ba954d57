"""A run's config as JSON-safe data for metrics.json's meta."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import numbers
from collections.abc import Mapping
from typing import Any

import torch


def config_dict(config: Any) -> Any:
    """A config as JSON-safe data, whatever it holds: it goes into meta on every write.

    Mappings, dataclasses, argparse Namespaces (and, at the top level, any
    object with attributes) become dicts with str keys; tuples, lists and
    sets become lists; numbers, str, bool and None stay (NaN/Inf too: the
    file allows them); enums become their value as text; everything else
    (paths, dtypes, devices, ...) its str().
    """
    if (
        not isinstance(config, (Mapping, type, argparse.Namespace))
        and not _is_dataclass_instance(config)
        and hasattr(config, "__dict__")
        and not isinstance(config, enum.Enum)
    ):
        config = vars(config)
    return _json_safe(config, set())


def _is_dataclass_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _json_safe(value: Any, active: set[int]) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, numbers.Integral):  # numpy integers too
        return int(value)
    if isinstance(value, numbers.Real):  # numpy floats too; NaN/Inf kept
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if id(value) in active:
        return "<recursive>"
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, argparse.Namespace):
        items = vars(value).items()
    elif _is_dataclass_instance(value):
        items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
    elif isinstance(value, (list, tuple, set, frozenset)):
        active.add(id(value))
        converted = [_json_safe(item, active) for item in value]
        active.discard(id(value))
        if isinstance(value, (set, frozenset)):
            # Sets have no order; sort so the file does not change between runs.
            try:
                converted.sort()
            except TypeError:  # mixed types
                converted.sort(key=lambda item: (type(item).__name__, repr(item)))
        return converted
    else:
        return str(value)
    active.add(id(value))
    result = {_json_key(key): _json_safe(item, active) for key, item in items}
    active.discard(id(value))
    return result


def _json_key(key: Any) -> str:
    """A mapping key as JSON text, spelled as json.dumps spells the keys it accepts."""
    if isinstance(key, str):
        return key
    if isinstance(key, enum.Enum):
        return str(key.value)
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)  # None -> "null", True -> "true", 1.5 -> "1.5"
    return str(key)
