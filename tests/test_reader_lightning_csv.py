"""PyTorch Lightning CSVLogger metrics.csv: real files from public repositories
(tests/corpus/lightning_csv) and small files made here for the quirks they lack."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.model import EPOCH, STEP, ProblemKind, Run
from metricwatch.readers.lightning_csv import (
    FORMAT,
    parse_hparams,
    parse_lightning_csv,
    parse_meta_tags,
)

CORPUS = Path(__file__).parent / "corpus" / "lightning_csv"


def read(name: str, file: str = "metrics.csv") -> bytes:
    return (CORPUS / name / file).read_bytes()


def kinds(result):
    return [p.kind for p in result.problems]


def series(result, key):
    found = result.table.series[key]
    return found.steps.tolist(), found.values.tolist()


def assert_prefix(part, whole):
    for key, found in part.table.series.items():
        full = whole.table.series[key]
        n = len(found)
        assert found.steps.tolist() == full.steps[:n].tolist(), key
        np.testing.assert_array_equal(found.values, full.values[:n])
    assert part.table.steps.tolist() == whole.table.steps[: len(part.table)].tolist()


# --- real files -------------------------------------------------------------------------------


def test_step_and_epoch_pairs_lr_rows_and_valid_prefix():
    result = parse_lightning_csv(read("era_onecycle_step_epoch"))
    assert result.problems == []
    assert result.table.x == STEP
    assert result.table.steps[:5].tolist() == [49, 78, 99, 149, 157]
    # train_loss_epoch (the epoch's mean) is train_loss; the per-step one keeps its name
    assert series(result, "train_loss")[0][:3] == [78, 157, 236]
    assert series(result, "train_loss")[1][0] == 2.0150349140167236
    assert series(result, "train_loss_step")[1][0] == 1.894094467163086
    assert series(result, "train_accuracy")[1][-1] == 0.9854999780654907
    assert series(result, "val_loss")[1][0] == 1.7100218534469604  # valid_loss
    assert series(result, "val_accuracy")[1][0] == 0.36579999327659607  # valid_acc
    assert result.meta["source_keys"] == {
        "lr": "lr-SGD",
        "val_loss": "valid_loss",
        "val_accuracy": "valid_acc",
        "train_loss": "train_loss_epoch",
        "train_accuracy": "train_acc_epoch",
    }
    # the test row after training keeps its own names
    assert series(result, "test_loss") == ([2765], [0.3974108397960663])


def test_two_rows_of_one_step_are_merged():
    # step 78: a row with valid_loss, then a row with train_loss_epoch
    result = parse_lightning_csv(read("era_onecycle_step_epoch"))
    assert 78 in series(result, "val_loss")[0]
    assert 78 in series(result, "train_loss")[0]
    assert result.table.steps.tolist().count(78) == 1


def test_lr_rows_without_an_epoch_take_the_epoch_of_their_step():
    result = parse_lightning_csv(read("era_onecycle_step_epoch"))
    lr = result.table.series["lr"]
    assert lr.steps[:3].tolist() == [49, 99, 149]
    assert lr.values[:2].tolist() == [0.004826167939678341, 0.007342644083661878]
    assert lr.epochs[:3].tolist() == [0.0, 1.0, 1.0]


def test_lr_rows_alone_at_their_step_have_no_epoch():
    result = parse_lightning_csv(read("camels_lr_adam_hparams"))
    assert result.problems == []
    lr = result.table.series["lr"]
    assert lr.steps[:3].tolist() == [0, 267, 534]
    assert lr.values[0] == 6.706105840074697e-05
    assert all(math.isnan(e) for e in lr.epochs)
    assert result.meta["source_keys"] == {"lr": "lr-Adam"}
    assert series(result, "val_loss")[0][:3] == [266, 533, 800]
    assert series(result, "train_mse")[1][0] == 14.349380493164062


def test_hparams_beside_the_file():
    config = parse_hparams(read("camels_lr_adam_hparams", "hparams.yaml").decode())
    assert config["learning_rate"] == 6.706105840074697e-05
    assert config["group_identifier"] == "gauge_id"
    assert config["num_layers"] == 7
    assert parse_hparams(read("era_onecycle_step_epoch", "hparams.yaml").decode()) == {
        "batch_size": 512,
        "lr": 0.002,
    }


def test_slash_names():
    result = parse_lightning_csv(read("arcroute_slash_names"))
    assert result.problems == []
    assert sorted(result.table.series) == [
        "train_entropy",
        "train_loss",
        "train_reward",
        "train_surrogate_loss",
        "train_value_loss",
        "val_reward",
    ]
    assert series(result, "train_loss")[1][0] == -0.02284548431634903
    assert series(result, "val_reward") == (
        [488, 977, 1466, 1955, 2444],
        series(result, "val_reward")[1],
    )
    assert series(result, "val_reward")[1][0] == -56.78908920288086
    assert result.meta["source_keys"]["train_loss"] == "train/loss"


def test_test_rows_before_and_after_training_and_val_on_its_own_row():
    result = parse_lightning_csv(read("fashion_test_rows"))
    assert result.problems == []
    assert series(result, "test_loss") == ([0, 750], [0.3663252592086792, 0.3700087070465088])
    assert series(result, "val_loss") == ([749], [0.47399163246154785])
    assert series(result, "val_accuracy") == ([749], [0.831333339214325])
    assert series(result, "train_loss")[0][-1] == 749
    assert result.table.steps[-2:].tolist() == [749, 750]


def test_epochs_done_of_a_step_run_comes_from_the_epoch_column():
    result = parse_lightning_csv(read("camels_lr_adam_hparams"))
    run = Run("r", Path("metrics.csv"), table=result.table)
    assert run.epochs_done == 11  # the last epoch logged is 11 (counted from 0)


def test_legacy_test_tube_one_row_per_epoch_is_an_epoch_run_with_times():
    result = parse_lightning_csv(read("testtube_flat_loss"))
    assert result.problems == []
    assert result.table.x == EPOCH
    assert result.table.steps.tolist() == list(range(104))
    loss = result.table.series["train_loss"]
    assert loss.values[0] == 15.917465209960938
    assert loss.times[0] == 1580738910.980366  # 2020-02-03 14:08:30.980366, read as UTC


def test_legacy_test_tube_meta_tags_is_the_config():
    assert parse_meta_tags(read("testtube_flat_loss", "meta_tags.csv")) == {
        "lr": 0.02,
        "batch_size": 20,
        "solver": "rk4",
    }
    config = parse_meta_tags(read("testtube_no_metrics", "meta_tags.csv"))
    assert config["data_dir"] == ".\\data"
    assert config["learning_rate"] == 0.005
    assert config["hpc_exp_number"] is None
    assert parse_meta_tags(b"a,b\n1,2\n") == {}
    assert parse_meta_tags(b"") == {}


def test_legacy_test_tube_without_metrics_says_so():
    result = parse_lightning_csv(read("testtube_no_metrics"))
    assert result.table.x == STEP  # many rows of epoch 0: counted by row
    assert result.meta["x_is_row_number"] is True
    assert result.table.series == {}
    assert kinds(result) == [ProblemKind.EMPTY]
    assert "no metric columns" in result.problems[0].message


def test_every_real_file_is_claimed():
    for path in sorted(CORPUS.glob("*/metrics.csv")):
        assert FORMAT.may_hold(path.name)
        assert FORMAT.sniff(path.read_bytes()[:4096]), path


# --- a file written by Lightning 2.6 (tests/corpus/lightning_csv/generated) -------------------

GENERATED = CORPUS / "generated" / "lightning_csvlogger" / "lightning_logs" / "version_0"


def test_lightning_2_file_slash_step_epoch_pairs_nan_and_rewritten_header():
    result = parse_lightning_csv((GENERATED / "metrics.csv").read_bytes())
    assert result.problems == []
    assert result.table.steps.tolist() == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]
    assert series(result, "train_loss") == (
        [7, 15, 23],
        [0.5597680807113647, 0.33072108030319214, 0.22996661067008972],
    )
    assert series(result, "train_loss_step")[1][0] == 0.6287543773651123
    assert series(result, "val_loss") == (
        [7, 15, 23],
        [0.3562479615211487, 0.2545323669910431, 0.21682870388031006],
    )
    assert series(result, "val_accuracy")[1] == [0.9375, 0.90625, 0.90625]
    assert series(result, "train_accuracy")[1] == [0.703125, 0.921875, 0.984375]
    # the StepLR halving each epoch, on lr rows whose epoch comes from their step
    lr = result.table.series["lr"]
    assert lr.values.tolist() == [0.05] * 4 + [0.025] * 4 + [0.0125] * 4
    assert lr.epochs.tolist() == [0.0] * 4 + [1.0] * 4 + [2.0] * 4
    # nan logged by the model is kept as NaN
    grad_scale = result.table.series["probe_grad_scale"]
    assert grad_scale.steps.tolist() == [11, 13, 15]
    assert all(math.isnan(v) for v in grad_scale.values)
    # a key that appeared in epoch 2 (the file was rewritten with a wider header)
    assert series(result, "late_weight_norm")[0] == [17, 19, 21, 23]
    assert result.meta["source_keys"]["train_loss"] == "train/loss_epoch"
    assert parse_hparams((GENERATED / "hparams.yaml").read_text()) == {"hidden": 8, "lr": 0.05}


def test_the_generated_file_cut_at_every_byte_reads_as_a_prefix():
    data = (GENERATED / "metrics.csv").read_bytes()
    whole = parse_lightning_csv(data)
    for cut in range(len(data) + 1):
        assert_prefix(parse_lightning_csv(data[:cut]), whole)


# --- quirks in made files ---------------------------------------------------------------------


def test_nan_cells_are_nan_values_and_empty_cells_absent():
    result = parse_lightning_csv(b"epoch,step,train_loss,val_loss\n0,0,nan,\n0,1,0.5,\n")
    steps, values = series(result, "train_loss")
    assert steps == [0, 1]
    assert math.isnan(values[0]) and values[1] == 0.5
    assert "val_loss" not in result.table.series


def test_a_header_rewritten_with_a_new_key_reads_whole():
    # Lightning 2.x rewrites the file when val_acc first appears: the early rows lack it
    data = b"epoch,step,train_loss,val_acc\r\n0,9,1.0,\r\n0,9,,0.5\r\n1,19,0.8,\r\n"
    result = parse_lightning_csv(data)
    assert series(result, "val_accuracy") == ([9], [0.5])
    assert series(result, "train_loss") == ([9, 19], [1.0, 0.8])


def test_several_lr_groups_and_optimizers():
    data = b"step,lr-Adam/pg1,lr-Adam/pg2,lr-SGD-1,momentum-Adam/pg1\n0,0.1,0.01,0.5,0.9\n"
    result = parse_lightning_csv(data)
    assert sorted(result.table.series) == [
        "lr",
        "lr-Adam_pg2",
        "lr-SGD-1",
        "momentum-Adam_pg1",
    ]
    assert series(result, "lr") == ([0], [0.1])


def test_step_only_metrics_become_the_key_and_validation_names():
    data = b"epoch,step,train_loss_step,validation/loss,val/acc\n0,4,1.5,2.0,0.25\n"
    result = parse_lightning_csv(data)
    assert series(result, "train_loss") == ([4], [1.5])
    assert series(result, "val_loss") == ([4], [2.0])
    assert series(result, "val_accuracy") == ([4], [0.25])


def test_a_key_logged_twice_at_one_step_keeps_the_last():
    result = parse_lightning_csv(b"epoch,step,val_loss\n0,9,1.0\n0,9,2.0\n")
    assert series(result, "val_loss") == ([9], [2.0])


def test_a_step_going_back_is_a_resume():
    data = b"epoch,step,train_loss\n0,10,1\n1,20,0.5\n1,15,0.6\n1,25,0.4\n"
    result = parse_lightning_csv(data)
    assert series(result, "train_loss") == ([10, 15, 25], [1.0, 0.6, 0.4])
    assert kinds(result) == [ProblemKind.RESTART]
    assert "15 (after 20)" in result.problems[0].message


def test_rows_without_a_step_are_skipped_and_said():
    result = parse_lightning_csv(b"epoch,step,loss\n0,,1\n0,x,2\n0,3,4\n")
    assert series(result, "train_loss") == ([3], [4.0])
    assert kinds(result) == [ProblemKind.BAD_EPOCH]


def test_not_lightning_and_empty():
    assert kinds(parse_lightning_csv(b"a,b\n1,2\n")) == [ProblemKind.NOT_OURS]
    assert kinds(parse_lightning_csv(b"")) == [ProblemKind.EMPTY]


def test_sniff():
    sniff = FORMAT.sniff
    assert sniff(b"epoch,step,train_loss\n")
    assert sniff(b"lr-SGD,step,train_loss_step,epoch\r\n,49,,,\r\n")
    assert sniff(b"train_loss,epoch,created_at\n")
    assert sniff(b"lr-Adam,st")  # header cut short
    assert not sniff(b"a,b,c\n1,2,3\n")
    assert not sniff(b"")


def test_parse_hparams_yaml_subset():
    text = """# a comment
