"""Red team 20h (faults, 1.6; ``core/fault_news.py``): one fault gives one FAULT event however
the charger tells it, and the fault sensor shows a stored fault until the charger reports again.
Each failed at e9703fd (numbers in the docstrings). Its 2.x sequences are in
test_v201_device_problems.py."""

from __future__ import annotations

import json

from custom_components.ocpp_ems.core.model import EventKind
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict

from .v16_harness import Harness


def faults(h: Harness) -> list[tuple[int | None, str | None]]:
    return [(e.connector_id, e.data["error_code"]) for e in h.events if e.kind is EventKind.FAULT]


def restart(h: Harness) -> None:
    """Home Assistant restarts: the model is saved and read back (in place: sessions hold it)."""
    restored = charger_from_dict(json.loads(json.dumps(charger_to_dict(h.charger))))
    h.charger.connectors.clear()
    h.charger.connectors.update(restored.connectors)


async def test_warning_then_faulted_across_a_restart_is_news(h: Harness) -> None:
    """Without a restart, Charging+HighTemperature then Faulted+HighTemperature fires twice (the
    charger stops: entering Faulted is news, test_an_error_code_on_another_status_is_a_fault).
    With Home Assistant restarted in between too (was: nothing, the stored fault did not say the
    connector was only warning); a Faulted restored and reported again fires nothing."""
    sim = await h.charger_client(boot=False)
    await sim.status(1, "Charging", error_code="HighTemperature")
    assert faults(h) == [(1, "HighTemperature")]
    restart(h)
    await sim.status(1, "Faulted", error_code="HighTemperature")  # the charger stops now
    assert h.charger.connector(1).has_error
    assert faults(h) == [(1, "HighTemperature"), (1, "HighTemperature")]
    restart(h)
    await sim.status(1, "Faulted", error_code="HighTemperature")
    assert len(faults(h)) == 2


async def test_a_faulted_repeated_without_its_code_is_no_new_fault(h: Harness) -> None:
    """A charger that repeats its Faulted status with errorCode NoError (the code only in the
    first report, or in vendorErrorCode) is still in the same fault: no second event (was: a
    second one, without its code)."""
    sim = await h.charger_client(boot=False)
    await sim.status(1, "Faulted", error_code="GroundFailure", vendor_error_code="E42")
    await sim.status(1, "Faulted", vendor_error_code="E42")  # errorCode NoError
    assert faults(h) == [(1, "GroundFailure")]


async def test_a_faulted_flapping_between_code_and_no_code_is_no_storm(h: Harness) -> None:
    """Same charger, re-sending its Faulted every few minutes alternately with and without the
    code: one fault, one event (was: one per report, 6 for 3 cycles)."""
    sim = await h.charger_client(boot=False)
    for _ in range(3):
        await sim.status(1, "Faulted", error_code="GroundFailure")
        await sim.status(1, "Faulted")
    assert len(faults(h)) == 1, faults(h)


async def test_after_a_restart_the_fault_sensor_shows_the_stored_fault(h: Harness) -> None:
    """Faulted (RCD tripped), then Home Assistant restarts. A 1.6 charger sends
    StatusNotification only on a change: reconnecting (no reboot) it says nothing. The fault
    sensor (``has_error``) shows the stored fault meanwhile (was: off), as a 2.x station's
    restored problems are; its first status ends it."""
    sim = await h.charger_client(boot=False)
    await sim.status(1, "Faulted", error_code="GroundFailure")
    restart(h)
    connector = h.charger.connector(1)
    assert connector.restored_fault == "GroundFailure"
    assert connector.has_error, "fault sensor off after a restart while the charger is faulted"
    await sim.status(1, "Available")
    assert not connector.has_error
    assert faults(h) == [(1, "GroundFailure")]


async def test_a_restored_fault_repeated_without_its_code_is_no_new_fault(h: Harness) -> None:
    """Restored GroundFailure; the charger reconnects and reports Faulted with NoError (its
    code went in a first report only): the fault it was in, no news (was: a second event)."""
    sim = await h.charger_client(boot=False)
    await sim.status(1, "Faulted", error_code="GroundFailure")
    restart(h)
    await sim.status(1, "Faulted")
    assert faults(h) == [(1, "GroundFailure")]


async def test_one_fault_reported_on_connector_0_and_its_outlet_is_one_event(h: Harness) -> None:
    """A single-outlet 1.6 charger reporting a fault of the whole unit: connector 0 and
    connector 1 Faulted with the same code (common firmware behaviour): the charger's one
    ``fault`` event entity fires once (was: twice), in either order."""
    sim = await h.charger_client(boot=False)
    await sim.status(0, "Faulted", error_code="GroundFailure")
    await sim.status(1, "Faulted", error_code="GroundFailure")
    assert len(faults(h)) == 1, faults(h)
    await sim.status(0, "Available")
    await sim.status(1, "Available")
    await sim.status(1, "Faulted", error_code="GroundFailure")
    await sim.status(0, "Faulted", error_code="GroundFailure")
    assert len(faults(h)) == 2, faults(h)


async def test_a_fault_passing_through_unavailable_is_one_fault(h: Harness) -> None:
    """A charger recovering from a fault goes Unavailable (self-test) with the same code and
    back to Faulted when the test fails, every few minutes: one GroundFailure, one event (was:
    one at every return to Faulted, Unavailable with a code counting as a warning)."""
    sim = await h.charger_client(boot=False)
    for _ in range(3):
        await sim.status(1, "Faulted", error_code="GroundFailure")
        await sim.status(1, "Unavailable", error_code="GroundFailure")
    assert len(faults(h)) == 1, faults(h)
