"""The learning rate an optimizer is using now, for logging next to the losses.

Schedulers change `param_group["lr"]` in place, so reading it (rather than
remembering the configured LR) is the only way to log what was used.
"""

from __future__ import annotations

from typing import Any, Literal, overload

from metricwatch.writer import to_float


@overload
def current_lr(optimizer: Any, all_groups: Literal[False] = ...) -> float: ...
@overload
def current_lr(optimizer: Any, all_groups: Literal[True]) -> list[float]: ...
def current_lr(optimizer: Any, all_groups: bool = False) -> float | list[float]:
    """The first param group's LR; with all_groups=True, every group's, in order.

    Accepts an optimizer or an LR scheduler (its .optimizer is used). A
    tensor LR (capturable/fused optimizers) is returned as a float.
    """
    lrs = current_lrs(optimizer)
    return lrs if all_groups else lrs[0]


def current_lrs(optimizer: Any) -> list[float]:
    """Every param group's LR, in group order (discriminative LRs, heads vs backbone)."""
    groups = getattr(optimizer, "param_groups", None)
    if groups is None and hasattr(optimizer, "optimizer"):
        groups = getattr(optimizer.optimizer, "param_groups", None)
    if groups is None:
        kind = type(optimizer).__name__
        raise TypeError(f"current_lr: expected a torch optimizer or LR scheduler, got {kind}")
    if not groups:
        raise ValueError("current_lr: the optimizer has no parameter groups")
    return [to_float(group["lr"]) for group in groups]
