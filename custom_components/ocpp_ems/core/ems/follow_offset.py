"""How much less than its limit a car takes while it follows the limit (its offset).

Many cars take a steady 0.3-1.5 A less than they are offered (the car's own regulation, the
charger's meter) and still follow every change of the limit. Read as a car taking less than
offered (full, a taper, its own limit: ``measure._predict_draw`` learns a cap), that offset
held cars for good: one 1.3 A under its limit was capped at what it took, offered the 1 A probe
above that, took 1.3 A less again and walked down to its minimum (or was capped there at its
start); one 0.9 A under, capped by a sample taken before it followed a raise, never took the
0.5 A more than the cap that clears it (notes 65-66's shortfall scans).

A car follows when its draw moves by the limit's change between two samples that show the
writes: the offset is then what it takes less than the limit (0 under ``MIN_OFFSET_A``). A
car at its own limit or tapering does not move with the limit, so it gives no offset. The
median of the last few holds (a stray sample moves nothing); none seen: 0. They belong to the car's
session and are kept across a restart of Home Assistant with it (``learned.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from custom_components.ocpp_ems.core.numbers import quantile

# A change of the limit at least this big (A) can show the car following it.
MIN_STEP_A = 0.25
# The draw moved by the limit's change within this (A), and within half the change: it follows.
FOLLOW_TOLERANCE_A = 0.25
# Less than this (A) below the limit is no offset (meter resolution, what "at the limit" allows
# for); a car at its own maximum just under a limit it was raised to from below moved by the
# change less that much and would read as one (16.0 A under 16.4, 16.8 ...: written for good).
MIN_OFFSET_A = 0.5
# A car taking more than this (A) below a limit it follows has no offset that big: a car that
# takes that much less is full, tapering or at its own limit, whatever it did before.
MAX_OFFSET_A = 2.0
# Offsets kept (the newest).
KEEP = 5


@dataclass(slots=True)
class FollowOffset:
    """One car's offset below the limit it follows, from its charger's meter samples."""

    # The last sample that showed the writes: (taken at, the limit it showed, the car's draw).
    shown: tuple[float, float, float] | None = None
    seen: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP))

    def observe(self, sample_at: float, limit_a: float, drawn_a: float) -> None:
        """A sample taken at ``sample_at`` surely shows the car under ``limit_a`` drawing
        ``drawn_a`` (A, its highest line). The same sample again adds nothing."""
        before = self.shown
        if before is not None and sample_at <= before[0]:
            return
        self.shown = (sample_at, limit_a, drawn_a)
        if before is None:
            return
        step = limit_a - before[1]
        moved = drawn_a - before[2]
        if abs(step) < MIN_STEP_A or abs(moved - step) > min(FOLLOW_TOLERANCE_A, abs(step) / 2):
            return
        kept = _kept(limit_a - drawn_a)
        if kept is not None:
            self.seen.append(kept)

    @property
    def offset_a(self) -> float:
        """What the car takes less than the limit it follows (A; 0 until seen following)."""
        return quantile(list(self.seen), 0.5) if self.seen else 0.0

    @property
    def offsets(self) -> tuple[float, ...]:
        """The offsets seen, oldest first (the stored form)."""
        return tuple(self.seen)

    def prior(self, offsets: Iterable[float]) -> None:
        """``offsets`` seen of this car before (stored across a restart) go before those seen
        since; the newest ``KEEP`` stay."""
        self.seen = deque([*offsets, *self.seen], maxlen=KEEP)

    def forget(self) -> None:
        """Another car: nothing of this one holds."""
        self.shown = None
        self.seen.clear()

    def clock_went_back(self) -> None:
        """Our clock went back: the next sample counts as new (the offsets stay)."""
        self.shown = None


def _kept(offset: float) -> float | None:
    """What is kept of ``offset`` (A) seen under a limit the car follows: none over
    ``MAX_OFFSET_A``, 0 under ``MIN_OFFSET_A``."""
    if offset > MAX_OFFSET_A:
        return None
    return offset if offset >= MIN_OFFSET_A else 0.0


def is_offset(value: float) -> bool:
    """Whether ``value`` (A) is an offset the learner could have kept (stored data is checked)."""
    return _kept(value) == value
