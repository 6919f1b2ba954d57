"""A live run's folder listings and small files kept between reads (readers/listings.py),
as MLflow's and TensorBoard's tails use them, and the loader's "last written" taken from
the files a tail read.

A listing or a read is kept only when taken SETTLED_NS after the folder's or file's own
mtime; these tests make folders and files old with os.utime (`age_tree`) so that what is
kept is used, and check that every change still shows: an entry added, removed or
renamed, a folder replaced, a file rewritten, and a change made in the same timestamp
tick as the listing before it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mlflow_tail_incremental import OLD_NS, Checked, age_tree, append, line, make_run
from test_reader_tfevents import VERSION, event, record, simple

from metricwatch.readers import listings, mlflow_files, mlflow_lines, tfevents
from metricwatch.readers.listings import Entry, FolderListings, SettledTexts
from metricwatch.readers.mlflow import FileStoreRunTail, read_file_store_run
from metricwatch.readers.tfevents import EventDirTail, read_event_dir
from metricwatch.sources.loader_io import _tail_read


def set_mtime(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.fixture
def counted(monkeypatch):
    """The folders listed (listings.list_folder called) since the test began."""
    listed: list[str] = []
    real = listings.list_folder
    monkeypatch.setattr(listings, "list_folder", lambda f: listed.append(f) or real(f))
    return listed


# --- FolderListings -----------------------------------------------------------------------------


def names(entries: list[Entry] | None) -> list[str]:
    assert entries is not None
    return [entry.name for entry in entries]


def test_a_settled_folder_is_listed_once_and_each_change_is_seen(tmp_path, counted):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "loss").write_text("")
    (folder / "train").mkdir()
    age_tree(tmp_path)
    kept = FolderListings()
    first = kept.entries(str(folder))
    assert first == [Entry("loss", False, True, False), Entry("train", True, False, False)]
    assert kept.entries(str(folder)) is first and counted == [str(folder)]
    (folder / "lr").write_text("")  # a new entry: the folder's mtime moves
    assert names(kept.entries(str(folder))) == ["loss", "lr", "train"]
    age_tree(tmp_path)
    assert names(kept.entries(str(folder))) == ["loss", "lr", "train"]
    (folder / "loss").unlink()
    assert names(kept.entries(str(folder))) == ["lr", "train"]
    age_tree(tmp_path)
    os.rename(folder / "lr", folder / "acc")
    assert names(kept.entries(str(folder))) == ["acc", "train"]
    assert len(counted) == 5


def test_a_folder_replaced_with_the_same_mtime_is_listed_again(tmp_path, counted):
    folder, other = tmp_path / "metrics", tmp_path / "other"
    folder.mkdir()
    other.mkdir()
    (folder / "loss").write_text("")
    (other / "acc").write_text("")
    set_mtime(folder, OLD_NS)
    set_mtime(other, OLD_NS)
    kept = FolderListings()
    assert names(kept.entries(str(folder))) == ["loss"]
    os.rename(folder, tmp_path / "gone")
    os.rename(other, folder)  # same mtime, another inode
    assert names(kept.entries(str(folder))) == ["acc"]
    os.rename(folder, tmp_path / "gone2")
    assert kept.entries(str(folder)) is None


def test_a_change_in_the_tick_of_the_last_listing_is_seen(tmp_path, counted):
    """A folder listed less than SETTLED_NS after it changed is listed again next time:
    on a file system of coarse timestamps, an entry added in the same tick leaves the
    folder's mtime as it was (made here with os.utime)."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "loss").write_text("")
    tick = os.stat(folder).st_mtime_ns
    kept = FolderListings()
    assert names(kept.entries(str(folder))) == ["loss"]
    (folder / "lr").write_text("")
    set_mtime(folder, tick)  # the same stamp as when it was listed
    assert names(kept.entries(str(folder))) == ["loss", "lr"]
    assert len(counted) == 2


