"""What the config and options flows share: the port check (a port is tried before anything is
saved), number, select and sensor fields, the main fuse and the installation maximum against it."""

from __future__ import annotations

import asyncio
import errno
import socket

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .const import (
    CONF_INSTALLATION_MAX,
    CONF_PORT,
    LOGGER,
)
from .core.ems import options as ems_options


async def async_try_bind(host: str, port: int) -> str | None:
    """Try to listen on ``host:port`` for a moment; return a form error key, or None if it works."""
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(asyncio.Protocol, host, port)
    except socket.gaierror:
        return "invalid_host"
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            return "port_in_use"
        if err.errno == errno.EACCES:
            return "permission_denied"
        if err.errno in (errno.EADDRNOTAVAIL, None):
            # asyncio reports an address that is not this machine's without an errno
            # ("could not bind on any address").
            return "invalid_host"
        LOGGER.debug("Cannot listen on %s:%s: %s", host, port, err)
        return "cannot_bind"
    server.close()
    await server.wait_closed()
    return None


async def bind_errors(host: str, port: int, field: str = CONF_PORT) -> dict[str, str]:
    """The form errors of trying ``host:port`` (empty when it can be used); a port in use is
    shown on ``field``."""
    if (error := await async_try_bind(host, port)) is None:
        return {}
    return {field if error == "port_in_use" else "base": error}


def number_field(
    minimum: float,
    maximum: float,
    step: float = 1,
    unit: str | None = None,
    mode: NumberSelectorMode = NumberSelectorMode.BOX,
    kind: type[NumberSelector] = NumberSelector,
) -> NumberSelector:
    config = NumberSelectorConfig(min=minimum, max=maximum, step=step, mode=mode)
    if unit is not None:
        config["unit_of_measurement"] = unit
    return kind(config)


def select_field(options: list[str], translation_key: str) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=options, translation_key=translation_key, mode=SelectSelectorMode.DROPDOWN
        )
    )


def main_fuse_a(hass: HomeAssistant, server_entry_id: str) -> float | None:
    """The site's main fuse (A) in a server's energy manager options; None: none set (or the
    server removed). A charger's installation maximum may not exceed it: alone (Manual mode, or
    the energy manager off) the charger would trip it."""
    server = hass.config_entries.async_get_entry(server_entry_id)
    return None if server is None else ems_options.FUSE.read(server.options)


def installation_max_errors(value: float, fuse_a: float | None) -> dict[str, str]:
    if fuse_a is not None and value > fuse_a:
        return {CONF_INSTALLATION_MAX: "above_main_fuse"}
    return {}


def sensor_field(device_class: SensorDeviceClass) -> EntitySelector:
    return EntitySelector(EntitySelectorConfig(domain="sensor", device_class=device_class))
