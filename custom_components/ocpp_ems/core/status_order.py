"""How a connector status report is ordered against the status and readings shown, by the
charger's clock: a stamped status is taken after the one shown by the charger's own stamps, an
untimed one counts as of its arrival on the charger's clock (its skew, or an offset its live
readings confirmed beyond delivery delay). :class:`~.connector_status.ConnectorStatuses` applies
these rules; nothing here changes the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from .meter import Report, shown_reading
from .meter_time import clock_step_s, later_s, too_far_ahead
from .model import Charger, Connector, ConnectorStatus
from .timeutil import CLOCK_OFFSET_TOLERANCE_S, clock_offset_s, offsets_agree

# Statuses in which no power flows: a connector's last power/current readings are over (a charger
# that rebooted mid-session, or stopped reporting, would leave them on as if still charging).
NO_FLOW_STATUSES = frozenset(
    {
        ConnectorStatus.AVAILABLE,
        ConnectorStatus.PREPARING,
        ConnectorStatus.FINISHING,
        ConnectorStatus.UNAVAILABLE,
        ConnectorStatus.FAULTED,
    }
)
# No-flow statuses that end a flow (the rest, Available and Preparing, may come before one): a
# lag of the charger's clock that is not recorded never moves them back (clock_off_s).
FLOW_ENDED_STATUSES = NO_FLOW_STATUSES - {ConnectorStatus.AVAILABLE, ConnectorStatus.PREPARING}
# Many chargers stamp whole seconds (truncated): a status sent untimed counts as of its arrival
# less this, so one stamped by the same clock right after it is not taken for older.
STAMP_RESOLUTION_S = 1.0
# A live reading's stamp lies behind the time it comes by its delivery delay (the network's and
# the charger's, which vary by up to CLOCK_OFFSET_TOLERANCE_S) and by a truncation to whole
# seconds: a lag confirmed up to this much may be no lag of the charger's clock at all.
DELIVERY_LAG_S = CLOCK_OFFSET_TOLERANCE_S + STAMP_RESOLUTION_S
# A reading cannot come before it was taken: delivery never puts a live stamp ahead of the time
# it comes, only a stamp rounded (not truncated) to whole seconds does, by up to half of
# STAMP_RESOLUTION_S (and two clocks set by NTP differ by milliseconds): a lead confirmed beyond
# this is the charger's clock's.
DELIVERY_LEAD_S = STAMP_RESOLUTION_S


def shown_status(connector: Connector) -> Report | None:
    """The status ``connector`` shows (None: none yet)."""
    if connector.status_timestamp is None:
        return None
    got = (connector._status_received_at, connector._status_received_monotonic)
    return Report(connector.status_timestamp, connector._status_stamp, got)


def out_of_order(connector: Connector, report: Report, clock_off_s: float | None) -> bool:
    """Whether a stamped status, ``report``, was taken before the one ``connector`` shows, its
    clock off ours by ``clock_off_s`` (:func:`clock_off_s`) if that one came untimed."""
    status_shown = shown_status(connector)
    if status_shown is None:
        return False
    shown = (status_shown, shown_reading(connector.meter))
    on_its_clock = on_charger_clock(status_shown, report, clock_off_s)
    return not taken_after(on_its_clock, report, shown)


def clock_off_s(charger: Charger, shown: ConnectorStatus) -> float | None:
    """How far (s; < 0: behind) ``charger``'s clock is off ours, to order its stamps against the
    status a connector shows, ``shown``, if it came untimed (:func:`on_charger_clock`):
    ``clock_skew_s``, else an offset its live readings confirmed (``LiveClockOffset.confirmed_s``)
    that is too small for ``clock_skew_s``: the live stamps of a clock up to
    ``meter_time.MAX_CLOCK_BEHIND_S`` behind lie that far before the untimed status's arrival,
    those of one up to ``meter_time.MAX_CLOCK_AHEAD_S`` ahead that far after it (a status it
    queued before that arrival, stamped after it by our clock, would replace it). None: on ours.

    Such an offset is read off the wire, and a clock on ours whose readings come late looks like
    one behind: so it is not used while delivery may explain it (:func:`beyond_delivery`), nor
    to move back a status that ended a flow (:data:`FLOW_ENDED_STATUSES`): a reading taken before
    that status would show its power after it (22 kW while Faulted), a status queued before it
    would replace it. The cost, on a clock that does lag: after such a status, a live reading
    shows 0 W until its stamps pass the status's arrival (the lag), and a live stamped status
    sent within the lag is dropped. A lead moves the status forward (what was taken before it
    stays out); its cost: the charger's clock set right without our time (its own NTP), its live
    stamped statuses sent within the lead after the untimed one are dropped until live readings
    confirm the new offset (the latest is then ordered again by it,
    :meth:`~.connector_status.ConnectorStatuses._retake_held_status`). Our time sent clears either
    (:meth:`LiveClockOffset.clock_set`): a clock set right by it would stamp its live statuses
    before the untimed one, as queued ones of a clock still ahead are (a lag has
    :func:`may_be_stamped_by`)."""
    if charger.clock_skew_s is not None:
        return charger.clock_skew_s
    confirmed_s = charger._live_clock.confirmed_s
    if (
        confirmed_s is None
        or not beyond_delivery(confirmed_s)
        or (confirmed_s < 0.0 and shown in FLOW_ENDED_STATUSES)
    ):
        return None
    return round(confirmed_s)


def beyond_delivery(offset_s: float) -> bool:
    """Whether a live offset off our clock (:func:`~.timeutil.clock_offset_s`) is the charger's
    clock's: beyond what delivery makes of a clock on ours, :data:`DELIVERY_LAG_S` behind to
    :data:`DELIVERY_LEAD_S` ahead."""
    return not -DELIVERY_LAG_S <= offset_s <= DELIVERY_LEAD_S


def on_charger_clock(status: Report, report: Report, skew_s: float | None) -> Report:
    """``status`` with a stamp by the charger's clock: one sent untimed counts as of its arrival
    by the charger's clock, so ``report`` (stamped: an offline queue flushed after a reconnect)
    is ordered against it by one clock (:func:`taken_after`). That clock is off ours by
    ``skew_s`` (:func:`clock_off_s` before ``report`` came: ahead as a stamp or its live
    readings showed, a time then only if not too far ahead; behind as its live readings
    confirmed, while ``report``'s stamp may still come from it: :func:`may_be_stamped_by`),
    else it counts as on ours (a single reading's lag may be its age in a queue). Its stamp is
    truncated as the clock's own may be (:data:`STAMP_RESOLUTION_S`)."""
    if status.stamp is not None or status.got[0] is None:
        return status
    if skew_s is None or (skew_s < 0.0 and not may_be_stamped_by(report, skew_s)):
        skew_s = 0.0
    arrived = status.got[0]
    stamp = arrived + timedelta(seconds=skew_s - STAMP_RESOLUTION_S)
    return Report(arrived if too_far_ahead(stamp, arrived) else stamp, stamp, status.got)


def may_be_stamped_by(report: Report, offset_s: float) -> bool:
    """Whether ``report`` may be stamped by a clock ``offset_s`` off ours (< 0: behind): its
    stamp lies no further ahead of the time we got it, as a reading cannot come before it was
    taken (a stamp further ahead is of a clock that was further ahead: one behind that our
    Heartbeat answer set right since keeps its skew until live readings confirm the new offset;
    a status queued before the charger's own NTP set its clock right)."""
    assert report.stamp is not None
    assert report.got[0] is not None
    stamp_ahead_s = clock_offset_s(report.stamp, report.got[0])
    return stamp_ahead_s <= offset_s or offsets_agree(stamp_ahead_s, offset_s)


def taken_after(shown: Report, report: Report, received_with: Sequence[Report | None]) -> bool:
    """Whether ``report`` (a status) was taken at or after what the connector shows (``shown``):
    as :func:`~.meter_time.later_s` says of their times (our clock set back since is no age). Stamped
    by the charger before ``shown`` and later only by our clock's step, it is news only from a
    clock that went back with ours: its stamp lies as far ahead of our clock as the charger's
    clock led ours when ``shown`` came (:func:`lead_s`, of ``received_with``), less at most the
    time since ``shown`` came (taken since then). Further ahead, the charger's clock has not gone
    back (its own time source; our Heartbeat answer has not set it yet): a status it queued
    before ``shown`` and sends late. Further behind, it was taken before ``shown`` came, before
    the step: queued too (older than the step; ``shown`` stamped when its state began, long
    before it came, had it pass). Shown alone, the lead may be as low as ``shown``'s own offset
    (it came live): a live status of a clock behind ours is not dropped for it.

    The charger's own stamps are compared (also those a clock too far ahead had replaced: one
    clock stamped both; a late status of a clock 10 min ahead came after the one shown by the
    times we got them). Without a stamp or a reception time of either, there is no second clock
    to go by: their times are."""
    if later_s(shown.time, shown.got, report.time, report.got) < 0.0:
        return False
    if (
        shown.stamp is None
        or report.stamp is None
        or shown.got[0] is None
        or report.got[0] is None
        or report.stamp >= shown.stamp
    ):
        return True
    if clock_step_s(shown.got, report.got) >= 0.0:
        # Our clock did not go back: earlier by the charger's clock, unless that clock came right
        # (it stamped ``shown`` too far ahead, this one not: their times order them).
        return shown.stamp != shown.time and report.stamp == report.time
    least_ahead_s, ahead_s = lead_s(shown, received_with)
    stamp_ahead_s = clock_offset_s(report.stamp, report.got[0])
    since_s = later_s(shown.got[0], shown.got, report.got[0], report.got)
    # How long before it came it was taken, by the least lead: at most since ``shown`` came.
    lag_s = least_ahead_s - stamp_ahead_s
    return (stamp_ahead_s <= ahead_s or offsets_agree(stamp_ahead_s, ahead_s)) and (
        lag_s <= since_s or offsets_agree(lag_s, since_s)
    )


def lead_s(shown: Report, received_with: Sequence[Report | None]) -> tuple[float, float]:
    """How far (s; < 0: behind) the charger's clock led ours when ``shown`` came, as the least
    and the most it may have: the most any of its stamps received without a step of our clock
    from ``shown`` (``shown``'s included, which has a stamp and a reception time) lay ahead of
    the time we got it. A queued report lies behind that by its age, a live one not: a lead
    below 0 is a clock behind ours (ours ran ahead until our step corrected it). Shown alone
    (nothing received with it), it can be either: from ``shown``'s own offset (it came live) to
    at least 0 (it was queued: a late queued status is replaced by the charger's next one; live
    statuses dropped would keep the old one for up to our clock's step)."""
    assert shown.stamp is not None
    assert shown.got[0] is not None
    own = clock_offset_s(shown.stamp, shown.got[0])
    others = [
        clock_offset_s(other.stamp, other.got[0])
        for other in received_with
        if other is not None
        and other is not shown
        and other.stamp is not None
        and other.got[0] is not None
        and clock_step_s(other.got, shown.got) == 0.0
    ]
    if others:
        most_s = max(own, *others)
        return most_s, most_s
    return own, max(own, 0.0)
