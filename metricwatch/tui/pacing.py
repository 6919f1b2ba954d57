"""How often live data may redraw the charts: a share of one core, measured.

A write to a run updates the header, the summary and the findings at once:
they cost a millisecond or two. Redrawing the charts costs what the data
costs: about 1 ms for a short run, 100 ms and more for a million points
(plotext builds every chart cell by cell in Python). At ten writes a second
a million-point run would keep a core busy redrawing pictures in which one
new point among a million moves nothing visible.

So a redraw that live data asks for waits until the last one has been paid
for: the next may start once `cost / share` seconds have passed since the
last began, where `cost` is what that redraw took (the specs, and each chart
plotext built for them). Cheap charts redraw at every write; costly ones at
most every `longest` seconds while writes stream in, and at once after a
quiet spell. Anything the user asks for (another run, a key, a resize) is
drawn at once, whatever it costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The share of one core live chart redraws may take.
CHART_SHARE = 0.03
#: The longest live data waits for its charts, however costly they are.
LONGEST_WAIT_S = 5.0


@dataclass
class ChartPacer:
    """When the next live redraw of the charts may start (see the module)."""

    share: float = CHART_SHARE
    longest: float = LONGEST_WAIT_S
    #: When the last redraw started, and the seconds it has cost so far.
    started: float = -math.inf
    cost: float = 0.0

    def wait(self, now: float) -> float:
        """Seconds until live data may redraw the charts (0: now)."""
        pause = min(self.longest, self.cost / self.share)
        return max(0.0, self.started + pause - now)

    def begin(self, now: float, cost: float = 0.0) -> None:
        """A redraw starts at `now`; `cost`: what building its specs took."""
        self.started = now
        self.cost = cost

    def add(self, cost: float) -> None:
        """A chart of the redraw was built (plotext), in `cost` seconds."""
        self.cost += cost
