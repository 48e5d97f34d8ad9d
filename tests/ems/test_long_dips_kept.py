"""The overcast sky a car's dips showed (``solar.LONG_DIPS_JUDGED``) is the weather's: it holds
for ``solar.SKY_MEMORY_S`` after the last dip judged, also across a restart (``learned.py``),
and not longer (an overcast morning says nothing of the afternoon's clouds)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from custom_components.ocpp_ems.core.ems import Mode, SiteSettings, SolarSettings
from custom_components.ocpp_ems.core.ems.learned import SKY_KEY
from custom_components.ocpp_ems.core.ems.solar import SKY_MEMORY_S

from .test_driver import Rig, rig
from .test_long_dips import DEEP_W, SUN_W, Weather, held_in_dip
from .util import Loop

SITE = SiteSettings(solar=SolarSettings(regulation_margin_w=0.0))
PERIOD_S = 900.0  # 5 minutes of sun, then 10 of thick cloud
HOUR_OF_PERIODS_S = 4 * PERIOD_S


def solar_rig() -> Rig:
    return rig(mode=Mode.SOLAR, site_settings=SITE)


def restarted(stored: object) -> Rig:
    """A new driver (a restart) given ``stored`` through JSON, as the store keeps it."""
    again = solar_rig()
    again.driver.load(json.loads(json.dumps(stored)))
    return again


def overcast_morning(r: Rig) -> Loop:
    """Three dips of 10 minutes, each outlasting a restart (test_long_dips)."""
    loop = Loop(r.driver._manager, Weather(300.0, 600.0, 1e9, DEEP_W), house=0.0)
    loop.run(0, 3 * PERIOD_S - 1)
    return loop


def next_dip_held_s(loop: Loop, dip_at: float) -> float:
    """How long the car, running in the sun before, draws in the deep dip at ``dip_at``."""
    loop.run(dip_at - 300.0, dip_at - 1.0)
    assert loop.draw("a") > 0.0
    return held_in_dip(loop, dip_at, dip_at + 600.0)[0]


def test_the_overcast_sky_is_kept_across_a_restart() -> None:
    first = solar_rig()
    overcast_morning(first)
    stored = first.driver.dump()
    assert stored[SKY_KEY]["a"]["dips"] == [True, True, True]
    again = restarted(stored)
    assert again.driver.dump()[SKY_KEY] == stored[SKY_KEY]
    # The fourth dip after the restart stops after the meters' lag, as without one (before the
    # sky was kept: held until its import reached a restart's PV, about 2 minutes).
    loop = Loop(again.driver._manager, Weather(300.0, 600.0, 1e9, DEEP_W), house=0.0)
    assert next_dip_held_s(loop, 3 * PERIOD_S + 300.0) <= 10.0


def test_a_sky_kept_longer_than_its_hour_is_not_used_after_a_restart() -> None:
    first = solar_rig()
    overcast_morning(first)
    again = restarted(first.driver.dump())
    loop = Loop(again.driver._manager, Weather(300.0, 600.0, 1e9, DEEP_W), house=0.0)
    # Home Assistant was down for an hour: the dip is held as a first one.
    assert next_dip_held_s(loop, 3 * PERIOD_S + HOUR_OF_PERIODS_S + 300.0) >= 60.0


def test_a_sky_stored_by_a_clock_ahead_is_not_used() -> None:
    # Stored while the host's clock was a day ahead (no real-time clock, NTP not there yet):
    # not the sky of the hour after the restart.
    first = solar_rig()
    overcast_morning(first)
    stored = first.driver.dump()
    stored[SKY_KEY]["a"]["at"] += 86400.0
    loop = Loop(restarted(stored).driver._manager, Weather(300.0, 600.0, 1e9, DEEP_W), house=0.0)
    assert next_dip_held_s(loop, 3 * PERIOD_S + 300.0) >= 60.0


def test_an_hour_without_dips_ends_the_overcast_sky() -> None:
    first = solar_rig()
    loop = overcast_morning(first)
    clear_from = 3 * PERIOD_S
    clouds_at = clear_from + SKY_MEMORY_S + 300.0
    morning = Weather(300.0, 600.0, 1e9, DEEP_W)
    loop.pv = lambda t: morning(t) if t < clear_from or t >= clouds_at else SUN_W
    # A clear noon, then a deep cloud: held as a first one (before: stopped after the meters'
    # lag, the morning's sky taken for the afternoon's).
    assert next_dip_held_s(loop, clouds_at) >= 60.0


def test_a_charger_out_of_the_controller_keeps_its_sky() -> None:
    first = solar_rig()
    overcast_morning(first)
    stored = first.driver.dump()[SKY_KEY]
    first.driver.update_charger("a", {"mode": Mode.MANUAL})
    assert first.driver.dump()[SKY_KEY] == stored
    first.driver.update_charger("a", {"mode": Mode.SOLAR})
    memory = first.driver._manager.memory("a")
    assert memory is not None
    assert memory.dips_outlasting_restart == (True, True, True)
    first.driver.remove_charger("a")
    assert first.driver.dump()[SKY_KEY] == stored


@pytest.mark.parametrize(
    "sky",
    [
        "overcast",
        {"dips": [True, True, True]},
        {"dips": [True, True, True], "at": "2400"},
        {"dips": [True, True, True], "at": math.inf},
        {"dips": [True, True, True], "at": True},
        {"dips": [], "at": 2400.0},
        {"dips": [1, 1, 1], "at": 2400.0},
        {"dips": "TTT", "at": 2400.0},
        {"dips": [True, None, True], "at": 2400.0},
    ],
)
def test_an_unreadable_sky_is_skipped(sky: Any) -> None:
    again = restarted({SKY_KEY: {"a": sky}})
    memory = again.driver._manager.memory("a")
    assert memory is not None
    assert memory.dips_outlasting_restart == ()
    assert memory.dips_judged_at is None
    assert SKY_KEY not in again.driver.dump()


def test_a_stored_sky_keeps_only_the_dips_judged() -> None:
    again = restarted({SKY_KEY: {"a": {"dips": [False] * 7 + [True] * 3, "at": 2400.0}}})
    memory = again.driver._manager.memory("a")
    assert memory is not None
    assert memory.dips_outlasting_restart == (True, True, True)
