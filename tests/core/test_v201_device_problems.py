"""A 2.x station's problems (NotifyEvent: a component's Problem or Tripped variable) become its
connector's error, as a 1.6 StatusNotification's error code does: the fault binary sensor's rule
(``Connector.has_error``) and a FAULT event with the component as its error code. Before, a 2.x
station's problems were only logged: a plug lock that failed (G05) showed nothing. 2.0.1 and 2.1
over real websockets (``h2``)."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import (
    MAX_PROBLEMS,
    Charger,
    ChargerInfo,
    DeviceProblem,
    EventKind,
)
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict

from .v201_harness import Harness, now_iso


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


@pytest.fixture
async def sim(h: Harness) -> Any:
    station = await h.charger_client()
    await station.status(1, 1, "Available")
    return station


def event(
    component: str,
    value: str = "true",
    *,
    variable: str = "Problem",
    evse: int | None = 1,
    instance: str | None = None,
    event_id: int = 1,
    **more: Any,
) -> dict[str, Any]:
    where: dict[str, Any] = {"name": component}
    if instance is not None:
        where["instance"] = instance
    if evse is not None:
        where["evse"] = {"id": evse}
    return {
        "eventId": event_id,
        "timestamp": now_iso(),
        "trigger": "Delta",
        "actualValue": value,
        "eventNotificationType": "HardWiredNotification",
        "component": where,
        "variable": {"name": variable},
        **more,
    }


async def notify(sim: Any, *events: dict[str, Any]) -> Any:
    payload = {"generatedAt": now_iso(), "seqNo": 0, "eventData": list(events)}
    return await sim.request("NotifyEvent", payload)


def faults(h: Harness) -> list[dict[str, Any]]:
    return [
        dict(e.data) | {"connector": e.connector_id} for e in h.events if e.kind is EventKind.FAULT
    ]


async def test_a_lock_failure_is_the_connectors_error_until_cleared(h: Harness, sim: Any) -> None:
    """G05: the plug retention lock reports a problem; the connector shows an error and a FAULT
    event names the component (once: the same report again is no news); cleared, it goes."""
    lock = event("ConnectorPlugRetentionLock", techCode="LF01", techInfo="lock motor stalled")
    assert (await notify(sim, lock)).ok
    connector = h.charger.connectors[1]
    assert connector.has_error
    assert connector.problems == {
        "ConnectorPlugRetentionLock": DeviceProblem(code="LF01", info="lock motor stalled")
    }
    expected = {
        "connector": 1,
        "error_code": "ConnectorPlugRetentionLock",
        "info": "lock motor stalled",
        "vendor_error_code": "LF01",
    }
    assert faults(h) == [expected]
    await notify(sim, {**lock, "eventId": 2})
    assert len(faults(h)) == 1
    await notify(sim, event("ConnectorPlugRetentionLock", "false", event_id=3))
    assert not connector.has_error
    assert connector.problems == {}
    # Reported again later: news again.
    await notify(sim, {**lock, "eventId": 4})
    assert len(faults(h)) == 2
    await notify(sim, {**lock, "eventId": 5, "cleared": True})
    assert not connector.has_error


async def test_station_problems_tripped_breakers_and_other_events(h: Harness, sim: Any) -> None:
    """Without an EVSE the problem is the station's (connector 0); a Tripped variable is one too,
    named with it; an instance tells two of a kind apart; a monitor's alert on another variable
    (a temperature) is no problem (logged only)."""
    await notify(
        sim,
        event("ChargingStation", evse=None, event_id=1),
        event("RCD", variable="Tripped", event_id=2),
        event("Controller", instance="modem", evse=None, event_id=3, techInfo="no SIM"),
        event("EVSE", "62.5", variable="Temperature", event_id=4, trigger="Alerting"),
    )
    station, outlet = h.charger.connectors[0], h.charger.connectors[1]
    assert set(station.problems) == {"ChargingStation", "Controller/modem"}
    assert station.problems["Controller/modem"] == DeviceProblem(info="no SIM")
    assert set(outlet.problems) == {"RCD.Tripped"}
    assert [f["error_code"] for f in faults(h)] == [
        "ChargingStation",
        "RCD.Tripped",
        "Controller/modem",
    ]


async def test_an_implausible_evse_refuses_the_whole_message(h: Harness, sim: Any) -> None:
    """An EVSE no station can have is refused with a CALLERROR, and nothing of the message is
    applied (not even its good events)."""
    answer = await notify(sim, event("EVSE", event_id=1), event("EVSE", evse=999, event_id=2))
    assert not answer.ok
    assert all(not c.problems for c in h.charger.connectors.values())
    assert faults(h) == []


async def test_problems_are_bounded_kept_across_a_restart_and_forgotten_at_a_boot(
    h: Harness, sim: Any
) -> None:
    """A station naming a new component in every event keeps MAX_PROBLEMS; they are stored (a
    station does not report them again after a reconnect) and read back; a boot forgets them
    (what is still wrong is reported again)."""
    await notify(sim, *(event(f"Part{n}", event_id=n) for n in range(MAX_PROBLEMS + 5)))
    problems = h.charger.connectors[1].problems
    assert len(problems) == MAX_PROBLEMS
    assert len(faults(h)) == MAX_PROBLEMS
    restored = charger_from_dict(charger_to_dict(h.charger))
    assert restored.connectors[1].problems == problems
    await sim.boot()
    assert h.charger.connectors[1].problems == {}


def test_damaged_stored_problems_are_left_out() -> None:
    charger = Charger(charger_id="CP", info=ChargerInfo(vendor="V", model="M"))
    charger.connector(1).problems["Lock"] = DeviceProblem(code="E1")
    stored = charger_to_dict(charger)
    stored["connectors"]["1"]["problems"] = {
        "Lock": {"code": "E1", "info": 7},  # info no text: left out, the problem kept
        "Broken": "yes",
    }
    assert charger_from_dict(stored).connectors[1].problems == {"Lock": DeviceProblem(code="E1")}
    del stored["connectors"]["1"]["problems"]  # an older store
    assert charger_from_dict(stored).connectors[1].problems == {}


# --- red team 20h ---------------------------------------------------------------------------------
# Problems and Faulted statuses give one FAULT event a fault (``core/fault_news.py``); a boot we
# asked for forgets nothing. Each failed at e9703fd.


async def test_a_triggered_boot_does_not_forget_a_problem_still_there(h: Harness, sim: Any) -> None:
    """A BootNotification with reason Triggered (our TriggerMessage: at acceptance, a security
    profile change, the trigger_message service) is no reboot: the station's monitors do not
    report the tripped RCD again (it did not change), so it is kept (was: forgotten, the fault
    sensor off while the RCD was still tripped)."""
    await notify(sim, event("RCD", variable="Tripped"))
    assert h.charger.connectors[1].has_error
    await sim.boot(reason="Triggered")
    assert h.charger.connectors[1].has_error, "RCD still tripped: the fault sensor went off"


async def test_a_problem_still_there_after_a_reboot_fires_no_second_event(
    h: Harness, sim: Any
) -> None:
    """The station reboots (PowerUp) with its RCD still tripped and reports it again: the same
    fault, no news, as a 1.6 charger re-reporting Faulted after its reboot (was: a second FAULT
    event). Cleared after the boot, a new trip is news again."""
    await notify(sim, event("RCD", variable="Tripped", event_id=1))
    await sim.boot(reason="PowerUp")
    await notify(sim, event("RCD", variable="Tripped", event_id=2))
    assert [f["error_code"] for f in faults(h)] == ["RCD.Tripped"]
    await sim.boot(reason="PowerUp")
    await notify(sim, event("RCD", "false", variable="Tripped", event_id=3))  # cleared meanwhile
    await notify(sim, event("RCD", variable="Tripped", event_id=4))
    assert [f["error_code"] for f in faults(h)] == ["RCD.Tripped"] * 2


async def test_a_problem_and_the_faulted_status_it_causes_are_one_fault(
    h: Harness, sim: Any
) -> None:
    """A 2.x station whose RCD trips reports RCD.Tripped (NotifyEvent) and its connector
    Faulted (StatusNotification): one fault for the user, one event, as a 1.6 charger's one
    Faulted with GroundFailure (was: two)."""
    await notify(sim, event("RCD", variable="Tripped"))
    await sim.status(1, 1, "Faulted")
    assert len(faults(h)) == 1, faults(h)


async def test_a_faulted_connector_of_a_two_connector_evse_is_a_fault(h: Harness, sim: Any) -> None:
    """An EVSE with two connectors (a socket and a cable; CCS and CHAdeMO): connector 2
    reports Faulted while connector 1 is Available. The EVSE shows Available (Available wins
    over Faulted, station.py); the faulted connector is the EVSE's problem ("Connector/2"):
    a FAULT event, the fault sensor on, until it is not Faulted any more (was: nothing)."""
    await sim.status(1, 2, "Faulted")
    assert h.charger.connectors[1].has_error, "a faulted connector shows no fault"
    assert len(faults(h)) == 1
    assert faults(h)[0]["error_code"] == "Connector/2"
    await sim.status(1, 2, "Available")
    assert not h.charger.connectors[1].has_error


async def test_clearing_a_problem_never_set_creates_no_outlet(h: Harness, sim: Any) -> None:
    """A station reports Problem=false (a monitor's periodic or initial value) for an EVSE id
    it never reported: nothing changes, no outlet is made of it (was: a second outlet's
    entities, and the entry reloaded as a multi-outlet charger)."""
    await notify(sim, event("Connector", "false", evse=7))
    assert h.charger.outlet_ids == (1,), h.charger.outlet_ids
