"""Keras CSVLogger logs: real files from public repositories (tests/corpus/keras_csv) and
small files made here for the quirks no real file in the corpus shows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.model import EPOCH, ProblemKind, Run
from metricwatch.readers.keras_csv import FORMAT, parse_keras_csv

CORPUS = Path(__file__).parent / "corpus" / "keras_csv"


def read(name: str) -> bytes:
    return (CORPUS / name / "training.log").read_bytes()


def kinds(result):
    return [p.kind for p in result.problems]


def values(result, key):
    return result.table.series[key].values.tolist()


def assert_prefix(part, whole):
    """Every series of part is the start of the same series of whole."""
    assert len(part.table) <= len(whole.table)
    assert part.table.steps.tolist() == whole.table.steps[: len(part.table)].tolist()
    for key, series in part.table.series.items():
        full = whole.table.series[key]
        n = len(series)
        assert series.steps.tolist() == full.steps[:n].tolist(), key
        np.testing.assert_array_equal(series.values, full.values[:n])


# --- real files -------------------------------------------------------------------------------


def test_old_keras_names_acc_and_val_acc_with_crlf_line_ends():
    result = parse_keras_csv(read("voice_old_acc"))
    assert result.problems == []
    assert result.table.x == EPOCH
    assert result.table.steps.tolist() == list(range(10))
    assert sorted(result.table.series) == [
        "train_accuracy",
        "train_loss",
        "val_accuracy",
        "val_loss",
    ]
    assert values(result, "train_accuracy")[0] == 0.55454545346173378
    assert values(result, "train_loss")[-1] == 0.004968041816027835
    assert values(result, "val_accuracy")[3] == 0.76923078298568726
    assert result.meta["source_keys"] == {
        "train_accuracy": "acc",
        "train_loss": "loss",
        "val_accuracy": "val_acc",
    }
    assert "segments" not in result.meta  # one fit


def test_epochs_count_from_zero_as_the_file_says():
    result = parse_keras_csv(read("voice_old_acc"))
    run = Run("r", Path("training.log"), table=result.table)
    assert run.last_step == 9
    assert run.epochs_done == 10


def test_lr_column_and_unknown_metrics_keep_their_names():
    result = parse_keras_csv(read("brats_lr_column"))
    assert result.problems == []
    assert len(result.table) == 24
    assert list(result.table.series) == [
        "train_accuracy",
        "dice_coef",
        "train_loss",
        "lr",
        "mean_io_u_5",
        "precision",
        "val_accuracy",
        "val_dice_coef",
        "val_loss",
        "val_mean_io_u_5",
        "val_precision",
    ]
    assert values(result, "lr")[0] == 0.001
    assert values(result, "lr")[-1] == 1e-06
    assert values(result, "val_loss")[0] == 0.05463637784123421
    # every column has a value each epoch: they share one steps array
    assert result.table.series["lr"].steps is result.table.series["val_loss"].steps


def test_accuracy_names_of_keras_2_with_lf_line_ends():
    result = parse_keras_csv(read("car_overfitting"))
    assert result.problems == []
    assert len(result.table) == 100
    assert values(result, "train_accuracy")[0] == 0.28529292345046997
    assert values(result, "val_loss")[-1] == 0.7466485500335693
    assert result.meta["source_keys"] == {"train_accuracy": "accuracy", "train_loss": "loss"}


def test_a_diverging_loss_is_read_as_it_is():
    result = parse_keras_csv(read("ecg_diverging"))
    assert result.problems == []
    assert result.table.steps.tolist() == list(range(70))
    assert values(result, "train_loss")[0] == -33834.9765625
    assert values(result, "val_loss")[-1] == -134061704.0
    assert set(values(result, "lr")) == {0.001}


def test_every_real_file_is_claimed():
    for path in sorted(CORPUS.glob("*/training.log")):
        assert FORMAT.may_hold(path.name)
        assert FORMAT.sniff(path.read_bytes()[:4096]), path


# --- files written by Keras 3 (tests/corpus/keras_csv/generated) ----------------------------

GENERATED = CORPUS / "generated" / "keras3_csvlogger"


def test_keras3_appended_fits_are_two_segments():
    result = parse_keras_csv((GENERATED / "appended_training.log").read_bytes())
    assert result.meta["segments"] == [[0, 2, 0, 2], [3, 5, 0, 2]]
    assert result.table.steps.tolist() == [0, 1, 2]
    assert values(result, "val_loss") == [
        0.4791056513786316,
        0.43335288763046265,
        0.3915543854236603,
    ]
    assert result.problems == []  # each fit is a part (a run of its own), not a note
    assert list(result.parts) == ["fit 1", "fit 2"]
    assert values(result.parts["fit 2"], "val_loss") == values(result, "val_loss")
    first = parse_keras_csv((GENERATED / "appended_training.log").read_bytes(), segment=0)
    assert values(first, "train_accuracy") == [0.546875, 0.6458333134651184, 0.765625]


def test_keras3_semicolon_separator_and_learning_rate():
    result = parse_keras_csv((GENERATED / "semicolon_training_log.csv").read_bytes())
    assert result.problems == []
    assert values(result, "lr") == [
        0.009999999776482582,
        0.009999999776482582,
        0.004999999888241291,
        0.0024999999441206455,
    ]
    assert result.meta["source_keys"]["lr"] == "learning_rate"


def test_keras3_validation_freq_writes_na():
    result = parse_keras_csv((GENERATED / "valfreq_training.log").read_bytes())
    assert result.problems == []
    assert result.table.steps.tolist() == [0, 1, 2, 3]
    assert result.table.series["val_loss"].steps.tolist() == [1, 3]
    assert values(result, "val_accuracy") == [0.28125, 0.8125]
    assert len(result.table.series["train_loss"]) == 4


def test_every_generated_file_is_claimed_by_name_and_content():
    for path in sorted(GENERATED.glob("*")):
        if path.name == "VERSIONS.txt":
            continue
        assert FORMAT.may_hold(path.name), path.name
        assert FORMAT.sniff(path.read_bytes()[:4096]), path.name


# --- quirks in made files ---------------------------------------------------------------------


def test_any_separator_na_is_absent_and_nan_is_kept():
    data = b"epoch;loss;val_loss\n0;0.9;NA\n1;nan;0.5\n"
    result = parse_keras_csv(data)
    assert result.problems == []
    assert result.table.series["val_loss"].steps.tolist() == [1]
    assert values(result, "val_loss") == [0.5]
    assert math.isnan(values(result, "train_loss")[1])
    for separator in ("\t", "|"):
        result = parse_keras_csv(data.replace(b";", separator.encode()))
        assert values(result, "val_loss") == [0.5]


def test_early_stopping_writes_na_for_the_keys_it_lacks():
    data = b"epoch,loss,val_loss\n0,1.0,1.1\n1,0.8,NA\n"
    result = parse_keras_csv(data)
    assert result.table.steps.tolist() == [0, 1]
    assert result.table.series["val_loss"].steps.tolist() == [0]


def test_crcrlf_line_ends_from_windows():
    data = b"epoch,loss,val_loss\r\r\n0,1.0,1.1\r\r\n1,0.8,0.9\r\r\n"
    result = parse_keras_csv(data)
    assert result.problems == []
    assert values(result, "val_loss") == [1.1, 0.9]


def test_appended_fits_are_segments_each_a_part():
    data = b"epoch,loss\n0,1.0\n1,0.8\n2,0.7\n0,2.0\n1,1.5\n"
    result = parse_keras_csv(data)
    assert result.meta["segments"] == [[0, 2, 0, 2], [3, 4, 0, 1]]
    assert result.table.steps.tolist() == [0, 1]  # the file's table: the last fit
    assert values(result, "train_loss") == [2.0, 1.5]
    assert result.problems == []
    assert values(result.parts["fit 1"], "train_loss") == [1.0, 0.8, 0.7]
    assert values(result.parts["fit 2"], "train_loss") == [2.0, 1.5]
    assert parse_keras_csv(b"epoch,loss\n0,1.0\n1,0.8\n").parts == {}  # one fit: no parts


def test_a_segment_can_be_asked_for():
    data = b"epoch,loss\n0,1.0\n1,0.8\n2,0.7\n0,2.0\n1,1.5\n"
    first = parse_keras_csv(data, segment=0)
    assert first.table.steps.tolist() == [0, 1, 2]
    assert values(first, "train_loss") == [1.0, 0.8, 0.7]
    assert "showing number 1" in first.problems[0].message
    assert values(parse_keras_csv(data, segment=99), "train_loss") == [2.0, 1.5]


def test_appended_fit_with_a_repeated_header():
    data = b"epoch,loss\n0,1.0\n1,0.8\nepoch,loss\n0,2.0\n"
    result = parse_keras_csv(data)
    assert result.meta["segments"] == [[0, 1, 0, 1], [2, 2, 0, 0]]
    assert values(result, "train_loss") == [2.0]


def test_initial_epoch_resume_inside_a_segment_replaces_the_later_rows():
    data = b"epoch,loss\n0,1.0\n1,0.8\n2,0.7\n1,0.75\n2,0.6\n"
    result = parse_keras_csv(data)
    assert "segments" not in result.meta  # one fit, resumed
    assert values(result, "train_loss") == [1.0, 0.75, 0.6]
    assert kinds(result) == [ProblemKind.RESTART]
    assert "1 (after 2)" in result.problems[0].message


def test_history_written_by_pandas_uses_its_index_as_the_epoch():
    data = b",loss,accuracy,val_loss\n0,1.5,0.25,1.6\n1,1.2,0.5,1.4\n"
    result = parse_keras_csv(data)
    assert result.problems == []
    assert result.table.steps.tolist() == [0, 1]
    assert sorted(result.table.series) == ["train_accuracy", "train_loss", "val_loss"]
    assert values(result, "val_loss") == [1.6, 1.4]
    assert FORMAT.sniff(data)
    with_epoch = b",loss,epoch\n0,1.5,1\n1,1.2,2\n"  # an epoch column wins over the index
    assert parse_keras_csv(with_epoch).table.steps.tolist() == [1, 2]
    assert FORMAT.sniff(with_epoch)
    assert not FORMAT.sniff(b",name,price\n0,a,1\n")  # some other DataFrame


def test_learning_rate_of_keras_3_is_lr():
    result = parse_keras_csv(b"epoch,learning_rate,loss\n0,0.01,1\n")
    assert values(result, "lr") == [0.01]
    assert result.meta["source_keys"]["lr"] == "learning_rate"


def test_rows_without_a_usable_epoch_are_skipped_and_said():
    result = parse_keras_csv(b"epoch,loss\n0,1\nx,2\n-1,3\n1.5,4\n1,5\n")
    assert result.table.steps.tolist() == [0, 1]
    assert kinds(result) == [ProblemKind.BAD_EPOCH]
    assert result.problems[0].message.startswith("3 rows")


def test_a_list_value_is_not_a_number_and_is_said():
    result = parse_keras_csv(b'epoch,loss,per_class\n0,1,"[0.1, 0.2]"\n')
    assert "per_class" not in result.table.series
    assert kinds(result) == [ProblemKind.NON_NUMERIC]


def test_no_epoch_column_is_not_ours_and_empty_is_empty():
    assert kinds(parse_keras_csv(b"loss,acc\n1,2\n")) == [ProblemKind.NOT_OURS]
    assert kinds(parse_keras_csv(b"")) == [ProblemKind.EMPTY]


def test_sniff():
    sniff = FORMAT.sniff
    assert sniff(b"epoch,loss,val_loss\n0,1,2\n")
    assert sniff(b"epoch;accuracy;loss\r\n")
    assert sniff(b"epoch,loss,val_lo")  # header cut short
    assert sniff(b"epo")
    assert not sniff(b"")
    assert not sniff(b"epoch,step,train_loss\n")  # Lightning
    assert not sniff(b"name,value\n")
    assert not sniff(b"epoch,1.5,2\n")
    assert not sniff(b"\x00\xff\xfe")


# --- cut files and arbitrary bytes ------------------------------------------------------------


def test_a_file_cut_at_every_byte_reads_as_a_prefix():
    data = read("voice_old_acc")
    whole = parse_keras_csv(data)
    for cut in range(len(data) + 1):
        part = parse_keras_csv(data[:cut])
        assert_prefix(part, whole)
        if not data[:cut].endswith(b"\n"):
            assert part.damaged, cut  # a line cut short is said, not silently dropped


def test_a_bigger_file_cut_around_every_line_reads_as_a_prefix():
    data = read("car_overfitting")
    whole = parse_keras_csv(data)
    ends = [i for i, byte in enumerate(data) if byte == ord("\n")]
    for end in ends:
        for cut in (end - 3, end, end + 1):
            assert_prefix(parse_keras_csv(data[:cut]), whole)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500))
def test_arbitrary_bytes_never_raise(data):
    parse_keras_csv(data)
    FORMAT.sniff(data)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-2, 5) | st.just("NA"),
            st.floats(allow_nan=True) | st.just("NA") | st.just(""),
        ),
        max_size=30,
    )
)
def test_any_epochs_and_values_never_raise(rows):
    text = "epoch,loss\n" + "".join(f"{e},{v}\n" for e, v in rows)
    result = parse_keras_csv(text.encode())
    steps = result.table.steps
    assert (np.diff(steps) > 0).all()
