"""Reservations that end by our clock (``reservation_clock.py``): a 1.6 charger reports no end,
so its reservation's expiry fires the "Expired" event a 2.x station's report gives (before: the
reservation was only no longer shown, and an automation waiting for its end never ran); a 2.x
station's own report comes first, ours only if it has not come a while after. Real sessions over
websockets (V16Session / V201Session) with simulated chargers; the clock is the real one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_ems.core import reservation_clock
from custom_components.ocpp_ems.core.model import Charger, EventKind
from custom_components.ocpp_ems.core.reservation_clock import ReservationClock
from custom_components.ocpp_ems.core.reservations import Reservation
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .v16_harness import Harness, SimCharger, protocol_harness, wait_for
from .v201_fixtures import actual
from .v201_harness import OCPP201, SimStation
from .v201_harness import protocol_harness as v201_protocol_harness


def ends(charger_events: list[tuple[int, dict[str, object]]]) -> list[tuple[int, object, object]]:
    return [(c, d["reservation_id"], d["status"]) for c, d in charger_events]


@contextmanager
def watched(charger: Charger) -> Iterator[list[tuple[int, dict[str, object]]]]:
    """The RESERVATION_STATUS events of ``charger`` while a clock runs for it (its saves: no)."""
    seen: list[tuple[int, dict[str, object]]] = []
    unsubscribe = charger.add_listener(
        lambda e: seen.append((e.connector_id, e.data))
        if e is not None and e.kind is EventKind.RESERVATION_STATUS
        else None
    )
    clock = ReservationClock(charger, lambda: None)
    try:
        yield seen
    finally:
        clock.close()
        unsubscribe()


@pytest.fixture(autouse=True)
def no_start_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ends at once from the clock's start (the delay has a test of its own)."""
    monkeypatch.setattr(reservation_clock, "START_DELAY", timedelta(0))


@pytest.fixture
async def v16(
    socket_enabled: None, directory: MemoryDirectory, server_settings: ServerSettings
) -> AsyncIterator[tuple[Harness, SimCharger]]:
    async with protocol_harness(directory, server_settings) as harness:
        harness.charger.ocpp_version = "ocpp1.6"  # (the server sets it at the connection)
        yield harness, await harness.charger_client()


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_a_1_6_reservation_ends_at_its_expiry_with_an_event(
    v16: tuple[Harness, SimCharger],
) -> None:
    h, _sim = v16
    with watched(h.charger) as seen:
        await h.session.reserve_now(1, "TAG1", soon(0.3), 7)
        await h.session.reserve_now(0, "TAG2", soon(0.6), 8)
        await wait_for(lambda: len(seen) == 2, seconds=3)
    assert ends(seen) == [(1, 7, "Expired"), (0, 8, "Expired")]
    assert h.charger.reservations.held == {}


async def test_a_cancelled_or_taken_reservation_does_not_expire_again(
    v16: tuple[Harness, SimCharger],
) -> None:
    h, sim = v16
    with watched(h.charger) as seen:
        await h.session.reserve_now(1, "TAG1", soon(0.4), 7)
        await h.session.reserve_now(1, "OTHER", soon(0.4), 8)
        await h.session.cancel_reservation(8)
        await sim.start_tx(id_tag="TAG1")  # takes 7: no event, the session is its end
        await h.session.reserve_now(1, "TAG3", soon(0.8), 9)
        await wait_for(lambda: len(seen) == 2, seconds=3)
    assert ends(seen) == [(1, 8, "Cancelled"), (1, 9, "Expired")]


async def test_a_connector_shown_free_after_reserved_ends_its_reservation_at_once(
    v16: tuple[Harness, SimCharger],
) -> None:
    """The 1.6 charger ended it itself: by its own clock at the expiry (which may run a little
    ahead of ours), or well before (its own app, a button): removed."""
    h, sim = v16
    with watched(h.charger) as seen:
        await h.session.reserve_now(1, "TAG1", soon(30), 7)
        await sim.status(1, "Reserved")
        await sim.status(1, "Available")
        await h.session.reserve_now(1, "TAG1", soon(3600), 8)
        await sim.status(1, "Reserved")
        await sim.status(1, "Available")
        await wait_for(lambda: len(seen) == 2, seconds=2)
    assert ends(seen) == [(1, 7, "Expired"), (1, 8, "Removed")]


async def test_an_expiry_during_the_downtime_fires_a_while_after_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not at once: what listens to the charger's events (Home Assistant's entities) is set up
    after the server started. One that expired days ago ends without an event."""
    monkeypatch.setattr(reservation_clock, "START_DELAY", timedelta(seconds=0.4))
    charger = Charger(charger_id="CP1", ocpp_version="ocpp1.6")
    now = datetime.now(UTC)
    for reservation_id, ago in ((1, timedelta(minutes=10)), (2, timedelta(days=2))):
        charger.reservations.made(Reservation(reservation_id, 1, "TAG", now - ago))
    with watched(charger) as seen:
        await asyncio.sleep(0.2)
        assert seen == []
        await wait_for(lambda: bool(seen), seconds=2)
    assert ends(seen) == [(1, 1, "Expired")]
    assert charger.reservations.held == {}
    assert list(charger.reservations.ended) == [1, 2]


@pytest.fixture
async def station(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Harness, SimStation]]:
    """A 2.0.1 station with reservations; its own report is waited for 0.5 s here."""
    monkeypatch.setattr(reservation_clock, "REPORT_GRACE", timedelta(seconds=0.5))

    def reservations(station: SimStation) -> None:
        station.device_model[actual("ReservationCtrlr", "Available")] = "true"
        station.device_model[actual("ReservationCtrlr", "Enabled")] = "true"

    async with v201_protocol_harness(directory, server_settings) as harness:
        harness.charger.ocpp_version = OCPP201
        yield harness, await harness.charger_client(setup=reservations)


async def test_a_2x_stations_own_report_is_the_one_end(
    station: tuple[Harness, SimStation],
) -> None:
    h, sim = station
    with watched(h.charger) as seen:
        await h.session.reserve_now(1, "TAG1", soon(0.2), 7)
        await h.session.reserve_now(1, "TAG2", soon(0.2), 8)
        update = {"reservationId": 7, "reservationUpdateStatus": "Removed"}
        assert (await sim.request("ReservationStatusUpdate", update)).ok
        await wait_for(lambda: len(seen) == 2, seconds=3)  # 8: the station never reported it
        assert (await sim.request("ReservationStatusUpdate", update | {"reservationId": 8})).ok
    assert ends(seen) == [(1, 7, "Removed"), (1, 8, "Expired")]


def test_an_expiry_at_the_end_of_time_never_ends() -> None:
    charger = Charger(charger_id="CP1", ocpp_version="ocpp2.0.1")
    charger.reservations.made(Reservation(1, 1, "TAG", datetime.max.replace(tzinfo=UTC)))
    with watched(charger) as seen:
        charger.notify()
    assert seen == []
    assert list(charger.reservations.held) == [1]
