"""What plans learn keeps its high-water mark (the hour and day being measured) over a restart
of the energy manager with the real store: saved on unload, read back by the new one (an hour
the clock goes back into is then not learned twice, ``tests/ems/test_driver_plan_learning_restart``).
A store from before the mark loads as it did."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import CONF_BATTERY_POWER, CONF_GRID_POWER
from custom_components.ocpp_ems.core.ems.driver import PLAN_KEY
from custom_components.ocpp_ems.core.ems.plan_learning import PlanLearning

from .helpers.ems import POWER, async_setup_sources, ems_server_options

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

HOUSE_W = [[400.0]] * 24  # a day of house load learned


def mark() -> dict[str, Any]:
    """An hour being measured two hours ahead (a step after the restart leaves it: it is the
    high-water mark of a clock gone back), with its day's sums."""
    start = (dt_util.now() + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    day, hour_of_day, at = start.toordinal(), start.hour, start.timestamp()
    return {
        "day": [day, 1200.0, 2400.0],
        "hour": [at, at + 3600.0, day, hour_of_day, 300.0, 50.0, 900.0, 100.0, 900.0],
    }


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(
        **{CONF_GRID_POWER: "sensor.grid", CONF_BATTERY_POWER: "sensor.battery"}
    )


def stored_plan(entry: MockConfigEntry) -> dict[str, Any]:
    plan: dict[str, Any] = entry.runtime_data.ems._driver.dump()[PLAN_KEY]
    return plan


async def test_the_plans_high_water_mark_survives_a_restart(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    await async_setup_sources(hass, {"grid": POWER, "battery": POWER})
    driver = server_entry.runtime_data.ems._driver
    measuring = mark()
    driver._plan_learning = PlanLearning.from_dict({"house_w": HOUSE_W, "measuring": measuring})

    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    assert server_entry.runtime_data.ems._driver is not driver
    server_entry.runtime_data.ems.async_schedule_update(immediately=True)
    await hass.async_block_till_done()
    assert stored_plan(server_entry)["measuring"] == measuring
    assert stored_plan(server_entry)["house_w"] == HOUSE_W


async def test_a_store_from_before_the_mark_loads(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    await async_setup_sources(hass, {"grid": POWER, "battery": POWER})
    driver = server_entry.runtime_data.ems._driver
    driver._plan_learning = PlanLearning.from_dict({"house_w": HOUSE_W})

    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    assert "measuring" not in stored_plan(server_entry)
    assert stored_plan(server_entry)["house_w"] == HOUSE_W
