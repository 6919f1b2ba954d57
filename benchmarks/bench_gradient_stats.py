"""gradient_stats (one host transfer) against the seed's per-parameter .item() loop.

Models with 100 parameter tensors (50 Linear layers, weight + bias) of two
widths (small: per-call overhead dominates; larger: the norms themselves
do), one backward pass, then both ways of computing grad_norm/grad_max
timed over repeats; medians printed.

    python benchmarks/bench_gradient_stats.py [--repeats 200] [--widths 32 256] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from metricwatch.torch import gradient_stats


def seed_gradient_stats(model: nn.Module) -> dict[str, float]:
    """compute_gradient_stats from the metrics-tracking seed: one .item() per parameter."""
    total_norm = 0.0
    max_norm = 0.0
    for _name, param in model.named_parameters():
        if param.grad is not None:
            param_norm = param.grad.data.norm(2).item()
            total_norm += param_norm**2
            max_norm = max(max_norm, param_norm)
    total_norm = total_norm**0.5
    return {"grad_norm": total_norm, "grad_max": max_norm}


def median_ms(function: Callable[[], object], repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench(layers: int, width: int, repeats: int, device: torch.device) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(width, width) for _ in range(layers)]).to(device)
    model(torch.randn(64, width, device=device)).pow(2).mean().backward()
    tensors = sum(1 for p in model.parameters() if p.grad is not None)
    elements = sum(p.numel() for p in model.parameters())

    fast, slow = gradient_stats(model), seed_gradient_stats(model)
    assert abs(fast["grad_norm"] - slow["grad_norm"]) <= 1e-5 * slow["grad_norm"]
    for function in (lambda: gradient_stats(model), lambda: seed_gradient_stats(model)):
        median_ms(function, 5, device)  # warm up
    ours = median_ms(lambda: gradient_stats(model), repeats, device)
    seed = median_ms(lambda: seed_gradient_stats(model), repeats, device)
    print(
        f"{tensors:>8} {width:>6} {elements / 1e6:>8.2f}M {ours:>13.3f} ms "
        f"{seed:>13.3f} ms {seed / ours:>7.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--layers", type=int, default=50, help="Linear layers (2 tensors each)")
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(
        f"grad_norm + grad_max, {device}, median of {args.repeats} calls, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        f"{'tensors':>8} {'width':>6} {'values':>9} {'gradient_stats':>16} "
        f"{'seed loop':>16} {'speedup':>8}"
    )
    print(f"{'':>8} {'':>6} {'':>9} {'(1 transfer)':>16} {'(1 per tensor)':>16}")
    for width in args.widths:
        bench(args.layers, width, args.repeats, device)
    print(
        "Note: on CPU .item() is only a copy; on a GPU each one is a device sync that drains "
        "the kernel queue, so the per-parameter loop costs far more there and the saving is "
        "larger than shown."
    )


if __name__ == "__main__":
    main()
