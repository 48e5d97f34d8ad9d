"""An OCPP 2.0.1 or 2.1 charger looks and works in Home Assistant like a 1.6 one (issue 9).

The same wallbox (:mod:`.helpers.versions`: the 1.6 SimCharger, or the 2.x station of
:mod:`.helpers.station201`) is onboarded in each version in a real Home Assistant over real
websockets, and the same things are played on it:

- onboarding: Pending -> accepted by the user -> Basic-auth password provisioned -> a new boot ->
  Accepted -> what it can do read -> current control; reconnecting with the password commits it;
- its entities: a 1.6 and a 2.x charger side by side get the same entities (unique ids, entity ids,
  translation keys, device classes, units, categories) with the same states through a whole
  session, except the OCPP version sensor (and, while a car is plugged in without a transaction,
  the status: 2.x has no "Preparing", the station says "Occupied"); the 2.0.1 entities and
  diagnostics are snapshots as well;
- a whole session seen in Home Assistant (status, power, current, voltage, session and lifetime
  energy, the session event);
- limits from the current-limit number, the charging switch and the energy manager (Fast, Solar
  with simulated PV sensors) reaching the charger's charging profile (2.1: updated in place with
  UpdateDynamicSchedule);
- every charger action addressed by device, and the translated errors where a 1.6 argument names
  nothing in 2.x (a 1.6 configuration key, a 1.6-shaped charging profile);
- the charger's events (authorization, data transfer, security event, fault; 2.x: reservation
  status).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    snapshot_platform,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.ocpp_ems import energy_manager
from custom_components.ocpp_ems.const import (
    CONF_GRID_POWER,
    CONF_ID_TAGS,
    CONF_MIN_WRITE_INTERVAL,
    CONF_PASSWORD,
    CONF_PV_POWER,
    CONF_RESPONSE_TIMEOUT,
    DOMAIN,
)
from custom_components.ocpp_ems.core import reservation_clock
from custom_components.ocpp_ems.core.current_control import LIVE_PROFILE_ID
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.services import TRIGGER_MESSAGES

from .helpers.charger import wait_for
from .helpers.ems import (
    MODE,
    POWER,
    REASON,
    async_setup_sources,
    ems_server_options,
    set_sources,
)
from .helpers.platform import only_platforms
from .helpers.station201 import OCPP21, OCPP201
from .helpers.versions import (
    OCPP16,
    VERSIONS,
    VERSIONS_2X,
    ChargerSide,
    OnboardAny,
    Side2x,
    Side16,
    connect_any,
)
from .test_diagnostics import VOLATILE

PREFIX = "acme_wallbox_1"
STATUS = f"sensor.{PREFIX}_status"
VERSION_SENSOR = f"sensor.{PREFIX}_ocpp_version"
CURRENT_LIMIT = f"number.{PREFIX}_current_limit"
ACTIVE_LIMIT = f"sensor.{PREFIX}_active_limit"
CHARGING_SWITCH = f"switch.{PREFIX}_charging_enabled"
MISMATCH = f"binary_sensor.{PREFIX}_limit_mismatch"
# What Solar gives the car with 5 kW exported (three phases at 230 V).
SOLAR_A = 5000 / 690


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def charging_readings(charger: ChargerSide) -> None:
    """test_sensor.py's readings: a car charging at 7.2 kW, 2.5 kWh on the register (1 kWh at the
    start), every measurand 2.x has (Temperature it has not)."""
    await charger.meter(
        energy_wh=2500,
        power_w=7200,
        current_a=(10.1, 10.2, 10.3),
        voltage_v=(230, 231, 232),
        offered_a=16,
        soc=55,
        ago_s=1800,
    )


async def session_with_readings(charger: ChargerSide) -> None:
    """test_sensor.py's session: :func:`charging_readings` in a session started by a card."""
    await charger.plug_in()
    await charger.start_session("HomeAssistant")
    await charging_readings(charger)


async def fired(hass: HomeAssistant, event: str) -> Mapping[str, Any]:
    """The attributes of the charger's ``event`` entity once what the charger sent went through."""
    await hass.async_block_till_done()
    return state_of(hass, f"event.{PREFIX}_{event}").attributes


# --- onboarding ----------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
async def test_onboarding_provisions_and_commits_the_password(
    hass: HomeAssistant, onboard_any: OnboardAny, central: CentralSystem, version: str
) -> None:
    async with onboard_any(version) as (first, entry):
        password = entry.data[CONF_PASSWORD]
        # The password reached the charger the version's way, then a new boot was asked for.
        assert first.provisioned_password() == password.encode()
        if version == OCPP16:
            keys = [c["key"] for c in first.commands("ChangeConfiguration")]
            assert keys[0] == "AuthorizationKey"
            assert first.commands("TriggerMessage")[0] == {"requested_message": "BootNotification"}
        else:
            writes = [
                (c["setVariableData"][0]["variable"]["name"], c["setVariableData"][0])
                for c in first.commands("SetVariables")
            ]
            assert [name for name, _ in writes[:2]] == ["BasicAuthPassword", "SecurityProfile"]
            assert writes[1][1]["attributeValue"] == "1"
            assert first.commands("TriggerMessage")[0] == {"requestedMessage": "BootNotification"}
            # The device model was read after the accepted boot.
            assert [c["reportBase"] for c in first.commands("GetBaseReport")] == ["FullInventory"]
        charger = central.charger("CP1")
        assert charger.ocpp_version == version
        assert charger.auth_provisioned
        assert not charger.auth_committed  # offered, not yet mandatory
        assert state_of(hass, VERSION_SENSOR).state == version
    await wait_for(lambda: central.session("CP1") is None, what="disconnected")

    # It reconnects with its password (Basic auth), boots and is under current control again.
    async with connect_any(version, central.port, "CP1", password=password.encode()) as again:
        assert await again.boot() == "Accepted"
        await wait_for(lambda: again.has_live_profile(), what="live limit after the reconnect")
        assert charger.auth_committed
        if version != OCPP16:
            assert again.commands("GetBaseReport")  # read again at this boot
    # Committed: only the password works now.
    with pytest.raises(Exception, match="HTTP 401"):
        async with connect_any(version, central.port, "CP1"):
            pass


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_onboard_fixture_reconnects_with_the_password(
    hass: HomeAssistant, onboard_any: OnboardAny, central: CentralSystem, version: str
) -> None:
    async with onboard_any(version, reconnect=True) as (station, _entry):
        assert central.charger("CP1").auth_committed
        assert station.has_live_profile()
        assert state_of(hass, VERSION_SENSOR).state == version


