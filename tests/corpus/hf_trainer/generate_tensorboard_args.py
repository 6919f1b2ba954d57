"""Writes generated/tb_args_lr*/: two real Trainer output folders with report_to=tensorboard.

Run with a Python that has torch, transformers, accelerate and tensorboard (NOT the
project's venv), from the repository root:
    python tests/corpus/hf_trainer/generate_tensorboard_args.py

Each run trains a 1-layer BERT built from a config (nothing downloaded) for 20 steps on
random tokens on the CPU; the two differ only in learning_rate (and so in output_dir,
logging_dir and run_name). Trainer's TensorBoardCallback writes the TrainingArguments as
text (`args/text_summary`) and the model config (`model_config/text_summary`) at the start
of `runs/<date>_<host>/events.out.tfevents.*`, then the scalars. Kept: the event file,
each checkpoint's trainer_state.json and config.json, and (run lr5e-3 only) the root
trainer_state.json from trainer.save_state(); the lr1e-3 run keeps only its checkpoints,
the shape of a run still training. Weights, optimizer, RNG states and training_args.bin
(a pickle) are deleted. The files are committed; this script documents how they were made.
"""

import shutil
import sys
from pathlib import Path

import accelerate
import tensorboard
import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

HERE = Path(__file__).resolve().parent / "generated"
KEEP = ("trainer_state.json", "config.json")


class Toy(torch.utils.data.Dataset):
    """Random token ids; the label is whether the first token is above 50."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(5, 100, (n, 12), generator=g)
        self.labels = (self.ids[:, 0] > 50).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones(12, dtype=torch.long),
            "labels": self.labels[i],
        }


def train(name: str, learning_rate: float, save_state: bool) -> None:
    out = HERE / name
    shutil.rmtree(out, ignore_errors=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        num_labels=2,
    )
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=20,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        learning_rate=learning_rate,
        warmup_steps=2,
        logging_steps=5,
        eval_strategy="steps",
        eval_steps=10,
        save_strategy="steps",
        save_steps=10,
        report_to=["tensorboard"],
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=Toy(128, 1),
        eval_dataset=Toy(48, 2),
    )
    trainer.train()
    if save_state:
        trainer.save_state()
    for path in sorted(out.rglob("*"), reverse=True):
        keep = path.name in KEEP or path.name.startswith("events.out.tfevents.")
        if path.is_file() and not keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def main() -> int:
    train("tb_args_lr5e-3", 5e-3, save_state=True)
    train("tb_args_lr1e-3", 1e-3, save_state=False)
    versions = (
        f"python {sys.version.split()[0]}\ntorch {torch.__version__}\n"
        f"transformers {transformers.__version__}\naccelerate {accelerate.__version__}\n"
        f"tensorboard {tensorboard.__version__}\n"
    )
    for name in ("tb_args_lr5e-3", "tb_args_lr1e-3"):
        (HERE / name / "VERSIONS.txt").write_text(versions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
