"""Red team 20h (faults, 2.x; ``core/fault_news.py``): device-model problems (NotifyEvent) and
Faulted statuses give one FAULT event a fault; a boot we asked for forgets nothing. Each failed
at e9703fd."""

from __future__ import annotations

from typing import Any

import pytest

from .test_v201_device_problems import event, faults, notify
from .v201_harness import Harness


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


@pytest.fixture
async def sim(h: Harness) -> Any:
    station = await h.charger_client()
    await station.status(1, 1, "Available")
    return station


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
