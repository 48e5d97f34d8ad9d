"""Reservations that end by our clock, with the event a charger's report of the end would give.

A 1.6 charger reports no reservation's end: at its expiry (or once the charger showed its
connector free again after *reserved*: ``ReservationBook.release``) the reservation ends by our
clock, and RESERVATION_STATUS fires with ``status`` "Expired" ("Removed" when the charger ended
it well before its expiry), as a 2.x station's own report does. A 2.x station reports its end
itself; one that has not :data:`REPORT_GRACE` after the expiry is ended the same way (its
report, if it comes later, is no new end). Nothing ends so sooner than :data:`START_DELAY`
after the clock's start (what listens to the charger's events is set up by then): a reservation
that expired while Home Assistant was down ends then, unless it expired more than
:data:`STALE_AFTER` ago (an older version kept ended ones without telling: ended quietly).

:func:`end_reservation` is the one path of an end without a session (reported, cancelled, or
by our clock): the book records it once, and the event fires once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from .model import Charger, ChargerEvent, EventKind
from .timeutil import utcnow

# A 2.x station's own report of a reservation's end is waited for this long after its expiry.
REPORT_GRACE = timedelta(seconds=60)
# A reservation that expired longer ago than this when first seen ends without an event.
STALE_AFTER = timedelta(hours=24)
# No end by our clock sooner than this after the clock starts (the server's start).
START_DELAY = timedelta(seconds=60)
# RESERVATION_STATUS's ``status`` of a reservation ended by our clock (a 2.x station's words).
EXPIRED = "Expired"
REMOVED = "Removed"  # the charger ended it itself well before its expiry


def end_reservation(charger: Charger, reservation_id: int, status: str) -> bool:
    """The reservation ended without a session (``status``: the charger's report, our cancel,
    or :data:`EXPIRED` by our clock): RESERVATION_STATUS fires for its connector (0:
    charger-wide, or one we never made), once. False: its end was recorded already."""
    connector_id = charger.reservations.end(reservation_id)
    if connector_id is None:
        return False
    charger.notify()
    charger.notify(
        ChargerEvent(
            kind=EventKind.RESERVATION_STATUS,
            connector_id=connector_id,
            data={"reservation_id": reservation_id, "status": status},
        )
    )
    return True


class ReservationClock:
    """Ends one charger's reservations by our clock (see the module docstring): a timer at the
    soonest one's due time, set again on every change of the charger's model."""

    def __init__(self, charger: Charger, request_save: Callable[[], None]) -> None:
        self._charger = charger
        self._request_save = request_save
        self._timer: asyncio.TimerHandle | None = None
        self._due: datetime | None = None
        self._unsubscribe: Callable[[], None] | None = charger.add_listener(self._on_charger)
        self._started = utcnow()
        self._arm()

    def close(self) -> None:
        """No more ends by our clock (the server stops, or the charger was deleted)."""
        self._cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _grace(self) -> timedelta:
        version = self._charger.ocpp_version or ""
        return timedelta(0) if version.startswith("ocpp1") else REPORT_GRACE

    def _on_charger(self, event: ChargerEvent | None) -> None:
        if event is None:  # (a reservation made, ended or released changes the model)
            self._arm()

    def _end_due(self) -> None:
        """End each reservation due by now; then wait for the next."""
        now, grace = utcnow(), self._grace()
        held = self._charger.reservations.held
        due = [r for r in held.values() if r.expires_at <= now - grace]
        ended = False
        for reservation in due:
            if now - reservation.expires_at > STALE_AFTER:
                ended |= self._charger.reservations.end(reservation.reservation_id) is not None
            else:
                status = REMOVED if reservation.removed else EXPIRED
                ended |= end_reservation(self._charger, reservation.reservation_id, status)
        if ended:
            self._request_save()
        self._arm()

    def _arm(self) -> None:
        held = self._charger.reservations.held.values()
        due = min((r.expires_at for r in held), default=None)
        if due is not None:
            try:
                due = max(due + self._grace(), self._started + START_DELAY)
            except OverflowError:  # an expiry at the end of time: never
                due = None
        if due == self._due:
            return
        self._cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a model used outside one): armed at the next change
            return
        if due is not None:
            delay = (due - utcnow()).total_seconds()
            self._timer = loop.call_later(max(delay, 0.0), self._fired)
            self._due = due

    def _fired(self) -> None:
        self._timer = None
        self._due = None
        self._end_due()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = None
