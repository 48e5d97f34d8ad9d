"""How long a rise the grid shows is a car's own start or raise (``measure.count_unseen_draw``).

Until a charger's meter shows a start or a raise, the grid shows it as the house's load; the
fuse counts such a rise as the car's, up to its limit. But a car that takes less than offered
(its own limit, 16 A under 24.5) leaves that room unseen: a house step then counted as the car's
left the house underestimated, and each fuse lower, capping the car's count, moved what was
left back to the house: 21, 17.5, 14, 10.5, 7, 0 A where 12.5 A was right (red team 16a).

A car ramps to what it takes within seconds, and then holds it: once its draw has held still
for :data:`STEADY_S` after it moved toward the write, a later rise is the house's (till the
next start or raise): the car counts at no more than it drew then. A car that ramps slowly
keeps rising and is counted as before; a rise while it ramps is still taken for the car.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .timers import earlier

# A car's draw that held within this (A) since ``STEADY_S`` ago is steady (meter noise, rounding).
STEADY_A = 1.0
# How long (s) a car's draw holds still before it has stopped ramping: IEC 61851-1 gives a car
# 5 s to follow a change of its limit, some hold a low current a few seconds before they ramp.
STEADY_S = 10.0


@dataclass(slots=True)
class UnseenDraw:
    """One car's draw as the fuse counts it (A, its highest line) since its last start or raise."""

    write_at: float | None = None  # that start or raise
    before_a: float = 0.0  # its draw when it was written
    drawn_a: float = 0.0  # its draw at the last grid reading
    steady_since: float | None = None  # since then within STEADY_A of ``steady_a``
    steady_a: float = 0.0
    held_a: float | None = None  # once it held still after following the write: that draw

    def written(self, write_at: float | None) -> None:
        """The car's latest start or raise was decided at ``write_at`` (None: none remembered):
        a new one starts the record over from the car's draw before it."""
        if write_at is not None and write_at != self.write_at:
            self.write_at, self.before_a = write_at, self.drawn_a
            self.steady_since, self.held_a = None, None

    @property
    def most_a(self) -> float:
        """The most the car may draw now (A; inf: it may still be ramping)."""
        return math.inf if self.held_a is None else self.held_a

    def observe(self, grid_at: float, drawn_a: float, minimum_a: float) -> None:
        """The car's draw as counted at the grid reading taken at ``grid_at``; ``minimum_a``:
        the least a charge draws (a car drawing less is waking up, not charging yet)."""
        self.drawn_a = drawn_a
        if self.held_a is not None:
            return
        # (Not yet moved toward the write: a slow charger or a car still handshaking.)
        moving = drawn_a >= max(self.before_a + STEADY_A, minimum_a - STEADY_A)
        if not moving or self.steady_since is None or abs(drawn_a - self.steady_a) > STEADY_A:
            self.steady_since = grid_at if moving else None
            self.steady_a = drawn_a
        elif grid_at - self.steady_since >= STEADY_S:
            self.held_a = drawn_a

    def clock_went_back(self, by_s: float) -> None:
        """The wall clock went back ``by_s``: the times move with the writes' (``response.py``)."""
        self.write_at = earlier(self.write_at, by_s)
        self.steady_since = earlier(self.steady_since, by_s)
