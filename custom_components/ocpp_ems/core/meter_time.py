"""How much time and energy lie between two register points, by the charger's clock and ours.

What a charger's stamp stands for (:func:`effective_time`: a clock too far ahead is no time), when
we got something (:func:`reception`), how much later one point was taken than another
(:func:`time_since`, :func:`later_s`: our own clock set back is no age) and the most energy that
time allows (:func:`rise_allowance`, :func:`max_energy_wh`). Applying readings is :mod:`.meter`'s.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta

from .model import Charger, RegisterPoint
from .settings import ChargerSettings
from .timeutil import CLOCK_OFFSET_TOLERANCE_S, clock_offset_s, offsets_agree, utcnow

_LOGGER = logging.getLogger(__name__)

# Energy is physically plausible or it is not counted. Every constant of its bounds is here.
#
# The fastest a charger can add energy: its installation maximum on every phase of its supply at
# the highest voltage the grid standard allows (EN 50160 / IEC 60038: 230 V + 10 %), with a slack
# for meter class errors (<= 2 %), chargers overshooting a limit for a few seconds before they
# settle, and breakers that carry 1.13x their rating for an hour.
MAX_PHASE_VOLTAGE_V = 253.0
POWER_SLACK = 1.25
# What a register may exceed that bound by, once (a token bucket that refills at the maximum power
# but never holds more than this): registers in 0.1 kWh steps, rounding. Smaller than the single
# outliers real chargers send (hundreds of Wh), which therefore wait for confirmation.
ENERGY_TOLERANCE_WH = 250.0
# A charger timestamp further ahead of our clock than this is a wrong clock, not a time: the
# reading counts as of when we received it, and the charger model says so (``clock_skew_s``).
MAX_CLOCK_AHEAD_S = 300.0
# A charger clock further behind ours than this, as its live readings show, is wrong too: the
# energy manager (charger_max_age_s 180 s, readings up to a minute apart) would take them for
# stale. Its times still count for energy (older times never make an allowance); the charger
# model says so (``clock_skew_s`` < 0).
MAX_CLOCK_BEHIND_S = 60.0
# The oldest a charger's offline queue may be (a start older than the running transaction is a
# late offline session up to this age): a start or reading stamped further behind the time
# we got it comes from a clock that restarted at some old date (its firmware's build date).
MAX_PAST_SESSION_AGE = timedelta(days=7)


def max_power_w(settings: ChargerSettings) -> float:
    """The most power (W) a charger with these settings can deliver, with :data:`POWER_SLACK`."""
    return settings.installation_max_a * max(settings.phases, 1) * MAX_PHASE_VOLTAGE_V * POWER_SLACK


def effective_time(charger: Charger, timestamp: datetime, received: datetime) -> datetime:
    """The time a charger's ``timestamp`` stands for (:func:`time_of`); a clock more than
    :data:`MAX_CLOCK_AHEAD_S` ahead is recorded in ``charger.clock_skew_s``, and cleared by the
    next timestamp that is not."""
    ahead = clock_offset_s(timestamp, received)
    if too_far_ahead(timestamp, received):
        if charger.clock_skew_s is None or charger.clock_skew_s < 0:
            _LOGGER.warning(
                "%s: charger clock is %.0f s ahead; using the time readings arrive",
                charger.charger_id,
                ahead,
            )
        charger.clock_skew_s = round(ahead)
    elif charger.clock_skew_s is not None and charger.clock_skew_s > 0:
        charger.clock_skew_s = None
    return time_of(timestamp, received)


def follow_clock(charger: Charger, timestamp: datetime, received: datetime) -> float | None:
    """Note what a reading stamped ``timestamp`` (not taken before the register:
    :func:`~.meter._apply_register`) shows of the charger's clock: ahead (:func:`effective_time`),
    behind (:func:`follow_live_clock`, whose offset it returns)."""
    effective_time(charger, timestamp, received)
    return follow_live_clock(charger, timestamp, received)


def follow_live_clock(charger: Charger, timestamp: datetime, received: datetime) -> float | None:
    """Record a clock more than :data:`MAX_CLOCK_BEHIND_S` behind (``charger.clock_skew_s`` < 0),
    or clear it, once the charger's live readings agree on its offset (``LiveClockOffset``: a
    reading re-sent after a reconnect is legitimately old). A clock ahead is
    :func:`effective_time`'s. Returns the offset (s) this reading confirmed (None: none)."""
    offset = charger._live_clock.observe(timestamp, received)
    if offset is not None:
        _record_clock_behind(charger, offset)
    return offset


