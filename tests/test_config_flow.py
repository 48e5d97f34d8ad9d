"""Config flows: server (user, reconfigure, options), chargers (discovery, ignore, options)."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, Mock, patch

import pytest
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_INTEGRATION_DISCOVERY,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData, section
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    BooleanSelector,
    ConfigEntrySelector,
    EntitySelector,
    NumberSelector,
    SelectSelector,
    TextSelector,
)
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    mock_integration,
    mock_platform,
)
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from custom_components.ocpp_ems.const import (
    CONF_ACCEPT_ANY_ID_TAG,
    CONF_ACCEPTED_AUTOMATICALLY,
    CONF_ALLOW_NEW_CHARGERS,
    CONF_ALLOW_SECURITY_DOWNGRADE,
    CONF_AUTO_ACCEPT,
    CONF_BASE_STACK_LEVEL,
    CONF_BATTERY_ASSIST,
    CONF_BATTERY_ASSIST_POWER,
    CONF_BATTERY_DISCHARGE_LIMIT,
    CONF_BATTERY_FLOOR_SOC,
    CONF_BATTERY_POWER,
    CONF_BATTERY_PRIORITY_SOC,
    CONF_BATTERY_SOC,
    CONF_CHARGER_ID,
    CONF_EMS_ENABLED,
    CONF_ENTRY_TYPE,
    CONF_FUSE,
    CONF_GRID_CURRENT_L1,
    CONF_GRID_CURRENT_L2,
    CONF_GRID_CURRENT_L3,
    CONF_GRID_POWER,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_ID_TAGS,
    CONF_INSTALLATION_MAX,
    CONF_LIVE_LIMIT_DURATION,
    CONF_LIVE_STACK_LEVEL,
    CONF_METER_INTERVAL,
    CONF_MIN_CURRENT,
    CONF_MIN_WRITE_INTERVAL,
    CONF_MODEL,
    CONF_OCPP_VERSIONS,
    CONF_PASSWORD,
    CONF_PASSWORD_IN_CHARGER,
    CONF_PAUSE_STRATEGY,
    CONF_PHASES,
    CONF_PING_INTERVAL,
    CONF_PING_TIMEOUT,
    CONF_PORT,
    CONF_PRICE,
    CONF_PRICE_FORECAST_ATTRIBUTE,
    CONF_PROFILE_PURPOSE,
    CONF_PV_AVAILABLE_POWER,
    CONF_PV_POWER,
    CONF_RATE_UNIT,
    CONF_REMOTE_START_ID_TAG,
    CONF_RESPONSE_TIMEOUT,
    CONF_SAFE_CURRENT,
    CONF_SECURITY_PROFILE,
    CONF_SERIAL,
    CONF_SERVER_ENTRY_ID,
    CONF_SINGLE_PHASE_LINE,
    CONF_SITE_PHASES,
    CONF_SMART_CHARGING,
    CONF_STALE_AFTER,
    CONF_STALE_FALLBACK,
    CONF_STALE_GRACE,
    CONF_TLS_CERTIFICATE,
    CONF_TLS_CERTIFICATE_PEM,
    CONF_TLS_ENABLED,
    CONF_TLS_HOSTS,
    CONF_TLS_PORT,
    CONF_TLS_PRIVATE_KEY_PEM,
    CONF_VENDOR,
    CONF_VOLTAGE,
    CONF_ZERO_EXPORT,
    DOMAIN,
    ENTRY_TYPE_CHARGER,
    ENTRY_TYPE_SERVER,
)
from custom_components.ocpp_ems.core.ems import options as ems_options
from custom_components.ocpp_ems.core.ems.options import Section
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.security import ServerSecurity

from .core.pki import self_signed
from .helpers.charger import SimCharger, wait_for
from .helpers.ems import async_set_charger_options
from .helpers.fixtures import ConnectCharger, assert_turned_away, async_unload_all, central_of
from .helpers.secure_charger import Wallet, connect_as_configured

EN_JSON = (
    Path(__file__).parent.parent / "custom_components" / "ocpp_ems" / "translations" / "en.json"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def unload_after(hass: HomeAssistant, socket_enabled: None) -> AsyncGenerator[None]:
    """Entries created by a flow are set up for real: stop their servers after the test."""
    yield
    await async_unload_all(hass)


@pytest.fixture
async def occupied_port(socket_enabled: None) -> AsyncGenerator[int]:
    """A port another program listens on."""
    server = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def _start_user_flow(hass: HomeAssistant) -> ConfigFlowResult:
    return await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})


async def _submit_server(
    hass: HomeAssistant, form: ConfigFlowResult, port: int, host: str = "127.0.0.1"
) -> ConfigFlowResult:
    """Answer the user or reconfigure form: where the server listens."""
    return await hass.config_entries.flow.async_configure(
        form["flow_id"], {CONF_PORT: port, CONF_HOST: host}
    )


# --- user step ---------------------------------------------------------------------------------
async def test_user_creates_server_entry(hass: HomeAssistant, unload_after: None) -> None:
    result = await _start_user_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "server"  # no server yet: no menu
    assert result["errors"] == {}

    port = free_port()
    result = await _submit_server(hass, result, port, host=" 127.0.0.1 ")
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"OCPP server port {port}"
    assert result["data"] == {
        CONF_ENTRY_TYPE: ENTRY_TYPE_SERVER,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: port,
    }
    entry = result["result"]
    assert entry.unique_id == f"port_{port}"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert central_of(entry).port == port


async def test_user_port_in_use_then_recovers(
    hass: HomeAssistant, unload_after: None, occupied_port: int
) -> None:
    result = await _start_user_flow(hass)
    result = await _submit_server(hass, result, occupied_port)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PORT: "port_in_use"}

    port = free_port()
    result = await _submit_server(hass, result, port)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PORT] == port


@pytest.mark.parametrize(
    ("host", "error"),
    [
        ("192.0.2.1", "invalid_host"),  # TEST-NET-1: not an address of this machine
        ("", None),  # blank = every interface (the default)
    ],
)
async def test_user_host_errors(
    hass: HomeAssistant, unload_after: None, host: str, error: str | None
) -> None:
    result = await _start_user_flow(hass)
    result = await _submit_server(hass, result, free_port(), host=host)
    if error is None:
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_HOST] == "0.0.0.0"
    else:
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": error}


@pytest.mark.parametrize(
    ("os_error", "error"),
    [
        (OSError(errno.EACCES, "Permission denied"), "permission_denied"),
        (OSError(errno.EMFILE, "Too many open files"), "cannot_bind"),
        # Name resolution is disabled in tests: what an unknown host name gives.
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "invalid_host"),
    ],
)
async def test_user_os_errors_then_recovers(
    hass: HomeAssistant, unload_after: None, os_error: OSError, error: str
) -> None:
    """Errors this machine cannot produce on demand (we run as root) come from the OS call."""
    result = await _start_user_flow(hass)
    with patch.object(hass.loop, "create_server", side_effect=os_error):
        result = await _submit_server(hass, result, free_port())
    assert result["errors"] == {"base": error}
    result = await _submit_server(hass, result, free_port())
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_duplicate_port_aborts(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    result = await _start_user_flow(hass)
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "server"}
    )
    assert result["step_id"] == "server"
    result = await _submit_server(hass, result, 0)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


# --- reconfigure -------------------------------------------------------------------------------
async def test_reconfigure_moves_server(
    hass: HomeAssistant, server_entry: MockConfigEntry, occupied_port: int
) -> None:
    result = await server_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    # Port taken by another program: error, then a free port works.
    result = await _submit_server(hass, result, occupied_port)
    assert result["errors"] == {CONF_PORT: "port_in_use"}

    port = free_port()
    result = await _submit_server(hass, result, port)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert server_entry.unique_id == f"port_{port}"
    assert server_entry.data[CONF_PORT] == port
    assert server_entry.state is ConfigEntryState.LOADED
    assert central_of(server_entry).port == port  # restarted on the new port


async def test_reconfigure_same_port_new_host(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """The running server holds its port: a host change on the same port is tried on a free
    port; an address that is not this machine's is refused on the form (it was saved, and the
    server went down for good)."""
    result = await server_entry.start_reconfigure_flow(hass)
    result = await _submit_server(hass, result, 0, host="192.0.2.1")
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_host"}
    assert server_entry.state is ConfigEntryState.LOADED
    result = await _submit_server(hass, result, 0, host="localhost")
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert server_entry.data[CONF_HOST] == "localhost"
    assert server_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_to_port_of_other_entry_aborts(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    other = MockConfigEntry(
        domain=DOMAIN,
        unique_id="port_9999",
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_SERVER, CONF_HOST: "127.0.0.1", CONF_PORT: 9999},
    )
    other.add_to_hass(hass)
    result = await server_entry.start_reconfigure_flow(hass)
    result = await _submit_server(hass, result, 9999)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_charger_aborts(
    hass: HomeAssistant,
    onboard: Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry]]],
) -> None:
    async with onboard() as (_sim, charger_entry):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": charger_entry.entry_id}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_charger"


# --- server options ----------------------------------------------------------------------------
async def _open_server_options(
    hass: HomeAssistant, entry: MockConfigEntry, step: str = "server"
) -> ConfigFlowResult:
    """Server options start with a menu: server tuning, the energy manager or the secure
    connection."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["server", "energy_manager", "security"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": step}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == step
    return result


