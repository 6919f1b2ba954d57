"""Train a small classifier on synthetic data and log it for metricwatch.

A real (tiny) PyTorch training on CPU that uses every helper in
metricwatch.torch: it writes runs/<name>/metrics.json after each epoch and
appends the batch loss to runs/<name>/metrics.jsonl every --log-every steps,
so the monitor shows the loss moving within each epoch:

    python examples/train_classifier.py --sleep 1 &     # in one terminal
    metricwatch runs/                                   # in another

Running it again starts a new run and keeps the previous one's files as
metrics.json.bak and metrics.jsonl.bak (then .bak.1, ...).

Misbehave on purpose to see the diagnostics:
    --overfit   tiny noisy train set, big model, no regularisation: val loss turns up
    --diverge   learning rate far too high, no clipping: gradients explode to Inf/NaN
    --ddp 2     two processes with gloo (DistributedSampler, AverageMeter.synchronize)

Needs `pip install -e .[torch]` (metricwatch and torch importable).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from metricwatch.torch import AverageMeter, JSONMetricLogger, current_lr, gradient_stats

N_FEATURES = 16
N_CLASSES = 5
CLUSTERS = 3  # blobs per class
SPREAD = 0.8  # distance between blob centres, in noise standard deviations

#: Per mode: training samples, hidden width, peak LR, share of training labels randomised.
MODES = {
    "normal": {"train_size": 6000, "hidden": 64, "lr": 1e-3, "label_noise": 0.05},
    # Memorises 100 noisy samples: train loss -> 0 while val loss climbs.
    "overfit": {"train_size": 100, "hidden": 1024, "lr": 2e-3, "label_noise": 0.3},
    # SGD warming up to LR 1.0 with no clipping: loss and gradients blow up to NaN.
    "diverge": {"train_size": 6000, "hidden": 64, "lr": 1.0, "label_noise": 0.05},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--name", help="run name (default: classifier[-overfit|-diverge])")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, help="peak learning rate (default: per mode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to pause per epoch")
    parser.add_argument("--train-size", type=int, help="training samples (default: per mode)")
    parser.add_argument("--val-size", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, help="hidden width (default: per mode)")
    parser.add_argument("--ddp", type=int, default=1, metavar="N", help="processes (gloo)")
    parser.add_argument(
        "--log-every",
        type=int,
        default=10,
        metavar="N",
        help="log the batch loss every N optimizer steps to metrics.jsonl (0: epochs only)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--overfit", action="store_true", help="make val loss rise")
    mode.add_argument("--diverge", action="store_true", help="make gradients explode")
    args = parser.parse_args(argv)
    args.mode = "overfit" if args.overfit else "diverge" if args.diverge else "normal"
    for key, value in MODES[args.mode].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.name is None:
        args.name = "classifier" if args.mode == "normal" else f"classifier-{args.mode}"
    return args


def make_data(args: argparse.Namespace) -> tuple[TensorDataset, TensorDataset]:
    """Each class a mixture of Gaussian blobs: not linearly separable, learnable, not to 100%.

    Seeded, so every rank builds the same data.
    """
    generator = torch.Generator().manual_seed(args.seed)
    centers = torch.randn(N_CLASSES * CLUSTERS, N_FEATURES, generator=generator) * SPREAD

    def sample(n: int, noisy: bool) -> TensorDataset:
        cluster = torch.randint(0, N_CLASSES * CLUSTERS, (n,), generator=generator)
        labels = cluster % N_CLASSES
        features = centers[cluster] + torch.randn(n, N_FEATURES, generator=generator)
        if noisy:
            flip = torch.rand(n, generator=generator) < args.label_noise
            random_labels = torch.randint(0, N_CLASSES, (n,), generator=generator)
            labels = torch.where(flip, random_labels, labels)
        return TensorDataset(features, labels)

    return sample(args.train_size, noisy=True), sample(args.val_size, noisy=False)


def make_model(args: argparse.Namespace) -> nn.Module:
    layers: list[nn.Module] = []
    width = N_FEATURES
    for _ in range(3 if args.overfit else 2):
        layers += [nn.Linear(width, args.hidden), nn.LeakyReLU(0.1)]
        if not (args.overfit or args.diverge):
            layers.append(nn.Dropout(0.2))
        width = args.hidden
    layers.append(nn.Linear(width, N_CLASSES))
    return nn.Sequential(*layers)


def make_scheduler(
    optimizer: torch.optim.Optimizer, epochs: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warmup to the peak LR over the first sixth of the epochs, then cosine decay."""
    warmup = max(1, epochs // 6)
    schedulers = torch.optim.lr_scheduler
    return schedulers.SequentialLR(
        optimizer,
        [
            schedulers.LinearLR(optimizer, start_factor=0.1, total_iters=warmup),
            schedulers.CosineAnnealingLR(optimizer, T_max=max(1, epochs - warmup)),
        ],
        milestones=[warmup],
    )


def macro_f1(confusion: torch.Tensor) -> float:
    """Unweighted mean of per-class F1 = 2TP / (2TP + FP + FN).

    Rows are true classes, columns predictions. Classes that neither occur
    nor are predicted are left out, as scikit-learn does.
    """
    true_positive = confusion.diag().double()
    denominator = (confusion.sum(dim=0) + confusion.sum(dim=1)).double()  # 2TP + FP + FN
    present = denominator > 0
    if not present.any():
        return 0.0
    return float((2 * true_positive[present] / denominator[present]).mean())


def evaluate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module) -> dict[str, float]:
    model.eval()
    loss_meter = AverageMeter("val_loss")
    confusion = torch.zeros(N_CLASSES, N_CLASSES, dtype=torch.long)
    with torch.no_grad():
        for features, labels in loader:
            logits = model(features)
            loss_meter.update(loss_fn(logits, labels), labels.numel())
            predictions = logits.argmax(dim=1)
            confusion += torch.bincount(
                labels * N_CLASSES + predictions, minlength=N_CLASSES * N_CLASSES
            ).reshape(N_CLASSES, N_CLASSES)
    loss_meter.synchronize()
    if dist.is_initialized():
        dist.all_reduce(confusion)  # each rank saw its own shard of the validation set
    total = int(confusion.sum())
    return {
        "val_loss": loss_meter.avg,
        "val_accuracy": float(confusion.diag().sum()) / total if total else 0.0,
        "val_f1": macro_f1(confusion),
    }