def _record_clock_behind(charger: Charger, offset: float) -> None:
    """Set or clear ``charger.clock_skew_s`` by the confirmed ``offset`` of its live clock."""
    skew = charger.clock_skew_s
    if skew is not None and skew > 0:
        return
    if offset >= -MAX_CLOCK_BEHIND_S:
        charger.clock_skew_s = None
        return
    if skew is None:
        _LOGGER.warning(
            "%s: charger clock is %.0f s behind; the energy manager takes its readings as of "
            "when they arrive",
            charger.charger_id,
            -offset,
        )
    charger.clock_skew_s = round(offset)


def time_of(timestamp: datetime, received: datetime) -> datetime:
    """The time a charger's ``timestamp`` received at ``received`` stands for: itself, or
    ``received`` when it lies too far ahead (:func:`too_far_ahead`)."""
    return received if too_far_ahead(timestamp, received) else timestamp


def too_far_ahead(stamp: datetime, received: datetime) -> bool:
    """Whether a charger's ``stamp``, received at ``received``, lies more than
    :data:`MAX_CLOCK_AHEAD_S` ahead of our clock: a wrong clock, not a time."""
    return clock_offset_s(stamp, received) > MAX_CLOCK_AHEAD_S


def on_live_clock(stamp: datetime, received: datetime, live_offset: float | None) -> bool:
    """Whether ``stamp``, received ``received``, lies on the charger's live clock: its own offset
    agrees with ``live_offset`` (None: none confirmed)."""
    return live_offset is not None and offsets_agree(clock_offset_s(stamp, received), live_offset)


def stamp_by_our_clock(charger: Charger, stamp: datetime) -> datetime:
    """A charger's ``stamp`` by our clock, for the price of when it was: less the offset its
    live readings confirmed (a clock an hour behind: local time sent as UTC); as it is while
    none is confirmed. Its stamps are kept for energy and sessions."""
    offset_s = charger._live_clock.confirmed_s
    return stamp if offset_s is None else stamp - timedelta(seconds=offset_s)


def session_time_by_our_clock(charger: Charger, at: datetime, received: datetime) -> datetime:
    """A session's time ``at`` (its start, a past session's end: the charger's stamp, or ours where
    that lay too far ahead; which it was is not kept) by our clock (:func:`stamp_by_our_clock`).
    A clock more than :data:`MAX_CLOCK_AHEAD_S` ahead has its live times replaced by ours: its
    session times are taken as they are; one ahead of ``received`` is that time."""
    offset_s = charger._live_clock.confirmed_s
    if too_far_ahead(at, received) or (offset_s is not None and offset_s > MAX_CLOCK_AHEAD_S):
        return time_of(at, received)
    return stamp_by_our_clock(charger, at)


# When we got something: by our clock, and by our monotonic clock (None: not known).
Reception = tuple[datetime | None, float | None]


def reception(received: datetime | None) -> tuple[datetime, float | None]:
    """When we got a reading: ``received`` (not known by the monotonic clock), else now."""
    if received is not None:
        return received, None
    return utcnow(), time.monotonic()


def time_since(base: RegisterPoint, point: RegisterPoint) -> float | None:
    """How much later than ``base`` (s; < 0: before it, history) ``point`` was taken, by the
    charger's stamps: the one rule of what is new (None: a time is unknown).

    A register that did not go down is compared as :func:`later_s` says. A register that went
    down is compared by the charger's own stamps alone (also where they lay too far ahead of our
    clock to stand for a time: one clock stamped both): below the base it is either history
    re-sent (its stamp is old) or a reset, and a replay taken for a reset would count again.
    :func:`_stamped_before_set_back` tells history whose stamp is "later" only because the
    charger's clock went back since it was taken."""
    if base.timestamp is None or point.timestamp is None:
        return None
    if point.register_wh < base.register_wh:
        since = (charger_time(point) - charger_time(base)).total_seconds()
        return -math.inf if _stamped_before_set_back(base, point, since) else since
    return later_s(base.timestamp, received_of(base), point.timestamp, received_of(point))