# --- the same entities -------------------------------------------------------------------------
# Attributes that differ from run to run (event times, the end of an energy-manager wait counted
# from each charger's own change, transaction ids: strings in every version but numbered by the
# 1.6 charger and named by the 2.x one).
_VOLATILE_ATTRIBUTES = ("transaction_id", "started_at", "ended_at", "until")


def _normalize(text: Any, charger_id: str) -> Any:
    if not isinstance(text, str):
        return text
    return text.replace(charger_id, "<ID>").replace(charger_id.lower(), "<id>")


_TIMES = (SensorDeviceClass.TIMESTAMP, SensorDeviceClass.DURATION)


def entity_view(
    hass: HomeAssistant, registry: er.EntityRegistry, entry: MockConfigEntry, charger_id: str
) -> dict[str, dict[str, Any]]:
    """Every entity of a charger entry as a user sees it, keyed by unique id (charger id out)."""
    view: dict[str, dict[str, Any]] = {}
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        state = hass.states.get(entity.entity_id)
        value = None if state is None else state.state
        if entity.domain == Platform.EVENT and value not in (None, STATE_UNKNOWN):
            value = "<fired>"  # the event's time
        elif entity.original_device_class in _TIMES and value not in (None, STATE_UNKNOWN):
            # The last heartbeat, the energy manager's next change, the session's start / end /
            # duration (each charger's session started an hour before its own "now").
            value = "<time>"
        attributes: dict[str, Any] = {}
        if state is not None:
            attributes = {
                key: "<set>" if key in _VOLATILE_ATTRIBUTES and item is not None else item
                for key, item in state.attributes.items()
            }
            attributes["friendly_name"] = _normalize(attributes.get("friendly_name"), charger_id)
        # Unique ids are per platform ("<id>_fault": a binary sensor and an event).
        view[f"{entity.domain}.{_normalize(entity.unique_id, charger_id)}"] = {
            "entity_id": _normalize(entity.entity_id, charger_id),
            "translation_key": entity.translation_key,
            "device_class": entity.device_class,
            "original_device_class": entity.original_device_class,
            "unit_of_measurement": entity.unit_of_measurement,
            "entity_category": entity.entity_category,
            "disabled_by": entity.disabled_by,
            "hidden_by": entity.hidden_by,
            "capabilities": entity.capabilities,
            "supported_features": entity.supported_features,
            "has_entity_name": entity.has_entity_name,
            "original_name": entity.original_name,
            "original_icon": entity.original_icon,
            "options": dict(entity.options),
            "state": value,
            "attributes": attributes,
        }
    return view


def device_view(
    device_registry: dr.DeviceRegistry, entry: MockConfigEntry, charger_id: str
) -> list[dict[str, Any]]:
    return sorted(
        (
            {
                "identifiers": sorted(_normalize(i, charger_id) for _, i in device.identifiers),
                "name": _normalize(device.name, charger_id),
                "manufacturer": device.manufacturer,
                "model": device.model,
                "serial_number": device.serial_number,
                "sw_version": device.sw_version,
                "hw_version": device.hw_version,
                "entry_type": device.entry_type,
                "via_device": device.via_device_id is not None,
            }
            for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id)
        ),
        key=str,
    )


def assert_same_entities(
    reference: dict[str, dict[str, Any]],
    other: dict[str, dict[str, Any]],
    allowed: dict[str, tuple[str, str]],
    stage: str = "",
) -> None:
    """``other`` has exactly ``reference``'s entities, alike in everything; a state may differ
    only where ``allowed`` says ({"domain.unique id": (reference state, other state)})."""
    assert sorted(other) == sorted(reference)
    differences = {}
    for unique_id, entity in reference.items():
        expected, actual = entity, other[unique_id]
        if unique_id in allowed:
            assert (expected["state"], actual["state"]) == allowed[unique_id], unique_id
            expected = {**expected, "state": None}
            actual = {**actual, "state": None}
        if actual != expected:
            differences[unique_id] = {
                key: (expected[key], actual[key])
                for key in expected
                if expected[key] != actual[key]
            }
    assert not differences, (stage, differences)


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "fast_ems_debounce")
@pytest.mark.parametrize(
    "server_options",
    [
        {CONF_RESPONSE_TIMEOUT: 3},
        # The energy manager's entities too (its mode select, departure time, numbers, sensors);
        # raises at once (the two chargers were onboarded one after the other).
        ems_server_options(**{CONF_MIN_WRITE_INTERVAL: 0}),
    ],
    ids=["plain", "energy_manager"],
)
@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_same_entities_as_16(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    version: str,
) -> None:
    """A 1.6 (CP1) and a 2.x (CP2) charger side by side, played the same session (named apart
    by their ids, as a user would name two chargers of a model)."""
    async with (
        onboard_any(OCPP16, "CP1", name="Acme Wallbox 1 CP1") as (charger16, entry16),
        onboard_any(version, "CP2", name="Acme Wallbox 1 CP2") as (charger2, entry2),
    ):
        pair = ((charger16, entry16, "CP1"), (charger2, entry2, "CP2"))
        version_state = {"sensor.<ID>_ocpp_version": (OCPP16, version)}

        async def same(stage: str, allowed: dict[str, tuple[str, str]] | None = None) -> None:
            """Equal once both chargers' updates went through (the energy manager decides a
            moment after a change, for each charger on its own)."""

            def compare() -> None:
                reference, other = (
                    entity_view(hass, entity_registry, e, cid) for _, e, cid in pair
                )
                assert_same_entities(reference, other, {**version_state, **(allowed or {})}, stage)

            def equal() -> bool:
                try:
                    compare()
                except AssertionError:
                    return False
                return True

            # The energy manager decides once its debounce ran out after the last change (its
            # session split moves only then): let it, for both chargers, before comparing.
            await asyncio.sleep(3 * energy_manager.EMS_DEBOUNCE_S)
            await hass.async_block_till_done()
            with suppress(AssertionError):
                await wait_for(equal, seconds=3, what="the same entities")
            compare()

        assert device_view(device_registry, entry2, "CP2") == device_view(
            device_registry, entry16, "CP1"
        )
        await same("onboarded")
        for charger, _, _ in pair:
            await charger.unplug()
        await same("available")
        for charger, _, _ in pair:
            await charger.plug_in()
        # 2.x's "Occupied" without a transaction is 1.6's Preparing: the same state in HA.
        await same("plugged in")
        for charger, _, _ in pair:
            await charger.start_session("HomeAssistant")
            await charging_readings(charger)
        await same("charging")
        # The 1.6 charger's (named "Acme Wallbox 1 CP1").
        assert state_of(hass, f"event.{PREFIX}_cp1_session").attributes["event_type"] == "started"
        for charger, _, _ in pair:
            await charger.end_session(energy_wh=4000)
        await same("ended")
        assert state_of(hass, f"event.{PREFIX}_cp1_session").attributes["event_type"] == "ended"
        for charger, _, _ in pair:
            await charger.unplug()
        await same("unplugged")