def train(rank: int, world_size: int, args: argparse.Namespace) -> None:
    distributed = world_size > 1
    if distributed:
        torch.set_num_threads(1)  # N processes share the cores
        # Ranks meet through a file (no TCP port to pick and race for); on several
        # machines use init_method="env://" with MASTER_ADDR/MASTER_PORT as usual.
        dist.init_process_group(
            "gloo", init_method=f"file://{args.rendezvous}", rank=rank, world_size=world_size
        )
    torch.manual_seed(args.seed)
    train_set, val_set = make_data(args)
    model = make_model(args)
    if distributed:
        model = DistributedDataParallel(model)
        sampler: DistributedSampler | None = DistributedSampler(train_set, seed=args.seed)
        # A strided shard, not DistributedSampler: it would pad with duplicates and bias metrics.
        val_set = Subset(val_set, range(rank, len(val_set), world_size))
    else:
        sampler = None
    train_loader = DataLoader(
        train_set, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler
    )
    val_loader = DataLoader(val_set, batch_size=256)
    loss_fn = nn.CrossEntropyLoss()
    if args.diverge:
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=args.lr, momentum=0.9
        )
    else:
        weight_decay = 0.0 if args.overfit else 1e-2
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=weight_decay)
    scheduler = make_scheduler(optimizer, args.epochs)

    # Every rank creates the logger (after init_process_group); only rank 0 writes.
    # No checkpoints here, so no resume=True: a rerun is a new run (the old one -> .bak).
    logger = JSONMetricLogger(
        args.runs_dir / args.name,
        total_epochs=args.epochs,
        task="classification",
        config=vars(args),
        steps_per_epoch=len(train_loader),  # optimizer steps: exact fractional epochs
    )
    step = 0
    loss_meter, accuracy_meter, grad_meter = (
        AverageMeter("train_loss"),
        AverageMeter("train_accuracy"),
        AverageMeter("grad_norm"),
    )
    with logger:
        for epoch in range(1, args.epochs + 1):
            model.train()
            if sampler is not None:
                sampler.set_epoch(epoch)
            for meter in (loss_meter, accuracy_meter, grad_meter):
                meter.reset()
            grad_max = 0.0
            lr = current_lr(optimizer)  # the LR used this epoch, before scheduler.step()
            for features, labels in train_loader:
                optimizer.zero_grad(set_to_none=True)
                logits = model(features)
                loss = loss_fn(logits, labels)
                loss.backward()
                # Before clipping, so the log shows what the optimizer was actually handed.
                stats = gradient_stats(model)
                grad_meter.update(stats["grad_norm"])
                if math.isnan(stats["grad_max"]) or stats["grad_max"] > grad_max:
                    grad_max = stats["grad_max"]
                if not (args.diverge or args.overfit):
                    nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
                optimizer.step()
                step += 1
                if args.log_every and step % args.log_every == 0:
                    # The batch loss as a tensor: it reaches the host at the logger's flush.
                    logger.log_step(step=step, train_loss=loss.detach())
                # Tensors go in as they are: no .item() sync per batch.
                loss_meter.update(loss, labels.numel())
                accuracy_meter.update(
                    (logits.argmax(dim=1) == labels).float().mean(), labels.numel()
                )
            scheduler.step()
            for meter in (loss_meter, accuracy_meter, grad_meter):
                meter.synchronize()  # collective: every rank, every epoch
            validation = evaluate(model, val_loader, loss_fn)
            if args.sleep:
                time.sleep(args.sleep)
            record = logger.log_epoch(
                step=step,  # where the epoch ended (the last logged step may be earlier)
                train_loss=loss_meter.avg,
                train_accuracy=accuracy_meter.avg,
                **validation,
                lr=lr,
                grad_norm=grad_meter.avg,
                grad_max=grad_max,
            )
            if rank == 0:
                print(
                    f"epoch {epoch:3d}/{args.epochs}  train_loss {record['train_loss']:.4f}  "
                    f"val_loss {record['val_loss']:.4f}  val_acc {record['val_accuracy']:6.1%}  "
                    f"val_f1 {record['val_f1']:.3f}  lr {record['lr']:.2e}  "
                    f"grad {record['grad_norm']:.3g} (max {record['grad_max']:.3g})  "
                    f"{record['duration_s']:.2f}s",
                    flush=True,
                )
    if rank == 0:
        print(f"wrote {logger.path}")
    if distributed:
        # Leave together: a rank whose process exits while another still talks to it
        # can abort in gloo's teardown ("terminate called without an active exception").
        dist.barrier()
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.ddp > 1:
        with tempfile.TemporaryDirectory(prefix="metricwatch-ddp-") as rendezvous_dir:
            args.rendezvous = os.path.join(rendezvous_dir, "store")
            mp.spawn(train, args=(args.ddp, args), nprocs=args.ddp, join=True)
    else:
        train(0, 1, args)


if __name__ == "__main__":
    main()
