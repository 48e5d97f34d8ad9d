"""Defensive timestamp handling.

Chargers send ISO 8601 with or without ``Z``, naive local times, fractional seconds of any length,
1970 dates after a reboot without a clock, and plain garbage. Nothing here raises: an unusable
timestamp becomes "now", because a reading's time matters far less than not dropping the reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
    check, ``meter.effective_time``): None when missing, unparsable or implausibly old."""
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
# newest reading of a burst can be a live one. A charger sampling faster is never measured.
CLOCK_BURST_S = 2.0
# The newest readings of two bursts whose stamps lie the same amount off our clock (within this:
# the network's and the charger's delays vary) show the clock's offset; queued readings lie off
# by their age as well, which differs by their spacing (the meter interval, 10 s by default).
CLOCK_OFFSET_TOLERANCE_S = 5.0


@dataclass
class LiveClockOffset:
    """How far a charger's clock is off ours, as its live readings show it. A reading arriving
    right after it was taken is stamped the clock's offset off the time we receive it; a queued
    one is legitimately older. The offset counts once the newest readings of two bursts agree."""

    _last_received: datetime | None = None
    _newest_s: float = 0.0  # the offset of the last burst's newest reading
    _before_s: float | None = None  # the offset of the newest reading of the burst before

    def observe(self, stamp: datetime, received: datetime) -> float | None:
        """Note a reading stamped ``stamp`` that arrived at ``received``: the clock's offset (s,
        ahead > 0) when this reading confirms it, else None."""
        offset = clock_offset_s(stamp, received)
        last = self._last_received
        if last is not None and (received - last).total_seconds() < CLOCK_BURST_S:
            offset = max(offset, self._newest_s)
        else:
            self._before_s = None if last is None else self._newest_s
        self._last_received, self._newest_s = received, offset
        before = self._before_s
        if before is None or not offsets_agree(offset, before):
            return None
        return offset


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