def test_a_folder_holding_a_link_is_listed_at_every_call(tmp_path, counted):
    """What a link points to may become a folder or a file while its folder stays as it
    was: such a listing is not kept."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    (tmp_path / "target").write_text("")
    (folder / "loss").symlink_to(tmp_path / "target")
    set_mtime(folder, OLD_NS)
    kept = FolderListings()
    assert kept.entries(str(folder)) == [Entry("loss", False, True, True)]
    (tmp_path / "target").unlink()
    (tmp_path / "target").mkdir()
    assert kept.entries(str(folder)) == [Entry("loss", True, False, True)]
    assert len(counted) == 2


def _files(entries, folder: str, prefix: str = "") -> list[str]:
    """Every file below folder, as a walk given to FolderListings.walked sees them."""
    found: list[str] = []
    for entry in entries(folder) or []:
        if entry.is_dir:
            found += _files(entries, os.path.join(folder, entry.name), f"{prefix}{entry.name}/")
        else:
            found.append(prefix + entry.name)
    return found


def test_a_walk_is_made_again_only_when_a_listing_it_used_changed(tmp_path, counted):
    root = tmp_path / "metrics"
    (root / "train").mkdir(parents=True)
    (root / "loss").write_text("")
    (root / "train" / "acc").write_text("")
    age_tree(tmp_path)
    kept = FolderListings()
    walks: list[str] = []

    def walk(entries):
        walks.append("walked")
        return _files(entries, str(root))

    first = kept.walked(str(root), walk)
    assert first == ["loss", "train/acc"] and len(walks) == 1
    assert kept.walked(str(root), walk) is first  # the same listings: the same list
    assert len(walks) == 1 and len(counted) == 2  # each folder listed once
    (root / "train" / "lr").write_text("")  # a new file in the subfolder
    set_mtime(root / "train", OLD_NS + 1)
    assert kept.walked(str(root), walk) == ["loss", "train/acc", "train/lr"]
    assert len(walks) == 2
    (root / "train" / "acc").unlink()
    (root / "train" / "lr").unlink()
    (root / "train").rmdir()  # a folder gone: its parent's listing changed
    set_mtime(root, OLD_NS + 2)
    assert kept.walked(str(root), walk) == ["loss"]
    fresh = tmp_path / "fresh"  # changed just now: its listing is not kept
    fresh.mkdir()
    (fresh / "a").write_text("")
    again = kept.walked(str(fresh), lambda entries: _files(entries, str(fresh)))
    assert again == ["a"]
    assert kept.walked(str(fresh), lambda entries: _files(entries, str(fresh))) is not again


def test_a_walk_of_a_folder_that_is_gone_finds_nothing_and_sees_it_come_back(tmp_path):
    root = tmp_path / "params"
    kept = FolderListings()
    walk = lambda entries: _files(entries, str(root))  # noqa: E731
    assert kept.walked(str(root), walk) == []
    root.mkdir()
    (root / "lr").write_text("0.1")
    set_mtime(root, OLD_NS)
    assert kept.walked(str(root), walk) == ["lr"]


# --- SettledTexts -------------------------------------------------------------------------------


def test_a_settled_file_is_read_once_and_a_rewrite_is_seen(tmp_path):
    path = tmp_path / "meta.yaml"
    path.write_text("status: 1\n")
    set_mtime(path, OLD_NS)
    texts = SettledTexts()
    assert texts.text(str(path)) == "status: 1\n"
    path.write_text("status: 9\n")  # rewritten behind its stamp (size, mtime, inode kept)
    set_mtime(path, OLD_NS)
    assert texts.text(str(path)) == "status: 1\n"  # kept: not read again
    path.write_text("status: 3\n")  # rewritten: another mtime
    assert texts.text(str(path)) == "status: 3\n"
    path.unlink()
    assert texts.text(str(path)) == ""


def test_a_rewrite_in_the_tick_of_the_last_read_is_seen(tmp_path):
    path = tmp_path / "meta.yaml"
    path.write_text("status: 1\n")
    tick = os.stat(path).st_mtime_ns
    texts = SettledTexts()
    assert texts.text(str(path)) == "status: 1\n"
    path.write_text("status: 3\n")  # same size; same mtime (a coarse tick)
    set_mtime(path, tick)
    assert texts.text(str(path)) == "status: 3\n"


# --- MLflow's tail ------------------------------------------------------------------------------


def settled_run(tmp_path: Path) -> Path:
    run = make_run(tmp_path)
    for step in range(3):
        append(run, "train/loss", line(step, 1.0 / (step + 1)))
        append(run, "epoch", line(step, step / 2))
    age_tree(tmp_path)
    return run


def test_mlflow_folders_and_meta_are_not_listed_or_read_again_while_unchanged(
    tmp_path, counted, monkeypatch
):
    run = settled_run(tmp_path)
    tail = FileStoreRunTail(run)
    tail.read()
    listed = len(counted)
    assert listed == 3  # metrics/, metrics/train/, params/
    opened: list[str] = []

    def opening(path, *args, **kwargs):
        opened.append(path)
        return open(path, *args, **kwargs)

    for module in (mlflow_files, listings):
        monkeypatch.setattr(module, "open", opening, raising=False)
    append(run, "train/loss", line(3, 0.25))
    result = tail.read()
    assert len(counted) == listed  # no folder listed again
    assert opened == [str(run / "metrics" / "train" / "loss")]  # only the file written
    assert result.table.series["train_loss"].values.tolist() == [1.0, 0.5, 1 / 3, 0.25]
    assert result.meta["run_name"] == "live" and result.meta["config"] == {"lr": "0.1"}


def test_mlflow_a_new_key_a_removed_key_and_a_replaced_folder(tmp_path):
    run = settled_run(tmp_path)
    checked = Checked(run)
    checked.read()
    append(run, "val_loss", line(2, 0.7))  # a new key in the settled metrics/
    assert checked.read().table.series["val_loss"].values.tolist() == [0.7]
    age_tree(tmp_path)
    checked.read()
    append(run, "eval/acc", line(2, 0.9))  # a new nested folder
    assert checked.read().table.series["eval/acc"].values.tolist() == [0.9]
    age_tree(tmp_path)
    (run / "metrics" / "val_loss").unlink()
    assert "val_loss" not in checked.read().table.series
    age_tree(tmp_path)
    new = run / "metrics.new"
    (new / "train").mkdir(parents=True)
    (new / "train" / "loss").write_text(line(7, 5.0))
    age_tree(tmp_path)
    os.rename(run / "metrics", run / "metrics.old")
    os.rename(new, run / "metrics")  # the whole folder replaced
    set_mtime(run / "metrics", OLD_NS)
    result = checked.read()
    assert list(result.table.series) == ["train_loss"]
    assert result.table.series["train_loss"].values.tolist() == [5.0]


def test_mlflow_meta_yaml_finished_renamed_and_a_new_param_are_seen(tmp_path):
    run = settled_run(tmp_path)
    checked = Checked(run)
    assert checked.read().meta["status"] == "RUNNING"
    meta = (run / "meta.yaml").read_text()
    (run / "meta.yaml").write_text(meta.replace("status: 1", "status: 3"))  # in place
    result = checked.read()
    assert (result.meta["status"], result.meta["run_name"]) == ("FINISHED", "live")
    age_tree(tmp_path)
    checked.read()
    (run / "meta.yaml").write_text(meta.replace("run_name: live", "run_name: renamed"))
    assert checked.read().meta["run_name"] == "renamed"
    age_tree(tmp_path)
    (run / "params" / "batch").write_text("32")
    assert checked.read().meta["config"] == {"batch": "32", "lr": "0.1"}
    age_tree(tmp_path)
    (run / "params" / "batch").write_text("64")
    assert checked.read().meta["config"] == {"batch": "64", "lr": "0.1"}


def test_mlflow_tail_mtime_is_its_newest_metric_file(tmp_path):
    run = settled_run(tmp_path)
    set_mtime(run / "metrics" / "epoch", OLD_NS + 5 * 10**9)
    set_mtime(run / "metrics" / "train" / "loss", OLD_NS + 7 * 10**9)
    set_mtime(run / "meta.yaml", OLD_NS)
    tail = FileStoreRunTail(run)
    stat, result, mtime = _tail_read(run / "meta.yaml", tail)
    assert tail.mtime == mtime == (OLD_NS + 7 * 10**9) / 1e9
    assert stat is not None and stat.st_mtime == OLD_NS / 1e9 and result is not None
    (run / "metrics" / "train" / "loss").unlink()
    assert _tail_read(run / "meta.yaml", tail)[2] == (OLD_NS + 5 * 10**9) / 1e9
    set_mtime(run / "meta.yaml", OLD_NS + 9 * 10**9)  # the run file, newer still
    assert _tail_read(run / "meta.yaml", tail)[2] == (OLD_NS + 9 * 10**9) / 1e9


def test_mlflow_a_settled_run_read_fresh_equals_the_tail_after_writes(tmp_path):
    run = settled_run(tmp_path)
    tail = FileStoreRunTail(run)
    for step in range(3, 40):
        append(run, "train/loss", line(step, 1.0 / (step + 1)))
        if step % 5 == 0:
            append(run, "epoch", line(step, step / 2))
            age_tree(tmp_path)
        live = tail.read()
        fresh = read_file_store_run(run)
        assert live.table.steps.tolist() == fresh.table.steps.tolist() == list(range(step + 1))
        assert live.meta == fresh.meta


# --- the few lines of a write, parsed in Python -------------------------------------------------

number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**17), 10**17).map(str),
    st.sampled_from(["1e-05", "1E5", "5.", "-0.0", "nan", "-nan", "inf", "-inf", "1e999", "+1"]),
)
plain_line = st.tuples(
    st.integers(-(10**16), 10**16).map(str), number, st.integers(-(10**16), 10**16).map(str)
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(plain_line, min_size=1, max_size=6))
def test_a_few_lines_parse_in_python_as_numpy_parses_them(lines):
    body = "".join(f"{text}\n" for text in lines).encode()
    plain, numpy = mlflow_lines._plain_lines(body), mlflow_lines._numpy_lines(body)
    if plain is not None:
        assert numpy is not None
        for mine, theirs in zip(plain, numpy):
            assert mine.dtype == theirs.dtype
            assert mine.tobytes() == theirs.tobytes() or np.array_equal(
                mine, theirs, equal_nan=True
            )
    assert mlflow_lines._fast_lines(body) is not None or numpy is None


def test_the_lines_python_parses_and_the_ones_it_leaves_to_numpy():
    steps, values, times = mlflow_lines._plain_lines(
        b"1700000000123 0.1 5\n1700000000124 nan -3\n1 -inf 999999999999999\n2 1e-05 0\n"
    )
    assert steps.tolist() == [5, -3, 999_999_999_999_999, 0]
    assert repr(values.tolist()) == "[0.1, nan, -inf, 1e-05]"
    assert times.tolist() == [1700000000.123, 1700000000.124, 0.001, 0.002]
    for other in (b"1 -nan 0\n", b"1 0.5 1000000000000000\n", b"1 1e100 0\n", b"1 2 3\r\n"):
        assert mlflow_lines._plain_lines(other) is None, other


# --- TensorBoard's tail -------------------------------------------------------------------------

FILE_A = "events.out.tfevents.100.host.1.0"
FILE_B = "events.out.tfevents.200.host.1.0"


def scalars(tag: str, steps: range) -> bytes:
    return b"".join(record(event(s, simple(tag, s / 10), wall=1.7e9 + s)) for s in steps)


def test_tensorboard_folders_are_not_listed_again_while_unchanged(tmp_path, counted, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / FILE_A).write_bytes(VERSION + scalars("loss", range(3)))
    age_tree(tmp_path)
    tail = EventDirTail(run)
    tail.read()
    worked: list[int] = []
    real = tfevents._event_files_of
    monkeypatch.setattr(tfevents, "_event_files_of", lambda *a: worked.append(1) or real(*a))
    with (run / FILE_A).open("ab") as out:
        out.write(scalars("loss", range(3, 5)))
    result = tail.read()
    assert counted == [str(run)] and worked == []  # train/, validation/: absent
    assert result.table.series["train_loss"].steps.tolist() == [0, 1, 2, 3, 4]


def test_tensorboard_a_new_file_a_removed_one_and_a_replaced_folder(tmp_path):
    run = tmp_path / "run"
    (run / "train").mkdir(parents=True)
    (run / FILE_A).write_bytes(VERSION + scalars("loss", range(3)))
    age_tree(tmp_path)
    tail = EventDirTail(run)

    def check() -> list[str]:
        live, fresh = tail.read(), read_event_dir(run)
        assert live.table.steps.tolist() == fresh.table.steps.tolist()
        assert list(live.table.series) == list(fresh.table.series)
        return sorted(live.table.series)

    assert check() == ["train_loss"]
    (run / FILE_B).write_bytes(VERSION + scalars("acc", range(5, 7)))  # a resumed run
    assert check() == ["train_accuracy", "train_loss"]
    age_tree(tmp_path)
    assert check() == ["train_accuracy", "train_loss"]
    (run / FILE_A).unlink()
    assert check() == ["train_accuracy"]
    age_tree(tmp_path)
    (run / "train" / f"{FILE_A}.v2").write_bytes(VERSION + scalars("epoch_loss", range(2)))
    assert check() == ["train_accuracy", "train_loss"]
    age_tree(tmp_path)
    new = tmp_path / "train.new"
    new.mkdir()
    (new / f"{FILE_B}.v2").write_bytes(VERSION + scalars("epoch_accuracy", range(2)))
    set_mtime(new / f"{FILE_B}.v2", OLD_NS)
    set_mtime(new, os.stat(run / "train").st_mtime_ns)
    os.rename(run / "train", tmp_path / "train.old")
    os.rename(new, run / "train")  # replaced by a folder of the same mtime
    assert check() == ["train/epoch_accuracy", "train_accuracy"]  # train_loss gone with it


def test_tensorboard_tail_mtime_is_its_newest_event_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / FILE_A).write_bytes(VERSION + scalars("loss", range(3)))
    (run / FILE_B).write_bytes(VERSION + scalars("loss", range(3, 5)))
    (run / "notes.txt").write_text("not an event file")
    set_mtime(run / FILE_A, OLD_NS + 8 * 10**9)
    set_mtime(run / FILE_B, OLD_NS + 6 * 10**9)
    set_mtime(run / "notes.txt", OLD_NS + 20 * 10**9)
    tail = EventDirTail(run)
    _, _, mtime = _tail_read(run / FILE_B, tail)
    assert tail.mtime == mtime == (OLD_NS + 8 * 10**9) / 1e9
    (run / FILE_A).unlink()
    assert _tail_read(run / FILE_B, tail)[2] == (OLD_NS + 6 * 10**9) / 1e9
    assert _tail_read(run / FILE_A, tail) == (None, None, None)  # the run file gone
