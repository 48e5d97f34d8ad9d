"""Red team 10e on a426f13's RecordWatcher.watching_records (pinned, passes): a watched method
that raises leaves no watch behind (the next late readings still fire their one
SESSION_UPDATED), and late readings that change nothing fire none."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import ChargerEvent, EventKind

from .test_energy_rules import MINUTE, T0, energy, make_state, our_clock_a_day_later, start


@our_clock_a_day_later
def test_a_watched_method_that_raises_leaves_the_next_update_told_once() -> None:
    state = make_state()
    events: list[ChargerEvent] = []
    state.charger.add_listener(lambda event: events.append(event) if event else None)
    tx = start(state, 1000)
    state.record_meter(1, [energy(T0 + MINUTE, 1100)], transaction_id="1")
    state.end_transaction("1", ended=T0 + 10 * MINUTE, reason="Local", meter_stop_wh=0)
    broken: Any = None  # not a sequence of readings: raises inside the watch
    with pytest.raises(TypeError):
        state.record_meter(1, broken, transaction_id="1")
    state.record_meter(1, [energy(T0 + 5 * MINUTE, 1500)], transaction_id="1")  # same, twice:
    state.record_meter(1, [energy(T0 + 5 * MINUTE, 1500)], transaction_id="1")  # changes nothing
    updated = [e.data["energy_wh"] for e in events if e.kind is EventKind.SESSION_UPDATED]
    assert (tx.energy_wh, updated) == (500, [500])
    assert state.charger.connector(1).last_session_energy_wh == 500
