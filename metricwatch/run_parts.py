"""Files that hold several runs: one Run per part.

A reader may return a ParseResult with `parts` (MLflow's mlflow.db: one part per
live run, named `experiment/run`; a Keras log with fits appended: `fit 1`,
`fit 2`...). The loader carries them into Run.parts; everything that lists runs
(`metricwatch summary`, the monitor) calls `expand`, which gives one Run per part
named `<run name>/<part name>`, with the file's path and format, its own table,
meta and problems, and the file's problems (a locked store, a cut line) after
them. A file of one run expands to itself, unchanged. The watcher knows nothing
of parts: it follows the file.

`keep_parts` is keep_last_good for such a file: a damaged read (the store locked,
the log cut) keeps each part's last good data and every part the read lost.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from metricwatch.model import Run
from metricwatch.readers.base import DAMAGE_KINDS, ParseResult


def run_from(name: str, path: Path, result: ParseResult, mtime: float | None) -> Run:
    """A read as a Run, its parts (if any) as Runs of their own."""
    parts = {
        part_name: run_from(part_name, path, part, mtime)
        for part_name, part in result.parts.items()
    }
    for part_name, part in parts.items():
        part.format = part.format or result.format
        stamp = result.parts[part_name].extra.get("mtime")
        if isinstance(stamp, float) and mtime is not None:
            part.mtime = min(stamp, mtime)  # when this part was last written (MLflow's times)
    return Run(
        name=name,
        path=path,
        table=result.table,
        format=result.format,
        meta=dict(result.meta),
        extra=dict(result.extra),
        problems=list(result.problems),
        mtime=mtime,
        parts=parts,
    )


def expand(run: Run) -> list[Run]:
    """One Run per part of a file holding several runs; [run] for a file of one run."""
    if not run.parts:
        return [run]
    return [
        Run(
            name=f"{run.name}/{part_name}",
            path=run.path,
            table=part.table,
            meta=part.meta,
            extra=part.extra,
            problems=[*part.problems, *run.problems],
            mtime=part.mtime if part.mtime is not None else run.mtime,
            format=part.format or run.format,
        )
        for part_name, part in run.parts.items()
    ]


def keep_parts(previous: Run, current: Run, keep: Callable[[Run | None, Run], Run]) -> Run:
    """keep_last_good (passed as `keep`) for a file with parts: part by part; when the file's
    own read is damaged, the parts it lost stay too (in their order, new ones after)."""
    damaged = any(p.kind in DAMAGE_KINDS for p in current.problems)
    if not damaged and not current.parts:
        return current  # a file of one run again (a Keras log rewritten with one fit)

    def settle(name: str, part: Run) -> Run:
        old = previous.parts.get(name)
        if damaged and old is not None and part.record_count < old.record_count:
            # The file's read lost some of this part's records (a log cut while rewritten):
            # its last good records stay (the file's problems are added by expand).
            probe = Run(part.name, part.path, problems=[*part.problems, *current.problems])
            kept = keep(old, probe)
            kept.problems = [p for p in kept.problems if p not in current.problems]
            return kept
        return keep(old, part)

    merged = {name: settle(name, part) for name, part in current.parts.items()}
    if damaged:
        names = [*previous.parts, *(n for n in current.parts if n not in previous.parts)]
        merged = {n: merged[n] if n in merged else previous.parts[n] for n in names}
    if list(merged) == list(current.parts) and all(merged[n] is current.parts[n] for n in merged):
        return current
    kept = [p for p in previous.problems if p.kind not in DAMAGE_KINDS] if damaged else []
    return Run(
        name=current.name,
        path=current.path,
        table=current.table,
        meta=current.meta or previous.meta,
        extra=current.extra,
        problems=[*current.problems, *(p for p in kept if p not in current.problems)],
        mtime=current.mtime if current.mtime is not None else previous.mtime,
        format=current.format or previous.format,
        parts=merged,
    )
