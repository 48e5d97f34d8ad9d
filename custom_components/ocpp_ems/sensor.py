"""Sensors of a charger and its connectors (all read from the core's charger model)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    Platform,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .coordinator import ChargerConfigEntry, ChargerCoordinator
from .core.current_control import CurrentController
from .core.ems import ChargerDecision, Decision, Reason
from .core.model import Charger, Connector, ConnectorStatus, PhaseValues
from .core.protocol.common import RESERVATION, offers
from .core.settings import SecurityProfile
from .ems_entity import EmsEntity, ems_of
from .energy_manager import ChargerView
from .entity import OcppEntity, async_add_described_entities
from .hub import is_charger_entry
from .ownership import OcppControlledBySensor
from .reservation_sensor import RESERVED_UNTIL, OcppReservedUntilSensor
from .server_sensor import async_setup_server_sensors
from .session_facts import SessionFacts, SessionPriceFollower, session_facts

# Entities only read the model; the coordinator pushes updates.
PARALLEL_UPDATES = 0

type SensorValue = StateType | datetime


@dataclass(frozen=True, kw_only=True)
class OcppChargerSensorDescription(SensorEntityDescription):
    """A charger-wide sensor (``value_fn`` also gets the charger's current control)."""

    value_fn: Callable[[Charger, CurrentController], SensorValue]
    exists_fn: Callable[[Charger], bool] = lambda _charger: True
    # False: the value is not trustworthy yet (unavailable, see Connector.energy_settled).
    available_fn: Callable[[Charger], bool] = lambda _charger: True
    attributes_fn: Callable[[Charger], dict[str, Any]] | None = None


@dataclass(frozen=True, kw_only=True)
class OcppConnectorSensorDescription(SensorEntityDescription):
    """A sensor of one connector; ``value_fn`` is only called for a connector the model knows."""

    value_fn: Callable[[Connector], SensorValue]
    exists_fn: Callable[[Connector | None], bool] = lambda _connector: True
    available_fn: Callable[[Connector], bool] = lambda _connector: True


def _lifetime_energy(charger: Charger, _control: CurrentController) -> float | None:
    counter = charger.lifetime_energy
    if counter.last_register_wh is None and counter.total_wh == 0.0:
        return None  # never read: unknown, not 0 (0 would look like a register reset)
    return counter.total_wh


def _phase(
    values: Callable[[Connector], PhaseValues], phase: str
) -> Callable[[Connector], float | None]:
    def value(connector: Connector) -> float | None:
        result: float | None = getattr(values(connector), phase)
        return result

    return value


# The security profile a charger connected with (OCPP 1, 2 or 3), as the sensor's states.
SECURITY_PROFILE_STATES = [f"profile_{int(profile)}" for profile in SecurityProfile]


def _security_profile(charger: Charger, _control: CurrentController) -> str | None:
    security = charger.connection_security
    return None if security is None else f"profile_{int(security.profile)}"


def _security_attributes(charger: Charger) -> dict[str, Any]:
    """How the connection is secured beyond the profile (nothing secret)."""
    security = charger.connection_security
    if security is None:
        return {}
    return {
        "required_profile": f"profile_{int(security.configured_profile)}",
        "downgraded": security.downgraded,
        "tls_version": security.tls_version,
        "certificate_cn": security.certificate_cn,
    }


def _client_certificate_expiry(charger: Charger) -> datetime | None:
    security = charger.connection_security
    return None if security is None else security.certificate_expires


CHARGER_SENSORS: tuple[OcppChargerSensorDescription, ...] = (
    OcppChargerSensorDescription(
        key="active_limit",
        translation_key="active_limit",
        device_class=SensorDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        # The limit we hold the charger to (per phase), as the current control works it out.
        value_fn=lambda _charger, control: control.effective_limit_a,
    ),
    OcppChargerSensorDescription(
        key="lifetime_energy",
        translation_key="lifetime_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=_lifetime_energy,
        # After a restart: unavailable until the restored total cannot be behind the last shown.
        available_fn=lambda charger: charger.lifetime_settled,
    ),
    OcppChargerSensorDescription(
        key="firmware_version",
        translation_key="firmware_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda charger, _control: charger.info.firmware_version,
    ),
    OcppChargerSensorDescription(
        key="ocpp_version",
        translation_key="ocpp_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda charger, _control: charger.ocpp_version,
    ),
    OcppChargerSensorDescription(
        key="firmware_status",
        translation_key="firmware_status",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda charger, _control: charger.firmware_status,
    ),
    OcppChargerSensorDescription(
        key="diagnostics_status",
        translation_key="diagnostics_status",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda charger, _control: charger.diagnostics_status,
    ),
    OcppChargerSensorDescription(
        key="last_heartbeat",
        translation_key="last_heartbeat",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda charger, _control: charger.last_heartbeat,
    ),
    OcppChargerSensorDescription(
        key="security_profile",
        translation_key="security_profile",
        device_class=SensorDeviceClass.ENUM,
        options=SECURITY_PROFILE_STATES,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_security_profile,
        attributes_fn=_security_attributes,
    ),
    # Profile 3: when the client certificate it presented ends (it must get a new one before).
    OcppChargerSensorDescription(
        key="client_certificate_expiry",
        translation_key="client_certificate_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda charger, _control: _client_certificate_expiry(charger),
        # Once it has connected with a certificate (most chargers never do).
        exists_fn=lambda charger: _client_certificate_expiry(charger) is not None,
    ),
)


def _active_phases(connector: Connector) -> int | None:
    """The phases the car draws on (a current of at least 1 A); 0 while nothing flows; None
    when the charger reports no per-phase currents."""
    currents = connector.meter.current_a
    if currents.max() is None:
        return None
    return currents.active_phases() if connector.status.charging else 0


CONNECTOR_SENSORS: tuple[OcppConnectorSensorDescription, ...] = (
    OcppConnectorSensorDescription(
        key="status",
        translation_key="status",
        device_class=SensorDeviceClass.ENUM,
        options=[str(status) for status in ConnectorStatus],
        value_fn=lambda connector: str(connector.status),
    ),
    OcppConnectorSensorDescription(
        key="power",
        translation_key="power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda connector: connector.meter.power_w,
    ),
    *(
        OcppConnectorSensorDescription(
            key=f"current_{phase}",
            translation_key="phase_current",
            translation_placeholders={"phase": phase.upper()},
            device_class=SensorDeviceClass.CURRENT,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
            suggested_display_precision=1,
            entity_category=EntityCategory.DIAGNOSTIC,
            entity_registry_enabled_default=False,
            value_fn=_phase(lambda connector: connector.meter.current_a, phase),
        )
        for phase in ("l1", "l2", "l3")
    ),
    *(
        OcppConnectorSensorDescription(
            key=f"voltage_{phase}",
            translation_key="phase_voltage",
            translation_placeholders={"phase": phase.upper()},
            device_class=SensorDeviceClass.VOLTAGE,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=UnitOfElectricPotential.VOLT,
            suggested_display_precision=0,
            entity_category=EntityCategory.DIAGNOSTIC,
            entity_registry_enabled_default=False,
            value_fn=_phase(lambda connector: connector.meter.voltage_v, phase),
        )
        for phase in ("l1", "l2", "l3")
    ),
    OcppConnectorSensorDescription(
        key="offered_current",
        translation_key="offered_current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        value_fn=lambda connector: connector.meter.offered_current_a,
    ),
    OcppConnectorSensorDescription(
        key="active_phases",
        translation_key="active_phases",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_active_phases,
    ),
    OcppConnectorSensorDescription(
        key="session_energy",
        translation_key="session_energy",
        device_class=SensorDeviceClass.ENERGY,
        # Starts again at 0 with every session: a reset, which TOTAL_INCREASING understands.
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda connector: connector.session_energy_wh,
        available_fn=lambda connector: connector.energy_settled,
    ),
    OcppConnectorSensorDescription(
        key="soc",
        translation_key="soc",
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=lambda connector: connector.meter.soc_percent,
        # Most AC chargers never learn the car's SoC: only create it once reported.
        exists_fn=lambda connector: connector is not None
        and connector.meter.soc_percent is not None,
    ),
    OcppConnectorSensorDescription(
        key="temperature",
        translation_key="temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda connector: connector.meter.temperature_c,
        exists_fn=lambda connector: connector is not None
        and connector.meter.temperature_c is not None,
    ),
)


@dataclass(frozen=True, kw_only=True)
class SessionSensorDescription(SensorEntityDescription):
    """A fact of a connector's running session, else of its last one (``session_facts.py``)."""

    value_fn: Callable[[SessionFacts], SensorValue]
    # In the currency Home Assistant is set to (the price's currency).
    monetary: bool = False


SESSION_SENSORS: tuple[SessionSensorDescription, ...] = (
    SessionSensorDescription(
        key="session_start",
        translation_key="session_start",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda facts: facts.started_at,
    ),
    SessionSensorDescription(
        key="session_end",
        translation_key="session_end",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda facts: facts.ended_at,
    ),
    SessionSensorDescription(
        key="session_duration",
        translation_key="session_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
        value_fn=lambda facts: facts.duration_s,
    ),
    SessionSensorDescription(
        key="session_id_tag",
        translation_key="session_id_tag",
        value_fn=lambda facts: facts.id_tag,
    ),
    SessionSensorDescription(
        key="session_user",
        translation_key="session_user",
        value_fn=lambda facts: facts.user,
    ),
    SessionSensorDescription(
        key="session_cost",
        translation_key="session_cost",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda facts: None if facts.cost is None else round(facts.cost, 4),
    ),
)


@dataclass(frozen=True, kw_only=True)
class EmsSensorDescription(SensorEntityDescription):
    """What the energy manager decided for a charger, or its session's energy by source."""

    # (the charger's view, its decision, the whole site's decision)
    value_fn: Callable[[ChargerView, ChargerDecision | None, Decision | None], SensorValue]
    available_fn: Callable[[ChargerView], bool] = lambda _view: True
    attributes_fn: Callable[[ChargerDecision | None], dict[str, Any]] | None = None


def _target_current(decision: ChargerDecision | None) -> float | None:
    if decision is None:
        return None
    return 0.0 if decision.target.paused else decision.target.current_a


def _until(decision: ChargerDecision | None) -> datetime | None:
    """When the wait the reason names ends (None: no wait with an end)."""
    return None if decision is None else _wait_end(decision.until)


def _wait_end(until: float | None) -> datetime | None:
    """A wait's end in whole seconds as a timestamp sensor shows it (rounded up: never before
    the change)."""
    return None if until is None else dt_util.utc_from_timestamp(math.ceil(until))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _reason_attributes(decision: ChargerDecision | None) -> dict[str, Any]:
    """When the wait ends; while the manager waits for the charger, the controller's own
    reason and when its wait ends; with a departure plan, how it means to get there (kWh from
    the sun as forecast, and from the grid)."""
    attributes: dict[str, Any] = {"until": _iso(_until(decision))}
    if decision is not None and decision.controller_reason is not None:
        attributes["controller_reason"] = str(decision.controller_reason)
        attributes["controller_until"] = _iso(_wait_end(decision.controller_until))
    if decision is not None and (plan := decision.plan) is not None:
        attributes["plan_solar_energy"] = round(plan.solar_wh / 1000.0, 2)
        attributes["plan_grid_energy"] = round(plan.grid_wh / 1000.0, 2)
    return attributes


# Site values (the available surplus) live on the server's device (``server_sensor.py``); the
# entities that showed them on every charger are removed from the registry.
MOVED_TO_SITE = ("available_surplus",)

EMS_SENSORS: tuple[EmsSensorDescription, ...] = (
    EmsSensorDescription(
        key="ems_target_current",
        translation_key="ems_target_current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        value_fn=lambda _view, d, _site: _target_current(d),
    ),
    EmsSensorDescription(
        key="ems_reason",
        translation_key="ems_reason",
        device_class=SensorDeviceClass.ENUM,
        options=[str(reason) for reason in Reason],
        value_fn=lambda _view, d, _site: None if d is None else str(d.reason),
        # When a wait (start or stop delay, phase switch, ...) ends, for a countdown; a plan's
        # energy from the sun and the grid.
        attributes_fn=_reason_attributes,
    ),
    EmsSensorDescription(
        key="ems_next_change",
        translation_key="ems_next_change",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda _view, d, _site: _until(d),
    ),
    EmsSensorDescription(
        key="session_energy_solar",
        translation_key="session_energy_solar",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda view, _d, _site: round(view.solar_wh / 1000.0, 3),
        # After a restart: unavailable until the split caught up with the charger's energy.
        available_fn=lambda view: view.settled,
    ),
    EmsSensorDescription(
        key="session_energy_battery",
        translation_key="session_energy_battery",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda view, _d, _site: round(view.battery_wh / 1000.0, 3),
        # After a restart: unavailable until the split caught up with the charger's energy.
        available_fn=lambda view: view.settled,
    ),
    EmsSensorDescription(
        key="session_energy_grid",
        translation_key="session_energy_grid",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda view, _d, _site: round(view.grid_wh / 1000.0, 3),
        # After a restart: unavailable until the split caught up with the charger's energy.
        available_fn=lambda view: view.settled,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if not is_charger_entry(entry):
        # The server entry's own device: the last refused connection, the site's values.
        async_setup_server_sensors(hass, entry, async_add_entities)
        return
    async_add_described_entities(
        entry,
        async_add_entities,
        charger_descriptions=CHARGER_SENSORS,
        charger_entity=OcppChargerSensor,
        connector_descriptions=CONNECTOR_SENSORS,
        connector_entity=OcppConnectorSensor,
        charger_has=lambda description, charger: description.exists_fn(charger),
        connector_has=lambda description, connector: description.exists_fn(connector),
    )
    coordinator = entry.runtime_data.coordinator
    # The sessions' cost follows the user's price (the sensors below show it).
    await SessionPriceFollower(hass, entry).async_start()
    async_add_described_entities(
        entry,
        async_add_entities,
        charger_descriptions=(),
        charger_entity=OcppChargerSensor,
        connector_descriptions=SESSION_SENSORS,
        connector_entity=OcppSessionSensor,
    )
    _async_remove_moved_to_site(hass, coordinator.charger_id)
    ems = ems_of(entry)
    async_add_entities([OcppControlledBySensor(coordinator, ems)])
    if offers(RESERVATION, coordinator.settings, coordinator.charger.capabilities):
        async_add_described_entities(
            entry,
            async_add_entities,
            charger_descriptions=(),
            charger_entity=OcppChargerSensor,
            connector_descriptions=(RESERVED_UNTIL,),
            connector_entity=OcppReservedUntilSensor,
        )
    if ems is not None:
        async_add_entities(
            OcppEmsSensor(coordinator, description, ems) for description in EMS_SENSORS
        )


@callback
def _async_remove_moved_to_site(hass: HomeAssistant, charger_id: str) -> None:
    """Site values are on the server's device now: their old per-charger entities would stay in
    the registry as "no longer provided" (Home Assistant keeps them until removed)."""
    registry = er.async_get(hass)
    for key in MOVED_TO_SITE:
        entity_id = registry.async_get_entity_id(Platform.SENSOR, DOMAIN, f"{charger_id}_{key}")
        if entity_id is not None:
            registry.async_remove(entity_id)


class OcppChargerSensor(OcppEntity, SensorEntity):
    entity_description: OcppChargerSensorDescription

    @property
    def available(self) -> bool:
        return super().available and self.entity_description.available_fn(self.charger)

    @property
    def native_value(self) -> SensorValue:
        control = self.coordinator.central.current_control(self.coordinator.charger_id)
        return self.entity_description.value_fn(self.charger, control)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        attributes_fn = self.entity_description.attributes_fn
        return None if attributes_fn is None else attributes_fn(self.charger)


class OcppConnectorSensor(OcppEntity, SensorEntity):
    entity_description: OcppConnectorSensorDescription

    @property
    def available(self) -> bool:
        connector = self.connector
        return super().available and (
            connector is None or self.entity_description.available_fn(connector)
        )

    @property
    def native_value(self) -> SensorValue:
        if (connector := self.connector) is None:
            return None
        return self.entity_description.value_fn(connector)


class OcppSessionSensor(OcppEntity, SensorEntity):
    """A fact of the connector's running or last session (unknown before its first one)."""

    entity_description: SessionSensorDescription

    def __init__(
        self,
        coordinator: ChargerCoordinator,
        description: SessionSensorDescription,
        connector_id: int,
    ) -> None:
        super().__init__(coordinator, description, connector_id)
        if description.monetary:
            self._attr_native_unit_of_measurement = coordinator.hass.config.currency

    @property
    def native_value(self) -> SensorValue:
        connector = self.connector
        transaction = None if connector is None else connector.session
        if transaction is None:
            return None
        return self.entity_description.value_fn(
            session_facts(self.coordinator.config_entry, transaction)
        )


class OcppEmsSensor(EmsEntity, SensorEntity):
    entity_description: EmsSensorDescription

    @property
    def available(self) -> bool:
        return super().available and self.entity_description.available_fn(self.view)

    @property
    def native_value(self) -> SensorValue:
        return self.entity_description.value_fn(self.view, self.decision, self.ems.site_decision)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        attributes_fn = self.entity_description.attributes_fn
        return None if attributes_fn is None else attributes_fn(self.decision)