@pytest.mark.parametrize(
    "platform",
    [
        Platform.SENSOR,
        Platform.BINARY_SENSOR,
        Platform.NUMBER,
        Platform.SWITCH,
        Platform.BUTTON,
        Platform.EVENT,
    ],
)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities_201_snapshot(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """The 2.0.1 charger's entities per platform, as test_sensor.py & co. take them for 1.6
    (event entities before any event: their state is its time)."""
    with only_platforms(platform):
        async with onboard_any(OCPP201) as (station, entry):
            if platform is not Platform.EVENT:
                await session_with_readings(station)
                await hass.async_block_till_done()
            await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


# --- diagnostics ---------------------------------------------------------------------------------
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def any_time(data: Any, path: Any) -> Any:
    """Timestamps as a placeholder: the 2.x adapter keeps the station's own times of each EVSE
    status and of each transaction's messages (beside test_diagnostics.py's volatile keys)."""
    return "<timestamp>" if isinstance(data, str) and _TIMESTAMP.match(data) else data


async def test_diagnostics_201(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """test_diagnostics.py for a 2.0.1 charger: the version shown, every secret redacted."""
    hass.config_entries.async_update_entry(
        server_entry, options={**server_entry.options, CONF_ID_TAGS: ["SECRET-CARD"]}
    )
    async with onboard_any(OCPP201) as (station, charger_entry):
        await station.plug_in()
        await station.start_session("SECRET-CARD")
        await station.meter(energy_wh=2000, power_w=3600)
        await hass.async_block_till_done()

        server = await get_diagnostics_for_config_entry(hass, hass_client, server_entry)
        charger = await get_diagnostics_for_config_entry(hass, hass_client, charger_entry)
        assert server == snapshot(name="server", exclude=VOLATILE, matcher=any_time)
        assert charger == snapshot(name="charger", exclude=VOLATILE, matcher=any_time)

        assert charger["charger"]["ocpp_version"] == OCPP201
        assert server["server"]["chargers"]["CP1"]["ocpp_version"] == OCPP201
        configuration = charger["charger"]["configuration"]
        assert configuration["SecurityCtrlr.BasicAuthPassword"] is None  # never stored
        assert configuration["SecurityCtrlr.SecurityProfile"] == "1"
        text = json.dumps([server, charger])
        assert charger_entry.data[CONF_PASSWORD] not in text
        assert station.provisioned_password() == charger_entry.data[CONF_PASSWORD].encode()
        assert "SECRET-CARD" not in text


# --- a whole session -----------------------------------------------------------------------------
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("version", VERSIONS)
async def test_whole_session(hass: HomeAssistant, onboard_any: OnboardAny, version: str) -> None:
    def value(key: str) -> str:
        return state_of(hass, f"sensor.{PREFIX}_{key}").state

    async with onboard_any(version) as (charger, _entry):
        await charger.unplug()
        await hass.async_block_till_done()
        assert value("status") == "available"
        assert value("lifetime_energy") == STATE_UNKNOWN
        await charger.plug_in()
        await hass.async_block_till_done()
        assert state_of(hass, f"binary_sensor.{PREFIX}_plugged_in").state == "on"

        transaction_id = await charger.start_session("HomeAssistant")
        started = await fired(hass, "session")
        assert {k: started.get(k) for k in ("event_type", "transaction_id", "connector_id")} == {
            "event_type": "started",
            "transaction_id": transaction_id,
            "connector_id": 1,
        }
        assert started["id_tag"] == "HomeAssistant"
        assert started["meter_start_wh"] == 1000.0
        assert started["authorized"] is True
        assert value("status") == "charging"
        assert state_of(hass, f"binary_sensor.{PREFIX}_charging").state == "on"

        await charging_readings(charger)
        await hass.async_block_till_done()
        assert value("power") == "7200.0"
        assert [value(f"current_{p}") for p in ("l1", "l2", "l3")] == ["10.1", "10.2", "10.3"]
        assert [value(f"voltage_{p}") for p in ("l1", "l2", "l3")] == ["230.0", "231.0", "232.0"]
        assert value("offered_current") == "16.0"
        assert value("state_of_charge") == "55.0"
        assert value("session_energy") == "1.5"
        assert value("lifetime_energy") == "2.5"

        await charger.meter(energy_wh=3200, power_w=7000, ago_s=900)
        await hass.async_block_till_done()
        assert value("session_energy") == "2.2"
        assert value("lifetime_energy") == "3.2"

        await charger.end_session(energy_wh=4000)
        ended = await fired(hass, "session")
        assert ended["event_type"] == "ended"
        assert ended["transaction_id"] == transaction_id
        assert ended["energy_wh"] == 3000.0
        assert ended["reason"] == "Local"
        assert ended["id_tag"] == "HomeAssistant"
        assert set(ended) >= {"started_at", "ended_at", "connector_id"}
        assert value("status") == "finishing"
        assert value("session_energy") == "3.0"
        assert value("lifetime_energy") == "4.0"

        await charger.unplug()
        await hass.async_block_till_done()
        assert value("status") == "available"
        assert state_of(hass, f"binary_sensor.{PREFIX}_plugged_in").state == "off"
        assert value("lifetime_energy") == "4.0"


# --- limits reaching the charger -----------------------------------------------------------------
async def set_number(hass: HomeAssistant, value: float) -> None:
    await hass.services.async_call(
        "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": value}, blocking=True
    )
    await hass.async_block_till_done()


def dynamic_updates(charger: ChargerSide) -> list[dict[str, Any]]:
    return charger.commands("UpdateDynamicSchedule") if charger.version == OCPP21 else []


@pytest.mark.parametrize("version", VERSIONS)
async def test_current_limit_number_reaches_the_charger(
    hass: HomeAssistant, onboard_any: OnboardAny, central: CentralSystem, version: str
) -> None:
    async with onboard_any(version) as (charger, _entry):
        await charger.plug_in()
        await charger.start_session()
        await set_number(hass, 10)
        assert charger.live_limit() == 10.0
        assert state_of(hass, CURRENT_LIMIT).state == "10.0"
        assert state_of(hass, ACTIVE_LIMIT).state == "10.0"
        # Verified from the charger's composite schedule: no mismatch.
        model = central.charger("CP1")
        await wait_for(lambda: model.limit.applied_a == 10.0, what="composite checked")
        await hass.async_block_till_done()
        assert state_of(hass, MISMATCH).state == "off"

        writes = len(charger.commands("SetChargingProfile"))
        await set_number(hass, 12)
        assert charger.live_limit() == 12.0
        if version == OCPP21:
            # 2.1: the live profile is dynamic: the new limit changes it in place.
            assert dynamic_updates(charger)[-1] == {
                "chargingProfileId": LIVE_PROFILE_ID,
                "scheduleUpdate": {"limit": 12.0},
            }
            assert len(charger.commands("SetChargingProfile")) == writes
        else:
            assert len(charger.commands("SetChargingProfile")) == writes + 1
        await wait_for(lambda: model.limit.applied_a == 12.0, what="composite checked")

        # The charging switch pauses (0 A) and resumes.
        for service, limit in (("turn_off", 0.0), ("turn_on", 12.0)):
            await hass.services.async_call(
                "switch", service, {"entity_id": CHARGING_SWITCH}, blocking=True
            )
            assert charger.live_limit() == limit


async def car_in_mode(
    hass: HomeAssistant, charger: ChargerSide, mode: str, limit_a: float, tolerance_a: float = 0.0
) -> None:
    """In ``mode``, a car plugs in and starts: the charger gets ``limit_a``, and the energy
    manager's reason is the mode."""
    await hass.services.async_call(
        "select", "select_option", {"entity_id": MODE, "option": mode}, blocking=True
    )
    await charger.plug_in()
    await charger.start_session()
    await wait_for(
        lambda: abs((charger.live_limit() or 0.0) - limit_a) <= tolerance_a,
        what=f"{mode}: {limit_a} A",
    )
    await hass.async_block_till_done()
    assert state_of(hass, REASON).state == mode


class TestEnergyManager:
    """The energy manager's limits reach the charger of every version."""

    @pytest.fixture
    def server_options(self) -> dict[str, Any]:
        # Raises go out at once (no minimum time between two raises): a quick test.
        return ems_server_options(
            **{
                CONF_GRID_POWER: "sensor.grid",
                CONF_PV_POWER: "sensor.pv",
                CONF_MIN_WRITE_INTERVAL: 0,
            }
        )

    @pytest.fixture
    async def sources(self, hass: HomeAssistant) -> None:
        await async_setup_sources(hass, {"grid": POWER, "pv": POWER})
        await set_sources(hass, grid=-5000, pv=6000)

    @pytest.mark.usefixtures("fast_ems_debounce", "sources")
    @pytest.mark.parametrize("version", VERSIONS)
    async def test_fast_and_solar_reach_the_charger(
        self, hass: HomeAssistant, onboard_any: OnboardAny, version: str
    ) -> None:
        async with onboard_any(version) as (charger, _entry):
            assert state_of(hass, MODE).state == "solar"
            # No car: paused, and the reason says why.
            await wait_for(lambda: charger.live_limit() == 0.0, what="paused without a car")
            await hass.async_block_till_done()
            assert state_of(hass, REASON).state == "not_plugged"

            # Fast: a car plugs in and gets everything at once.
            await car_in_mode(hass, charger, "fast", 32.0)
            await charger.end_session(energy_wh=2000)
            await charger.unplug()
            await wait_for(lambda: charger.live_limit() == 0.0, what="paused after the car left")

            # Solar with 5 kW exported: the next car gets the surplus.
            await car_in_mode(hass, charger, "solar", SOLAR_A, tolerance_a=0.15)

            # A cloud: the car takes 5 kW and the house imports 1 kW: held at the minimum.
            await charger.meter(power_w=5000, current_a=(7.2, 7.2, 7.2), energy_wh=3000)
            await set_sources(hass, grid=1000, pv=4000)
            await wait_for(lambda: charger.live_limit() == 6.0, what="held at the minimum")
            if version == OCPP21:
                assert dynamic_updates(charger), "2.1 limits change the dynamic profile in place"


# --- actions -------------------------------------------------------------------------------------
@dataclass
class Target:
    charger: ChargerSide
    entry: MockConfigEntry
    device_id: str


@pytest.fixture(params=VERSIONS)
async def target(
    hass: HomeAssistant, onboard_any: OnboardAny, device_registry: dr.DeviceRegistry, request: Any
) -> AsyncGenerator[Target]:
    async with onboard_any(request.param) as (charger, entry):
        device = device_registry.async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
        assert device is not None
        yield Target(charger=charger, entry=entry, device_id=device.id)


async def call(
    hass: HomeAssistant, service: str, target: Target, response: bool = False, **data: Any
) -> Any:
    result = await hass.services.async_call(
        DOMAIN,
        service,
        {"device_id": target.device_id, **data},
        blocking=True,
        return_response=response,
    )
    await hass.async_block_till_done()
    return result


def last(target: Target, v16: str, v2x: str) -> dict[str, Any]:
    """The last command the charger got: the 1.6 action ``v16`` or the 2.x action ``v2x``."""
    sent = target.charger.commands(v16 if target.charger.version == OCPP16 else v2x)
    assert sent, (v16, v2x)
    return sent[-1]


def is_16(target: Target) -> bool:
    return target.charger.version == OCPP16


def profile_write(target: Target, profile_id: int) -> dict[str, Any]:
    """The last SetChargingProfile the charger got for the profile with this id."""
    for sent in reversed(target.charger.commands("SetChargingProfile")):
        profile = sent.get("cs_charging_profiles") or sent["chargingProfile"]
        if profile.get("charging_profile_id", profile.get("id")) == profile_id:
            return sent
    raise AssertionError(f"profile {profile_id} was not written")


async def test_start_and_stop_charging(hass: HomeAssistant, target: Target) -> None:
    await call(hass, "start_charging", target)
    sent = last(target, "RemoteStartTransaction", "RequestStartTransaction")
    if is_16(target):
        assert sent == {"id_tag": "HomeAssistant", "connector_id": 1}
    else:
        assert sent["idToken"] == {"idToken": "HomeAssistant", "type": "Central"}
        assert sent["evseId"] == 1
    await call(hass, "start_charging", target, id_tag="CARD", connector_id=1)
    sent = last(target, "RemoteStartTransaction", "RequestStartTransaction")
    assert (sent["id_tag"] if is_16(target) else sent["idToken"]["idToken"]) == "CARD"

    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "stop_charging", target)
    assert err.value.translation_key == "no_transaction"
    transaction_id = await target.charger.start_session()
    await call(hass, "stop_charging", target)
    sent = last(target, "RemoteStopTransaction", "RequestStopTransaction")
    assert str(sent["transaction_id" if is_16(target) else "transactionId"]) == transaction_id


