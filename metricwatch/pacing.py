"""How often live data may redo costly work: a share of one core, measured.

A write to a run updates the header at once: it costs a millisecond. Redrawing
the charts costs what the data costs: about 1 ms for a short run, 100 ms and
more for a million points (plotext builds every chart cell by cell in Python),
and so, in a smaller way, do the summary and the rules over the whole run. At
ten writes a second a million-point run would keep a core busy redoing them for
pictures and figures in which one new point among a million moves nothing.

So such work that live data asks for waits until the last time it was done has
been paid for: the next may start once `cost / share` seconds have passed since
the last began, where `cost` is what that last one took. Cheap work is redone at
every write; costly work at most every `longest` seconds while writes stream
in, and at once after a quiet spell. Live data that grew a run by less than
`VISIBLE_GROWTH` of its length waits `unseen` seconds (UNSEEN_WAIT_S): its
picture cannot have moved by a column of dots, only the last column's span or
the y range by less than a dot, unless a new value is far out, and such a value
is a finding (a NaN at once, a spike at the next analysis), which draws the
charts at once. The monitor paces its chart redraws
(RunView, with the summary and findings panels) and its analyses (Ingest) this
way. Anything the user asks for (another run, a key, a resize) is done at once,
whatever it costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The share of one core live chart redraws may take (the default).
CHART_SHARE = 0.05
#: The longest live data waits for its charts, however costly they are.
LONGEST_WAIT_S = 5.0
#: Live data that grew a run by less than this share of its length since the work was last
#: done waits the longest: its charts would move by less than a column of braille dots (a
#: chart has at most a few hundred), and a million-point run at ten writes a second would
#: otherwise be redrawn whenever it is paid for, for a picture that does not change.
VISIBLE_GROWTH = 1 / 256
#: How long live data that grew a run by less than VISIBLE_GROWTH waits for its charts:
#: at ten writes a second a million-point run's four charts (about 90 ms a redraw) cost
#: 1.8 % of a core redrawn every 5 s, 0.6 % every 15 s, for pictures that moved by less
#: than a dot. A new finding, a key, another run draw at once whatever the wait.
UNSEEN_WAIT_S = 15.0


@dataclass
class Pacer:
    """When live data may next redo a piece of work (see the module)."""

    share: float = CHART_SHARE
    longest: float = LONGEST_WAIT_S
    #: The wait of data grown by less than VISIBLE_GROWTH.
    unseen: float = UNSEEN_WAIT_S
    #: When the work was last started, and the seconds it has cost so far.
    started: float = -math.inf
    cost: float = 0.0

    def wait(self, now: float, grown: float = 1.0) -> float:
        """Seconds until live data may redo the work (0: now). `grown`: how much the data
        grew since the work was last done, as a share of its length."""
        pause = min(self.longest, self.cost / self.share)
        if grown < VISIBLE_GROWTH:
            pause = self.unseen
        return max(0.0, self.started + pause - now)

    def begin(self, now: float, cost: float) -> None:
        """The work starts again at `now`; `cost`: what it took so far."""
        self.started = now
        self.cost = cost

    def add(self, cost: float) -> None:
        """Another part of it (a chart plotext built) took `cost` seconds more."""
        self.cost += cost