def replaced_stamp(stamp: datetime, when: datetime) -> datetime | None:
    """The charger's own ``stamp``, kept where :func:`effective_time` replaced it by ``when``
    (None: ``when`` is the stamp)."""
    return None if when == stamp else stamp


def charger_time(point: RegisterPoint) -> datetime:
    """``point``'s time by the charger's clock (its effective time when it sent none)."""
    stamp = own_stamp(point.charger_stamp, point.timestamp)
    assert stamp is not None
    return stamp


def own_stamp(charger_stamp: datetime | None, time: datetime | None) -> datetime | None:
    """A time by the charger's clock: its own stamp where one was kept (its ``time`` was replaced:
    :func:`replaced_stamp`), else ``time`` (None: none)."""
    return charger_stamp or time


# How much further apart a charger's stamps of a live base and a later point may lie than we
# received them (the base's age when sent, delays) while its clock ran on: far below the step
# that puts the queue of a clock set back since beyond :data:`MAX_CLOCK_AHEAD_S`.
_STAMPS_APART_S = 60.0


def _stamped_before_set_back(base: RegisterPoint, point: RegisterPoint, since_s: float) -> bool:
    """Whether ``point``, stamped ``since_s`` after the live ``base`` by the charger, was taken by
    a clock set back since: its stamp lay ahead of our clock while the base's did not, and by
    more than the time between receiving them (by our monotonic clock where known) could make
    (ours went back, and the charger with it: an offline queue flushed after live readings). A
    clock that ran on (one slowly drifting ahead, or right while ours went back) stamps a reset
    after the base about as much later as we received it: a reset, not history."""
    if point.charger_stamp is None or base.charger_stamp is not None or base.received_at is None:
        return False
    apart_s = (point.received_at - base.received_at).total_seconds() if point.received_at else 0.0
    if point._received_monotonic is not None and base._received_monotonic is not None:
        apart_s = point._received_monotonic - base._received_monotonic
    return since_s > apart_s + _STAMPS_APART_S


def later_s(then: datetime, then_received: Reception, now: datetime, received: Reception) -> float:
    """How much later (s; < 0: before) ``now`` was taken than ``then``, each received as said:
    the stamps compared with ``then`` moved by the step our own clock took back between the
    receptions (an NTP correction: our clock against the monotonic one). A charger that sets its
    clock by ours (Heartbeat) stamps a live reading an hour "before" the one it took a minute
    earlier once our clock went back an hour; one whose stamps lie ahead of ours by then gets the
    time we received it (:func:`effective_time`), an hour "before" too."""
    return (now - then).total_seconds() - min(clock_step_s(then_received, received), 0.0)


def received_of(point: RegisterPoint) -> Reception:
    """When we got ``point``: by our clock, and by our monotonic clock."""
    return point.received_at, point._received_monotonic


# Our clock and the monotonic clock drift apart by microseconds between two readings of both: no
# step (it would move stamps kept for ordering, and two reports stamped alike would swap order).
MIN_CLOCK_STEP_S = 1.0


def clock_step_s(then: Reception, now: Reception) -> float:
    """How far our clock jumped (s; < 0: back) between two receptions: what it moved beyond the
    monotonic clock (> 0 also when our host slept: the monotonic clock stops then; 0: a
    reception time is unknown, e.g. a restored base, or less than :data:`MIN_CLOCK_STEP_S`)."""
    then_at, then_monotonic = then
    now_at, now_monotonic = now
    if then_at is None or then_monotonic is None or now_at is None or now_monotonic is None:
        return 0.0
    step_s = (now_at - then_at).total_seconds() - (now_monotonic - then_monotonic)
    return step_s if abs(step_s) >= MIN_CLOCK_STEP_S else 0.0


def by_our_clock_now(then: tuple[datetime, float | None], now: Reception) -> datetime:
    """The time ``then`` was received, by our clock as it is at ``now``: moved by the step our
    clock took since (:func:`clock_step_s`; what is kept over a restart is moved before it is
    saved: the monotonic clock it is told by starts again with our host)."""
    return then[0] + timedelta(seconds=clock_step_s(then, now))


