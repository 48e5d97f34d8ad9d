"""Authorization is enforced (issue 6), end to end: SimCharger -> websockets -> real V16Session ->
ChargerState -> CurrentController -> RemoteStopTransaction / SetChargingProfile back to the
charger. And the authorization event fires once per card swipe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.charger_state import SWIPES_REMEMBERED, id_tag_key
from custom_components.ocpp_ems.core.current_control import CurrentController
from custom_components.ocpp_ems.core.limit_check import LimitCheck
from custom_components.ocpp_ems.core.model import Charger, EventKind, Transaction
from custom_components.ocpp_ems.core.settings import ChargerSettings, PauseStrategy

from .v16_harness import CHARGER_ID, Harness, SimCharger, now_iso, wait_for


@pytest.fixture(autouse=True)
def fast_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LimitCheck, "verify_delay_s", 0.05)
    monkeypatch.setattr(CurrentController, "unauthorized_stop_grace_s", 0.2)


@pytest.fixture
def h(controlled: Harness) -> Harness:
    """This module's harness: current control running (conftest ``controlled``)."""
    return controlled


def live_writes(sim: SimCharger) -> list[float]:
    return [
        float(
            p["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"]
        )
        for p in sim.actions("SetChargingProfile")
        if p["cs_charging_profiles"]["charging_profile_id"] in (3, 4)
    ]


async def attached(h: Harness, **kwargs: Any) -> SimCharger:
    sim = await h.charger_client(**kwargs)
    await wait_for(lambda: h.controller is not None and h.controller._refresh_task is not None)
    return sim


async def test_unauthorized_start_is_stopped_remotely(h: Harness) -> None:
    sim = await attached(h)
    started = await sim.start_tx(id_tag="BAD")
    assert started.id_tag_info["status"] == "Invalid"
    tx = started.transaction_id
    transaction = h.charger.connector(1).transaction
    assert transaction is not None
    assert not transaction.authorized
    await wait_for(lambda: sim.actions("RemoteStopTransaction"))
    assert sim.actions("RemoteStopTransaction") == [{"transaction_id": tx}]
    # The charger does what it was told.
    await sim.call(
        call.StopTransaction(
            meter_stop=1000, timestamp=now_iso(), transaction_id=tx, reason="Remote"
        )
    )
    assert h.charger.connector(1).transaction is None
    await asyncio.sleep(CurrentController.unauthorized_stop_grace_s + 0.1)
    assert 0 not in live_writes(sim)


async def test_unauthorized_transaction_that_ends_while_the_stop_fails(h: Harness) -> None:
    sim = await attached(h)
    # The charger answers the remote stop late (and rejects it); meanwhile the session ends. The
    # delay must outlast our StopTransaction below even on a loaded machine (seen flaky at 2 s).
    sim.delay["RemoteStopTransaction"] = 4.0
    sim.status_override["RemoteStopTransaction"] = "Rejected"
    tx = (await sim.start_tx(id_tag="BAD")).transaction_id
    await wait_for(lambda: sim.actions("RemoteStopTransaction"))
    # Returns once the charger read our answer, i.e. after it sent the late Rejected.
    await sim.call(call.StopTransaction(meter_stop=1000, timestamp=now_iso(), transaction_id=tx))
    await asyncio.sleep(0.2)
    assert 0 not in live_writes(sim)


async def test_detached_controller_leaves_enforcement_to_the_next_attach() -> None:
    charger = Charger(charger_id=CHARGER_ID)
    controller = CurrentController(charger, ChargerSettings, lambda: None)
    await controller._stops._stop_unauthorized("1")  # no session: nothing sent, retried at attach
    assert not controller._stops._blocked
    await controller.close()


async def test_unauthorized_start_gets_zero_amps_when_remote_stop_is_rejected(h: Harness) -> None:
    sim = await attached(h)
    sim.status_override["RemoteStopTransaction"] = "Rejected"
    tx = (await sim.start_tx(id_tag="BAD")).transaction_id
    await wait_for(lambda: live_writes(sim)[-1:] == [0])
    assert sim.actions("RemoteStopTransaction") == [{"transaction_id": tx}]
    # The EMS or a user cannot lift it while that transaction runs.
    await h.get_controller().set_limit(16)
    assert live_writes(sim)[-1] == 0
    await sim.call(call.StopTransaction(meter_stop=1000, timestamp=now_iso(), transaction_id=tx))
    await wait_for(lambda: live_writes(sim)[-1] == 16)


async def test_unauthorized_start_gets_zero_amps_when_remote_stop_fails(h: Harness) -> None:
    sim = await attached(h)
    sim.fail_with_error.add("RemoteStopTransaction")
    await sim.start_tx(id_tag="BAD")
    await wait_for(lambda: live_writes(sim)[-1:] == [0])


async def test_unauthorized_start_that_keeps_running_after_an_accepted_stop(h: Harness) -> None:
    sim = await attached(h)
    tx = (await sim.start_tx(id_tag="BAD")).transaction_id
    await wait_for(lambda: sim.actions("RemoteStopTransaction"))
    # Accepted, but the charger never ends it: 0 A after the grace time.
    await wait_for(lambda: live_writes(sim)[-1:] == [0])
    assert h.charger.connector(1).transaction is not None
    await sim.call(call.StopTransaction(meter_stop=1000, timestamp=now_iso(), transaction_id=tx))
    await wait_for(lambda: live_writes(sim)[-1] == 32)


