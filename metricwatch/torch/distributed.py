"""Rank helpers: who writes files, and where collectives must run.

Kept in one place so the logger and the meters agree on who rank 0 is, and
so tests can pretend to be another rank by patching `get_rank` here.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True when a default process group is initialised (collectives are possible)."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's global rank: from the process group, else torchrun's RANK, else 0.

    The RANK fallback makes a logger created under torchrun before
    init_process_group still know it is not rank 0, so it never writes.
    """
    if is_distributed():
        return dist.get_rank()
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def is_main_process() -> bool:
    """Whether this process may touch files: rank 0, or the only process."""
    return get_rank() == 0


def collective_device(preferred: torch.device | None = None) -> torch.device:
    """The device a tensor must live on for an all-reduce in the default group.

    gloo reduces CPU tensors and nccl CUDA ones; for any other (or a mixed
    "cpu:gloo,cuda:nccl") backend the tensor's own device is kept.
    """
    backend = str(dist.get_backend()).lower()
    if backend == "gloo":
        return torch.device("cpu")
    if backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return preferred if preferred is not None else torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all ranks (a copy on the collective device); a no-op copy alone."""
    if not is_distributed():
        return tensor.clone()
    device = collective_device(tensor.device)
    reduced = tensor.to(device, copy=True)
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced
