"""Connector statuses (StatusNotification; a 2.x station's combined EVSE state): which status a
connector shows, ordered by the charger's own timestamps (the ordering rules are
:mod:`.status_order`'s), and the stamped statuses held back only by the charger's clock offset
until its live readings confirm it (:meth:`ConnectorStatuses.retake_held_statuses`). Also a 2.x
station's component problems (NotifyEvent), its connectors' errors as a 1.6 error code is
(:meth:`ConnectorStatuses.record_problem`)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import NamedTuple

from . import status_order
from .fault_news import problem_is_news, status_fault_is_news
from .meter import Report, clear_flow, shown_reading
from .meter_time import effective_time, reception
from .model import MAX_PROBLEMS, Connector, ConnectorStatus, DeviceProblem, EventKind
from .model_writer import ModelWriter
from .status_order import NO_FLOW_STATUSES
from .timeutil import utcnow

_LOGGER = logging.getLogger(__name__)


class _StatusNews(NamedTuple):
    """What a status report says of a connector (:meth:`ConnectorStatuses.record_status`)."""

    status: ConnectorStatus
    error_code: str | None
    vendor_error_code: str | None
    info: str | None


class _HeldStatus(NamedTuple):
    """A stamped status dropped only because the charger's clock offset
    (:func:`~.status_order.clock_off_s`) put the untimed status shown after it: ordered again by
    the next offset live readings confirm (:meth:`ConnectorStatuses._retake_held_status`)."""

    news: _StatusNews
    report: Report
    # ``LiveClockOffset.confirmations`` when it came.
    confirmations: int


class ConnectorStatuses:
    """Applies the statuses a charger reports to its connectors (one per session)."""

    def __init__(self, writer: ModelWriter) -> None:
        self._writer = writer
        self._charger = writer.charger
        # Connector id -> its latest status dropped only by a clock offset (_HeldStatus).
        self._held_statuses: dict[int, _HeldStatus] = {}

    def record_status(
        self,
        connector_id: int,
        status: ConnectorStatus,
        *,
        timestamp: datetime | None,
        error_code: str | None = None,
        vendor_error_code: str | None = None,
        info: str | None = None,
    ) -> bool:
        """A connector's status. ``timestamp`` None = "now" (then it counts in arrival order).

        Statuses are ordered by the charger's own timestamps
        (:func:`~.status_order.taken_after`): an older one than the connector's current status is
        ignored (False). ``error_code`` None means no error. A fault that is news
        (:mod:`.fault_news`) fires a FAULT event.
        """
        connector = self._charger.connector(connector_id)
        skew, clock_off_s = (
            self._charger.clock_skew_s,
            status_order.clock_off_s(self._charger, connector.status),
        )
        got = reception(None)
        now = got[0]
        when = now if timestamp is None else effective_time(self._charger, timestamp, now)
        if self._writer.skew_changed(skew):
            self._charger.notify()
        report = Report(when, timestamp, got)
        news = _StatusNews(status, error_code, vendor_error_code, info)
        if timestamp is not None and status_order.out_of_order(connector, report, clock_off_s):
            self._hold_status(connector, news, report, clock_off_s)
            _LOGGER.debug(
                "%s: ignoring out-of-order status %s of connector %s",
                self._charger.charger_id,
                status,
                connector_id,
            )
            return False
        self._apply_status(connector, news, report)
        return True

    def _apply_status(self, connector: Connector, news: _StatusNews, report: Report) -> None:
        """Show ``news`` (taken at or after the status shown, as ``report`` says) on
        ``connector``."""
        self._held_statuses.pop(connector.connector_id, None)  # (older than this one)
        shown = (status_order.shown_status(connector), shown_reading(connector.meter))
        reading_shown = shown[1]
        previous, fault_before = connector.status, connector.fault
        stopped_before = connector.stopped_for_fault
        changed = (previous, connector.error_code, connector.vendor_error) != (
            news.status,
            news.error_code,
            news.vendor_error_code,
        )
        connector.status = news.status
        connector.status_timestamp = report.time
        connector._status_stamp = report.stamp
        connector._status_received_at, connector._status_received_monotonic = report.got
        connector.error_code = news.error_code
        connector.vendor_error = news.vendor_error_code
        if news.status in NO_FLOW_STATUSES and (
            reading_shown is None
            or report.stamp is None
            or status_order.taken_after(reading_shown, report, shown)
        ):
            # (Not a queued status older than the newest reading: that one is the flow now. One
            # sent untimed is live: taken after any reading we got.)
            changed |= clear_flow(connector)
        if (
            previous is ConnectorStatus.RESERVED
            and news.status is ConnectorStatus.AVAILABLE
            and self._charger.reservations.release(connector.connector_id, utcnow())
        ):
            changed = True
            self._writer.context.request_save()
        if changed:
            # A 2.x station repeats its charging state in every TransactionEvent: only a change
            # is news for the listeners (the meter values of the same event notify anyway).
            self._charger.notify()
        connector.restored_fault = None  # (reported: ``fault_before`` was the restored one)
        if status_fault_is_news(
            self._charger, connector, fault_before, stopped_before=stopped_before
        ):
            self._writer.fire(
                EventKind.FAULT,
                connector.connector_id,
                error_code=news.error_code,
                info=news.info,
                vendor_error_code=news.vendor_error_code,
            )

    def record_problem(
        self, connector_id: int, component: str, problem: DeviceProblem | None
    ) -> None:
        """A 2.x station's device model reports a problem of ``component`` on the connector (0:
        the station), or its end (``problem`` None). A new one fires a FAULT event (the
        component as its error code, the station's code and text), as a 1.6 fault does."""
        if problem is None and connector_id not in self._charger.connectors:
            return  # (a monitor's "false" for an EVSE never reported: no outlet made of it)
        connector = self._charger.connector(connector_id)
        problems = connector.problems
        known = problems.get(component)
        news = known is None and problem_is_news(connector, component)  # (reported since boot)
        if problem == known:
            return
        if problem is None:
            del problems[component]
        elif known is None and len(problems) >= MAX_PROBLEMS:
            _LOGGER.debug(
                "%s: problem of %s on connector %s not kept (%d kept already)",
                self._charger.charger_id,
                component,
                connector_id,
                MAX_PROBLEMS,
            )
            return
        else:
            problems[component] = problem
        self._writer.context.request_save()
        self._charger.notify()
        if news and problem is not None:
            self._writer.fire(
                EventKind.FAULT,
                connector_id,
                error_code=component,
                info=problem.info,
                vendor_error_code=problem.code,
            )

    def forget_problems(self) -> None:
        """The station booted: its device model reports again what is still wrong (a problem it
        cleared while it rebooted would be shown for ever); one it reports again is no news."""
        cleared = False
        for connector in self._charger.connectors.values():
            cleared |= bool(connector.problems)
            connector.problems_before_boot, connector.problems = connector.problems, {}
        if cleared:
            self._writer.context.request_save()

    def _hold_status(
        self, connector: Connector, news: _StatusNews, report: Report, offset_s: float | None
    ) -> None:
        """Keep a status dropped as older than the untimed one ``connector`` shows only by the
        charger's clock offset ``offset_s`` (on ours, it comes after it), replacing the one kept
        before: the lead may be stale (a clock its own NTP set right since), which the next
        offset its live readings confirm shows."""
        if offset_s is None or status_order.out_of_order(connector, report, None):
            return
        confirmations = self._charger._live_clock.confirmations
        self._held_statuses[connector.connector_id] = _HeldStatus(news, report, confirmations)

    def retake_held_statuses(self) -> None:
        """Order each connector's held status again (:meth:`_retake_held_status`) once live
        readings of any connector confirmed an offset since it came: the clock is the charger's
        (a connector waiting for its car's authorization, or one metered only on connector 0,
        sends none of its own)."""
        confirmations = self._charger._live_clock.confirmations
        for connector_id, held in list(self._held_statuses.items()):
            if held.confirmations != confirmations:
                del self._held_statuses[connector_id]
                self._retake_held_status(self._charger.connector(connector_id), held)

    def _retake_held_status(self, connector: Connector, held: _HeldStatus) -> None:
        """Order ``held``, the status held for ``connector`` (:meth:`_hold_status`), again by the
        first offset of the charger's clock live readings confirm after it came (forgotten then:
        a later change of the clock is no evidence of the one before): shown if its stamp may
        come from a clock that far off ours (a status queued before the untimed one by the clock
        still ahead lies further ahead) and it then comes after the status shown. The offset
        confirmed may be the old one: it stays dropped then."""
        offset_s = status_order.clock_off_s(self._charger, connector.status)
        if status_order.may_be_stamped_by(held.report, offset_s or 0.0) and not (
            status_order.out_of_order(connector, held.report, offset_s)
        ):
            self._apply_status(connector, held.news, held.report)


def flow_predates_status(connector: Connector, skew_s: float | None) -> bool:
    """Whether the reading ``connector`` shows was taken before the no-flow status it shows
    (an offline queue flushed after the charger's live Finishing): its power is over. A
    reading taken after it (the car draws again), or as of it, is the flow now."""
    status_shown = status_order.shown_status(connector)
    reading_shown = shown_reading(connector.meter)
    if (
        connector.status not in NO_FLOW_STATUSES
        or status_shown is None
        or reading_shown is None
        or reading_shown.got[0] is None  # restored: no reception to order by
    ):
        return False
    shown = (status_shown, reading_shown)
    status = status_order.on_charger_clock(status_shown, reading_shown, skew_s)
    return status_order.taken_after(reading_shown, status, shown) and not (
        status_order.taken_after(status, reading_shown, shown)
    )
