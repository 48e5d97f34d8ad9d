"""How fast a charger follows a new limit, learned from its own meter values.

A write reaches the car only after the charger applied it (a few seconds to tens of seconds,
depending on the charger and the OCPP round trip) and the car ramped; a start or a 1p/3p switch
takes longer (the charger pauses, the car handshakes). Until then the grid meter and the charger's
meter show the old current, and after it the charger's meter (every 10-60 s) may still show it
while the grid meter (every few s) already shows the new one.

:class:`ChargerResponse` watches each write of at least :data:`MIN_CHANGE_A`: the first meter
sample that shows the car most of the way to the new limit ends the watch. The car followed
between the sample before it and that one: each observation gives a lower and an upper bound of
the response time. From the recent ones (quartiles, robust to a stray sample):

* ``early_s``: the car follows no sooner (a lower bound);
* ``late_s``: it has followed by then (an upper bound, the settle time).

``measure.py`` uses them for the car's draw at the grid meter's moment: a raise counts from
``early_s`` (a surplus overestimated for a moment is harmless, raises wait for the write interval),
a drop from ``late_s`` (a deficit that is not there would be written at once, and again at the next
grid reading: the drops would cascade), and a charger meter sample counts as showing the write once
the car followed or ``late_s`` passed (a car that a sample surely shows taking less than offered
keeps that shortfall under the writes after it: ``draw_at_grid``). Until :data:`TRUSTED`
observations exist, the configured values hold: ``SolarSettings.settle_s`` / ``start_settle_s`` as
the settle time (a floor) and no delay before a raise or drop counts (the behaviour before anything
was learned); meanwhile a sample seen not showing a watched raise does not show it, whatever that
guess says (``raise_unshown``: a charger slower than the guess had its car capped at the draw
before the raise). A watch runs on through newer writes (a charger applies them in order); once one
turned it back, its lower bound counts from the next write leading to it again
(``_Watch.newer_write``). A watch that the car never completes (it takes less than offered: full,
tapering) adds nothing. The same limit written again while watched (a retry of a write left
unanswered) is the same write: its watch goes on. While the last write is watched, the meters do not
surely show it (``last_write_shows_at``: the write limiter holds changes of the surplus until then).

The observations are stored (:meth:`ChargerResponse.to_dict`, ``EmsDriver.dump``): after a restart
they are the prior that new observations replace one by one, as before.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from custom_components.ocpp_ems.core.numbers import finite_number, quantile

from .config import SolarSettings
from .timers import earlier

# Changes smaller than this (A) are not watched: meter noise could end the watch early.
MIN_CHANGE_A = 1.0
# A car within this much (A) of its last limit is at it (meter resolution, rounding).
SAME_A = 0.5
# The car counts as having followed once this share of the change shows in its meter.
FOLLOWED = 0.8
# Observations kept per kind (the newest; a charger's firmware or the OCPP link can change).
KEEP = 15
# Below this many observations the configured settle time is a floor for the learned one.
TRUSTED = 3
# Writes remembered to tell which one the grid meter and the charger's meter show.
HISTORY = 6
# A sample up this much (A) on the one before shows a car that may still be ramping.
RAMPING_A = 0.2


class WriteKind(StrEnum):
    START = "start"  # a start or a 1p/3p switch
    RAISE = "raise"
    DROP = "drop"  # a lower limit or a pause


@dataclass(frozen=True, slots=True)
class Write:
    at: float  # when it was decided
    amps: float  # the limit written (0: a pause)
    kind: WriteKind


@dataclass(slots=True)
class _Watch:
    write: Write
    before_a: float  # what the car drew before it (highest phase current)
    phases: int | None  # a switch: the phases the car draws on once it followed
    missed_s: float = 0.0  # the last sample after the write that did not show it yet
    turned_back: bool = False  # the newest write does not lead to the watched limit
    # The lower bound counts from here: the write that led back to the watched limit after one
    # that turned it back (the car's move may follow either of them).
    since_s: float = 0.0
    offset_a: float = 0.0  # what the car takes less than a limit it follows (when it began)
    settle_passed: bool = False  # its longest settle passed (``ChargerResponse.tick``)

    def is_reached_by(self, amps: float) -> bool:
        """A car drawing ``amps`` shows the watched write."""
        span = draw_under(self.write.amps, self.offset_a) - self.before_a
        return abs(span) <= 1e-9 or (amps - self.before_a) / span >= FOLLOWED

    def newer_write(self, write: Write) -> None:
        """``write`` follows the watched one. One that turns it back makes the samples not
        showing it say nothing of its response time from then on; one leading to the watched
        limit again after that may be the one the car's move follows: the lower bound counts
        from it (counted from the watched write, a car 10 s slow learned 19 s, after which the
        raises it follows read as the house's load)."""
        if not self.is_reached_by(draw_under(write.amps, self.offset_a)):
            self.turned_back = True
        elif self.turned_back:
            self.turned_back = False
            self.since_s = write.at - self.write.at


@dataclass(slots=True)
class ChargerResponse:
    """One charger's measured response times, its recent writes and the write being watched."""

    # (lower, upper) bounds of observed response times (s)
    changes: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=KEEP))
    starts: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=KEEP))
    writes: deque[Write] = field(default_factory=lambda: deque(maxlen=HISTORY))
    watch: _Watch | None = None
    followed_at: float | None = None  # the sample that ended the watch of the last write
    # The one before the last write came (``refused`` puts it back with the write before).
    followed_before: float | None = None
    sample_at: float = -math.inf  # the newest meter sample seen
    sample_a: float | None = None  # what it showed (highest phase current)
    sample_rise_a: float = 0.0  # how much more than the sample before it (a car ramping)

    # --- learning --------------------------------------------------------------------------------
    def wrote(
        self,
        now: float,
        amps: float,
        solar: SolarSettings,
        *,
        start: bool,
        phases: int | None = None,
        offset_a: float = 0.0,
    ) -> None:
        """A write of ``amps`` (0: a pause) was decided at ``now``; ``start``: a start or a
        switch to ``phases``; ``offset_a``: what the car takes less than a limit it follows
        (``follow_offset.py``; the watch takes the car as following it that much lower)."""
        previous = self.last_write
        watch = self.watch
        if watch is not None and watch.write is previous and amps == previous.amps:
            self._written_again(watch, now)
            return
        last_amps = self.sample_a if previous is None else previous.amps
        if start:
            kind = WriteKind.START
        elif last_amps is not None and amps > last_amps:
            kind = WriteKind.RAISE
        else:
            kind = WriteKind.DROP
        # A watch runs on while newer writes follow (a charger applies them in order: the first
        # move after the watched write is its own). A new one starts from a clean "before" (the
        # car was seen at the last limit, or the longest response counted has passed), else from
        # where the last limit leads, unless the car is past that already.
        clean = (
            previous is None
            or self.followed(self.sample_at)
            or (self.sample_a is not None and abs(self.sample_a - previous.amps) <= SAME_A)
        )
        if previous is not None and not clean:
            clean = now >= self.surely_shown_at(previous, solar)
        write = Write(now, amps, kind)
        self.writes.append(write)
        self.followed_before, self.followed_at = self.followed_at, None
        if self.watch is not None:
            self.watch.newer_write(write)
            return
        sampled = self.sample_a
        if sampled is None:
            return
        # (Started only from a clean one, a charger as slow as the writes were apart never
        # showed the last limit before the next write: 10 s slow, taken for the configured 8 s,
        # its limits swung 9.2 / 15.2 A every 10 s for good.)
        before = sampled if clean or previous is None else draw_under(previous.amps, offset_a)
        if abs(draw_under(amps, offset_a) - before) < MIN_CHANGE_A and not start:
            return
        watch = _Watch(write, before, phases, offset_a=offset_a)
        if clean or not watch.is_reached_by(sampled):
            self.watch = watch

    def _written_again(self, watch: _Watch, now: float) -> None:
        """The watched last write's limit written again (a retry of one left unanswered): the
        same write, taken from ``now``, its watch going on. (A new write read the slow charger's
        lag behind the first as the house's load: 7.6, 6.0, 7.6 A.)"""
        again = replace(self.writes.pop(), at=now)
        self.writes.append(again)
        watch.write = again

    def refused(self, at: float) -> None:
        """The write decided at ``at`` was refused: no sample will show it (its limit bounds no
        draw: ``least_offered_a``) and no response is learned from it."""
        for write in reversed(self.writes):
            if write.at == at:
                if write is self.writes[-1]:  # the write before is the last again, as it was
                    self.followed_at = self.followed_before
                self.writes.remove(write)
                if self.watch is not None and self.watch.write is write:
                    self.watch = None
                return

    def observe(self, at: float, amps: float, lines: int, solar: SolarSettings) -> None:
        """A charger meter sample taken at ``at``: ``amps`` the highest phase current, ``lines``
        the phases drawing."""
        if at <= self.sample_at:
            return  # seen already
        self.sample_rise_a = 0.0 if self.sample_a is None else amps - self.sample_a
        self.sample_at, self.sample_a = at, amps
        watch = self.watch
        if watch is None or at < watch.write.at:
            return
        start = watch.write.kind is WriteKind.START
        elapsed = at - watch.write.at
        if at > self.surely_shown_at(watch.write, solar):
            self.watch = None  # the car did not follow (full, tapering, its own limit)
            return
        if not watch.is_reached_by(amps) or (watch.phases is not None and lines != watch.phases):
            watch.missed_s = elapsed  # not yet (or still on the phases from before a switch)
            return
        lower = max(0.0, watch.missed_s - watch.since_s)
        (self.starts if start else self.changes).append((lower, elapsed))
        if watch.write is self.last_write:
            self.followed_at = at
        self.watch = None

    def tick(self, now: float, solar: SolarSettings) -> None:
        """An update at ``now``: once the watched write's longest settle passed, a sample the
        watch saw not showing it shows it (``raise_unshown``; the watch itself ends at the next
        sample, as it learns nothing more)."""
        if self.watch is not None and now >= self.surely_shown_at(self.watch.write, solar):
            self.watch.settle_passed = True

    def clock_went_back(self, by_s: float) -> None:
        """Our wall clock went back ``by_s``: the writes and the sample that ended the last
        watch move back with it (as the readings taken before the jump do, ``controller.py``),
        and the next sample counts as new (one taken after the jump may be stamped before the
        newest seen, moved back). The watch is dropped: a response time measured across the
        jump would be short by the time between the updates around it. What was learned
        stays."""
        self.writes = deque(
            (replace(write, at=write.at - by_s) for write in self.writes), maxlen=HISTORY
        )
        self.watch = None
        self.followed_at = earlier(self.followed_at, by_s)
        self.followed_before = earlier(self.followed_before, by_s)
        self.sample_at = -math.inf

    # --- what was learned ------------------------------------------------------------------------
    def late_s(self, solar: SolarSettings, *, start: bool = False) -> float:
        """The settle time: by then the car has followed a write (a start or switch: ``start``)."""
        seen = self.starts if start else self.changes
        default = solar.start_settle_s if start else solar.settle_s
        high = solar.start_settle_max_s if start else solar.settle_max_s
        if not seen:
            return default
        learned = quantile([hi for _, hi in seen], 0.25, nearest=True)
        if len(seen) < TRUSTED:
            learned = max(learned, default)
        return min(high, max(solar.settle_min_s, learned))

    def slowest_start_s(self, solar: SolarSettings) -> float:
        """By then a start or a 1p/3p switch has surely shown: the slowest one observed (the
        configured start settle time until a few are). Starts and switches are learned together
        and a switch's pause is often longer than a start's handshake: ``late_s`` may fit the
        starts only, and a car seen taking nothing before this is not yet known to be full."""
        default = solar.start_settle_s
        if not self.starts:
            return default
        slowest = max(hi for _, hi in self.starts)
        if len(self.starts) < TRUSTED:
            slowest = max(slowest, default)
        return min(solar.start_settle_max_s, max(solar.settle_min_s, slowest))

    def early_s(self, solar: SolarSettings, *, start: bool = False) -> float:
        """The car follows a write no sooner than this (0 until enough observations)."""
        seen = self.starts if start else self.changes
        if len(seen) < TRUSTED:
            return 0.0
        return min(
            quantile([lo for lo, _ in seen], 0.75, nearest=True), self.late_s(solar, start=start)
        )

    # --- stored form -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """What was learned (the observations; the writes in flight are not worth keeping)."""
        return {
            "changes": [list(seen) for seen in self.changes],
            "starts": [list(seen) for seen in self.starts],
        }

    def load(self, data: Mapping[str, Any], solar: SolarSettings) -> None:
        """Observations back from :meth:`to_dict`'s form, replacing those held. An unreadable one
        is skipped; bounds are clamped to the settle range (a stored time beyond it could only
        come from other settings, and would hold the car back)."""
        for key, seen, high in (
            ("changes", self.changes, solar.settle_max_s),
            ("starts", self.starts, solar.start_settle_max_s),
        ):
            seen.clear()
            stored = data.get(key)
            for item in stored[-KEEP:] if isinstance(stored, list) else ():
                if (bounds := _bounds(item, high)) is not None:
                    seen.append(bounds)

    def forget(self) -> None:
        """Learn afresh (other hardware): the configured times hold until it is learned again."""
        self.changes.clear()
        self.starts.clear()

    def summary(self, solar: SolarSettings) -> dict[str, Any]:
        """The learned times as they are used now (diagnostics)."""
        return {
            "observed_changes": len(self.changes),
            "observed_starts": len(self.starts),
            "early_s": self.early_s(solar),
            "late_s": self.late_s(solar),
            "start_early_s": self.early_s(solar, start=True),
            "start_late_s": self.late_s(solar, start=True),
        }

    # --- which write the meters show -------------------------------------------------------------
    @property
    def last_write(self) -> Write | None:
        return self.writes[-1] if self.writes else None

    def last_write_shows_at(self, solar: SolarSettings) -> float:
        """When the meters surely show the last write while it is watched: once the car is seen
        following it, else once the longest settle passed (-inf: not watched). A charger slower
        than the settle time assumed would have its lag read as the house's load meanwhile."""
        last, watch = self.last_write, self.watch
        if last is None or watch is None or watch.write is not last:
            return -math.inf
        return self.surely_shown_at(last, solar)

    @staticmethod
    def surely_shown_at(write: Write, solar: SolarSettings) -> float:
        """When the meters show ``write`` whatever the charger: after the longest settle (a car
        not seen following it by then does not: full, tapering, its own limit)."""
        start = write.kind is WriteKind.START
        return write.at + (solar.start_settle_max_s if start else solar.settle_max_s)

    def raise_unshown(self, sample_at: float) -> bool:
        """A sample taken at ``sample_at`` was seen not showing the car following the last
        write, a raise still watched, before the charger's response is learned (the settle
        time is the configured guess): the charger may be slower than that, so the sample says
        nothing yet of what the car takes under the raise."""
        watch, last = self.watch, self.last_write
        return (
            len(self.changes) < TRUSTED
            and watch is not None
            and not watch.settle_passed
            and last is not None
            and watch.write is last
            and last.kind is WriteKind.RAISE
            and last.at < sample_at <= last.at + watch.missed_s
        )

    def followed(self, sample_at: float) -> bool:
        """The car followed the last write by ``sample_at`` (a sample from then on is settled)."""
        return self.followed_at is not None and sample_at >= self.followed_at

    def shown_by_sample(self, sample_at: float, solar: SolarSettings) -> Write | None:
        """The newest write a charger meter sample taken at ``sample_at`` surely shows."""
        for index, write in enumerate(reversed(self.writes)):
            if index == 0 and self.followed(sample_at):
                return write
            if index == 0 and self.raise_unshown(sample_at):
                continue
            # (a reading taken at the write's own moment was taken before it: strictly later)
            if sample_at > write.at + self.late_s(solar, start=write.kind is WriteKind.START):
                return write
        return None

    def least_offered_a(self, sample_at: float, solar: SolarSettings) -> float | None:
        """The lowest limit a sample taken at ``sample_at`` may show: that of the newest write
        it surely shows or of any later one (None: it surely shows none)."""
        shown = self.shown_by_sample(sample_at, solar)
        if shown is None:
            return None
        return min(write.amps for write in self._from(shown))

    def pending_max_a(self, solar: SolarSettings) -> float:
        """The highest limit among the writes the newest meter sample does not show yet: the
        car may draw any of them by now (0: none)."""
        pending = self._after(self.shown_by_sample(self.sample_at, solar))
        return max((write.amps for write in pending), default=0.0)

    def in_force_max_a(self, at: float, solar: SolarSettings) -> float | None:
        """The highest limit the car may draw at ``at``: that of the newest write a sample taken
        then surely shows (``shown_by_sample``) or of any later one (None: none remembered)."""
        return max(
            (write.amps for write in self._from(self.shown_by_sample(at, solar))), default=None
        )

    def _after(self, write: Write | None) -> list[Write]:
        """The writes after ``write`` (None: all of them)."""
        writes = list(self.writes)
        return writes if write is None else writes[writes.index(write) + 1 :]

    def _from(self, write: Write | None) -> list[Write]:
        """``write`` and the writes after it (None: all of them)."""
        return self._after(None) if write is None else [write, *self._after(write)]

    def shown_by_grid(self, grid_at: float, solar: SolarSettings) -> Write | None:
        """The newest write to count in the grid meter's reading taken at ``grid_at``."""
        for write in reversed(self.writes):
            start = write.kind is WriteKind.START
            if write.kind is WriteKind.DROP:
                delay = self.late_s(solar) if len(self.changes) >= TRUSTED else 0.0
            else:
                delay = self.early_s(solar, start=start)
            if grid_at > write.at + delay:
                return write
        return None

    def draw_at_grid(
        self,
        grid_at: float,
        sample_at: float,
        sampled_a: float,
        solar: SolarSettings,
        offset_a: float = 0.0,
    ) -> float | None:
        """The current (A) the car drew when the grid meter read, where the charger's sample
        (taken at ``sample_at``, showing ``sampled_a``) is older than the write the grid shows;
        None: the sample holds. A car the sample shows taking less than it was offered keeps
        its shortfall (``_offered_not_taken``): under a limit no higher it takes no more than
        the sample showed, under a higher one no more than the raise adds to that (its own
        maximum: nothing; an offset below the limit: all of it). A start or a 1p/3p switch
        counts at its limit (a new handshake: the shortfall before says nothing of it). A
        limit counts at what the car takes under it (``offset_a`` less)."""
        grid = self.shown_by_grid(grid_at, solar)
        sample = self.shown_by_sample(sample_at, solar)
        if grid is None or grid is sample or (sample is not None and sample.at > grid.at):
            return None
        offered = (
            None if sample is None else self._offered_not_taken(sample, sample_at, sampled_a, solar)
        )
        if offered is None:
            return draw_under(grid.amps, offset_a)
        if grid.amps <= offered:
            return min(grid.amps, sampled_a)
        if grid.kind is WriteKind.START:
            return draw_under(grid.amps, offset_a)
        # (Counted at its limit, a raise of 0.2 A beside a Solar car read the 0.9 A its car did
        # not take as sun; the fuse took it back from the raise at once: 16.9, 16.7 A every
        # 100 s for good.)
        return sampled_a + grid.amps - offered

    def _offered_not_taken(
        self, shown: Write, sample_at: float, sampled_a: float, solar: SolarSettings
    ) -> float | None:
        """The lowest limit decided from ``shown`` up to the sample (taken at ``sample_at``,
        showing ``sampled_a``) where the sample shows the car taking less than it (its own
        maximum, a taper, an offset) and surely shows ``shown`` (``surely_shown_at``); else
        None. A car taking 16.0 A under 16.8, counted at a lower to 16.3, read 0.3 A of its own
        as sun: 16.3, 16.6, 16.8 A every 90 s with a 30 s meter. (Sooner, a car slower than its
        learned settle time may still be rising; under a lower decided since, the car may be
        taking all of it: then it takes more under a higher. A newest sample up on the one
        before: the car may be ramping, slower than any settle.)"""
        if sample_at <= self.surely_shown_at(shown, solar) or (
            sample_at == self.sample_at and self.sample_rise_a >= RAMPING_A
        ):
            return None
        offered = min(write.amps for write in self._from(shown) if write.at < sample_at)
        return offered if sampled_a < offered - SAME_A else None


def draw_under(limit_a: float, offset_a: float) -> float:
    """What a car taking ``offset_a`` less than the limit it follows draws under ``limit_a``
    (nothing when paused)."""
    return max(0.0, limit_a - offset_a) if limit_a > 0.0 else 0.0


def _bounds(item: Any, high: float) -> tuple[float, float] | None:
    """A stored ``[lower, upper]`` observation within ``0..high`` (None: unreadable)."""
    if not isinstance(item, list) or len(item) != 2:
        return None
    lower, upper = finite_number(item[0]), finite_number(item[1])
    if lower is None or upper is None or lower < 0.0 or upper < lower:
        return None
    upper = min(upper, high)
    return min(lower, upper), upper
