"""Set up chargers with only some platforms (snapshot tests look at one platform at a time), and
find a charger's device (actions target it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.ocpp_ems.const import DOMAIN


@contextmanager
def only_platforms(*platforms: Platform) -> Iterator[None]:
    with patch("custom_components.ocpp_ems.PLATFORMS", list(platforms)):
        yield


def device_id(hass: HomeAssistant, entry: ConfigEntry, charger_id: str = "CP1") -> str:
    """The device id of the charger ``charger_id`` of the charger entry ``entry``."""
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, charger_id), entry.entry_id)
    assert device is not None
    return device.id