async def test_reset_and_unlock(
    hass: HomeAssistant, target: Target, entity_registry: er.EntityRegistry
) -> None:
    await call(hass, "reset", target)
    await call(hass, "reset", target, type="hard")
    resets = target.charger.commands("Reset")
    expected = ["Soft", "Hard"] if is_16(target) else ["OnIdle", "Immediate"]
    assert [r["type"] for r in resets] == expected

    await call(hass, "unlock", target)
    sent = last(target, "UnlockConnector", "UnlockConnector")
    assert sent == ({"connector_id": 1} if is_16(target) else {"evseId": 1, "connectorId": 1})

    # The buttons do the same.
    for key, action in (("reset", "Reset"), ("unlock", "UnlockConnector")):
        entity_id = entity_registry.async_get_entity_id("button", DOMAIN, f"CP1_{key}")
        assert entity_id is not None
        before = len(target.charger.commands(action))
        await hass.services.async_call("button", "press", {"entity_id": entity_id}, blocking=True)
        assert len(target.charger.commands(action)) == before + 1


async def test_trigger_message(hass: HomeAssistant, target: Target) -> None:
    for message in TRIGGER_MESSAGES:
        await call(hass, "trigger_message", target, message=message)
    field = "requested_message" if is_16(target) else "requestedMessage"
    asked = [c[field] for c in target.charger.commands("TriggerMessage")][-len(TRIGGER_MESSAGES) :]
    if is_16(target):
        assert asked == TRIGGER_MESSAGES
    else:
        # The 1.6 name of the log upload status is 2.x's LogStatusNotification.
        assert asked == [
            "LogStatusNotification" if m == "DiagnosticsStatusNotification" else m
            for m in TRIGGER_MESSAGES
        ]
    # The triggered heartbeat arrived.
    await wait_for(lambda: target.entry.runtime_data.coordinator.charger.last_heartbeat)
    await hass.async_block_till_done()
    assert state_of(hass, f"sensor.{PREFIX}_last_heartbeat").state not in (
        STATE_UNKNOWN,
        STATE_UNAVAILABLE,
    )
    await call(hass, "trigger_message", target, message="StatusNotification", connector_id=1)
    sent = last(target, "TriggerMessage", "TriggerMessage")
    if is_16(target):
        assert sent == {"requested_message": "StatusNotification", "connector_id": 1}
    else:
        assert sent == {
            "requestedMessage": "StatusNotification",
            "evse": {"id": 1, "connectorId": 1},
        }
        await wait_for(lambda: state_of(hass, STATUS).state == "available", what="status")


