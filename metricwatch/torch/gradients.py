"""Gradient norms for diagnosing vanishing and exploding gradients, with one host sync.

The usual loop (`param.grad.norm().item()` per parameter) waits for the GPU
once per parameter tensor: hundreds of stalls per step on a real model.
Here every per-parameter norm is computed on its device, the norms are
stacked, and the two results come back to the host in a single transfer.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

_FOREACH_DEVICES = frozenset({"cpu", "cuda"})
_LOW_PRECISION = frozenset({torch.float16, torch.bfloat16})


def gradient_stats(
    model_or_parameters: nn.Module | torch.Tensor | Iterable[Any],
) -> dict[str, float]:
    """Total L2 norm and largest per-parameter L2 norm of the gradients.

    Accepts a Module, a tensor, or an iterable of parameters/tensors (or of
    (name, parameter) pairs, as named_parameters() yields); for a dict of
    parameters pass its .values(). Parameters without a gradient are
    skipped. NaN and Inf gradients give NaN/Inf values rather than an
    exception, so a diverging run is logged, not crashed.

    Call it after `loss.backward()` and before `optimizer.zero_grad()`. With
    no gradient at all (called after zero_grad(set_to_none=True), before
    backward(), or every parameter frozen) both values are 0.0 and a
    UserWarning says so: a real 0.0 would mean vanishing gradients.

    Under mixed precision with a GradScaler, call it after
    `scaler.unscale_(optimizer)`: before that the gradients, and so the
    norms, are multiplied by the loss scale. Under FSDP or ZeRO (sharded
    gradients) the result is the norm of this rank's local shard only, not
    of the whole model; for the global norm use the wrapper's own (FSDP's
    clip_grad_norm_, DeepSpeed's get_global_grad_norm()).
    """
    grads = _gradients(model_or_parameters)
    if not grads:
        warnings.warn(
            "gradient_stats: no parameter has a .grad, so grad_norm and grad_max are "
            "reported as 0.0; call it after loss.backward() and before "
            "optimizer.zero_grad() (or the parameters are all frozen)",
            UserWarning,
            stacklevel=2,
        )
        return {"grad_norm": 0.0, "grad_max": 0.0}
    with torch.no_grad():
        device = grads[0].device
        # float64 for the sum of squares, as the seed's Python loop; MPS has no float64.
        dtype = torch.float32 if device.type == "mps" else torch.float64
        norms = torch.cat(
            [group.to(device=device, dtype=dtype) for group in _per_parameter_norms(grads)]
        )
        total = torch.linalg.vector_norm(norms)
        largest = norms.max()  # propagates NaN, unlike Python's max()
        grad_norm, grad_max = torch.stack([total, largest]).tolist()  # the one sync
    return {"grad_norm": grad_norm, "grad_max": grad_max}


def _gradients(source: nn.Module | torch.Tensor | Iterable[Any]) -> list[torch.Tensor]:
    if isinstance(source, nn.Module):
        items: Iterable[Any] = source.parameters()
    elif isinstance(source, torch.Tensor):
        items = [source]
    elif isinstance(source, Mapping):
        raise TypeError(
            f"gradient_stats: got a {type(source).__name__} (a mapping, whose iteration "
            "yields its keys); pass model.parameters(), or the dict's .values() for a dict "
            "of parameters (a state_dict() holds detached tensors without gradients)"
        )
    elif isinstance(source, (str, bytes)):
        raise TypeError(
            f"gradient_stats: expected a Module or tensors, got {type(source).__name__}"
        )
    else:
        items = source
    grads = []
    for item in items:
        tensor = item[1] if isinstance(item, tuple) and len(item) == 2 else item
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"gradient_stats: expected a Module or tensors, got {type(tensor).__name__}"
            )
        grad = tensor.grad
        if grad is None:
            continue
        if grad.is_sparse:
            grad = grad.coalesce().values()
        grads.append(grad)
    return grads


def _per_parameter_norms(grads: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each gradient's L2 norm, as one stacked tensor per (device, dtype) group.

    Fused per group where the device has foreach kernels; the order of the
    norms is not kept, as neither the total nor the maximum needs it.
    """
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for grad in grads:
        groups.setdefault((grad.device, grad.dtype), []).append(grad)
    stacked = []
    for (device, dtype), group in groups.items():
        # Half-precision norms overflow early (fp16 max is 65504): accumulate in float32.
        out_dtype = torch.float32 if dtype in _LOW_PRECISION else None
        stacked.append(torch.stack(_group_norms(group, device, out_dtype)))
    return stacked


def _group_norms(
    group: list[torch.Tensor], device: torch.device, dtype: torch.dtype | None
) -> list[torch.Tensor]:
    foreach_norm = getattr(torch, "_foreach_norm", None)
    if foreach_norm is not None and device.type in _FOREACH_DEVICES:
        try:
            return list(foreach_norm(group, 2, dtype=dtype))
        except (RuntimeError, TypeError):
            pass  # an unsupported dtype/layout: the per-tensor path below always works
    return [torch.linalg.vector_norm(grad, 2, dtype=dtype) for grad in group]