async def test_server_options(hass: HomeAssistant, server_entry: MockConfigEntry) -> None:
    central_before = central_of(server_entry)
    result = await _open_server_options(hass, server_entry)

    # Id tags and onboarding apply live: no restart.
    user_input: dict[str, Any] = {
        CONF_HEARTBEAT_INTERVAL: 300,
        CONF_PING_INTERVAL: 60,
        CONF_PING_TIMEOUT: 60,
        CONF_RESPONSE_TIMEOUT: 3,
        CONF_ALLOW_NEW_CHARGERS: True,
        CONF_AUTO_ACCEPT: False,
        CONF_ID_TAGS: [" TAG1 ", "", "tag2"],
        CONF_ACCEPT_ANY_ID_TAG: False,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert server_entry.options[CONF_ID_TAGS] == ["TAG1", "tag2"]
    assert central_of(server_entry) is central_before

    # The heartbeat needs a restart of the server.
    result = await _open_server_options(hass, server_entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], user_input | {CONF_HEARTBEAT_INTERVAL: 120}
    )
    await hass.async_block_till_done()
    assert server_entry.options[CONF_HEARTBEAT_INTERVAL] == 120
    assert server_entry.state is ConfigEntryState.LOADED
    assert central_of(server_entry) is not central_before

    # Emptying the id tag list (the field left out) really empties it.
    result = await _open_server_options(hass, server_entry)
    without_tags = {k: v for k, v in user_input.items() if k != CONF_ID_TAGS}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], without_tags | {CONF_HEARTBEAT_INTERVAL: 120}
    )
    assert server_entry.options[CONF_ID_TAGS] == []