def rise_allowance(
    power_w: float,
    slack_wh: float | None,
    base: RegisterPoint,
    point: RegisterPoint,
    *,
    live_offset_s: float | None = None,
) -> float:
    """How much energy may have been added from ``base`` to ``point``: max power x elapsed time
    (the largest of the charger's, :func:`_charger_elapsed_s`, our clock's and our monotonic
    clock's: a clock set back never drops energy, nor does our host's sleep, which the monotonic
    clock does not count) plus the remaining tolerance. Whether ``base`` was received live is
    judged by the live clock offset settled when we received it (``base.live_offset_s``: one
    confirmed since, after we told the charger the time, is another clock's), else by
    ``live_offset_s``, the charger's confirmed now (``LiveClockOffset.confirmed_s``; None: not
    known)."""
    ours_s = _our_elapsed_s(base, point)
    if base.live_offset_s is not None:
        live_offset_s = base.live_offset_s
    elapsed = max(_charger_elapsed_s(base, point, ours_s, live_offset_s), ours_s)
    slack = ENERGY_TOLERANCE_WH if slack_wh is None else min(slack_wh, ENERGY_TOLERANCE_WH)
    return max_energy_wh(power_w, elapsed, slack)


def _our_elapsed_s(base: RegisterPoint, point: RegisterPoint) -> float:
    """The time between receiving ``base`` and ``point`` (s): the larger by our clock and by our
    monotonic clock (0: not known)."""
    elapsed = 0.0
    if base.received_at is not None and point.received_at is not None:
        elapsed = (point.received_at - base.received_at).total_seconds()
    if base._received_monotonic is not None and point._received_monotonic is not None:
        elapsed = max(elapsed, point._received_monotonic - base._received_monotonic)
    return elapsed


def _charger_elapsed_s(
    base: RegisterPoint, point: RegisterPoint, ours_s: float, live_offset_s: float | None
) -> float:
    """The time from ``base`` to ``point`` by their times (0: unknown, or a base time that is not
    a :func:`believable_stamp`). An offline queue needs it: stamped over hours, it arrives at
    once. A base received live (:func:`on_live_clock`) was taken as we got it, and ``point``
    before we got it: no more than ``ours_s`` (the time between receiving them) lies between
    them, whatever a clock set forward since stamps; more only by what our clock stepped between
    them (:func:`clock_step_s`: our host slept, then our clock was set back; no charger can
    make it step)."""
    if (
        base.timestamp is None
        or point.timestamp is None
        or not believable_stamp(base.timestamp, base.received_at)
    ):
        return 0.0
    elapsed = (point.timestamp - base.timestamp).total_seconds()
    if base.received_at is not None and on_live_clock(
        charger_time(base), base.received_at, live_offset_s
    ):
        our_step_s = abs(clock_step_s(received_of(base), received_of(point)))
        return min(elapsed, ours_s + our_step_s + CLOCK_OFFSET_TOLERANCE_S)
    return elapsed


def believable_stamp(timestamp: datetime, received: datetime | None) -> bool:
    """Whether a charger's ``timestamp`` of what we got at ``received`` (None: not known) can be
    its time: at most :data:`MAX_PAST_SESSION_AGE` before. Older is a clock restarted at an old
    date (its firmware's build date, then set by our answer): the years from there to its next
    timestamp are no time it charged in, never an allowance for a register outlier."""
    return received is None or received - timestamp <= MAX_PAST_SESSION_AGE


def start_register_time(stamp: datetime | None, started: datetime) -> datetime:
    """When a start's register was read: the charger's own ``stamp`` of it, where ``started``
    (the start's time, ours where the stamp lay too far ahead) could not keep it, unless it lies
    more than :data:`MAX_PAST_SESSION_AGE` ahead of ``started``: a clock set years ahead, which
    no rise held for our clock is ever dated by (its register would be confirmed as a jump and
    the held rise lost)."""
    if stamp is None or stamp - started > MAX_PAST_SESSION_AGE:
        return started
    return stamp


def max_energy_wh(power_w: float, elapsed_s: float, slack_wh: float = ENERGY_TOLERANCE_WH) -> float:
    """The most energy ``elapsed_s`` seconds at ``power_w`` can add: the bound of every increment."""
    return slack_wh + power_w * max(elapsed_s, 0.0) / 3600.0
