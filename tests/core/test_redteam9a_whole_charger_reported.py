"""Red team (9a) of 36ee0d9's "reported" rule (charger_state.end_session: the end is reported
once a register it ended at was taken: the end reading's, else the newest reading's). A station
with a whole-charger meter (EVSE 0, test_redteam8d_ordinary_ended's: 60 Wh of its own use
while T took 240 Wh). T's Ended carries an end sample with the SoC only, and the register in
a periodic sample read ``ago_s`` before it (a minute: the Updated's register, taken already;
the outlet took 120 Wh more by the end, unreported until the next session's Begin). After the
end, the next session's 100 Wh: the lifetime is EVSE 0's 100,300 Wh + 100, never more."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.meter_values import ENERGY_REGISTER

from .test_redteam8d_ordinary_ended import (
    BEGIN_WH,
    END,
    END_WH,
    LIFETIME_AFTER_NEXT_RISE_WH,
    PERIODIC,
    STEP_WH,
    WHOLE_CHARGER_EVSE,
    ended_as_the_car_left,
    entry,
    next_session_rises,
    periodic_a_minute_in,
    started_beside_a_whole_charger_meter,
)
from .v16_harness import now_iso
from .v201_harness import V201Harness as Harness
from .v201_harness import sampled


@pytest.mark.parametrize(
    "ago_s",
    [60, 1],
    ids=["a_minute_before", "a_second_before"],
)
async def test_an_end_without_the_register_after_an_older_register(
    h2: Harness, ago_s: float
) -> None:
    station = await started_beside_a_whole_charger_meter(h2)
    await periodic_a_minute_in(station, WHOLE_CHARGER_EVSE)
    register_then = BEGIN_WH + STEP_WH if ago_s == 60 else END_WH
    samples = [entry(ago_s, PERIODIC, register_then), entry(0, END, soc=80)]
    await ended_as_the_car_left(station, samples, evse=WHOLE_CHARGER_EVSE)
    await next_session_rises(station)
    shown_wh = h2.charger.lifetime_energy.total_wh
    # EVSE 0 then reports the truth: the lifetime is that, never more (it never decreases).
    whole = sampled(LIFETIME_AFTER_NEXT_RISE_WH, ENERGY_REGISTER, unit="Wh")
    await station.meter_values(0, [whole], now_iso())
    reported_wh = h2.charger.lifetime_energy.total_wh
    assert shown_wh <= LIFETIME_AFTER_NEXT_RISE_WH
    assert reported_wh == pytest.approx(LIFETIME_AFTER_NEXT_RISE_WH)
