"""Discovery's one rule for links and run subdirectories (the discovery docstring)."""

from __future__ import annotations

import os

from helpers import write_run

from metricwatch.sources.discovery import dir_id, discover_runs, scan

ROW = [{"epoch": 1, "train_loss": 1.0}]


def names(path) -> list[str]:
    return sorted(run.name for run in discover_runs(path))


def test_a_link_to_a_directory_outside_is_followed_and_named_by_the_link(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "elsewhere"
    write_run(root / "a", ROW)
    write_run(outside / "exp1", ROW)
    (root / "ext").symlink_to(outside)
    found = scan(root)
    assert sorted(run.name for run in found.runs) == ["a", "ext/exp1"]
    assert root / "ext" / "exp1" / "metrics.json" in {run.metrics_path for run in found.runs}
    assert root / "ext" / "exp1" in found.dirs  # watched through the link


def test_a_link_loop_and_a_second_link_to_a_directory_add_nothing(tmp_path):
    write_run(tmp_path / "a", ROW)
    write_run(tmp_path / "group" / "b", ROW)
    (tmp_path / "loop").symlink_to(".")
    (tmp_path / "group" / "up").symlink_to("..")
    (tmp_path / "latest").symlink_to("group/b")  # the real path wins over the link
    (tmp_path / "again").symlink_to("group")
    assert names(tmp_path) == ["a", "group/b"]
    found = scan(tmp_path)
    assert len(set(found.dirs.values())) == len(found.dirs)  # no directory twice


def test_a_run_directory_is_not_searched_below(tmp_path):
    write_run(tmp_path / "a", ROW)
    for step in range(50):
        (tmp_path / "a" / "checkpoints" / f"step_{step}").mkdir(parents=True)
    write_run(tmp_path / "a" / "checkpoints" / "nested", ROW)  # the run's own, not a run
    found = scan(tmp_path)
    assert [run.name for run in found.runs] == ["a"]
    assert set(found.dirs) == {tmp_path, tmp_path / "a"}


def test_seen_directories_are_skipped(tmp_path):
    write_run(tmp_path / "a", ROW)
    write_run(tmp_path / "b", ROW)
    found = scan(tmp_path, seen={dir_id(tmp_path / "a")})
    assert [run.name for run in found.runs] == ["b"]


def test_a_broken_link_is_ignored(tmp_path):
    write_run(tmp_path / "a", ROW)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert names(tmp_path) == ["a"]
    assert not os.path.exists(tmp_path / "dangling")
