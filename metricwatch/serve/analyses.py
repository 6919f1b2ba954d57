"""How often the server analyses a run that is being written: paced, as the monitor does.

build_report (the summary and every rule over the whole run) costs what the
run costs: a 200,000-step log written 20 times a second, analysed at every
write, kept more than half a core busy for figures that one new point among
200,000 does not move. So, as the monitor's Ingest does (metricwatch.pacing),
a run is analysed again once its last analysis is paid for (ANALYSIS_SHARE of
a core, at most ANALYSIS_LONGEST_S apart); between analyses its last report
is grown to the new read: the run itself (so the record events, the listing's
progress and its status are those of this read, at once) with the findings and
best values of the last analysis. The caller is told when the analysis is due,
and reads the run again then, so the last write is always analysed.

A read that is not simply the analysed one grown (other keys, problems, format,
the meta the summary reads, fewer records, or damage) is analysed at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import replace

from metricwatch.analysis.summary import ANALYSED_META, with_progress
from metricwatch.model import Run
from metricwatch.pacing import Pacer
from metricwatch.readers import DAMAGE_KINDS
from metricwatch.report import RunReport, build_report, status_of

#: The share of a core the analyses of runs written many times a second may take, and the
#: longest a run's findings and best values may lag its records (the monitor's figures).
ANALYSIS_SHARE = 0.01
ANALYSIS_LONGEST_S = 2.0


def grown_report(analysed: RunReport, run: Run, now: float) -> RunReport | None:
    """`analysed` brought to `run` without a new analysis (see the module); None when run
    is not simply the analysed read grown."""
    earlier = analysed.run
    if (
        analysed.summary is None
        or not analysed.diagnosed
        or any(p.kind in DAMAGE_KINDS for p in run.problems)
        or run.keys != earlier.keys
        or run.problems != earlier.problems
        or run.format != earlier.format
        or run.x != earlier.x
        or any(run.meta.get(key) != earlier.meta.get(key) for key in ANALYSED_META)
        or len(run.table) < len(earlier.table)
    ):
        return None
    return replace(
        analysed,
        run=run,
        summary=with_progress(analysed.summary, run),
        status=status_of(run, now),
    )


class Analyses:
    """Each run's last analysis and its pacing, by the caller's key (file, run)."""

    def __init__(
        self,
        *,
        share: float = ANALYSIS_SHARE,
        longest: float = ANALYSIS_LONGEST_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share = share
        self.longest = longest
        self._clock = clock
        self._last: dict[Hashable, tuple[RunReport, Pacer]] = {}

    def report(self, key: Hashable, run: Run, *, force: bool = False) -> tuple[RunReport, float]:
        """The run's report, and the seconds until it is due to be analysed (0: this one is
        an analysis). `force`: analyse now (the analysis that was due)."""
        now = self._clock()
        found = self._last.get(key)
        if found is not None and not force:
            analysed, pacer = found
            wait = pacer.wait(now)
            if wait > 0:
                grown = grown_report(analysed, run, time.time())
                if grown is not None:
                    return grown, wait
        pacer = found[1] if found is not None else Pacer(self.share, self.longest)
        started = time.perf_counter()
        report = build_report(run)
        pacer.begin(now, time.perf_counter() - started)
        self._last[key] = (report, pacer)
        return report, 0.0

    def forget(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            self._last.pop(key, None)