model:
  hidden: 64
  name: 'mlp'   # quoted
layers:
- 16
- 32
flags: [1, 2.5, true]
optimizer: !!python/name:torch.optim.Adam ''
dropout: .5
missing:
none: null
weird line without colon
"""
    assert parse_hparams(text) == {
        "model": {"hidden": 64, "name": "mlp"},
        "layers": [16, 32],
        "flags": [1, 2.5, True],
        "optimizer": "",
        "dropout": 0.5,
        "missing": None,
        "none": None,
    }
    assert parse_hparams("") == {}
    assert parse_hparams("- a\n- b\n") == {}


# --- cut files and arbitrary bytes ------------------------------------------------------------


def test_a_file_cut_at_every_byte_reads_as_a_prefix():
    data = read("fashion_test_rows")
    whole = parse_lightning_csv(data)
    for cut in range(len(data) + 1):
        part = parse_lightning_csv(data[:cut])
        assert_prefix(part, whole)
        if not data[:cut].endswith(b"\n"):
            assert part.damaged, cut


def test_bigger_files_cut_around_every_line_read_as_a_prefix():
    for name in ("era_onecycle_step_epoch", "camels_lr_adam_hparams"):
        data = read(name)
        whole = parse_lightning_csv(data)
        for end in [i for i, byte in enumerate(data) if byte == ord("\n")]:
            for cut in (end - 5, end - 1, end + 1):
                assert_prefix(parse_lightning_csv(data[:cut]), whole)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500))
def test_arbitrary_bytes_never_raise(data):
    parse_lightning_csv(data)
    FORMAT.sniff(data)
    parse_hparams(data.decode("utf-8", errors="replace"))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-1, 4) | st.just(""),
            st.integers(-3, 50) | st.just(""),
            st.floats(allow_nan=True) | st.just(""),
        ),
        max_size=30,
    )
)
def test_any_epochs_steps_and_values_never_raise(rows):
    text = "epoch,step,train_loss_step,lr-Adam\n" + "".join(
        f"{e},{s},{v},{v}\n" for e, s, v in rows
    )
    result = parse_lightning_csv(text.encode())
    for found in result.table.series.values():
        assert (np.diff(found.steps) > 0).all()
