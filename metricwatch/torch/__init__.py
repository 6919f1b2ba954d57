"""PyTorch helpers that feed metricwatch: the only part of the package that imports torch.

    from metricwatch.torch import JSONMetricLogger, AverageMeter, gradient_stats, current_lr

`JSONMetricLogger` writes run_dir/metrics.json atomically after every epoch
and appends steps to run_dir/metrics.jsonl (rank 0 only under
torch.distributed; one logger per run directory), `AverageMeter` averages per-batch
values without a device sync per update, `gradient_stats` gives the total and
largest per-parameter gradient norm with one sync, and `current_lr` reads the
optimizer's learning rate(s).
"""

from metricwatch.torch.gradients import gradient_stats
from metricwatch.torch.logger import JSONMetricLogger
from metricwatch.torch.meters import AverageMeter
from metricwatch.torch.optim import current_lr, current_lrs
from metricwatch.torch.run_lock import RunLockedError

__all__ = [
    "AverageMeter",
    "JSONMetricLogger",
    "RunLockedError",
    "current_lr",
    "current_lrs",
    "gradient_stats",
]
