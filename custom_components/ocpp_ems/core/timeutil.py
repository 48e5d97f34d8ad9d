"""Defensive timestamp handling.

Chargers send ISO 8601 with or without ``Z``, naive local times, fractional seconds of any length,
1970 dates after a reboot without a clock, and plain garbage. Nothing here raises: an unusable
timestamp becomes "now", because a reading's time matters far less than not dropping the reading.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Readings from before this date come from a charger without a set clock (1970 / 2000 epochs).
_EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)
# A charger clock slightly ahead is normal; far ahead is wrong and would pin ordering forever.
MAX_FUTURE = timedelta(hours=1)

# More than 6 fractional digits ("...12.1234567Z") is legal ISO but rejected by fromisoformat.
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_timestamp(value: Any, *, now: datetime | None = None) -> datetime:
    """An aware UTC datetime for ``value``; ``now`` when missing, unparsable or implausible."""
    current = now or utcnow()
    parsed = _parse(value)
    if parsed is None or parsed < _EARLIEST or parsed > current + MAX_FUTURE:
        return current
    return parsed


def parse_optional_timestamp(value: Any) -> datetime | None:
    """Like :func:`parse_timestamp` but None when the charger sent nothing usable."""
    parsed = _parse(value)
    if parsed is None or parsed < _EARLIEST or parsed > utcnow() + MAX_FUTURE:
        return None
    return parsed


def parse_future_timestamp(value: Any) -> datetime | None:
    """A time that may lie ahead (an EV's departure; a reading of a clock ahead, for the clock
    check, ``meter_time.effective_time``): None when missing, unparsable or implausibly old."""
    parsed = _parse(value)
    return None if parsed is None or parsed < _EARLIEST else parsed


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = _LONG_FRACTION.sub(r"\1", value.strip())
        if text[-1] in "zZ":
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    # A naive time carries no zone: assume UTC (the OCPP convention) rather than guess a local zone.
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# Readings received this close after one another are one burst (the samples of one message, a
# queue sent after a reconnect, each message as soon as we answered the one before): only the
# newest reading of a burst can be a live one (of a charger that never pauses this long: of a
# stretch, CLOCK_STREAM_SPAN_S).
CLOCK_BURST_S = 2.0
# The newest readings of two bursts whose stamps lie the same amount off our clock (within this:
# the network's and the charger's delays vary) show the clock's offset; queued readings lie off
# by their age as well, which differs by their spacing (the meter interval, 10 s by default).
CLOCK_OFFSET_TOLERANCE_S = 5.0
# A charger that never pauses CLOCK_BURST_S (a reading every second) has the newest offsets of
# stretches this far apart compared instead, within CLOCK_STREAM_TOLERANCE_S: its live stamps
# move with our clock, a queue flushed at one message per round trip does not (taken 1 s apart,
# sent 0.9 s apart over a slow link: 3.3 s over the span); a live clock that stepped is
# confirmed in it.
CLOCK_STREAM_SPAN_S = 30.0
CLOCK_STREAM_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class _Observed:
    received: datetime
    # The newest offset of the readings received less than CLOCK_BURST_S before this one and of
    # itself: that of the live reading among them, if there is one.
    newest_s: float
    # How often we had told the charger the time by then (LiveClockOffset.clock_set).
    clock_sets: int


@dataclass
class LiveClockOffset:
    """How far a charger's clock is off ours, as its live readings show it. A reading arriving
    right after it was taken is stamped the clock's offset off the time we receive it; a queued
    one is legitimately older. The offset counts once the newest readings of two bursts agree;
    of a charger that never pauses between bursts, of two stretches
    :data:`CLOCK_STREAM_SPAN_S` apart (its clock stepped: confirmed that much later)."""

    # The readings of the last CLOCK_BURST_S that may be its newest yet (offsets falling).
    _burst: deque[tuple[datetime, float]] = field(default_factory=deque)
    # The readings of the last CLOCK_STREAM_SPAN_S, and the one before them.
    _span: deque[_Observed] = field(default_factory=deque)
    # The last reading before the latest pause of CLOCK_BURST_S or more.
    _burst_before: _Observed | None = None
    # The offset (s) the latest confirmation showed (None: none since the charger was last told
    # the time, :meth:`clock_set`), also one too small for ``clock_skew_s`` to record: live
    # stamps of a clock a little behind or ahead are ordered by it.
    confirmed_s: float | None = None
    # How many confirmations there were: what was ordered by one offset is ordered again by the
    # next one confirmed (``ConnectorStatuses._retake_held_status``), even an equal one.
    confirmations: int = 0
    # How often we told the charger the time (:meth:`clock_set`).
    _clock_sets: int = 0
    # Whether the latest confirmation compared a reading from before we last told the charger the
    # time with one after (:attr:`settled_s`).
    _across_set: bool = False

    @property
    def settled_s(self) -> float | None:
        """:attr:`confirmed_s` where readings since we last told the charger the time confirmed
        it (None: not). One confirmed across our answer shows the clock kept its offset, or
        matches a queued reading whose age equals the clock's correction: no sign that a reading
        on it was received live."""
        return None if self._across_set else self.confirmed_s

    def observe(self, stamp: datetime, received: datetime) -> float | None:
        """Note a reading stamped ``stamp`` that arrived at ``received``: the clock's offset (s,
        ahead > 0) when this reading confirms it, else None."""
        span = self._span
        if span and (span[-1].received - received).total_seconds() > CLOCK_BURST_S:
            self._forget()  # our clock went back: the receptions before measure nothing now
        if span and (received - span[-1].received).total_seconds() >= CLOCK_BURST_S:
            self._burst_before = span[-1]
        newest = self._newest(clock_offset_s(stamp, received), received)
        span.append(_Observed(received, newest, self._clock_sets))
        span_began = received - timedelta(seconds=CLOCK_STREAM_SPAN_S)
        while len(span) > 1 and span[1].received <= span_began:
            span.popleft()
        before, tolerance_s = self._burst_before, CLOCK_OFFSET_TOLERANCE_S
        if span[0].received <= span_began and (
            before is None or span[0].received > before.received
        ):
            # No pause since: the stretch a span before.
            before, tolerance_s = span[0], CLOCK_STREAM_TOLERANCE_S
        if before is None or abs(newest - before.newest_s) > tolerance_s:
            return None
        self.confirmed_s = newest
        self.confirmations += 1
        self._across_set = before.clock_sets != self._clock_sets
        return newest

    def clock_set(self) -> None:
        """We told the charger the time (it may have set its clock by it): the offset confirmed
        before may be gone, so none counts until live readings confirm one again (the next
        live reading, if the clock kept its offset)."""
        self.confirmed_s = None
        self._clock_sets += 1

    def _newest(self, offset: float, received: datetime) -> float:
        """The newest offset of the readings received less than :data:`CLOCK_BURST_S` before
        ``received``, this one's ``offset`` included."""
        burst = self._burst
        burst_began = received - timedelta(seconds=CLOCK_BURST_S)
        while burst and burst[0][0] <= burst_began:
            burst.popleft()
        while burst and burst[-1][1] <= offset:
            burst.pop()
        burst.append((received, offset))
        return burst[0][1]

    def _forget(self) -> None:
        self._burst.clear()
        self._span.clear()
        self._burst_before = None


def clock_offset_s(stamp: datetime, received: datetime) -> float:
    """How far (s, ahead > 0) a charger's ``stamp`` lies off the time we ``received`` it."""
    return (stamp - received).total_seconds()


def offsets_agree(offset_s: float, other_s: float) -> bool:
    """Whether two offsets off our clock (:func:`clock_offset_s`) show the same clock."""
    return abs(offset_s - other_s) <= CLOCK_OFFSET_TOLERANCE_S


def format_timestamp(value: datetime) -> str:
    """OCPP wire format: UTC with a ``Z`` and millisecond precision."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )
