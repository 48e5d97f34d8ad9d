"""An update of an ended session's record (late readings, a start that came after its end, or
a rise held for our clock taken after it: test_meter_clock_hold_end) is told once: one
notification of the model, one save, one SESSION_UPDATED (RecordWatcher.watching_records).
Was (a426f13): late readings notified and saved twice, their own and the record's."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import Charger, ChargerEvent, EventKind, Transaction
from custom_components.ocpp_ems.core.session import SessionContext
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_rules import MINUTE, T0, energy, our_clock_a_day_later, start


@dataclass
class Told:
    """What a charger's listeners and its store heard."""

    notified: int = 0
    saves: int = 0
    events: list[ChargerEvent] = field(default_factory=list)

    def heard(self, event: ChargerEvent | None) -> None:
        if event is None:
            self.notified += 1
        else:
            self.events.append(event)

    def updates(self) -> list[float]:
        return [e.data["energy_wh"] for e in self.events if e.kind is EventKind.SESSION_UPDATED]


def _state_told() -> tuple[ChargerState, Told]:
    told = Told()
    directory = MemoryDirectory()
    context = SessionContext(
        directory=directory,
        server_settings=ServerSettings(),
        admission=lambda: Admission.ACCEPTED,
        charger_settings=lambda: directory.settings("c"),
        request_save=lambda: setattr(told, "saves", told.saves + 1),
        on_booted=lambda: None,
    )
    charger = Charger(charger_id="c")
    charger.add_listener(told.heard)
    return ChargerState(charger, context), told


def _ended_at_100_wh(state: ChargerState, told: Told) -> Transaction:
    """A session ended with a meterStop of 0 (a firmware quirk) after 100 Wh: nothing told yet."""
    transaction = start(state, 1000)
    state.record_meter(1, [energy(T0 + MINUTE, 1100)], transaction_id="1")
    state.end_transaction("1", ended=T0 + 10 * MINUTE, reason="Local", meter_stop_wh=0)
    told.notified, told.saves, told.events = 0, 0, []
    return transaction


@our_clock_a_day_later
@pytest.mark.parametrize("via", ["record_meter", "record_late_readings"])
def test_late_readings_that_update_the_record_are_told_once(via: str) -> None:
    state, told = _state_told()
    transaction = _ended_at_100_wh(state, told)
    late = [energy(T0 + 9 * MINUTE, 1900)]
    if via == "record_meter":
        state.record_meter(1, late, transaction_id="1")
    else:
        state.record_late_readings(transaction, late)
    assert (told.notified, told.saves, told.updates()) == (1, 1, [900.0])
    assert state.charger.connector(1).last_session_energy_wh == 900.0


@our_clock_a_day_later
def test_late_readings_after_the_end_tell_the_lifetime_once_and_no_record() -> None:
    state, told = _state_told()
    _ended_at_100_wh(state, told)
    state.record_meter(1, [energy(T0 + 11 * MINUTE, 2000)], transaction_id="1")
    assert (told.notified, told.saves, told.updates()) == (1, 1, [])
    assert state.charger.lifetime_energy.total_wh == 2000.0


@our_clock_a_day_later
def test_a_start_that_came_after_the_end_is_told_once() -> None:
    """The session began 5 minutes earlier at 900 Wh (its start sent late): its record's start
    and energy change, told once."""
    state, told = _state_told()
    transaction = _ended_at_100_wh(state, told)
    state.record_earlier_start(transaction, T0 - 5 * MINUTE, 900)
    assert (told.notified, told.saves, told.updates()) == (1, 1, [200.0])
    assert told.events[0].data["started_at"] == (T0 - 5 * MINUTE).isoformat()


@our_clock_a_day_later
def test_a_start_that_came_late_to_an_open_session_is_told_once_and_no_record() -> None:
    state, told = _state_told()
    transaction = start(state, 1000)
    state.record_meter(1, [energy(T0 + MINUTE, 1100)], transaction_id="1")
    told.notified, told.saves = 0, 0
    state.record_earlier_start(transaction, T0 - 5 * MINUTE, 900)
    assert (told.notified, told.saves, told.updates()) == (1, 1, [])
    assert transaction.energy_wh == 200.0
