"""The energy platform's solar forecast: hourly Wh of today and tomorrow on the simulated roof,
at the cloud cover and peak power set now (input_number.sim_cloud_cover, sim_pv_peak)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import CLOUD_LOSS, DAY_H, DEFAULT_CLOUD_PCT, DEFAULT_PEAK_W, SUNRISE_H


def hourly_wh(day_start: datetime, hours: int, peak_w: float, cloud_pct: float) -> dict[str, int]:
    """Wh of each hour from ``day_start`` (local midnight): the half sine's integral over it."""
    scale = peak_w * (1.0 - CLOUD_LOSS * cloud_pct / 100.0) * DAY_H / math.pi

    def position(hour: float) -> float:  # 0 at sunrise, 1 at sunset
        return min(1.0, max(0.0, (hour - SUNRISE_H) / DAY_H))

    forecast = {}
    for index in range(hours):
        hour = index % 24
        wh = scale * (math.cos(math.pi * position(hour)) - math.cos(math.pi * position(hour + 1)))
        start = day_start + timedelta(days=index // 24, hours=hour)
        forecast[dt_util.as_local(start).isoformat()] = round(max(0.0, wh))
    return forecast


def _number(hass: HomeAssistant, entity_id: str, default: float) -> float:
    state = hass.states.get(entity_id)
    try:
        return float(state.state) if state is not None else default
    except ValueError:
        return default


async def async_get_solar_forecast(
    hass: HomeAssistant, config_entry_id: str
) -> dict[str, dict[str, int]]:
    day_start = dt_util.start_of_local_day()
    return {
        "wh_hours": hourly_wh(
            day_start,
            48,
            _number(hass, "input_number.sim_pv_peak", DEFAULT_PEAK_W),
            _number(hass, "input_number.sim_cloud_cover", DEFAULT_CLOUD_PCT),
        )
    }
