"""Server-wide energy manager actions (a charger's actions are in ``services.py``).

``set_cheap_grid_price`` sets the *charge from the grid at or below* price, or clears it when no
price is given: an automation can set it from the day's prices and switch it off again, which
the number entity cannot (a number has no "unset"). The value's bounds are the options
table's row (``CHEAP_GRID_PRICE``), as for the number and the options form.
"""

from __future__ import annotations

from typing import Final

import probatio
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import config_validation as cv

from .const import ATTR_CONFIG_ENTRY_ID, DOMAIN
from .coordinator import loaded_server_entry
from .core.ems.options import CHEAP_GRID_PRICE

SERVICE_SET_CHEAP_GRID_PRICE: Final = "set_cheap_grid_price"
ATTR_PRICE: Final = "price"


async def _set_cheap_grid_price(call: ServiceCall) -> None:
    server = loaded_server_entry(call.hass, call.data.get(ATTR_CONFIG_ENTRY_ID))
    price = call.data.get(ATTR_PRICE)
    value = None if price is None else CHEAP_GRID_PRICE.from_form(price)
    server.runtime_data.ems.async_set_site_option(CHEAP_GRID_PRICE.key, value)


def async_setup_site_actions(hass: HomeAssistant) -> None:
    hass.services.async_register(
        DOMAIN,
        SERVICE_SET_CHEAP_GRID_PRICE,
        _set_cheap_grid_price,
        schema=probatio.Schema(
            {
                probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
                probatio.Optional(ATTR_PRICE): probatio.Any(
                    None,
                    probatio.All(
                        probatio.Coerce(float),
                        probatio.Range(min=CHEAP_GRID_PRICE.minimum, max=CHEAP_GRID_PRICE.maximum),
                    ),
                ),
            }
        ),
    )