@pytest.mark.parametrize(
    "bad_tag",
    [
        "DEABC1234567890123456789012345678901X",  # 37 characters: more than a 2.0.1 idToken
        "K\u00e4the",  # not ASCII
        "TAB\tTAG",  # not printable
        " = Nobody",  # a name without a tag
    ],
)
async def test_server_options_refuse_a_tag_no_station_can_take(
    hass: HomeAssistant, server_entry: MockConfigEntry, bad_tag: str
) -> None:
    """An id tag a station cannot take would break the local list: the form says so. Tags of 21
    to 36 characters (2.x contract ids) are fine: 1.6 chargers just do not get them."""
    result = await _open_server_options(hass, server_entry)
    user_input: dict[str, Any] = {
        CONF_HEARTBEAT_INTERVAL: 300,
        CONF_PING_INTERVAL: 60,
        CONF_PING_TIMEOUT: 60,
        CONF_RESPONSE_TIMEOUT: 3,
        CONF_ALLOW_NEW_CHARGERS: True,
        CONF_AUTO_ACCEPT: False,
        CONF_ID_TAGS: ["TAG1 = Alice", bad_tag],
        CONF_ACCEPT_ANY_ID_TAG: False,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ID_TAGS: "invalid_id_tags"}
    contract_id = "DEABC123456789012345678901234567890"  # 35 characters
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], user_input | {CONF_ID_TAGS: ["TAG1 = Alice", f"{contract_id} = Bob"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert server_entry.options[CONF_ID_TAGS] == ["TAG1 = Alice", f"{contract_id} = Bob"]


async def test_server_options_ocpp_versions(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """All versions by default; one left out is refused at the handshake; none is an error."""
    result = await _open_server_options(hass, server_entry)
    shown = {str(key): key for key in result["data_schema"].schema}
    assert shown[CONF_OCPP_VERSIONS].default() == ["ocpp2.1", "ocpp2.0.1", "ocpp1.6"]
    user_input: dict[str, Any] = {
        CONF_HEARTBEAT_INTERVAL: 300,
        CONF_PING_INTERVAL: 60,
        CONF_PING_TIMEOUT: 60,
        CONF_RESPONSE_TIMEOUT: 3,
        CONF_ALLOW_NEW_CHARGERS: True,
        CONF_AUTO_ACCEPT: False,
        CONF_ACCEPT_ANY_ID_TAG: False,
        CONF_OCPP_VERSIONS: [],
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_OCPP_VERSIONS: "no_ocpp_version"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], user_input | {CONF_OCPP_VERSIONS: ["ocpp1.6"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert server_entry.state is ConfigEntryState.LOADED
    url = f"ws://127.0.0.1:{central_of(server_entry).port}/CP9"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=[Subprotocol("ocpp2.0.1")]):
            pass
    assert refused.value.response.status_code == 400
    async with connect(url, subprotocols=[Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6")]) as ws:
        assert ws.subprotocol == "ocpp1.6"


def _sectioned(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Flat options as the sectioned energy manager form takes them (every section present)."""
    where = {option.key: option.section for option in ems_options.OPTIONS}
    form: dict[str, Any] = {part.value: {} for part in Section}
    for key, value in flat.items():
        part = where[key]
        (form if part is None else form[part.value])[key] = value
    return form


def _shown(result: ConfigFlowResult) -> dict[str, dict[str, Any]]:
    """Each field of the energy manager form: its section, selector, default and suggested value."""
    fields: dict[str, dict[str, Any]] = {}

    def add(schema: dict[Any, Any], part: str | None) -> None:
        for marker, selector in schema.items():
            if isinstance(selector, section):
                add(selector.schema.schema, str(marker))
                continue
            fields[str(marker)] = {
                "section": part,
                "selector": selector,
                "default": marker.default() if callable(marker.default) else None,
                "suggested": (marker.description or {}).get("suggested_value"),
            }

    add(result["data_schema"].schema, None)
    return fields


EMS_INPUT: dict[str, Any] = {
    CONF_EMS_ENABLED: True,
    CONF_GRID_POWER: "sensor.grid",
    CONF_GRID_CURRENT_L1: "sensor.grid_l1",
    CONF_PV_POWER: "sensor.pv",
    CONF_PRICE: "sensor.price",
    CONF_PRICE_FORECAST_ATTRIBUTE: " raw_today ",
    CONF_FUSE: 25.0,
    CONF_SITE_PHASES: "1",
    CONF_VOLTAGE: 230.0,
    CONF_ZERO_EXPORT: True,
    CONF_BATTERY_POWER: "sensor.battery",
    CONF_BATTERY_SOC: "sensor.battery_soc",
    CONF_BATTERY_PRIORITY_SOC: 80.0,
    ems_options.BATTERY_CAPACITY.key: 13.5,
    CONF_BATTERY_ASSIST: True,
    CONF_BATTERY_FLOOR_SOC: 40.0,
    CONF_BATTERY_ASSIST_POWER: 1500.0,
    CONF_STALE_FALLBACK: "pause",
    CONF_STALE_GRACE: 120.0,
    CONF_MIN_WRITE_INTERVAL: 15.0,
}


# The sensors EMS_INPUT picks, as the form finds them: (state, unit, device class).
SITE_SENSORS: dict[str, tuple[str, str, str]] = {
    "sensor.grid": ("-1200", "W", "power"),
    "sensor.grid_l1": ("3.1", "A", "current"),
    "sensor.grid_l2": ("2.4", "A", "current"),
    "sensor.grid_l3": ("0.8", "A", "current"),
    "sensor.pv": ("3.2", "kW", "power"),
    "sensor.price": ("0.31", "EUR/kWh", "monetary"),
    "sensor.battery": ("-500", "W", "power"),
    "sensor.battery_soc": ("55", "%", "battery"),
    # What a stranger may pick by mistake: the meter's and the inverter's energy counters.
    "sensor.grid_energy": ("12345.6", "kWh", "energy"),
    "sensor.pv_energy": ("8.2", "kWh", "energy"),
}


@pytest.fixture
def site_sensors(hass: HomeAssistant) -> None:
    """The site's sensors exist (the form refuses one that does not)."""
    for entity_id, (state, unit, device_class) in SITE_SENSORS.items():
        hass.states.async_set(
            entity_id, state, {"unit_of_measurement": unit, "device_class": device_class}
        )


async def _submit_energy_manager(
    hass: HomeAssistant, entry: MockConfigEntry, flat: Mapping[str, Any]
) -> ConfigFlowResult:
    """Open the energy manager form and submit ``flat`` (sectioned as the form takes it)."""
    result = await _open_server_options(hass, entry, "energy_manager")
    return await hass.config_entries.options.async_configure(result["flow_id"], _sectioned(flat))


async def test_energy_manager_form_is_built_from_the_table(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """The switch on top, then the sections (advanced folded); defaults and fields from the table."""
    result = await _open_server_options(hass, server_entry, "energy_manager")
    schema = result["data_schema"].schema
    assert [str(key) for key in schema] == [CONF_EMS_ENABLED, *(part.value for part in Section)]
    folded = {
        str(key): value.options["collapsed"]
        for key, value in schema.items()
        if key != CONF_EMS_ENABLED
    }
    assert folded == {part.value: part is Section.ADVANCED for part in Section}

    shown = _shown(result)
    assert list(shown) == list(ems_options.KEYS)
    for option in ems_options.OPTIONS:
        field = shown[option.key]
        assert field["section"] == (None if option.section is None else option.section.value)
        # Defaults are the table's; nothing is stored yet, so nothing is suggested.
        expected = None if option.default is None else option.to_form(option.default)
        assert field["default"] == expected, option.key
        assert field["suggested"] is None, option.key
    assert shown[CONF_BATTERY_FLOOR_SOC]["default"] == 50.0
    assert shown[CONF_SITE_PHASES]["default"] == "3"
    # The main fuse's field takes 0 (no fuse); the step refuses 1 to 5 A.
    fuse = shown[CONF_FUSE]["selector"]
    assert (fuse.config["min"], fuse.config["max"]) == (0, ems_options.FUSE.maximum)

    phases = shown[CONF_SITE_PHASES]["selector"]
    assert isinstance(phases, SelectSelector)
    assert phases.config["options"] == ["1", "3"]
    assert phases.config["translation_key"] == CONF_SITE_PHASES
    pickers = {
        key: (field["selector"].config.get("domain"), field["selector"].config.get("device_class"))
        for key, field in shown.items()
        if isinstance(field["selector"], EntitySelector)
    }
    assert pickers == {
        CONF_GRID_POWER: (["sensor"], ["power"]),
        CONF_GRID_CURRENT_L1: (["sensor"], ["current"]),
        CONF_GRID_CURRENT_L2: (["sensor"], ["current"]),
        CONF_GRID_CURRENT_L3: (["sensor"], ["current"]),
        CONF_PRICE: (["sensor"], ["monetary"]),
        ems_options.FEED_IN_PRICE_ENTITY.key: (["sensor"], ["monetary"]),
        CONF_PV_POWER: (["sensor"], ["power"]),
        CONF_PV_AVAILABLE_POWER: (["sensor"], ["power"]),
        CONF_BATTERY_POWER: (["sensor"], ["power"]),
        CONF_BATTERY_SOC: (["sensor"], ["battery"]),
        CONF_BATTERY_DISCHARGE_LIMIT: (["number", "input_number"], None),
    }
    floor = shown[CONF_BATTERY_FLOOR_SOC]["selector"]
    assert isinstance(floor, NumberSelector)
    assert (floor.config["min"], floor.config["max"], floor.config["mode"]) == (0, 100, "slider")
    assert floor.config["unit_of_measurement"] == "%"
    # The home battery's capacity: in kWh as on its datasheet, empty (no default) = learned.
    capacity = shown[ems_options.BATTERY_CAPACITY.key]
    assert isinstance(capacity["selector"], NumberSelector)
    assert {key: capacity["selector"].config[key] for key in ("min", "max", "step", "mode")} == {
        "min": 0.5,
        "max": 200,
        "step": 0.01,
        "mode": "box",
    }
    assert capacity["selector"].config["unit_of_measurement"] == "kWh"
    assert (capacity["section"], capacity["default"]) == (Section.BATTERY, None)
    assert isinstance(shown[CONF_EMS_ENABLED]["selector"], BooleanSelector)
    assert isinstance(shown[CONF_PRICE_FORECAST_ATTRIBUTE]["selector"], TextSelector)
    # The solar forecast: any config entry (Forecast.Solar, Solcast... have one each).
    assert isinstance(shown[ems_options.SOLAR_FORECAST.key]["selector"], ConfigEntrySelector)
    hass.config_entries.options.async_abort(result["flow_id"])


async def test_energy_manager_options_round_trip(
    hass: HomeAssistant, server_entry: MockConfigEntry, site_sensors: None
) -> None:
    """Sectioned in, flat out: the energy manager step keeps the server options, the server step
    keeps the energy manager's, and the stored values come back as the form's suggestions."""
    hass.config_entries.async_update_entry(server_entry, options={CONF_RESPONSE_TIMEOUT: 3})
    await hass.async_block_till_done()
    result = await _open_server_options(hass, server_entry, "energy_manager")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _sectioned(EMS_INPUT)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert dict(server_entry.options) == {
        CONF_RESPONSE_TIMEOUT: 3,
        CONF_EMS_ENABLED: True,
        CONF_GRID_POWER: "sensor.grid",
        CONF_GRID_CURRENT_L1: "sensor.grid_l1",
        CONF_PV_POWER: "sensor.pv",
        CONF_PRICE: "sensor.price",
        CONF_PRICE_FORECAST_ATTRIBUTE: "raw_today",
        CONF_FUSE: 25,
        CONF_SITE_PHASES: 1,
        CONF_VOLTAGE: 230,
        CONF_ZERO_EXPORT: True,
        ems_options.STOP_EARLY_IN_DIPS.key: True,
        ems_options.SHARE_SURPLUS.key: False,
        CONF_BATTERY_POWER: "sensor.battery",
        CONF_BATTERY_SOC: "sensor.battery_soc",
        CONF_BATTERY_PRIORITY_SOC: 80,
        ems_options.BATTERY_CAPACITY.key: 13.5,
        CONF_BATTERY_ASSIST: True,
        CONF_BATTERY_FLOOR_SOC: 40,
        CONF_BATTERY_ASSIST_POWER: 1500,
        CONF_STALE_FALLBACK: "pause",
        CONF_STALE_GRACE: 120,
        CONF_MIN_WRITE_INTERVAL: 15,
        # Defaults of fields left as they were.
        ems_options.MIN_SUN_SHARE.key: 90,
        ems_options.FEED_IN_PRICE.key: 0.0,
        ems_options.FORECAST_CONFIDENCE.key: 70,
        ems_options.HOUSE_LOAD.key: 500,
    }
    # The running energy manager has the new site settings.
    site = server_entry.runtime_data.ems.site
    assert (site.site_phases, site.fuse_a, site.solar.zero_export) == (1, 25.0, True)
    assert site.battery.floor_soc == 40.0
    assert site.battery.capacity_wh == 13500.0  # entered in kWh, planned with in Wh

    # Shown again in their sections; a sensor left out and a blank attribute are dropped.
    result = await _open_server_options(hass, server_entry, "energy_manager")
    shown = _shown(result)
    assert shown[CONF_SITE_PHASES]["suggested"] == "1"
    assert shown[CONF_SITE_PHASES]["section"] == Section.SITE_LIMITS
    assert shown[CONF_GRID_POWER]["suggested"] == "sensor.grid"
    assert shown[CONF_BATTERY_FLOOR_SOC]["suggested"] == 40
    assert shown[CONF_STALE_FALLBACK]["suggested"] == "pause"
    assert shown[ems_options.BATTERY_CAPACITY.key]["suggested"] == 13.5
    assert shown[CONF_PV_AVAILABLE_POWER]["suggested"] is None
    # The PV sensor and the battery's capacity emptied: unset (the capacity learned again).
    emptied = (CONF_PV_POWER, ems_options.BATTERY_CAPACITY.key)
    left_empty = {k: v for k, v in EMS_INPUT.items() if k not in emptied}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _sectioned(left_empty | {CONF_PRICE_FORECAST_ATTRIBUTE: " "})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert CONF_PV_POWER not in server_entry.options
    assert CONF_PRICE_FORECAST_ATTRIBUTE not in server_entry.options
    assert ems_options.BATTERY_CAPACITY.key not in server_entry.options
    assert server_entry.runtime_data.ems.site.battery.capacity_wh is None

    # The server step leaves the energy manager's options alone.
    result = await _open_server_options(hass, server_entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_HEARTBEAT_INTERVAL: 300,
            CONF_PING_INTERVAL: 60,
            CONF_PING_TIMEOUT: 60,
            CONF_RESPONSE_TIMEOUT: 3,
            CONF_ALLOW_NEW_CHARGERS: True,
            CONF_AUTO_ACCEPT: False,
            CONF_ACCEPT_ANY_ID_TAG: False,
        },
    )
    await hass.async_block_till_done()
    assert server_entry.options[CONF_GRID_POWER] == "sensor.grid"
    assert server_entry.options[CONF_EMS_ENABLED] is True


LEGACY_OPTIONS: dict[str, Any] = {
    # Flat options as earlier versions stored them: a 0 fuse, phases as a number, floats where
    # the form gave floats, no grace period (it had no default then), an out-of-range floor.
    CONF_RESPONSE_TIMEOUT: 3,
    CONF_EMS_ENABLED: False,
    CONF_GRID_POWER: "sensor.grid",
    CONF_FUSE: 0,
    CONF_SITE_PHASES: 1,
    CONF_VOLTAGE: 230.0,
    CONF_BATTERY_PRIORITY_SOC: 100.0,
    CONF_BATTERY_ASSIST: False,
    CONF_BATTERY_FLOOR_SOC: 120,
    CONF_BATTERY_ASSIST_POWER: 2000.0,
    CONF_STALE_FALLBACK: "min_current",
    CONF_STALE_AFTER: 90.0,
    CONF_MIN_WRITE_INTERVAL: 10,
}


@pytest.mark.parametrize("server_options", [LEGACY_OPTIONS])
async def test_energy_manager_reads_old_flat_options(
    hass: HomeAssistant, server_entry: MockConfigEntry, site_sensors: None
) -> None:
    """Options stored flat before the form had sections load into it, and are saved flat again
    (same keys: no migration)."""
    site = server_entry.runtime_data.ems.site
    assert (site.fuse_a, site.site_phases, site.grid_max_age_s) == (None, 1, 90.0)
    assert site.battery.floor_soc == 100.0  # clamped to the bounds

    result = await _open_server_options(hass, server_entry, "energy_manager")
    shown = _shown(result)
    suggested = {key: field["suggested"] for key, field in shown.items()}
    assert suggested == {
        CONF_EMS_ENABLED: False,
        CONF_GRID_POWER: "sensor.grid",
        CONF_GRID_CURRENT_L1: None,
        CONF_GRID_CURRENT_L2: None,
        CONF_GRID_CURRENT_L3: None,
        CONF_PRICE: None,
        CONF_PRICE_FORECAST_ATTRIBUTE: None,
        ems_options.SESSION_PRICE.key: None,
        ems_options.FEED_IN_PRICE_ENTITY.key: None,
        ems_options.FEED_IN_PRICE.key: None,
        ems_options.CHEAP_GRID_PRICE.key: None,
        CONF_FUSE: None,  # 0 = no fuse: shown empty
        CONF_SITE_PHASES: "1",
        CONF_VOLTAGE: 230.0,
        CONF_PV_POWER: None,
        CONF_PV_AVAILABLE_POWER: None,
        CONF_ZERO_EXPORT: None,
        ems_options.STOP_EARLY_IN_DIPS.key: None,
        ems_options.MIN_SUN_SHARE.key: None,
        ems_options.SHARE_SURPLUS.key: None,
        ems_options.SOLAR_FORECAST.key: None,
        ems_options.FORECAST_CONFIDENCE.key: None,
        ems_options.HOUSE_LOAD.key: None,
        CONF_BATTERY_POWER: None,
        CONF_BATTERY_SOC: None,
        CONF_BATTERY_DISCHARGE_LIMIT: None,
        CONF_BATTERY_PRIORITY_SOC: 100.0,
        ems_options.BATTERY_MAX_CHARGE.key: None,
        ems_options.BATTERY_CAPACITY.key: None,
        CONF_BATTERY_ASSIST: False,
        CONF_BATTERY_FLOOR_SOC: 100.0,
        CONF_BATTERY_ASSIST_POWER: 2000.0,
        CONF_STALE_FALLBACK: "min_current",
        CONF_STALE_AFTER: 90.0,
        CONF_STALE_GRACE: None,  # not stored: the default (300 s) is shown
        CONF_MIN_WRITE_INTERVAL: 10,
    }
    # What the frontend sends back: the suggestions, the defaults where nothing is suggested.
    answer = {
        key: field["suggested"] if field["suggested"] is not None else field["default"]
        for key, field in shown.items()
        if field["suggested"] is not None or field["default"] is not None
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _sectioned(answer)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert dict(server_entry.options) == {
        CONF_RESPONSE_TIMEOUT: 3,
        CONF_EMS_ENABLED: False,
        CONF_GRID_POWER: "sensor.grid",
        CONF_SITE_PHASES: 1,
        CONF_VOLTAGE: 230,
        CONF_ZERO_EXPORT: False,
        ems_options.STOP_EARLY_IN_DIPS.key: True,
        ems_options.SHARE_SURPLUS.key: False,
        ems_options.MIN_SUN_SHARE.key: 90,
        ems_options.FEED_IN_PRICE.key: 0.0,
        ems_options.FORECAST_CONFIDENCE.key: 70,
        ems_options.HOUSE_LOAD.key: 500,
        CONF_BATTERY_PRIORITY_SOC: 100,
        CONF_BATTERY_ASSIST: False,
        CONF_BATTERY_FLOOR_SOC: 100,
        CONF_BATTERY_ASSIST_POWER: 2000,
        CONF_STALE_FALLBACK: "min_current",
        CONF_STALE_AFTER: 90,
        CONF_STALE_GRACE: 300,
        CONF_MIN_WRITE_INTERVAL: 10,
    }


async def test_energy_manager_validation_errors_then_recovers(
    hass: HomeAssistant, server_entry: MockConfigEntry, site_sensors: None
) -> None:
    result = await _open_server_options(hass, server_entry, "energy_manager")
    flow_id = result["flow_id"]

    # A choice the dropdown does not offer: refused by the schema.
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            flow_id, _sectioned(EMS_INPUT | {CONF_SITE_PHASES: "2"})
        )

    # Combinations the energy manager cannot use: shown on their section, the answer kept.
    broken = EMS_INPUT | {CONF_SITE_PHASES: "3", CONF_BATTERY_SOC: None}
    broken = {k: v for k, v in broken.items() if v is not None}
    result = await hass.config_entries.options.async_configure(flow_id, _sectioned(broken))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {
        Section.INPUTS.value: "grid_currents_incomplete",
        Section.BATTERY.value: "battery_assist_needs_sensors",
    }
    assert _shown(result)[CONF_GRID_CURRENT_L1]["suggested"] == "sensor.grid_l1"

    no_battery_power = {
        k: v for k, v in EMS_INPUT.items() if k not in (CONF_BATTERY_POWER, CONF_BATTERY_ASSIST)
    } | {CONF_BATTERY_DISCHARGE_LIMIT: "number.discharge"}
    result = await hass.config_entries.options.async_configure(
        flow_id, _sectioned(no_battery_power)
    )
    assert result["errors"] == {Section.BATTERY.value: "discharge_limit_needs_battery_power"}

    # A "max discharge current" in A (many inverters) is no cap in W.
    hass.states.async_set("number.discharge_current", "100", {"unit_of_measurement": "A"})
    result = await hass.config_entries.options.async_configure(
        flow_id, _sectioned(EMS_INPUT | {CONF_BATTERY_DISCHARGE_LIMIT: "number.discharge_current"})
    )
    assert result["errors"] == {Section.BATTERY.value: "discharge_limit_not_power"}

    # Every phase's current (or a single phase site with L1): accepted.
    complete = EMS_INPUT | {
        CONF_SITE_PHASES: "3",
        CONF_GRID_CURRENT_L2: "sensor.grid_l2",
        CONF_GRID_CURRENT_L3: "sensor.grid_l3",
        CONF_BATTERY_DISCHARGE_LIMIT: "number.discharge",
    }
    hass.states.async_set("number.discharge", "5", {"unit_of_measurement": "kW"})
    result = await hass.config_entries.options.async_configure(flow_id, _sectioned(complete))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert server_entry.options[CONF_GRID_CURRENT_L3] == "sensor.grid_l3"


THREE_CURRENTS = {
    CONF_GRID_CURRENT_L1: "sensor.grid_l1",
    CONF_GRID_CURRENT_L2: "sensor.grid_l2",
    CONF_GRID_CURRENT_L3: "sensor.grid_l3",
}


async def test_energy_manager_needs_a_grid_meter(
    hass: HomeAssistant, server_entry: MockConfigEntry, site_sensors: None
) -> None:
    """Every charger starts in Solar mode, which finds the surplus with the grid meter, and the
    main fuse is watched with it: switched on without one, a plugged car would charge at the
    stale fallback from the grid. Off, the form may be filled in without it."""
    for flat in (
        {CONF_EMS_ENABLED: True},
        # The phase currents alone give the fuse the house's load, not the solar modes a surplus.
        {CONF_EMS_ENABLED: True, CONF_FUSE: 25} | THREE_CURRENTS,
    ):
        result = await _submit_energy_manager(hass, server_entry, flat)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {Section.INPUTS.value: "grid_power_needed"}, flat
    result = await _submit_energy_manager(hass, server_entry, {CONF_EMS_ENABLED: False})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await _submit_energy_manager(
        hass, server_entry, {CONF_EMS_ENABLED: True, CONF_GRID_POWER: "sensor.grid", CONF_FUSE: 25}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_energy_manager_refuses_sensors_it_cannot_read(
    hass: HomeAssistant, server_entry: MockConfigEntry, site_sensors: None
) -> None:
    """A sensor that does not exist, a power field given no power, one sensor for two inputs:
    each refused on the section of its field (not saved, to show up later as a stale-input
    repair); one that exists but is unavailable, or has no unit yet, is taken."""
    base = {CONF_EMS_ENABLED: True, CONF_GRID_POWER: "sensor.grid"}
    refused = [
        ({CONF_GRID_POWER: "sensor.removed_meter"}, Section.INPUTS, "entity_not_found"),
        ({CONF_GRID_POWER: "sensor.grid_energy"}, Section.INPUTS, "sensor_not_power"),
        ({CONF_PV_POWER: "sensor.pv_energy"}, Section.SOLAR, "sensor_not_power"),
        ({CONF_BATTERY_POWER: "sensor.battery_soc"}, Section.BATTERY, "sensor_not_power"),
        ({CONF_PV_POWER: "sensor.grid"}, Section.SOLAR, "duplicate_sensor"),
        (
            THREE_CURRENTS | {CONF_GRID_CURRENT_L1: "sensor.grid_l2"},
            Section.INPUTS,
            "duplicate_sensor",
        ),
    ]
    for changes, part, error in refused:
        result = await _submit_energy_manager(hass, server_entry, base | changes)
        assert result["type"] is FlowResultType.FORM, changes
        assert result["errors"] == {part.value: error}, changes

    # Registered but not reporting (its integration still starting), unavailable, no unit yet.
    er.async_get(hass).async_get_or_create("sensor", "meter", "pv_1", suggested_object_id="pv_1")
    hass.states.async_set("sensor.battery", "unavailable", {"device_class": "power"})
    hass.states.async_set("sensor.pv_available", "1800")
    taken = base | {
        CONF_PV_POWER: "sensor.pv_1",
        CONF_PV_AVAILABLE_POWER: "sensor.pv_available",
        CONF_BATTERY_POWER: "sensor.battery",
    }
    result = await _submit_energy_manager(hass, server_entry, taken)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert server_entry.options[CONF_PV_POWER] == "sensor.pv_1"


async def test_energy_manager_cheap_grid_price_needs_the_price(
    hass: HomeAssistant, server_entry: MockConfigEntry, site_sensors: None
) -> None:
    """Without the price sensor the cheap hours never come: refused, not silently ignored."""
    cheap = {
        CONF_EMS_ENABLED: True,
        CONF_GRID_POWER: "sensor.grid",
        ems_options.CHEAP_GRID_PRICE.key: 0.05,
    }
    result = await _submit_energy_manager(hass, server_entry, cheap)
    assert result["errors"] == {Section.INPUTS.value: "cheap_price_needs_price"}
    result = await _submit_energy_manager(hass, server_entry, cheap | {CONF_PRICE: "sensor.price"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert server_entry.runtime_data.ems.site.cheap_price == 0.05


async def test_energy_manager_solar_forecast_must_be_one(
    hass: HomeAssistant, server_entry: MockConfigEntry, site_sensors: None
) -> None:
    """The picker lists every config entry: one without an energy platform forecast (this server
    itself), or one removed meanwhile, is refused on the solar section; a forecast's is taken."""
    mock_integration(hass, MockModule("roof_forecast"))
    mock_platform(hass, "roof_forecast.energy", Mock(async_get_solar_forecast=AsyncMock()))
    hass.config.components.add("roof_forecast")
    forecast = MockConfigEntry(domain="roof_forecast")
    forecast.add_to_hass(hass)
    base = {CONF_EMS_ENABLED: True, CONF_GRID_POWER: "sensor.grid"}
    for entry_id in (server_entry.entry_id, "01JREMOVED"):
        result = await _submit_energy_manager(
            hass, server_entry, base | {ems_options.SOLAR_FORECAST.key: entry_id}
        )
        assert result["errors"] == {Section.SOLAR.value: "not_a_solar_forecast"}, entry_id
    result = await _submit_energy_manager(
        hass, server_entry, base | {ems_options.SOLAR_FORECAST.key: forecast.entry_id}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert server_entry.options[ems_options.SOLAR_FORECAST.key] == forecast.entry_id


@pytest.mark.parametrize(
    ("changes", "part"),
    [
        ({CONF_FUSE: 1000}, Section.SITE_LIMITS),  # max 400 A
        # Below 6 A (a typo, kW typed into an A field) no car gets its minimum current.
        ({CONF_FUSE: 1}, Section.SITE_LIMITS),
        ({CONF_FUSE: 5}, Section.SITE_LIMITS),
        ({CONF_FUSE: -25}, Section.SITE_LIMITS),
        ({CONF_BATTERY_FLOOR_SOC: 150}, Section.BATTERY),
        # No battery holds 0 kWh: empty is "learned".
        ({ems_options.BATTERY_CAPACITY.key: 0}, Section.BATTERY),
        ({CONF_STALE_GRACE: -1}, Section.ADVANCED),
    ],
)
async def test_energy_manager_numbers_beyond_the_bounds_are_explained(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    site_sensors: None,
    changes: dict[str, Any],
    part: Section,
) -> None:
    """The table's bounds are checked by the step: a translated error on the field's section,
    not the schema's raw English text above the form (HA cannot map an error inside a section
    to its field)."""
    result = await _submit_energy_manager(hass, server_entry, EMS_INPUT | changes)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {part.value: "out_of_range"}


async def test_energy_manager_fuse_of_0_is_none(
    hass: HomeAssistant, server_entry: MockConfigEntry, site_sensors: None
) -> None:
    """0 is "no fuse" (not a fuse below a car's minimum); the least fuse is 6 A."""
    result = await _submit_energy_manager(hass, server_entry, EMS_INPUT | {CONF_FUSE: 0})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_FUSE not in server_entry.options
    result = await _submit_energy_manager(hass, server_entry, EMS_INPUT | {CONF_FUSE: 6})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert server_entry.runtime_data.ems.site.fuse_a == 6.0


# --- charger discovery -------------------------------------------------------------------------
def _discovery_data(server_entry: MockConfigEntry, **extra: Any) -> dict[str, Any]:
    return {
        CONF_CHARGER_ID: "CP1",
        CONF_SERVER_ENTRY_ID: server_entry.entry_id,
        CONF_VENDOR: "Acme",
        CONF_MODEL: "Wallbox 1",
        CONF_SERIAL: "SN-0001",
        CONF_AUTO_ACCEPT: False,
        **extra,
    }


def assert_charger_entry(
    result: ConfigFlowResult,
    title: str,
    charger_id: str,
    server_entry: MockConfigEntry,
    installation_max_a: float,
) -> Mapping[str, Any]:
    """The flow created the charger's entry as named; its data (with a fresh password)."""
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == title
    assert result["options"] == {CONF_INSTALLATION_MAX: installation_max_a}
    data = result["data"]
    assert data[CONF_ENTRY_TYPE] == ENTRY_TYPE_CHARGER
    assert data[CONF_CHARGER_ID] == charger_id
    assert data[CONF_SERVER_ENTRY_ID] == server_entry.entry_id
    assert len(data[CONF_PASSWORD]) >= 16
    assert CONF_ACCEPTED_AUTOMATICALLY not in data  # the user accepted it
    assert result["result"].unique_id == charger_id
    return data


async def _boot_unknown_charger(hass: HomeAssistant, sim: SimCharger) -> ConfigFlowResult:
    """Boot a charger the server does not know: it is held Pending and one discovery flow opens."""
    assert await sim.boot() == "Pending"
    await wait_for(lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN))
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    return flow


async def test_discovery_confirm_creates_charger(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    """The whole onboarding: boot Pending -> question -> accept -> password -> boot Accepted."""
    async with connect("CP1") as sim:
        flow = await _boot_unknown_charger(hass, sim)
        assert flow["step_id"] == "confirm"
        assert flow["context"]["title_placeholders"] == {"name": "Acme Wallbox 1 (CP1)"}
        assert flow["context"]["source"] == SOURCE_INTEGRATION_DISCOVERY

        result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
        # Named after vendor and model (not the id); the installation maximum as suggested.
        data = assert_charger_entry(result, "Acme Wallbox 1", "CP1", server_entry, 32.0)
        entry = result["result"]
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED

        # The charger got its password (hex AuthorizationKey) and booted again, accepted.
        await wait_for(lambda: sim.boot_status == "Accepted")
        assert sim.authorization_key == data[CONF_PASSWORD].encode().hex()
        assert sim.configuration["SecurityProfile"] == "1"


async def _add_charger_form(hass: HomeAssistant) -> ConfigFlowResult:
    result = await _start_user_flow(hass)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["server", "add_charger"]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "add_charger"}
    )


@pytest.mark.parametrize("server_options", [{CONF_ALLOW_NEW_CHARGERS: False}])
async def test_charger_added_by_id_gets_in_with_new_chargers_not_allowed(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    """Added before it connects: accepted at its first connection, password provisioned,
    although new chargers are turned away."""
    await assert_turned_away(connect, "OTHER")
    form = await _add_charger_form(hass)
    assert form["step_id"] == "add_charger"
    # One server: no server field. Every field has a label.
    labels = json.loads(EN_JSON.read_text())["config"]["step"]["add_charger"]["data"]
    fields = {str(getattr(key, "schema", key)) for key in form["data_schema"].schema}
    assert fields == {CONF_CHARGER_ID, CONF_NAME, CONF_INSTALLATION_MAX, CONF_PASSWORD_IN_CHARGER}
    assert fields <= set(labels)
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {CONF_CHARGER_ID: " CP7 ", CONF_INSTALLATION_MAX: 20}
    )
    # No name given: the id.
    data = assert_charger_entry(result, "CP7", "CP7", server_entry, 20.0)
    await hass.async_block_till_done()
    async with connect("CP7") as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: sim.authorization_key == data[CONF_PASSWORD].encode().hex())
    await assert_turned_away(connect, "OTHER")


@pytest.mark.parametrize(
    "charger_id", ["", "   ", "a/b", "a:b", "a?b", "a#b", "a%41", "x" * 49, "tab\there"]
)
async def test_charger_added_by_id_needs_an_id_a_url_carries(
    hass: HomeAssistant, server_entry: MockConfigEntry, charger_id: str
) -> None:
    form = await _add_charger_form(hass)
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {CONF_CHARGER_ID: charger_id, CONF_INSTALLATION_MAX: 16}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CHARGER_ID: "invalid_charger_id"}
    assert result["description_placeholders"] == {"max_length": "48"}
    # A server entry's form of unique id, of a server that exists or may one day.
    for reserved in ("port_0", "port_9000"):
        result = await hass.config_entries.flow.async_configure(
            form["flow_id"], {CONF_CHARGER_ID: reserved, CONF_INSTALLATION_MAX: 16}
        )
        assert result["errors"] == {CONF_CHARGER_ID: "reserved_charger_id"}
    # The same form takes a valid one.
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"],
        {CONF_CHARGER_ID: "x" * 48, CONF_NAME: " Garage ", CONF_INSTALLATION_MAX: 16},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Garage"


async def test_charger_added_by_id_answers_its_open_question(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    """The charger waits for approval already: adding it by id accepts it, the question goes,
    and adding it again aborts."""
    async with connect("CP1") as sim:
        await _boot_unknown_charger(hass, sim)
        form = await _add_charger_form(hass)
        result = await hass.config_entries.flow.async_configure(
            form["flow_id"], {CONF_CHARGER_ID: "CP1", CONF_INSTALLATION_MAX: 16}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []
        await wait_for(lambda: sim.boot_status == "Accepted")
    form = await _add_charger_form(hass)
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {CONF_CHARGER_ID: "CP1", CONF_INSTALLATION_MAX: 16}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize("server_options", [{CONF_ALLOW_NEW_CHARGERS: False}])
async def test_charger_added_by_id_with_the_password_typed_into_it(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    """The user types the shown password into the charger: from the first connection on only
    a login with it gets in, and nobody is offered it."""
    form = await _add_charger_form(hass)
    shown = await hass.config_entries.flow.async_configure(
        form["flow_id"],
        {CONF_CHARGER_ID: "CP4", CONF_INSTALLATION_MAX: 16, CONF_PASSWORD_IN_CHARGER: True},
    )
    assert shown["type"] is FlowResultType.FORM
    assert shown["step_id"] == "add_charger_password"
    placeholders = shown["description_placeholders"]
    password = placeholders["password"]
    assert placeholders["charger_id"] == "CP4"
    assert placeholders["authorization_key"] == password.encode().hex()
    result = await hass.config_entries.flow.async_configure(shown["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PASSWORD] == password
    await hass.async_block_till_done()
    # Without the password: refused (it is required from the start), nothing offered.
    with pytest.raises(InvalidStatus, match="HTTP 401"):
        async with connect("CP4"):
            pass
    async with connect("CP4", password=password.encode()) as sim:
        assert await sim.boot() == "Accepted"
        await hass.async_block_till_done()
        assert sim.authorization_key is None  # it has its password: none is pushed


async def test_charger_waiting_is_closed_when_added_with_its_own_password(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    async with connect("CP1") as sim:
        await _boot_unknown_charger(hass, sim)
        form = await _add_charger_form(hass)
        shown = await hass.config_entries.flow.async_configure(
            form["flow_id"],
            {CONF_CHARGER_ID: "CP1", CONF_INSTALLATION_MAX: 16, CONF_PASSWORD_IN_CHARGER: True},
        )
        await hass.config_entries.flow.async_configure(shown["flow_id"], {})
        await hass.async_block_till_done()
        # Its connection without the password is closed: it comes back with the password.
        await wait_for(lambda: central_of(server_entry).session("CP1") is None)
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []


async def test_charger_password_step_when_the_server_stopped(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    form = await _add_charger_form(hass)
    shown = await hass.config_entries.flow.async_configure(
        form["flow_id"],
        {CONF_CHARGER_ID: "CP4", CONF_INSTALLATION_MAX: 16, CONF_PASSWORD_IN_CHARGER: True},
    )
    await hass.config_entries.async_unload(server_entry.entry_id)
    result = await hass.config_entries.flow.async_configure(shown["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_server"


async def test_charger_added_by_id_after_it_was_ignored(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    """Adding an ignored charger by its id is the user changing their mind: it gets in."""
    ignored = MockConfigEntry(domain=DOMAIN, unique_id="CP3", source=SOURCE_IGNORE, data={})
    ignored.add_to_hass(hass)
    await assert_turned_away(connect, "CP3")
    form = await _add_charger_form(hass)
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {CONF_CHARGER_ID: "CP3", CONF_INSTALLATION_MAX: 16}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert hass.config_entries.async_get_entry(ignored.entry_id) is None
    async with connect("CP3") as sim:
        assert await sim.boot() == "Accepted"


async def test_charger_added_by_id_picks_its_server(
    hass: HomeAssistant, server_entry: MockConfigEntry, unload_after: None
) -> None:
    result = await _submit_server(
        hass,
        await hass.config_entries.flow.async_configure(
            (await _start_user_flow(hass))["flow_id"], {"next_step_id": "server"}
        ),
        free_port(),
    )
    second = result["result"]
    await hass.async_block_till_done()
    form = await _add_charger_form(hass)
    fields = {str(getattr(key, "schema", key)) for key in form["data_schema"].schema}
    assert CONF_SERVER_ENTRY_ID in fields
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"],
        {
            CONF_SERVER_ENTRY_ID: second.entry_id,
            CONF_CHARGER_ID: "CP8",
            CONF_INSTALLATION_MAX: 16,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SERVER_ENTRY_ID] == second.entry_id


async def test_charger_added_by_id_when_the_server_stopped(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    form = await _add_charger_form(hass)
    await hass.config_entries.async_unload(server_entry.entry_id)
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {CONF_CHARGER_ID: "CP1", CONF_INSTALLATION_MAX: 16}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_server"


@pytest.mark.parametrize("charger_id", ["port_0", "port_9001"])
async def test_discovery_under_a_server_entrys_unique_id_changes_nothing(
    hass: HomeAssistant, server_entry: MockConfigEntry, charger_id: str
) -> None:
    """A device booting as ``port_<port>`` (a server entry's unique id: this one's, or of a
    server added later) must never have its discovery rewrite the server entry (it was then
    taken for an accepted charger) or become a charger that blocks the port's server."""
    data = dict(server_entry.data)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data=_discovery_data(server_entry, **{CONF_CHARGER_ID: charger_id}),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reserved_charger_id"
    assert dict(server_entry.data) == data
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_discovery_form_placeholders(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data=_discovery_data(server_entry, **{CONF_VENDOR: "", CONF_MODEL: "", CONF_SERIAL: ""}),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    # Every field of the acceptance form has a label (a raw key showed in the dialog once).
    labels = json.loads(EN_JSON.read_text())["config"]["step"]["confirm"]["data"]
    fields = {str(getattr(key, "schema", key)) for key in result["data_schema"].schema}
    assert fields <= set(labels), fields - set(labels)
    assert result["description_placeholders"] == {
        "charger_id": "CP1",
        "vendor": "?",
        "model": "?",
        "serial": "?",
    }
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": "CP1"}
    hass.config_entries.flow.async_abort(result["flow_id"])


async def test_discovery_asks_name_and_installation_max(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """The name and the installation maximum given at acceptance are the device's name (so
    the entity ids') and the charger's setting; an emptied name falls back to vendor + model."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data=_discovery_data(server_entry)
    )
    fields = {str(key): key for key in result["data_schema"].schema}
    assert fields[CONF_NAME].default() == "Acme Wallbox 1"
    assert fields[CONF_INSTALLATION_MAX].default() == 32.0
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: " Wallbox ", CONF_INSTALLATION_MAX: 16}
    )
    assert result["title"] == "Wallbox"
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.options == {CONF_INSTALLATION_MAX: 16.0}
    assert entry.runtime_data.coordinator.settings.installation_max_a == 16.0
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
    assert device is not None
    assert device.name == "Wallbox"
    assert hass.states.get("sensor.wallbox_status") is not None

    other = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data=_discovery_data(server_entry, **{CONF_CHARGER_ID: "CP2"}),
    )
    result = await hass.config_entries.flow.async_configure(
        other["flow_id"], {CONF_NAME: "  ", CONF_INSTALLATION_MAX: 32}
    )
    assert result["title"] == "Acme Wallbox 1"


async def test_discovery_auto_accept(hass: HomeAssistant, server_entry: MockConfigEntry) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data=_discovery_data(server_entry, **{CONF_AUTO_ACCEPT: True}),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == "CP1"
    # Nobody was asked: vendor + model, and the factory installation maximum.
    assert result["title"] == "Acme Wallbox 1"
    assert result["options"] == {}
    # Marked: the day's share of automatic acceptances is counted from such entries.
    assert result["data"][CONF_ACCEPTED_AUTOMATICALLY] is True
    await hass.async_block_till_done()


async def test_discovery_confirmed_after_its_server_was_removed_aborts(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    """Confirmed after the user removed its server, the flow made a charger entry that could
    never load."""
    async with connect("CP1") as sim:
        flow = await _boot_unknown_charger(hass, sim)
    await hass.config_entries.async_remove(server_entry.entry_id)
    await hass.async_block_till_done()
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_NAME: "Wallbox", CONF_INSTALLATION_MAX: 16}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "server_not_loaded"
    assert hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, "CP1") is None


async def test_discovery_server_not_loaded_aborts(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data=_discovery_data(server_entry, **{CONF_SERVER_ENTRY_ID: "gone"}),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "server_not_loaded"


async def test_discovery_of_known_charger_follows_it_to_new_server(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    charger_entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="CP1",
        data={
            CONF_ENTRY_TYPE: ENTRY_TYPE_CHARGER,
            CONF_CHARGER_ID: "CP1",
            CONF_SERVER_ENTRY_ID: "old-server",
            CONF_PASSWORD: "secret",
        },
    )
    charger_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data=_discovery_data(server_entry),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert charger_entry.data[CONF_SERVER_ENTRY_ID] == server_entry.entry_id
    assert charger_entry.data[CONF_PASSWORD] == "secret"


async def test_ignore_rejects_charger(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    central: CentralSystem,
    connect: ConnectCharger,
) -> None:
    async with connect("CP1") as sim:
        flow = await _boot_unknown_charger(hass, sim)

        # What the frontend's "Ignore" does.
        result = await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_IGNORE, "unique_id": "CP1"},
            data={"unique_id": "CP1", "title": flow["context"]["title_placeholders"]["name"]},
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []
        ignored = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, "CP1")
        assert ignored is not None
        assert ignored.source == SOURCE_IGNORE
        # Its connection is dropped, and it cannot come back.
        await wait_for(lambda: central.session("CP1") is None)
    await assert_turned_away(connect, "CP1")


# --- secure connection ---------------------------------------------------------------------------
def _tls(port: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        CONF_TLS_ENABLED: True,
        CONF_TLS_PORT: port,
        CONF_TLS_CERTIFICATE: "local_ca",
    } | extra


async def test_security_options_switch_tls_on_and_off(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """Switching TLS on creates the CA and the certificates, shows what to enter in the charger,
    and (re)starts the server with its wss:// listener; off stops it."""
    central_before = central_of(server_entry)
    security: ServerSecurity = server_entry.runtime_data.security
    result = await _open_server_options(hass, server_entry, "security")
    assert result["description_placeholders"]["fingerprint"] == "-"  # no CA yet
    fields = {str(key) for key in result["data_schema"].schema}
    assert CONF_TLS_PRIVATE_KEY_PEM in fields

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _tls(**{CONF_TLS_HOSTS: [" 127.0.0.1 ", "", "ocpp.example.lan"]})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "security_info"
    ca = security.ca
    assert ca is not None  # created on first use, before the options are saved
    placeholders = result["description_placeholders"]
    path = f"/api/ocpp_ems/{server_entry.entry_id}/ca.pem"
    assert placeholders["fingerprint"] == ca.fingerprint
    assert placeholders["ca_path"] == path
    assert placeholders["ca_url"].startswith(f"{path}?authSig=")
    assert placeholders["tls_url"] == "wss://127.0.0.1:0/"  # port 0: not listening yet
    assert "ocpp.example.lan" in placeholders["names"]
    assert "127.0.0.1" in placeholders["names"]
    assert central_of(server_entry) is central_before  # nothing applied yet

    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert server_entry.options[CONF_TLS_HOSTS] == ["127.0.0.1", "ocpp.example.lan"]
    assert server_entry.options[CONF_TLS_ENABLED] is True
    central = central_of(server_entry)
    assert central is not central_before
    tls_port = central.tls_port
    assert tls_port is not None
    running: ServerSecurity = server_entry.runtime_data.security
    assert running.ca is not None
    assert running.ca.fingerprint == ca.fingerprint  # created once

    # The form shows the running listener; its own port is not tried again.
    result = await _open_server_options(hass, server_entry, "security")
    assert result["description_placeholders"]["tls_url"] == f"wss://127.0.0.1:{tls_port}/"
    assert result["description_placeholders"]["fingerprint"] == ca.fingerprint
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _tls(**{CONF_TLS_HOSTS: ["127.0.0.1", "ocpp.example.lan"]})
    )
    assert result["step_id"] == "security_info"
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert central_of(server_entry) is central  # nothing that needs a restart

    # Off: no info step, the listener goes.
    result = await _open_server_options(hass, server_entry, "security")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _tls() | {CONF_TLS_ENABLED: False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert server_entry.options[CONF_TLS_ENABLED] is False
    assert central_of(server_entry).tls_port is None


async def test_security_options_errors_then_recovers(
    hass: HomeAssistant, socket_enabled: None, occupied_port: int, hass_storage: dict[str, Any]
) -> None:
    """On a server that is not running (its own security store is used): the port, the names
    and the user's own certificate are checked; the certificate and key go to the store only."""
    port = free_port()
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"OCPP server port {port}",
        unique_id=f"port_{port}",
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_SERVER, CONF_HOST: "127.0.0.1", CONF_PORT: port},
    )
    entry.add_to_hass(hass)
    result = await _open_server_options(hass, entry, "security")
    assert result["description_placeholders"]["tls_url"] == "wss://127.0.0.1:9443/"
    flow_id = result["flow_id"]

    async def submit(user_input: dict[str, Any]) -> ConfigFlowResult:
        return await hass.config_entries.options.async_configure(flow_id, user_input)

    result = await submit(_tls(port))
    assert result["errors"] == {CONF_TLS_PORT: "same_port"}
    result = await submit(_tls(occupied_port))
    assert result["errors"] == {CONF_TLS_PORT: "port_in_use"}
    tls_port = free_port()
    result = await submit(_tls(tls_port, **{CONF_TLS_HOSTS: ["bad name!"]}))
    assert result["errors"] == {CONF_TLS_HOSTS: "invalid_host_name"}

    certificate, key = self_signed("ocpp.example.lan")
    _other_certificate, other_key = self_signed("other.example.lan")
    expired = self_signed("old.example.lan", days=1, start=dt_util.utcnow() - timedelta(days=3))
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = self_signed("weak.example.lan", key=rsa.generate_private_key(65537, 1024))
    own = _tls(tls_port) | {CONF_TLS_CERTIFICATE: "own"}
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({}, {CONF_TLS_CERTIFICATE_PEM: "certificate_missing"}),
        (
            {CONF_TLS_CERTIFICATE_PEM: certificate},
            {CONF_TLS_PRIVATE_KEY_PEM: "private_key_missing"},
        ),
        ({CONF_TLS_PRIVATE_KEY_PEM: key}, {CONF_TLS_CERTIFICATE_PEM: "certificate_missing"}),
        (
            {CONF_TLS_CERTIFICATE_PEM: "garbage", CONF_TLS_PRIVATE_KEY_PEM: key},
            {CONF_TLS_CERTIFICATE_PEM: "invalid_certificate"},
        ),
        (
            {CONF_TLS_CERTIFICATE_PEM: certificate, CONF_TLS_PRIVATE_KEY_PEM: "garbage"},
            {CONF_TLS_PRIVATE_KEY_PEM: "invalid_key"},
        ),
        (
            {CONF_TLS_CERTIFICATE_PEM: certificate, CONF_TLS_PRIVATE_KEY_PEM: other_key},
            {CONF_TLS_PRIVATE_KEY_PEM: "key_mismatch"},
        ),
        (
            {CONF_TLS_CERTIFICATE_PEM: expired[0], CONF_TLS_PRIVATE_KEY_PEM: expired[1]},
            {CONF_TLS_CERTIFICATE_PEM: "certificate_expired"},
        ),
        (
            {CONF_TLS_CERTIFICATE_PEM: weak[0], CONF_TLS_PRIVATE_KEY_PEM: weak[1]},
            {"base": "unsupported_key"},
        ),
    ]
    for pem_fields, errors in cases:
        result = await submit(own | pem_fields)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors, pem_fields
        # What was typed is offered again, never the key.
        suggested = {
            str(key): key.description.get("suggested_value")
            for key in result["data_schema"].schema
            if key.description
        }
        assert CONF_TLS_PRIVATE_KEY_PEM not in suggested
        assert CONF_TLS_CERTIFICATE_PEM not in suggested

    result = await submit(
        own | {CONF_TLS_CERTIFICATE_PEM: certificate, CONF_TLS_PRIVATE_KEY_PEM: key}
    )
    assert result["step_id"] == "security_info"
    assert result["description_placeholders"]["names"] == "ocpp.example.lan"
    result = await hass.config_entries.options.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_TLS_ENABLED: True,
        CONF_TLS_PORT: tls_port,
        CONF_TLS_HOSTS: [],
        CONF_TLS_CERTIFICATE: "own",
    }
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}.security"]["data"]
    assert stored["own"]["certificates"][0]["private_key"].strip() != ""
    assert stored["issued"] is None  # the user's own certificate needs none of ours
    assert key not in str(entry.options)

    # Once given, the own certificate is kept when the fields stay empty.
    result = await _open_server_options(hass, entry, "security")
    result = await hass.config_entries.options.async_configure(result["flow_id"], own)
    assert result["step_id"] == "security_info"


# --- charger options ---------------------------------------------------------------------------
async def test_charger_options(
    hass: HomeAssistant,
    onboard: Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry]]],
) -> None:
    async with onboard() as (_sim, charger_entry):
        result = await hass.config_entries.options.async_init(charger_entry.entry_id)
        assert result["type"] is FlowResultType.MENU
        assert result["step_id"] == "charger_menu"
        assert result["menu_options"] == ["charger", "show_password", "upgrade_security"]
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": "charger"}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "charger"
        good: dict[str, Any] = {
            CONF_INSTALLATION_MAX: 16.0,
            CONF_SAFE_CURRENT: 6.0,
            CONF_MIN_CURRENT: 6.0,
            CONF_BASE_STACK_LEVEL: 0,
            CONF_LIVE_STACK_LEVEL: 1,
            CONF_PROFILE_PURPOSE: "tx",
            CONF_RATE_UNIT: "W",
            CONF_PAUSE_STRATEGY: "remote_stop_start",
            CONF_SMART_CHARGING: "on",  # for a charger that takes limits it does not list
            CONF_METER_INTERVAL: 30,
            CONF_LIVE_LIMIT_DURATION: 600,
            CONF_PHASES: "1",  # a select: 1 or 3, as text
            CONF_SINGLE_PHASE_LINE: "2",
            CONF_SECURITY_PROFILE: "1",  # a select too
            CONF_ALLOW_SECURITY_DOWNGRADE: False,
            CONF_REMOTE_START_ID_TAG: " Garage-1 ",
        }
        phases = next(k for k in result["data_schema"].schema if k == CONF_PHASES)
        assert result["data_schema"].schema[phases].config["options"] == ["1", "3"]
        smart = next(k for k in result["data_schema"].schema if k == CONF_SMART_CHARGING)
        assert result["data_schema"].schema[smart].config["options"] == ["auto", "on", "off"]
        assert smart.description == {"suggested_value": "auto"}
        bad = good | {
            CONF_LIVE_STACK_LEVEL: 0,
            CONF_SAFE_CURRENT: 20.0,
            CONF_MIN_CURRENT: 20.0,
            CONF_REMOTE_START_ID_TAG: "Zürich",  # 1.6 takes printable ASCII only
        }
        result = await hass.config_entries.options.async_configure(result["flow_id"], bad)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {
            CONF_LIVE_STACK_LEVEL: "live_stack_level",
            CONF_SAFE_CURRENT: "above_installation_max",
            CONF_MIN_CURRENT: "above_installation_max",
            CONF_REMOTE_START_ID_TAG: "invalid_id_tag",
        }
        for tag in ("", "   ", "x" * 21, "tab\there"):
            result = await hass.config_entries.options.async_configure(
                result["flow_id"], good | {CONF_REMOTE_START_ID_TAG: tag}
            )
            assert result["errors"] == {CONF_REMOTE_START_ID_TAG: "invalid_id_tag"}, tag
        result = await hass.config_entries.options.async_configure(result["flow_id"], good)
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert charger_entry.options == good | {
            CONF_PHASES: 1,
            CONF_SINGLE_PHASE_LINE: 2,
            CONF_SECURITY_PROFILE: 1,
            CONF_REMOTE_START_ID_TAG: "Garage-1",
        }
        # The core reads them live through the directory.
        directory = charger_entry.runtime_data.server_entry.runtime_data.directory
        settings = directory.settings("CP1")
        assert settings.installation_max_a == 16.0
        assert settings.remote_start_id_tag == "Garage-1"
        assert settings.pause_strategy == "remote_stop_start"
        assert settings.smart_charging == "on"
        assert (settings.phases, settings.single_phase_line) == (1, 2)
        # A count an older version stored from a free number (2) is offered as the default, 3.
        hass.config_entries.async_update_entry(
            charger_entry, options=charger_entry.options | {CONF_PHASES: 2}
        )
        result = await hass.config_entries.options.async_init(charger_entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": "charger"}
        )
        key = next(k for k in result["data_schema"].schema if k == CONF_PHASES)
        assert key.description == {"suggested_value": "3"}


async def test_charger_smart_charging_left_out_is_kept(
    hass: HomeAssistant,
    onboard: Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry]]],
) -> None:
    """A caller that leaves the smart charging option out (an older one) keeps the user's choice
    rather than falling back to automatic."""
    async with onboard() as (_sim, charger_entry):
        await async_set_charger_options(hass, charger_entry, **{CONF_SMART_CHARGING: "off"})
        assert charger_entry.options[CONF_SMART_CHARGING] == "off"
        await async_set_charger_options(hass, charger_entry)  # without it
        assert charger_entry.options[CONF_SMART_CHARGING] == "off"
        directory = charger_entry.runtime_data.server_entry.runtime_data.directory
        assert directory.settings("CP1").smart_charging == "off"


@pytest.mark.parametrize("server_options", [{CONF_RESPONSE_TIMEOUT: 3, CONF_FUSE: 16}])
async def test_charger_hard_cap_above_the_main_fuse_is_refused(
    hass: HomeAssistant,
    onboard: Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry]]],
) -> None:
    """With a 16 A main fuse in the server's energy manager options, an installation maximum of
    32 A would let this charger alone (Manual mode, or the manager off) trip it."""
    async with onboard() as (_sim, charger_entry):
        result = await _submit_charger_options(hass, charger_entry, **{CONF_INSTALLATION_MAX: 32.0})
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_INSTALLATION_MAX: "above_main_fuse"}
        result = await _submit_charger_options(hass, charger_entry, **{CONF_INSTALLATION_MAX: 16.0})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert charger_entry.options[CONF_INSTALLATION_MAX] == 16.0


async def test_charger_options_show_password(
    hass: HomeAssistant,
    onboard: Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The password is shown on demand (to type into the charger's web page), never logged."""
    async with onboard() as (_sim, charger_entry):
        password = charger_entry.data[CONF_PASSWORD]
        result = await hass.config_entries.options.async_init(charger_entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": "show_password"}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "show_password"
        assert result["description_placeholders"] == {
            "charger_id": "CP1",
            "password": password,
            "authorization_key": password.encode().hex(),
        }
        result = await hass.config_entries.options.async_configure(result["flow_id"], {})
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "password_shown"
        assert charger_entry.data[CONF_PASSWORD] == password  # nothing changed

        # A charger set to "no password" says so.
        data = {k: v for k, v in charger_entry.data.items() if k != CONF_PASSWORD}
        hass.config_entries.async_update_entry(charger_entry, data=data)
        await hass.async_block_till_done()
        result = await hass.config_entries.options.async_init(charger_entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": "show_password"}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "no_password"
        result = await hass.config_entries.options.async_configure(result["flow_id"], {})
        assert result["type"] is FlowResultType.ABORT
    assert password not in caplog.text


async def _submit_charger_options(
    hass: HomeAssistant, entry: MockConfigEntry, **changes: Any
) -> ConfigFlowResult:
    """Open the charger's control settings and submit what they show, with ``changes``."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "charger"}
    )
    shown = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }
    return await hass.config_entries.options.async_configure(result["flow_id"], shown | changes)


async def test_charger_security_profile_needs_tls(
    hass: HomeAssistant,
    onboard: Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry]]],
) -> None:
    async with onboard() as (_sim, charger_entry):
        result = await _submit_charger_options(hass, charger_entry, **{CONF_SECURITY_PROFILE: "2"})
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_SECURITY_PROFILE: "tls_not_enabled"}


@pytest.mark.parametrize(
    "server_options",
    [{CONF_RESPONSE_TIMEOUT: 3, CONF_TLS_ENABLED: True, CONF_TLS_PORT: 0}],
)
async def test_charger_security_profile_up_and_down(
    hass: HomeAssistant,
    onboard: Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry]]],
) -> None:
    """Up is the user's call; down is a downgrade, refused unless the user allows it."""
    async with onboard() as (_sim, charger_entry):
        directory = charger_entry.runtime_data.server_entry.runtime_data.directory
        result = await _submit_charger_options(hass, charger_entry, **{CONF_SECURITY_PROFILE: "3"})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert charger_entry.options[CONF_SECURITY_PROFILE] == 3
        assert directory.settings("CP1").security_profile == 3

        result = await _submit_charger_options(hass, charger_entry, **{CONF_SECURITY_PROFILE: "2"})
        assert result["errors"] == {CONF_SECURITY_PROFILE: "downgrade_not_allowed"}
        result = await _submit_charger_options(
            hass,
            charger_entry,
            **{CONF_SECURITY_PROFILE: "2", CONF_ALLOW_SECURITY_DOWNGRADE: True},
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        settings = directory.settings("CP1")
        assert (settings.security_profile, settings.allow_security_downgrade) == (2, True)


@pytest.mark.parametrize(
    "server_options",
    [{CONF_RESPONSE_TIMEOUT: 3, CONF_TLS_ENABLED: True, CONF_TLS_PORT: 0}],
)
async def test_charger_upgrade_security(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry]]],
    tmp_path: Path,
) -> None:
    """The options action: what to enter in the charger, why it cannot start, and started."""
    async with onboard() as (_sim, charger_entry):
        result = await hass.config_entries.options.async_init(charger_entry.entry_id)
        assert result["menu_options"] == ["charger", "show_password", "upgrade_security"]
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": "upgrade_security"}
        )
        assert result["step_id"] == "upgrade_security"
        central = central_of(server_entry)
        ca = server_entry.runtime_data.security.ca
        placeholders = result["description_placeholders"]
        assert placeholders["url"] == f"wss://127.0.0.1:{central.tls_port}/CP1"
        assert placeholders["fingerprint"] == ca.fingerprint
        assert (placeholders["profile"], placeholders["error"]) == ("1", "")
        # It connected without its password so far: nothing starts.
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_SECURITY_PROFILE: "2"}
        )
        assert result["errors"] == {"base": "upgrade_failed"}
        assert "not logged in with its password" in result["description_placeholders"]["error"]

    wallet = Wallet(password=str(charger_entry.data[CONF_PASSWORD]).encode())
    async with connect_as_configured(central, "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: central.charger("CP1").auth_committed, what="password login")
        result = await hass.config_entries.options.async_init(charger_entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": "upgrade_security"}
        )
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_SECURITY_PROFILE: "2"}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "upgrade_started"
        assert result["description_placeholders"] == {
            "charger_id": "CP1",
            "profile": "2",
            "minutes": "5",
        }
        assert wallet.profile == 2

    # Without TLS there is no URL to show; an unloaded charger cannot be moved.
    await hass.config_entries.async_unload(charger_entry.entry_id)
    result = await hass.config_entries.options.async_init(charger_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "upgrade_security"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "charger_not_loaded"


async def test_charger_upgrade_security_without_tls(
    hass: HomeAssistant,
    onboard: Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry]]],
) -> None:
    async with onboard() as (_sim, charger_entry):
        result = await hass.config_entries.options.async_init(charger_entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": "upgrade_security"}
        )
        assert result["description_placeholders"]["url"] == "-"
        assert result["description_placeholders"]["fingerprint"] == "-"


@pytest.mark.parametrize("server_options", [{CONF_RESPONSE_TIMEOUT: 3, CONF_FUSE: 16}])
async def test_a_new_charger_is_suggested_and_held_within_the_main_fuse(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """Accepted, or added by id, on a site with a 16 A main fuse: the suggestion is the fuse
    (not the factory 32 A, which the charger's options would refuse later), and more is refused."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data=_discovery_data(server_entry),
    )
    fields = {str(key): key for key in result["data_schema"].schema}
    assert fields[CONF_INSTALLATION_MAX].default() == 16.0
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Garage", CONF_INSTALLATION_MAX: 20}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_INSTALLATION_MAX: "above_main_fuse"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Garage", CONF_INSTALLATION_MAX: 16}
    )
    assert_charger_entry(result, "Garage", "CP1", server_entry, 16.0)

    form = await _add_charger_form(hass)
    fields = {str(key): key for key in form["data_schema"].schema}
    assert fields[CONF_INSTALLATION_MAX].default() == 16.0
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {CONF_CHARGER_ID: "CP8", CONF_INSTALLATION_MAX: 20}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_INSTALLATION_MAX: "above_main_fuse"}
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {CONF_CHARGER_ID: "CP8", CONF_INSTALLATION_MAX: 16}
    )
    assert_charger_entry(result, "CP8", "CP8", server_entry, 16.0)
