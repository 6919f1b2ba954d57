"""Writes the generated event files of this folder with the real writers.

Run with a Python that has torch and tensorboard (NOT the project's venv):
    python tests/corpus/tfevents/generate.py tests/corpus/tfevents/generated
The files are committed; this script documents how they were made.
"""

import math
import sys
import time
from pathlib import Path

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.plugins.histogram import summary_v2 as histogram_v2
from tensorboard.plugins.scalar import summary_v2 as scalar_v2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from torch.utils.tensorboard import SummaryWriter

out = Path(sys.argv[1])
T0 = 1_700_000_000.0

# 1. PyTorch SummaryWriter as the PyTorch tutorial uses it, with what real runs add:
# histograms, an image, text, hparams, a NaN and an Inf, and a resume (second writer,
# second file) that goes back from step 5 to step 3.
writer = SummaryWriter(out / "pytorch_writer", purge_step=None)
for step in range(6):
    writer.add_scalar("Loss/train", 1.0 / (step + 1), step, walltime=T0 + step)
    writer.add_scalar(
        "Loss/val", [1.5, 1.2, 1.0, 0.9, math.nan, math.inf][step], step, walltime=T0 + step
    )
    writer.add_scalar("lr-Adam", 0.01, step, walltime=T0 + step)
    writer.add_histogram("weights", np.arange(10.0) * step, step, walltime=T0 + step)
writer.add_image("sample", np.zeros((3, 2, 2)), 0, walltime=T0)
writer.add_text("notes", "hello", 0, walltime=T0)
writer.flush()
writer.close()
time.sleep(1.1)  # the file name's timestamp orders the resumed file after the first
writer = SummaryWriter(out / "pytorch_writer")
for step in range(3, 5):
    writer.add_scalar("Loss/train", 0.1 * step, step, walltime=T0 + 100 + step)
writer.close()

# 2. Hugging Face Trainer's tag names (TensorBoardCallback): train/loss, train/epoch...
writer = SummaryWriter(out / "hf_tags")
for step in (10, 20, 30):
    writer.add_scalar("train/loss", 3.0 - step / 10, step, walltime=T0 + step)
    writer.add_scalar("train/grad_norm", 0.5, step, walltime=T0 + step)
    writer.add_scalar("train/learning_rate", 5e-5, step, walltime=T0 + step)
    writer.add_scalar("train/epoch", step / 20, step, walltime=T0 + step)
    if step == 20:  # an evaluation at the end of epoch 1: the epoch is logged again
        writer.add_scalar("eval/loss", 1.25, step, walltime=T0 + step + 1)
        writer.add_scalar("eval/accuracy", 0.75, step, walltime=T0 + step + 1)
        writer.add_scalar("train/epoch", 1.0, step, walltime=T0 + step + 1)
writer.add_text("args", '{"lr": 5e-05}', 0, walltime=T0)
writer.close()


# 3. TF2 / Keras: tf.summary.scalar writes rank-0 tensors (scalars plugin); Keras'
# callback writes epoch_* to train/ and validation/ and evaluation_*_vs_iterations.
def tensor_content_scalar(tag, value, dtype):
    tensor = tensor_pb2.TensorProto(
        dtype=dtype,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        tensor_content=np.asarray(value, dtype=np.float32 if dtype == 1 else np.float64).tobytes(),
    )
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )
    return summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)]
    )


def write(folder, events):
    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder), filename_suffix=".v2")
    for wall, step, summary in events:
        writer.add_event(event_pb2.Event(wall_time=wall, step=step, summary=summary))
    writer.close()


train, val = [], []
for epoch in range(3):
    train.append((T0 + epoch, epoch, tensor_content_scalar("epoch_loss", 1.0 - 0.25 * epoch, 1)))
    train.append((T0 + epoch, epoch, scalar_v2.scalar_pb("epoch_accuracy", 0.5 + 0.125 * epoch)))
    train.append((T0 + epoch, epoch, tensor_content_scalar("epoch_learning_rate", 0.001, 2)))
    val.append((T0 + epoch, epoch, tensor_content_scalar("epoch_loss", 1.5 - 0.25 * epoch, 1)))
    val.append((T0 + epoch, epoch, scalar_v2.scalar_pb("epoch_accuracy", 0.25 * (epoch + 1))))
    val.append(
        (
            T0 + epoch,
            100 * (epoch + 1),
            tensor_content_scalar("evaluation_loss_vs_iterations", 1.5, 1),
        )
    )
train.append((T0, 0, histogram_v2.histogram_pb("dense/kernel_0", np.arange(4.0))))
write(out / "keras" / "train", train)
write(out / "keras" / "validation", val)