async def test_data_transfer(hass: HomeAssistant, target: Target) -> None:
    result = await call(
        hass,
        "data_transfer",
        target,
        response=True,
        vendor_id="com.example",
        message_id="ping",
        data="hello",
    )
    assert result == {"status": "Accepted", "data": "pong"}
    sent = last(target, "DataTransfer", "DataTransfer")
    if is_16(target):
        assert sent == {"vendor_id": "com.example", "message_id": "ping", "data": "hello"}
    else:
        assert sent == {"vendorId": "com.example", "messageId": "ping", "data": "hello"}


async def test_configuration(hass: HomeAssistant, target: Target) -> None:
    # The 1.6 keys users know work on 2.x as well (the device-model variables of the same meaning).
    result = await call(
        hass,
        "get_configuration",
        target,
        response=True,
        keys=["HeartbeatInterval", "MeterValueSampleInterval", "NoSuchKey"],
    )
    assert result == {
        "configuration": {
            "HeartbeatInterval": {"value": "300", "readonly": False},
            "MeterValueSampleInterval": {"value": "10", "readonly": False},
        },
        "unknown": ["NoSuchKey"],
    }
    result = await call(
        hass, "set_configuration", target, response=True, key="HeartbeatInterval", value="120"
    )
    assert result == {"status": "Accepted"}
    everything = await call(hass, "get_configuration", target, response=True)
    assert (
        everything["configuration"][
            "HeartbeatInterval" if is_16(target) else "OCPPCommCtrlr.HeartbeatInterval"
        ]["value"]
        == "120"
    )
    if is_16(target):
        return

    # 2.x: any device-model variable by its key.
    key = "SampledDataCtrlr.TxUpdatedInterval"
    result = await call(hass, "get_configuration", target, response=True, keys=[key])
    assert result == {"configuration": {key: {"value": "10", "readonly": False}}, "unknown": []}
    result = await call(hass, "set_configuration", target, response=True, key=key, value="30")
    assert result == {"status": "Accepted"}
    assert isinstance(target.charger, Side2x)
    station = target.charger.station
    assert station.device_model[
        ("SampledDataCtrlr", None, None, "TxUpdatedInterval", "Actual")
    ] == ("30")
    # The whole model: read afresh (GetBaseReport), secrets without their value.
    assert everything["configuration"]["SecurityCtrlr.BasicAuthPassword"]["value"] is None
    assert everything["configuration"][key]["value"] == "10"
    assert everything["unknown"] == []

    # A 1.6 key that names no 2.x variable: a clear, translated refusal (nothing sent).
    writes = len(target.charger.commands("SetVariables"))
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "set_configuration", target, key="NumberOfConnectors", value="2")
    assert err.value.translation_key == "invalid_command"
    assert err.value.translation_placeholders == {
        "action": "SetVariables",
        "reason": "'NumberOfConnectors' names no device-model variable",
    }
    assert len(target.charger.commands("SetVariables")) == writes
    # A refused write says what the station answered.
    station.status_override["SetVariables:HeartbeatInterval"] = "Rejected"
    with pytest.raises(HomeAssistantError) as rejected:
        await call(hass, "set_configuration", target, key="HeartbeatInterval", value="1")
    assert rejected.value.translation_key == "command_rejected"
    assert rejected.value.translation_placeholders == {
        "charger_id": "CP1",
        "action": "SetVariables",
        "status": "Rejected",
    }


