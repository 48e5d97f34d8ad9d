"""Red team (9a): a 2.x station whose clock runs from its firmware's build date (2019) and is
never set, charging at 7.2 kW with a reading a minute (a realistic pace, our clock advanced
between them): every Wh of the register's rise counts, before and after a reboot in which the
station kept the session and its clock restarted at the build date (c00d2d8's restarted-clock
sign keeps the session; its readings are stamped before its Started)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from custom_components.ocpp_ems.core.meter_values import ENERGY_REGISTER, POWER

from .test_redteam8d_ordinary_ended import BEGIN_WH, CAR_W, authorized_started
from .test_redteam9a_build_date_clock import BUILD_DATE
from .test_time_hostile import our_clock
from .v16_harness import wait_for
from .v201_harness import V201Harness as Harness
from .v201_harness import sampled

EVSE = {"id": 1, "connectorId": 1}
MINUTE_S = 60.0
PER_MINUTE_WH = CAR_W / 60
STEPS = 5


def stamp(seconds: float) -> str:
    return (BUILD_DATE + timedelta(seconds=seconds)).isoformat()


def reading(wh: float, at: str, context: str) -> list[dict[str, object]]:
    samples = [
        sampled(wh, ENERGY_REGISTER, unit="Wh", context=context),
        sampled(CAR_W, POWER, unit="W", context=context),
    ]
    return [{"timestamp": at, "sampledValue": samples}]


@pytest.mark.parametrize("via", ["updated", "meter_values"])
@pytest.mark.parametrize("reboot", [False, True], ids=["no_reboot", "kept_through_reboot"])
async def test_a_build_date_clock_at_a_realistic_pace_counts_every_wh(
    h2: Harness, via: str, reboot: bool
) -> None:
    with our_clock() as clock:
        station = await h2.charger_client(boot=True)
        since_boot_s = 3 * 3600.0
        begin = reading(BEGIN_WH, stamp(since_boot_s), "Transaction.Begin")
        await authorized_started(station, "T", EVSE, begin, timestamp=stamp(since_boot_s))
        register = BEGIN_WH
        for step in range(2 * STEPS):
            if reboot and step == STEPS:
                await station.boot(reason="PowerUp")
                # The boot's provisioning done before our clock moves on (its requests' timeouts).
                await wait_for(lambda: len(station.actions("GetLocalListVersion")) == 2)
                since_boot_s = 0.0
            clock.tick(MINUTE_S)
            since_boot_s += MINUTE_S
            register += PER_MINUTE_WH
            at = stamp(since_boot_s)
            if via == "updated":
                await station.tx_event(
                    "Updated",
                    "T",
                    trigger_reason="MeterValuePeriodic",
                    meter_value=reading(register, at, "Sample.Periodic"),
                    timestamp=at,
                )
            else:
                await station.meter_values(
                    1,
                    [
                        sampled(register, ENERGY_REGISTER, unit="Wh"),
                        sampled(CAR_W, POWER, unit="W"),
                    ],
                    at,
                )
    transaction = h2.charger.connector(1).transaction
    assert transaction is not None
    assert transaction.energy_wh == pytest.approx(register - BEGIN_WH)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(register)
