"""The sessions log as a user gets it: the CSV the ``export_sessions`` action writes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from custom_components.ocpp_ems.const import DOMAIN

from .platform import device_id


async def export(hass: HomeAssistant, entry: ConfigEntry, **data: Any) -> Any:
    """The ``export_sessions`` action's response for the charger of ``entry``."""
    return await hass.services.async_call(
        DOMAIN,
        "export_sessions",
        {"device_id": device_id(hass, entry), **data},
        blocking=True,
        return_response=True,
    )


async def exported_rows(
    hass: HomeAssistant, entry: ConfigEntry, count: int = 10
) -> list[dict[str, str]]:
    """The rows of the CSV the export writes (its last ``count`` sessions)."""
    result = await export(hass, entry, count=count)
    assert result is not None
    return list(csv.DictReader(Path(str(result["path"])).read_text("utf-8").splitlines()))