async def test_firmware_and_diagnostics(hass: HomeAssistant, target: Target) -> None:
    retrieve = dt_util.utcnow() + timedelta(hours=1)
    await call(
        hass,
        "update_firmware",
        target,
        url="https://example.com/fw.bin",
        retrieve_date=retrieve.isoformat(),
        retries=2,
    )
    sent = last(target, "UpdateFirmware", "UpdateFirmware")
    if is_16(target):
        assert sent["location"] == "https://example.com/fw.bin"
        assert sent["retries"] == 2
    else:
        assert sent["firmware"]["location"] == "https://example.com/fw.bin"
        assert sent["retries"] == 2
    result = await call(
        hass, "request_diagnostics", target, response=True, url="ftp://example.com/logs/"
    )
    # 1.6 GetDiagnostics; 2.x GetLog (DiagnosticsLog): the file the charger announces.
    assert result == {"file_name": "diagnostics.zip" if is_16(target) else "log.zip"}
    if not is_16(target):
        sent = last(target, "GetDiagnostics", "GetLog")
        assert sent["logType"] == "DiagnosticsLog"
        assert sent["log"] == {"remoteLocation": "ftp://example.com/logs/"}


async def test_charging_profiles(hass: HomeAssistant, target: Target) -> None:
    schedule_16 = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
    }
    profile_16 = {
        "chargingProfileId": 99,
        "stackLevel": 7,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": schedule_16,
    }
    # 2.x: the profile as 2.x defines it (``id``, a list of schedules with their own ``id``).
    profile_2x = {
        "id": 99,
        "stackLevel": 7,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": 99, **schedule_16}],
    }
    profile = profile_16 if is_16(target) else profile_2x
    await call(hass, "set_charging_profile", target, connector_id=1, profile=profile)
    # Ours (installation maximum, safe base, live limit) are written again after it.
    sent = profile_write(target, 99)
    if is_16(target):
        assert sent["connector_id"] == 1
        assert sent["cs_charging_profiles"]["charging_profile_id"] == 99
    else:
        assert sent == {"evseId": 1, "chargingProfile": profile_2x}
        # A 1.6-shaped profile does not exist in 2.x: a clear, translated refusal, nothing sent.
        writes = len(target.charger.commands("SetChargingProfile"))
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "set_charging_profile", target, connector_id=1, profile=profile_16)
        assert err.value.translation_key == "invalid_command"
        assert err.value.translation_placeholders is not None
        assert err.value.translation_placeholders["action"] == "SetChargingProfile"
        assert len(target.charger.commands("SetChargingProfile")) == writes

    await call(hass, "clear_charging_profiles", target, purpose="tx_default", stack_level=7)
    sent = last(target, "ClearChargingProfile", "ClearChargingProfile")
    if is_16(target):
        assert sent["charging_profile_purpose"] == "TxDefaultProfile"
        assert sent["stack_level"] == 7
    else:
        assert sent == {
            "chargingProfileCriteria": {
                "chargingProfilePurpose": "TxDefaultProfile",
                "stackLevel": 7,
            }
        }
        assert isinstance(target.charger, Side2x)
        assert 99 not in target.charger.station.profiles


