"""A 2.x Ended's readings applied together (charger_state.end_session): oldest first, only its
end reading (transactions._end_reading) taken in the register's present life, the samples it
carries of the transaction (TxEndedMeasurands) as a queue's. Cases that order could break: an
end sample read a second before a periodic one with a higher register (its SoC stays shown, the
end is reported); an Ended after a reset inside the transaction whose end sample carries no
register (the life before's sample counts once); an Ended built at a boot by a clock restarted
at its build date, with a sample of the transaction stamped by the clock before the cut (it
lies after the end reading by its stamp)."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.meter_values import ENERGY_REGISTER

from .test_redteam7_reset_then_reboot_clock import (
    A_END_WH,
    B_FINAL_WH,
    B_READINGS_WH,
    BUILD_DATE_BEHIND_S,
    READING_EVERY_S,
    plugged_in,
    register,
    reset_then_reboot,
)
from .test_redteam8c_ended_present_life import (
    B_BEFORE_CUT_WH,
    B_END_WH,
    B_TRUTH_WH,
    b_an_hour_offline,
    b_ended,
)
from .test_redteam8d_ordinary_ended import (
    BEGIN_WH,
    CAR_W,
    END,
    END_WH,
    LIFETIME_AFTER_NEXT_RISE_WH,
    NEXT_RISE_WH,
    PERIODIC,
    WHOLE_CHARGER_EVSE,
    ended_as_the_car_left,
    entry,
    next_session_rises,
    periodic_a_minute_in,
    started_beside_a_whole_charger_meter,
)
from .test_time_hostile import our_clock
from .test_v201_ended_after_powerloss import ended_offline
from .v16_harness import now_iso
from .v201_harness import V201Harness as Harness
from .v201_harness import sampled

END_SOC = 80.0
# The end sample read a second before the last periodic one: its register lower by 2 Wh.
END_SAMPLE_WH = END_WH - 2


async def test_an_end_sample_read_before_a_higher_periodic_one(h2: Harness) -> None:
    """A station with a whole-charger meter (EVSE 0, 60 Wh of its own use in the session): its
    Ended carries the end sample (SoC 80 %) read a second before the last periodic one, whose
    register is 2 Wh higher. The car's SoC at the end stays shown, the session ends at the
    periodic one's register, and the end is reported: the outlet's next 100 Wh count at once.
    Was (a28603c) 79 % shown (the end sample applied after the periodic one and dropped as
    older), the lifetime 100,340 Wh for 100,400 (the end sample's register, not taken, left the
    end unreported)."""
    station = await started_beside_a_whole_charger_meter(h2)
    await periodic_a_minute_in(station, WHOLE_CHARGER_EVSE, power=CAR_W, soc=END_SOC - 1)
    samples = [entry(0, PERIODIC, END_WH, power=CAR_W), entry(1, END, END_SAMPLE_WH, soc=END_SOC)]
    await ended_as_the_car_left(station, samples, evse=WHOLE_CHARGER_EVSE)
    connector = h2.charger.connector(WHOLE_CHARGER_EVSE["id"])
    ended = connector.last_transaction
    assert ended is not None
    assert connector.meter.soc_percent == END_SOC
    assert (ended.energy_wh, ended.meter_last_wh) == (END_WH - BEGIN_WH, END_WH)
    await next_session_rises(station)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(LIFETIME_AFTER_NEXT_RISE_WH)


@pytest.mark.parametrize("offline", [True, False], ids=["flagged_offline", "not_flagged"])
async def test_a_reset_inside_and_an_end_sample_without_the_register(
    h2: Harness, offline: bool
) -> None:
    """test_redteam8c_ended_present_life's reset inside B (20,300 -> 20,400 live, 20,450 read
    before the power cut, then 0, 100 live; an hour offline), but the Ended's end sample carries
    the SoC only: the register read at the end (1,100 Wh) comes in a periodic entry of the same
    second. Truth: 100 + 50 + 1,100 = 1,250 Wh; the SoC at the end shown."""
    with our_clock() as clock:
        station, before_cut, transaction = await b_an_hour_offline(h2, clock)
        samples = [
            *register(B_BEFORE_CUT_WH, before_cut, "Sample.Clock"),
            entry(0, PERIODIC, B_END_WH),
            entry(0, END, soc=END_SOC),
        ]
        await b_ended(station, samples, offline)
    truth_wh = B_TRUTH_WH
    assert transaction.ended_at is not None
    assert transaction.energy_wh == pytest.approx(truth_wh)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(A_END_WH + truth_wh)
    assert h2.charger.connector(1).meter.soc_percent == END_SOC


async def test_an_ended_built_at_the_boot_with_a_sample_from_before_the_cut(
    h2: Harness,
) -> None:
    """test_redteam7_reset_then_reboot_clock's power cut: B from 0 (300 Wh at its last periodic
    reading, 350 Wh when the power failed), the station boots with its clock at its build date
    and ends B (flagged offline) with the register stored when the power failed, stamped by
    that clock, and B's last periodic sample (TxEndedMeasurands) stamped by the clock before the
    cut: years after the end reading by their stamps. B counts 350 Wh; its next session, from
    the same register, counts its own rise (the sample below the end reading, applied after it,
    takes nothing from it)."""
    with our_clock() as clock:
        station, seq_no = await reset_then_reboot(h2, clock)
        transaction = h2.charger.connector(1).transaction
        assert transaction is not None
        last_periodic_at = now_iso(-READING_EVERY_S)
        samples = [
            *register(B_READINGS_WH[-1], last_periodic_at, PERIODIC),
            *register(B_FINAL_WH, now_iso(BUILD_DATE_BEHIND_S - 10), END),
        ]
        await ended_offline(station, seq_no, samples)
        clock.tick(READING_EVERY_S)
        await plugged_in(station, "C", B_FINAL_WH)
        clock.tick(READING_EVERY_S)
        await station.meter_values(
            1, [sampled(B_FINAL_WH + NEXT_RISE_WH, ENERGY_REGISTER, unit="Wh")], now_iso()
        )
    assert transaction.energy_wh == pytest.approx(B_FINAL_WH)
    following = h2.charger.connector(1).transaction
    assert following is not None
    assert following.energy_wh == pytest.approx(NEXT_RISE_WH)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(
        A_END_WH + B_FINAL_WH + NEXT_RISE_WH
    )
