"""Red team (3) of the history kept before a charger's clock went back (meter.count_from,
meter._sent_before_clock_went_back) on a 1.6 charger that sends its energy register in kWh
without a unit (meter._register_wh reads it as kWh; its meterStart / meterStop are Wh, as the
spec has them).

The old session charged 4,000 -> 5,000 Wh; the charger reboots without a time source, its clock
two hours behind, and starts a new session at 5,000 Wh (test_redteam_clock_back_v16.py's story).
The new session's live readings ("5.1", "5.2" kWh, no unit, with the car's power) are stamped
after its start and before the old session's end by the charger's clock. The history rule
compares the raw value (5.1) with the history register in Wh (5,000): every live reading of the
new session is taken for the old queue sent again until the charger's stamps pass the old end:
its power is never shown (the energy manager regulates by a stale value) and its energy is not
counted meanwhile.
"""

from __future__ import annotations

import pytest
from ocpp.v16 import call

from .test_energy_quirks import h16
from .test_redteam_clock_back_v16 import (
    NEW_START_WH,
    OLD_READINGS,
    new_session_after_the_clock_went_back,
)
from .v16_harness import Harness, now_iso

__all__ = ["h16"]

MINUTE = 60
POWER = "Power.Active.Import"


def unitless_kwh(wh: float, power_w: float) -> list[dict[str, str]]:
    """A reading as such a charger sends it: the register in kWh without a unit, and its power."""
    return [
        {"value": f"{wh / 1000:.1f}", "measurand": "Energy.Active.Import.Register"},
        {"value": str(power_w), "measurand": POWER, "unit": "W"},
    ]


async def test_unitless_kwh_readings_after_the_clock_went_back_are_live(h16: Harness) -> None:
    sim = await h16.charger_client(boot=False)
    _old, running = await new_session_after_the_clock_went_back(h16, sim)
    tx = int(running.transaction_id)
    await sim.meter(
        1, unitless_kwh(5100, 7000.0), transaction_id=tx, timestamp=now_iso(-110 * MINUTE)
    )
    await sim.meter(
        1, unitless_kwh(5200, 6500.0), transaction_id=tx, timestamp=now_iso(-109 * MINUTE)
    )
    meter = h16.charger.connector(1).meter
    assert meter.power_w == 6500.0
    assert running.energy_wh == pytest.approx(5200 - NEW_START_WH)


async def test_the_old_queue_in_unitless_kwh_sent_again_stays_history(h16: Harness) -> None:
    """The other side: the old session's queue sent again in the same unitless kWh ("4.5", "4.8")
    after the new session's first reading. Read as kWh, they lie well below the register read
    before the clock went back (not a coarse register's lag of it): history, neither counted nor
    shown (read as kWh, they must not be lifted to the base as a whole-kWh register's lag)."""
    sim = await h16.charger_client(boot=False)
    old, running = await new_session_after_the_clock_went_back(h16, sim)
    tx = int(running.transaction_id)
    await sim.meter(
        1, unitless_kwh(5100, 7000.0), transaction_id=tx, timestamp=now_iso(-110 * MINUTE)
    )
    lifetime = h16.charger.lifetime_energy.total_wh
    for wh, at in OLD_READINGS:
        await sim.meter(1, unitless_kwh(wh, 22000.0), transaction_id=old, timestamp=now_iso(at))
        await sim.meter(1, unitless_kwh(wh, 22000.0), timestamp=now_iso(at))
    assert h16.charger.connector(1).meter.power_w == 7000.0
    assert running.energy_wh == pytest.approx(5100 - NEW_START_WH)
    assert h16.charger.lifetime_energy.total_wh == lifetime