async def test_availability_cache_and_reservations(
    hass: HomeAssistant, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (Ends by our clock wait a minute after the server's start: it just began here.)
    monkeypatch.setattr(reservation_clock, "START_DELAY", timedelta(0))
    result = await call(hass, "change_availability", target, response=True, operative=False)
    assert result == {"status": "Accepted"}
    await call(hass, "change_availability", target, operative=True, connector_id=1)
    changes = target.charger.commands("ChangeAvailability")
    if is_16(target):
        assert changes == [
            {"connector_id": 0, "type": "Inoperative"},
            {"connector_id": 1, "type": "Operative"},
        ]
    else:  # no EVSE: the whole station
        assert changes == [
            {"operationalStatus": "Inoperative"},
            {"operationalStatus": "Operative", "evse": {"id": 1}},
        ]

    await call(hass, "clear_cache", target)
    assert target.charger.commands("ClearCache") == [{}]

    expiry = dt_util.utcnow().replace(microsecond=0) + timedelta(hours=1)
    reserved = await call(
        hass, "reserve_now", target, response=True, id_tag="CARD", expiry=expiry.isoformat()
    )
    reservation_id = reserved["reservation_id"]
    sent = last(target, "ReserveNow", "ReserveNow")
    if is_16(target):
        assert (sent["connector_id"], sent["id_tag"], sent["reservation_id"]) == (
            1,
            "CARD",
            reservation_id,
        )
    else:
        assert (sent["evseId"], sent["idToken"]["idToken"], sent["id"]) == (
            1,
            "CARD",
            reservation_id,
        )
        assert dt_util.parse_datetime(sent["expiryDateTime"]) == expiry
    # The sensor shows it (1.6 and 2.x alike), until it ends.
    reserved_until = state_of(hass, f"sensor.{PREFIX}_reserved_until")
    assert dt_util.parse_datetime(reserved_until.state) == expiry
    assert reserved_until.attributes["reservations"] == [
        {
            "reservation_id": reservation_id,
            "connector_id": 1,
            "id_tag": "CARD",
            "expires_at": expiry.isoformat(),
        }
    ]
    # Cancelled without naming it: the charger's reservations in force.
    cancelled = await call(hass, "cancel_reservation", target, response=True)
    assert cancelled == {"reservation_ids": [reservation_id]}
    sent = last(target, "CancelReservation", "CancelReservation")
    assert sent == (
        {"reservation_id": reservation_id} if is_16(target) else {"reservationId": reservation_id}
    )
    assert state_of(hass, f"sensor.{PREFIX}_reserved_until").state == STATE_UNKNOWN
    attributes = await fired(hass, "reservation")
    assert attributes["event_type"] == "ended"
    assert (attributes["reservation_id"], attributes["status"]) == (reservation_id, "Cancelled")
    cancels = len(target.charger.commands("CancelReservation"))
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "cancel_reservation", target)
    assert err.value.translation_key == "no_reservation"
    assert len(target.charger.commands("CancelReservation")) == cancels

    # The card it was for starts a session there (its case does not count): it ends, and no
    # event says it ended without one.
    ended_event = state_of(hass, f"event.{PREFIX}_reservation").state
    await call(hass, "reserve_now", target, id_tag="CARD", expiry=expiry.isoformat())
    assert state_of(hass, f"sensor.{PREFIX}_reserved_until").state != STATE_UNKNOWN
    await target.charger.start_session("card")
    await hass.async_block_till_done()
    assert state_of(hass, f"sensor.{PREFIX}_reserved_until").state == STATE_UNKNOWN
    assert state_of(hass, f"event.{PREFIX}_reservation").state == ended_event
    await target.charger.end_session()
    await target.charger.unplug()

    # The charger ends one itself (its own clock's expiry, its own app): the connector shows
    # Available straight after Reserved. It ends then; a 1.6 charger says nothing more: its
    # end fires at once, removed (well before its expiry).
    reserved = await call(
        hass, "reserve_now", target, response=True, id_tag="CARD", expiry=expiry.isoformat()
    )
    await connector_status(hass, target, "Reserved")
    assert state_of(hass, f"sensor.{PREFIX}_reserved_until").state != STATE_UNKNOWN
    await connector_status(hass, target, "Available")
    assert state_of(hass, f"sensor.{PREFIX}_reserved_until").state == STATE_UNKNOWN
    if is_16(target):
        attributes = await fired(hass, "reservation")
        assert (attributes["reservation_id"], attributes["status"]) == (
            reserved["reservation_id"],
            "Removed",
        )
        return
    # (A 2.x station's own report is waited for.)
    assert state_of(hass, f"event.{PREFIX}_reservation").state == ended_event
    # What 2.x offers more: the station says when a reservation ended without a session, once.
    assert isinstance(target.charger, Side2x)
    update = {"reservationId": reserved["reservation_id"], "reservationUpdateStatus": "Expired"}
    assert (await target.charger.station.request("ReservationStatusUpdate", update)).ok
    attributes = await fired(hass, "reservation")
    ended_event = state_of(hass, f"event.{PREFIX}_reservation").state
    # A station that never saw our answer reports it again: no new end.
    assert (await target.charger.station.request("ReservationStatusUpdate", update)).ok
    await hass.async_block_till_done()
    assert state_of(hass, f"event.{PREFIX}_reservation").state == ended_event
    assert attributes["event_type"] == "ended"
    assert attributes["reservation_id"] == reserved["reservation_id"]
    assert attributes["status"] == "Expired"
    assert state_of(hass, f"sensor.{PREFIX}_reserved_until").state == STATE_UNKNOWN


async def connector_status(hass: HomeAssistant, target: Target, status: str) -> None:
    """Connector (EVSE) 1 shows ``status``, as the version names it."""
    if isinstance(target.charger, Side2x):
        await target.charger.station.status(1, 1, status)
    else:
        await target.charger.sim.status(status)  # type: ignore[attr-defined]
    await hass.async_block_till_done()


# --- events from the charger ---------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
async def test_events_from_the_charger(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    """test_event.py's events (and test_sensor.py's firmware and upload status), in every
    version."""
    async with onboard_any(version) as (charger, _entry):
        assert await charger.authorize("stranger") == "Invalid"
        attributes = await fired(hass, "authorization")
        assert (attributes["event_type"], attributes["id_tag"]) == ("rejected", "stranger")

        await charger.data_transfer("com.example", "hello", '{"x": 1}')
        attributes = await fired(hass, "data_transfer")
        assert attributes["event_type"] == "received"
        assert (attributes["vendor_id"], attributes["message_id"]) == ("com.example", "hello")
        assert attributes["data"] == '{"x": 1}'

        await charger.security_event(
            "InvalidCentralSystemCertificate", "2026-11-30T08:00:00Z", "self-signed"
        )
        attributes = await fired(hass, "security_event")
        assert attributes["event_type"] == "reported"
        assert attributes["type"] == "InvalidCentralSystemCertificate"
        assert attributes["tech_info"] == "self-signed"

        await charger.firmware_and_log_status("Downloading", "Uploaded")
        await hass.async_block_till_done()
        assert state_of(hass, f"sensor.{PREFIX}_firmware_update_status").state == "Downloading"
        assert state_of(hass, f"sensor.{PREFIX}_diagnostics_upload_status").state == "Uploaded"

        await charger.fault("GroundFailure", "RCD tripped")
        attributes = await fired(hass, "fault")
        assert state_of(hass, STATUS).state == "faulted"
        assert state_of(hass, f"binary_sensor.{PREFIX}_fault").state == "on"
        assert attributes["event_type"] == "fault"
        # A 2.x StatusNotification has no error code nor info: the event comes without them.
        expected = ("GroundFailure", "RCD tripped") if version == OCPP16 else (None, None)
        assert (attributes["error_code"], attributes["info"]) == expected
        if isinstance(charger, Side2x):
            # ... 2.x tells the cause in NotifyEvent: a component's problem, the connector's
            # error as a 1.6 error code is (before: logged only).
            await charger.station.status(1, 1, "Available")
            await hass.async_block_till_done()
            assert state_of(hass, f"binary_sensor.{PREFIX}_fault").state == "off"
            tripped = {
                "eventId": 1,
                "timestamp": dt_util.utcnow().isoformat(),
                "trigger": "Delta",
                "actualValue": "true",
                "techInfo": "RCD tripped",
                "eventNotificationType": "HardWiredNotification",
                "component": {"name": "RCD", "evse": {"id": 1}},
                "variable": {"name": "Tripped"},
            }
            now = dt_util.utcnow().isoformat()
            await charger.station.request(
                "NotifyEvent", {"generatedAt": now, "seqNo": 0, "eventData": [tripped]}
            )
            attributes = await fired(hass, "fault")
            assert (attributes["error_code"], attributes["info"]) == ("RCD.Tripped", "RCD tripped")
            assert state_of(hass, f"binary_sensor.{PREFIX}_fault").state == "on"


async def test_composite_schedule(hass: HomeAssistant, target: Target) -> None:
    """get_composite_schedule answers with what the charger says it will apply, 1.6 and 2.x
    alike: its periods in order, the limit in force now; a connector of 0 asks for the charger
    as a whole; a refusal is the charger's, said so."""

    def asked(duration: int) -> dict[str, Any]:
        """The GetCompositeSchedule of the action (the limit check after a write asks too)."""
        found = [
            s for s in target.charger.commands("GetCompositeSchedule") if s["duration"] == duration
        ]
        assert found, duration
        return found[-1]

    await call(hass, "set_current_limit", target, current=10)
    before = dt_util.utcnow() - timedelta(seconds=5)
    result = await call(hass, "get_composite_schedule", target, response=True)
    assert asked(3600) == (
        {"connector_id": 1, "duration": 3600} if is_16(target) else {"evseId": 1, "duration": 3600}
    )
    start = dt_util.parse_datetime(result.pop("start"))
    assert start is not None
    assert before <= start <= dt_util.utcnow() + timedelta(seconds=5)
    assert result == {
        "connector_id": 1,
        "unit": "A",
        "duration": 3600,
        "limit": 10.0,
        "periods": [{"start": start.isoformat(), "offset": 0, "limit": 10.0, "phases": None}],
    }

    # The charger as a whole, two minutes (the limit check asks for one), in W: the 2.x station
    # takes A only and is asked in A.
    result = await call(
        hass,
        "get_composite_schedule",
        target,
        response=True,
        connector_id=0,
        duration=120,
        unit="W",
    )
    if is_16(target):
        assert asked(120) == {"connector_id": 0, "duration": 120}
    else:
        assert asked(120) == {"evseId": 0, "duration": 120, "chargingRateUnit": "A"}
    assert (result["connector_id"], result["unit"], result["limit"]) == (0, "A", 10.0)

    if target.charger.version == OCPP21:
        # A 2.1 period's other fields come along, by snake_case name (limit is then L1's).
        assert isinstance(target.charger, Side2x)
        target.charger.station.answers["GetCompositeSchedule"] = {
            "status": "Accepted",
            "schedule": {
                "evseId": 1,
                "duration": 60,
                "scheduleStart": dt_util.utcnow().isoformat(),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0, "limit_L2": 0.0, "limit_L3": 0.0}
                ],
            },
        }
        result = await call(hass, "get_composite_schedule", target, response=True)
        assert [(p["limit"], p["limit_l2"], p["limit_l3"]) for p in result["periods"]] == [
            (16.0, 0.0, 0.0)
        ]
        del target.charger.station.answers["GetCompositeSchedule"]

    if is_16(target):
        assert isinstance(target.charger, Side16)
        target.charger.sim.statuses["GetCompositeSchedule"] = "Rejected"
    else:
        assert isinstance(target.charger, Side2x)
        target.charger.station.status_override["GetCompositeSchedule"] = "Rejected"
    with pytest.raises(HomeAssistantError) as rejected:
        await call(hass, "get_composite_schedule", target, response=True)
    assert rejected.value.translation_key == "command_rejected"
    assert rejected.value.translation_placeholders == {
        "charger_id": "CP1",
        "action": "GetCompositeSchedule",
        "status": "Rejected",
    }
