"""Red team of the unguarded battery rule (controller._battery_unguarded, _fall_back): a home
battery that can be neither read nor capped pauses the cars that live on the surplus, never a car
whose user asked for full power.
"""

from __future__ import annotations

from dataclasses import replace

from custom_components.ocpp_ems.core.ems import (
    ChargerSettings,
    EnergyManager,
    Mode,
    Reason,
    SiteSettings,
    StaleFallback,
)

from .test_stale_battery import (
    CLOUD_AT,
    CLOUDY_W,
    END,
    STALE_AT,
    SUNNY_W,
    UNCAPPED,
    BatteryLoop,
)


def _solar_and_fast(battery_capped: bool) -> BatteryLoop:
    """A Solar and a Fast car; the battery's power sensor goes unavailable at STALE_AT, a cloud
    comes at CLOUD_AT; the site has a discharge limit to set or not."""
    manager = EnergyManager(
        SiteSettings(battery=replace(UNCAPPED, emit_discharge_limit=battery_capped)),
        {
            "solar": ChargerSettings(mode=Mode.SOLAR, stale_fallback=StaleFallback.MIN_CURRENT),
            "fast": ChargerSettings(mode=Mode.FAST),
        },
    )
    return BatteryLoop(
        manager,
        lambda t: SUNNY_W if t < CLOUD_AT else CLOUDY_W,
        stale_at=STALE_AT,
        unavailable=True,
        chargers=("solar", "fast"),
    )


def test_a_fast_car_keeps_its_full_current_while_the_battery_is_unguarded() -> None:
    """The user asked for full power: the Fast car keeps it (from the grid and the battery
    alike, as with the battery read), while the Solar car beside it pauses."""
    loop = _solar_and_fast(battery_capped=False)
    loop.run(0.0, STALE_AT - 1.0)
    full = ChargerSettings().max_current_a
    assert loop.amps("fast") == full
    decision = loop.run(STALE_AT, END)
    assert "battery_power" in decision.stale_inputs
    assert loop.amps("fast") == full
    assert decision.chargers["fast"].reason is Reason.FAST
    assert loop.amps("solar") == 0.0