async def test_unitless_kwh_without_the_clock_going_back_counts(h16: Harness) -> None:
    """The control: the same charger and readings with its clock steady count and show."""
    sim = await h16.charger_client(boot=False)
    old = (await sim.start_tx(meter=4000, timestamp=now_iso(-60 * MINUTE))).transaction_id
    await sim.call(
        call.StopTransaction(
            meter_stop=NEW_START_WH, timestamp=now_iso(-30 * MINUTE), transaction_id=old
        )
    )
    tx = (await sim.start_tx(meter=NEW_START_WH, timestamp=now_iso(-20 * MINUTE))).transaction_id
    await sim.meter(
        1, unitless_kwh(5100, 7000.0), transaction_id=tx, timestamp=now_iso(-10 * MINUTE)
    )
    await sim.meter(
        1, unitless_kwh(5200, 6500.0), transaction_id=tx, timestamp=now_iso(-9 * MINUTE)
    )
    running = h16.charger.connector(1).transaction
    assert running is not None
    assert h16.charger.connector(1).meter.power_w == 6500.0
    assert running.energy_wh == pytest.approx(5200 - NEW_START_WH)


# A register read in Wh at the start (meterStart is an integer of Wh) and in kWh with one decimal
# in the MeterValues (unit given): the first readings lag the start by up to 100 Wh.
FINE_START_WH = 5437


def coarse_kwh(wh: float, power_w: float) -> list[dict[str, str]]:
    """The register in kWh with one decimal, cut down (unit given), and the car's power."""
    kwh = int(wh / 100) / 10
    return [
        {"value": f"{kwh:.1f}", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
        {"value": str(power_w), "measurand": POWER, "unit": "W"},
    ]


async def _coarse_session(h16: Harness, *, clock_back: bool) -> None:
    """A session ends at FINE_START_WH; the next starts there (stamped two hours back when
    ``clock_back``: the charger rebooted without a time source; else 5 minutes later); its first
    reading (5.4 kWh, 7 kW) comes a minute after its start."""
    sim = await h16.charger_client(boot=False)
    old = (await sim.start_tx(meter=4000, timestamp=now_iso(-60 * MINUTE))).transaction_id
    await sim.call(
        call.StopTransaction(
            meter_stop=FINE_START_WH, timestamp=now_iso(-10 * MINUTE), transaction_id=old
        )
    )
    start_at = -120 * MINUTE if clock_back else -5 * MINUTE
    tx = (await sim.start_tx(meter=FINE_START_WH, timestamp=now_iso(start_at))).transaction_id
    await sim.meter(1, coarse_kwh(FINE_START_WH, 7000.0), tx, now_iso(start_at + MINUTE))


@pytest.mark.parametrize(
    "clock_back",
    [
        pytest.param(False, id="clock_steady"),
        pytest.param(True, id="clock_went_back"),
    ],
)
async def test_a_coarse_reading_below_the_fine_start_shows_its_power(
    h16: Harness, clock_back: bool
) -> None:
    """The first reading of the new session (5.4 kWh, below its start of 5,437 Wh by the
    register's resolution) is live: its 7 kW is shown (the energy manager regulates by it)."""
    await _coarse_session(h16, clock_back=clock_back)
    assert h16.charger.connector(1).meter.power_w == 7000.0


async def test_a_whole_kwh_register_without_unit_lagging_the_start_counts_its_rise_once(
    h16: Harness,
) -> None:
    """A register in whole kWh without a unit ("5", "5", "6") after a meterStart of 5,437 Wh: "5"
    lags the start (meter._lags), no reset; taken for one, the second "5" would confirm it and
    "6" count 1,000 Wh for the 563 charged."""
    sim = await h16.charger_client(boot=False)
    tx = (await sim.start_tx(meter=FINE_START_WH, timestamp=now_iso(-5 * MINUTE))).transaction_id
    for kwh, at in (("5", -4), ("5", -3), ("6", -1)):
        sample = {"value": kwh, "measurand": "Energy.Active.Import.Register"}
        await sim.meter(1, [sample], transaction_id=tx, timestamp=now_iso(at * MINUTE))
    running = h16.charger.connector(1).transaction
    assert running is not None
    assert running.energy_wh == 6000 - FINE_START_WH
