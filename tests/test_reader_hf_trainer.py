"""The Hugging Face trainer_state.json reader, on real files (tests/corpus/hf_trainer) and
per quirk."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metricwatch.model import STEP, ProblemKind
from metricwatch.readers import hf_trainer
from metricwatch.readers.hf_trainer import (
    canonical_key,
    newest_checkpoint_state,
    parse_trainer_state,
)

CORPUS = Path(__file__).parent / "corpus" / "hf_trainer"


def corpus(path):
    return (CORPUS / path / "trainer_state.json").read_bytes()


def kinds(result):
    return [p.kind for p in result.problems]


def state(log_history, **top):
    """A trainer_state.json as the Trainer writes it: sorted keys, indent 2."""
    document = {"global_step": 0, "log_history": log_history, **top}
    return json.dumps(document, indent=2, sort_keys=True).encode()


ALL_FILES = [
    "bart_samsum_run_dir",
    "bart_samsum_run_dir/checkpoint-500",
    "bert_run_dir/checkpoint-500",
    "bert_run_dir/checkpoint-1000",
    "bert_run_dir/checkpoint-2400",
    "bert_weibo_old_format",
    "lora_imdb_no_summary",
    "sentiment_best_metric/checkpoint-500",
    "whisper_wer_early_stop",
]


# --- recognising the file ------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_FILES)
def test_every_real_file_is_sniffed_and_reads_cleanly(path):
    data = corpus(path)
    assert hf_trainer.FORMAT.may_hold("trainer_state.json")
    assert hf_trainer.FORMAT.sniff(data[:4096])
    result = parse_trainer_state(data)
    assert result.problems == []
    assert result.table.x == STEP
    assert len(result.table) > 0


@pytest.mark.parametrize(
    "head",
    [b"", b"{", b'{\n  "best_', b'{\n  "best_metric": null,\n  "best_model_checkpoint": nu'],
)
def test_sniff_takes_a_file_being_written(head):
    assert hf_trainer.FORMAT.sniff(head)


@pytest.mark.parametrize(
    "head",
    [b'{"epochs": [{"epoch": 1, "train_loss": 0.5}]}', b"[1, 2]", b"loss,step\n0.5,1\n"],
)
def test_sniff_refuses_other_content(head):
    assert not hf_trainer.FORMAT.sniff(head)


# --- real files --------------------------------------------------------------------------------


def test_eval_metrics_summary_and_best_checkpoint():
    """Whisper fine-tune stopped early: eval_wer every 250 steps, the closing summary entry,
    best_metric (a WER) with its checkpoint and step."""
    result = parse_trainer_state(corpus("whisper_wer_early_stop"))
    table = result.table
    assert table.steps.tolist() == list(range(25, 1501, 25))
    train = table.series["train_loss"]
    assert len(train) == 60
    assert train.values[0] == 0.8328424835205078
    assert train.epochs[0] == 0.022747952684258416
    assert table.series["lr"].values[0] == 4.800000000000001e-06
    assert table.series["grad_norm"].values[:2].tolist() == [6.625, 3.8125]
    wer = table.series["val_wer"]
    assert wer.steps.tolist() == [250, 500, 750, 1000, 1250, 1500]
    assert wer.values[0] == 17.713518352730528
    assert wer.values[-1] == 28.39570277529096
    assert table.series["val_loss"].values[0] == 0.2190256416797638
    # Timings of the evaluation keep their own names: they are not metrics of the model.
    assert table.series["eval_runtime"].values[0] == 2744.0494
    assert table.series["eval_samples_per_second"].values[0] == 3.517
    assert "val_runtime" not in table.series
    # The summary's train_loss is the run's mean: meta, not the last point of the series.
    assert train.values[-1] != 0.2447784274419149
    assert result.meta["mean_train_loss"] == 0.2447784274419149
    assert result.meta["train_runtime"] == 28624.551
    assert result.meta["train_steps_per_second"] == 0.384
    assert result.meta["total_flos"] == 1.6298478876229632e20
    assert result.meta["best_metric"] == 17.713518352730528
    assert result.meta["best_model_checkpoint"].endswith("output_multi/checkpoint-250")
    assert result.meta["best_global_step"] == 250
    assert result.meta["best_metric_key"] == "val_wer"  # found at step 250
    assert result.meta["total_steps"] == 10990
    assert result.meta["total_epochs"] == 10
    assert result.meta["global_step"] == 1500
    assert result.meta["source_keys"] == {
        "train_loss": "loss",
        "lr": "learning_rate",
        "val_loss": "eval_loss",
        "val_wer": "eval_wer",
    }
    assert result.extra["logging_steps"] == 25
    assert result.extra["stateful_callbacks"]["EarlyStoppingCallback"]["args"] == {
        "early_stopping_patience": 5,
        "early_stopping_threshold": 0.0,
    }
    assert "log_history" not in result.extra


def test_train_and_eval_entries_at_one_step_are_one_record():
    result = parse_trainer_state(corpus("sentiment_best_metric/checkpoint-500"))
    table = result.table
    assert table.steps.tolist() == [500]
    assert table.series["train_loss"].values.tolist() == [0.6628]
    assert table.series["val_accuracy"].values.tolist() == [0.8256410256410256]
    assert table.series["val_f1"].values.tolist() == [0.8256410256410256]
    assert table.series["val_precision"].values.tolist() == [0.8256410256410256]
    assert table.series["val_recall"].values.tolist() == [0.8256410256410256]
    assert table.series["val_loss"].epochs.tolist() == [1.28]
    assert result.meta["best_metric"] == 0.7639023065567017
    assert result.meta["best_metric_key"] == "val_loss"  # from checkpoint-500's step
    assert result.meta["total_steps"] == 1170
    assert "train_runtime" not in result.meta  # a checkpoint: no summary yet


def test_old_summary_without_train_loss():
    """Older Trainers closed with step, epoch, total_flos and timings only."""
    result = parse_trainer_state(corpus("bart_samsum_run_dir"))
    assert result.table.steps.tolist() == [500]
    assert result.table.series["train_loss"].values.tolist() == [1.2342]
    assert result.meta["train_runtime"] == 363.7124
    assert result.meta["train_samples_per_second"] == 1.905
    assert "mean_train_loss" not in result.meta
    assert result.meta["total_steps"] == 693


def test_old_format_logged_every_500_steps():
    result = parse_trainer_state(corpus("bert_weibo_old_format"))
    train = result.table.series["train_loss"]
    assert len(train) == 51
    assert train.steps[-1] == 25500
    assert train.values[0] == 0.981
    assert train.epochs[-1] == 98.84
    assert result.meta["mean_train_loss"] == 0.3071320072440214
    assert result.meta["total_epochs"] == 100
    assert set(result.table.series) == {"train_loss", "lr"}


def test_epoch_evaluation_without_a_summary():
    result = parse_trainer_state(corpus("lora_imdb_no_summary"))
    val = result.table.series["val_loss"]
    assert val.steps.tolist() == [125, 250, 375]
    assert val.epochs.tolist() == [1.0, 2.0, 3.0]
    assert val.values.tolist() == [0.3951033353805542, 0.4154859483242035, 0.3891691565513611]
    assert len(result.table.series["train_loss"]) == 18
    assert "train_runtime" not in result.meta


def test_checkpoints_are_prefix_copies_of_one_run():
    run_dir = CORPUS / "bert_run_dir"
    names = sorted(p.name for p in run_dir.iterdir() if p.is_dir())
    assert names == ["checkpoint-1000", "checkpoint-2400", "checkpoint-500"]
    assert newest_checkpoint_state(names) == "checkpoint-2400"
    newest = parse_trainer_state(corpus("bert_run_dir/checkpoint-2400"))
    for older in ("checkpoint-500", "checkpoint-1000"):
        _assert_prefix(parse_trainer_state(corpus(f"bert_run_dir/{older}")), newest)
    assert newest.table.steps.tolist() == list(range(100, 2401, 100))
    assert newest.table.series["val_accuracy"].values[0] == 0.7328125


def test_newest_checkpoint_is_chosen_by_number_not_by_name():
    names = ["checkpoint-500", "checkpoint-1000", "runs", "tmp-checkpoint-1500", "checkpoint-x"]
    assert newest_checkpoint_state(names) == "checkpoint-1000"
    assert newest_checkpoint_state(["checkpoint-99", "checkpoint-100"]) == "checkpoint-100"
    assert newest_checkpoint_state(["runs", "logs"]) is None
    assert newest_checkpoint_state([]) is None


# --- quirks on small files made here --------------------------------------------------------


def test_epoch_resetting_to_zero_on_a_resumed_streaming_run_is_not_a_resume():
    history = [
        {"epoch": 0.5, "loss": 2.0, "step": 100},
        {"epoch": 0.99, "loss": 1.8, "step": 200},
        {"epoch": 0.0, "loss": 1.7, "step": 300},  # the streaming epoch counter restarted
        {"epoch": 0.2, "loss": 1.6, "step": 400},
    ]
    result = parse_trainer_state(state(history))
    assert result.problems == []
    train = result.table.series["train_loss"]
    assert train.steps.tolist() == [100, 200, 300, 400]
    assert train.values.tolist() == [2.0, 1.8, 1.7, 1.6]
    assert train.epochs.tolist() == [0.5, 0.99, 0.0, 0.2]


def test_step_going_back_replaces_the_later_entries():
    history = [
        {"loss": 2.0, "step": 100},
        {"loss": 1.8, "step": 200},
        {"loss": 1.6, "step": 300},
        {"loss": 1.85, "step": 200},
        {"loss": 1.65, "step": 300},
    ]
    result = parse_trainer_state(state(history))
    assert kinds(result) == [ProblemKind.RESTART]
    assert result.problems[0].message == (
        "the step went back (resumed from a checkpoint) at step 200 (after 300); "
        "the later entries replace the earlier ones"
    )
    train = result.table.series["train_loss"]
    assert train.steps.tolist() == [100, 200, 300]
    assert train.values.tolist() == [2.0, 1.85, 1.65]
    assert train.epochs is None  # no entry had an epoch


def test_predict_entries_are_not_points_of_the_run():
    history = [
        {"epoch": 1.0, "loss": 0.5, "step": 50},
        {"epoch": 1.0, "predict_loss": 0.4, "predict_runtime": 3.0, "step": 50},
        {"epoch": 1.0, "predict_accuracy": 0.9, "step": 60},
    ]
    result = parse_trainer_state(state(history))
    assert result.problems == []
    assert result.table.steps.tolist() == [50]
    assert set(result.table.series) == {"train_loss"}


def test_nan_and_infinity_values_are_kept():
    text = (
        b'{"global_step": 2, "log_history": [{"grad_norm": NaN, "loss": Infinity, "step": 1},'
        b' {"grad_norm": 1.5, "loss": "nan", "step": 2}]}'
    )
    result = parse_trainer_state(text)
    assert result.problems == []
    grad = result.table.series["grad_norm"]
    assert math.isnan(grad.values[0]) and grad.values[1] == 1.5
    loss = result.table.series["train_loss"].values
    assert loss[0] == math.inf and math.isnan(loss[1])


def test_odd_entries_are_typed_problems():
    history = [
        {"loss": 0.5, "step": 10, "eval_report": "precision 0.5", "total_flos": 12.0},
        "not an entry",
        {"loss": 0.4},
        {"loss": 0.3, "step": -4},
        {"loss": 0.2, "step": 20, "eval_per_class": [0.1, 0.2]},
    ]
    result = parse_trainer_state(state(history))
    assert kinds(result) == [ProblemKind.NOT_OURS, ProblemKind.BAD_EPOCH, ProblemKind.NON_NUMERIC]
    assert result.problems[0].message == "skipped 1 log_history entries that are not objects"
    assert result.problems[1].message == 'skipped 2 log_history entries without a usable "step"'
    assert result.problems[2].message == (
        "ignored 2 non-numeric values ('eval_report' ×1, 'eval_per_class' ×1)"
    )
    assert result.table.steps.tolist() == [10, 20]
    assert "total_flos" not in result.table.series  # a running total: meta
    assert result.meta["total_flos"] == 12.0


def test_alias_and_direct_spelling_of_one_metric():
    history = [{"eval_acc": 0.7, "eval_accuracy": 0.8, "step": 10}]
    result = parse_trainer_state(state(history))
    assert kinds(result) == [ProblemKind.NON_NUMERIC]
    assert "'eval_acc' and 'eval_accuracy'" in result.problems[0].message
    assert result.table.series["val_accuracy"].values.tolist() == [0.8]
    assert result.meta["source_keys"]["val_accuracy"] == "eval_accuracy"


def test_canonical_keys():
    assert canonical_key("loss") == "train_loss"
    assert canonical_key("learning_rate") == "lr"
    assert canonical_key("grad_norm") == "grad_norm"
    assert canonical_key("eval_loss") == "val_loss"
    assert canonical_key("eval_accuracy") == "val_accuracy"
    assert canonical_key("eval_wer") == "val_wer"
    assert canonical_key("eval_cer") == "val_cer"
    assert canonical_key("eval_f1") == "val_f1"
    assert canonical_key("eval_map") == "val_mAP"
    assert canonical_key("eval_map_50") == "val_mAP_50"
    assert canonical_key("eval_mean_iou") == "val_mIoU"
    assert canonical_key("eval_runtime") == "eval_runtime"
    assert canonical_key("eval_steps_per_second") == "eval_steps_per_second"
    assert canonical_key("num_input_tokens_seen") == "num_input_tokens_seen"


def test_top_level_values_that_are_not_usable_stay_out_of_meta():
    result = parse_trainer_state(
        state([], max_steps=-1, num_train_epochs=0, best_metric=None, best_model_checkpoint=None)
    )
    assert result.problems == []
    assert result.meta == {}
    assert len(result.table) == 0


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", ProblemKind.EMPTY),
        (b"  \n", ProblemKind.EMPTY),
        (b'{"foo": 1}', ProblemKind.NOT_OURS),
        (b'{"global_step": 1, "log_history": 3}', ProblemKind.NOT_OURS),
        (b"[1, 2]", ProblemKind.NOT_OURS),
        (b"not json", ProblemKind.INVALID_JSON),
        (
            b'{"global_step": 5, "log_history": [{"loss": 1, "step": 1}]] "x": 1}',
            ProblemKind.INVALID_JSON,
        ),
        (b'{"global_step": 5, "log_history": [{"loss": 1, "step": 1}, {"lo', ProblemKind.TRUNCATED),
        (b'{"global_step": 5, "log_history": [{"loss": 1, "step": 1}]\xff}', ProblemKind.ENCODING),
    ],
)
def test_damaged_files_are_typed_problems(data, kind):
    result = parse_trainer_state(data)
    assert kind in kinds(result)


def test_file_cut_short_keeps_the_complete_entries():
    data = corpus("whisper_wer_early_stop")
    cut = data[: data.index(b'"step": 275') + 5]
    result = parse_trainer_state(cut)
    assert kinds(result) == [ProblemKind.TRUNCATED]
    assert result.table.steps.tolist() == list(range(25, 251, 25))
    assert result.table.series["val_wer"].values.tolist() == [17.713518352730528]
    assert result.meta["best_metric"] == 17.713518352730528  # keys before log_history
    assert "total_steps" not in result.meta  # max_steps comes after log_history


# --- cut short at every byte, and arbitrary bytes --------------------------------------------


def _assert_prefix(part, whole):
    for key, series in part.table.series.items():
        full = whole.table.series[key]
        n = len(series)
        assert series.steps.tolist() == full.steps[:n].tolist(), key
        assert np.array_equal(series.values, full.values[:n], equal_nan=True), key
        if series.epochs is not None:
            assert np.array_equal(series.epochs, full.epochs[:n], equal_nan=True), key


@pytest.mark.parametrize(
    ("path", "every"),
    [
        ("sentiment_best_metric/checkpoint-500", 1),
        ("bert_run_dir/checkpoint-500", 1),
        ("whisper_wer_early_stop", 7),
    ],
)
def test_cut_at_every_byte_reads_a_prefix(path, every):
    data = corpus(path)
    whole = parse_trainer_state(data)
    for cut in range(0, len(data), every):
        part = parse_trainer_state(data[:cut])
        assert set(kinds(part)) <= {ProblemKind.TRUNCATED, ProblemKind.EMPTY}, cut
        _assert_prefix(part, whole)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data):
    parse_trainer_state(data)
    hf_trainer.FORMAT.sniff(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
_KEY = st.sampled_from(
    [
        "step",
        "epoch",
        "loss",
        "eval_loss",
        "eval_acc",
        "eval_accuracy",
        "train_runtime",
        "total_flos",
        "predict_loss",
        "learning_rate",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.dictionaries(_KEY, _JSON | st.integers(-3, 50)) | _JSON, max_size=10),
    st.dictionaries(st.sampled_from(["max_steps", "num_train_epochs", "best_metric"]), _JSON),
)
def test_arbitrary_log_history_never_raises(history, top):
    result = parse_trainer_state(state(history, **top))
    steps = result.table.steps.tolist()
    assert steps == sorted(set(steps))
    for series in result.table.series.values():
        assert set(series.steps.tolist()) <= set(steps)


def test_best_metric_key_only_when_one_series_matches():
    history = [{"eval_accuracy": 0.9, "eval_f1": 0.9, "eval_loss": 0.3, "step": 40}]
    tied = parse_trainer_state(state(history, best_metric=0.9, best_global_step=40))
    assert "best_metric_key" not in tied.meta
    unique = parse_trainer_state(state(history, best_metric=0.3, best_global_step=40))
    assert unique.meta["best_metric_key"] == "val_loss"
    elsewhere = parse_trainer_state(state(history, best_metric=0.3, best_global_step=50))
    assert "best_metric_key" not in elsewhere.meta


def test_run_written_by_the_real_trainer():
    """tests/corpus/hf_trainer/generated/tiny_bert_run: written by transformers itself
    (scripts/make_corpus.py); its values may change when regenerated, its shape does not."""
    run_dir = CORPUS / "generated" / "tiny_bert_run"
    names = [p.name for p in run_dir.iterdir() if p.is_dir()]
    assert newest_checkpoint_state(names) == "checkpoint-30"
    root = parse_trainer_state(corpus("generated/tiny_bert_run"))
    newest = parse_trainer_state(corpus("generated/tiny_bert_run/checkpoint-30"))
    assert root.problems == [] and newest.problems == []
    assert root.table.steps.tolist() == [5, 10, 15, 20, 25, 30]
    assert root.table.series["val_accuracy"].steps.tolist() == [10, 20, 30]
    assert root.table.series["val_loss"].steps.tolist() == [10, 20, 30]
    assert set(root.table.series) == {
        "train_loss",
        "lr",
        "grad_norm",
        "val_loss",
        "val_accuracy",
        "eval_runtime",
        "eval_samples_per_second",
        "eval_steps_per_second",
    }
    assert root.meta["best_metric_key"] == "val_accuracy"  # metric_for_best_model="accuracy"
    assert root.meta["total_steps"] == 30 and root.meta["total_epochs"] == 2
    assert "mean_train_loss" in root.meta and "mean_train_loss" not in newest.meta
    for older in ("checkpoint-10", "checkpoint-20", "checkpoint-30"):
        _assert_prefix(parse_trainer_state(corpus(f"generated/tiny_bert_run/{older}")), root)