async def test_authorized_and_remote_start_tags_are_not_stopped(
    h: Harness, settings: ChargerSettings
) -> None:
    sim = await attached(h)
    await sim.start_tx(id_tag="TAG1")
    await sim.start_tx(connector_id=2, id_tag=settings.remote_start_id_tag)
    assert all(c.transaction is not None and c.transaction.authorized for c in h.charger.outlets)
    await sim.status(1, "Charging")  # lets pending controller work run
    assert sim.actions("RemoteStopTransaction") == []
    assert 0 not in live_writes(sim)


async def test_unauthorized_transaction_restored_from_the_store_is_stopped_at_attach(
    h: Harness,
) -> None:
    h.charger.connector(1).transaction = Transaction(
        transaction_id="77",
        connector_id=1,
        id_tag="BAD",
        started_at=datetime.now(UTC),
        meter_start_wh=0,
        meter_last_wh=0,
        authorized=False,
    )
    sim = await attached(h)
    await wait_for(lambda: sim.actions("RemoteStopTransaction"))
    assert sim.actions("RemoteStopTransaction") == [{"transaction_id": 77}]
    # A reconnect while that stop is under way does not send a second one.
    again = await attached(h)
    await wait_for(lambda: live_writes(again)[-1:] == [0])
    assert again.actions("RemoteStopTransaction") == []


async def test_authorization_event_fires_once_per_swipe(h: Harness) -> None:
    sim = await h.charger_client(boot=False)

    def authorizations() -> list[str]:
        return [
            str(e.kind)
            for e in h.events
            if e.kind in (EventKind.AUTHORIZED, EventKind.AUTHORIZATION_REJECTED)
        ]

    # A swipe: Authorize, then the start with the same tag.
    await sim.call(call.Authorize(id_tag="TAG1"))
    await sim.start_tx(id_tag="TAG1")
    assert authorizations() == ["authorized"]
    # A start authorized from the charger's local list (no Authorize): once.
    await sim.start_tx(connector_id=2, id_tag="TAG1")
    assert authorizations() == ["authorized", "authorized"]
    # A rejected swipe the charger starts anyway: once.
    await sim.call(call.Authorize(id_tag="BAD"))
    await sim.start_tx(connector_id=3, id_tag="BAD")
    assert authorizations() == ["authorized", "authorized", "authorization_rejected"]


async def test_swipes_are_remembered_within_bounds(h: Harness) -> None:
    """A charger may ask for any number of tags without starting: only the newest
    SWIPES_REMEMBERED swipes are kept, so a swipe pushed out fires its event again at the start."""
    sim = await h.charger_client(boot=False)

    def events_of(tag: str) -> int:
        kinds = (EventKind.AUTHORIZED, EventKind.AUTHORIZATION_REJECTED)
        return sum(1 for e in h.events if e.kind in kinds and e.data.get("id_tag") == tag)

    await sim.call(call.Authorize(id_tag="OLD"))
    for n in range(SWIPES_REMEMBERED - 1):
        await sim.call(call.Authorize(id_tag=f"T{n}"))
    await sim.start_tx(id_tag="OLD")  # still remembered: its swipe's event only
    await sim.call(call.Authorize(id_tag="OLD2"))
    for n in range(SWIPES_REMEMBERED):
        await sim.call(call.Authorize(id_tag=f"U{n}"))
    await sim.start_tx(connector_id=2, id_tag="OLD2")  # pushed out: its event fires again
    assert (events_of("OLD"), events_of("OLD2")) == (1, 2)


async def test_resume_by_remote_start_skips_a_refused_car(
    h: Harness, settings: ChargerSettings
) -> None:
    """With pause by stop + start, resuming must not remote-start (with our own, always accepted
    tag) the connector whose last session was refused and stopped."""
    settings.pause_strategy = PauseStrategy.REMOTE_STOP_START
    sim = await attached(h)
    tx = (await sim.start_tx(id_tag="BAD")).transaction_id
    await wait_for(lambda: sim.actions("RemoteStopTransaction"))
    await sim.call(call.StopTransaction(meter_stop=1000, timestamp=now_iso(), transaction_id=tx))
    controller = h.get_controller()
    await controller.pause()
    await controller.resume()
    assert sim.actions("RemoteStartTransaction") == []


async def test_remote_start_tag_echoed_in_another_case_is_ours(
    h: Harness, settings: ChargerSettings
) -> None:
    """OCPP 1.6 idTag is CiString20Type (case-insensitive): a charger may echo our remote start
    tag "HomeAssistant" as "HOMEASSISTANT". Home Assistant's own start is accepted, not stopped."""
    sim = await attached(h)
    started = await sim.start_tx(id_tag=settings.remote_start_id_tag.upper())
    assert started.id_tag_info["status"] == "Accepted"
    await asyncio.sleep(0.4)
    assert sim.actions("RemoteStopTransaction") == []


def test_id_tags_compare_without_ascii_case_only() -> None:
    """One rule for comparing id tags: ASCII letters without case, surrounding blanks ignored;
    a non-ASCII character never matches an ASCII one (KELVIN SIGN lowers to "k")."""
    assert id_tag_key(" HomeAssistant ") == id_tag_key("HOMEASSISTANT")
    assert id_tag_key("\u212aEY") != id_tag_key("KEY")
    assert id_tag_key("\u00c4") != id_tag_key("\u00e4")
