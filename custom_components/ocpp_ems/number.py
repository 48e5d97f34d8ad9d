"""Numbers of a charger: its live current limit, and the energy manager's current bounds and
target energy (those exist only while the server runs its energy manager). A server entry with its
energy manager enabled gets the site-wide home battery SoC settings on its own device."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfEnergy,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import (
    CONF_BATTERY_FLOOR_SOC,
    CONF_BATTERY_PRIORITY_SOC,
    DEFAULT_BATTERY_FLOOR_SOC,
    DEFAULT_BATTERY_PRIORITY_SOC,
)
from .coordinator import ChargerConfigEntry, ChargerCoordinator, ServerConfigEntry
from .core.ems import ChargerSettings as EmsChargerSettings
from .core.model import ChargingRateUnit
from .core.settings import RateUnitPreference
from .ems_entity import EmsEntity, EmsSiteEntity, ems_of
from .energy_manager import ChargerView, EnergyManagerRuntime
from .entity import OcppEntity, charger_errors
from .hub import charger_settings, is_charger_entry

# One limit change at a time per charger: each one writes a charging profile.
PARALLEL_UPDATES = 1

CURRENT_LIMIT = NumberEntityDescription(
    key="current_limit",
    translation_key="current_limit",
    device_class=NumberDeviceClass.CURRENT,
    native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
    mode=NumberMode.SLIDER,
)


@dataclass(frozen=True, kw_only=True)
class EmsNumberDescription(NumberEntityDescription):
    """A setting of the energy manager for one charger (stored in its ``ChargerView``)."""

    value_fn: Callable[[ChargerView, EmsChargerSettings], float | None]
    field: str  # the ChargerView attribute the value is stored in
    # (min, max) from the charger's bounds; None: the description's fixed bounds.
    bounds_fn: Callable[[EnergyManagerRuntime, str], tuple[float, float]] | None = None


EMS_NUMBERS: tuple[EmsNumberDescription, ...] = (
    EmsNumberDescription(
        key="ems_min_current",
        translation_key="ems_min_current",
        device_class=NumberDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        entity_category=EntityCategory.CONFIG,
        mode=NumberMode.BOX,
        native_step=0.1,
        field="min_current_a",
        value_fn=lambda _view, settings: settings.min_current_a,
        bounds_fn=EnergyManagerRuntime.current_bounds,
    ),
    EmsNumberDescription(
        key="ems_max_current",
        translation_key="ems_max_current",
        device_class=NumberDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        entity_category=EntityCategory.CONFIG,
        mode=NumberMode.BOX,
        native_step=0.1,
        field="max_current_a",
        value_fn=lambda _view, settings: settings.max_current_a,
        bounds_fn=EnergyManagerRuntime.current_bounds,
    ),
    EmsNumberDescription(
        key="target_energy",
        translation_key="target_energy",
        device_class=NumberDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        mode=NumberMode.BOX,
        native_min_value=0,
        native_max_value=200,
        native_step=0.5,
        field="target_energy_kwh",
        # 0 = no daily target.
        value_fn=lambda view, _settings: view.target_energy_kwh or 0.0,
    ),
)


@dataclass(frozen=True, kw_only=True)
class SiteNumberDescription(NumberEntityDescription):
    """A site-wide energy manager setting, stored in the server entry's options under ``option``
    (where the options step edits the same value)."""

    option: str
    default: float


SITE_NUMBERS: tuple[SiteNumberDescription, ...] = (
    # Below it the home battery charges first; at or above it the car does.
    SiteNumberDescription(
        key="battery_priority_soc",
        translation_key="battery_priority_soc",
        device_class=NumberDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.CONFIG,
        mode=NumberMode.BOX,
        native_min_value=0,
        native_max_value=100,
        native_step=1,
        option=CONF_BATTERY_PRIORITY_SOC,
        default=DEFAULT_BATTERY_PRIORITY_SOC,
    ),
    # Battery-assisted charging discharges the home battery into the car only above it.
    SiteNumberDescription(
        key="battery_floor_soc",
        translation_key="battery_floor_soc",
        device_class=NumberDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.CONFIG,
        mode=NumberMode.BOX,
        native_min_value=0,
        native_max_value=100,
        native_step=1,
        option=CONF_BATTERY_FLOOR_SOC,
        default=DEFAULT_BATTERY_FLOOR_SOC,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if not is_charger_entry(entry):
        _async_setup_site(hass, entry, async_add_entities)
        return
    charger_entry: ChargerConfigEntry = entry
    coordinator = charger_entry.runtime_data.coordinator
    entities: list[NumberEntity] = [OcppCurrentLimitNumber(coordinator, CURRENT_LIMIT)]
    if (ems := ems_of(charger_entry)) is not None:
        entities.extend(OcppEmsNumber(coordinator, description, ems) for description in EMS_NUMBERS)
    async_add_entities(entities)


@callback
def _async_setup_site(
    hass: HomeAssistant,
    entry: ServerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The site numbers, once the energy manager is enabled (now or by a later options change,
    which the energy manager signals). Like a charger's entities, they stay while loaded."""
    ems = entry.runtime_data.ems
    added = False

    @callback
    def _add() -> None:
        nonlocal added
        if ems.enabled and not added:
            added = True
            async_add_entities(
                OcppSiteNumber(entry, description, ems) for description in SITE_NUMBERS
            )

    _add()
    entry.async_on_unload(async_dispatcher_connect(hass, ems.signal, _add))


class OcppCurrentLimitNumber(OcppEntity, NumberEntity):
    """The live current limit (per phase). Bounds come from the charger's options."""

    def __init__(
        self, coordinator: ChargerCoordinator, description: NumberEntityDescription
    ) -> None:
        super().__init__(coordinator, description)
        settings = charger_settings(coordinator.config_entry)
        self._attr_native_min_value = settings.min_current_a
        self._attr_native_max_value = settings.installation_max_a

    @property
    def native_step(self) -> float:
        # Profiles in A take 0.1 A steps (schema multipleOf 0.1); a W-only charger gets whole amps.
        settings = charger_settings(self.coordinator.config_entry)
        takes_amps = ChargingRateUnit.AMPERE in self.charger.capabilities.rate_units
        if takes_amps and settings.rate_unit is not RateUnitPreference.WATT:
            return 0.1
        return 1.0

    @property
    def native_value(self) -> float:
        # No requested limit means "up to the installation maximum": show that, not "unknown".
        requested = self.charger.limit.requested_a
        maximum = charger_settings(self.coordinator.config_entry).installation_max_a
        return maximum if requested is None else min(requested, maximum)

    async def async_set_native_value(self, value: float) -> None:
        controller = self.coordinator.central.current_control(self.coordinator.charger_id)
        with charger_errors(self.coordinator.charger_id):
            await controller.set_limit(round(value, 1))


class OcppEmsNumber(EmsEntity, NumberEntity):
    """An energy manager setting of the charger."""

    entity_description: EmsNumberDescription

    def _bounds(self) -> tuple[float, float] | None:
        bounds_fn = self.entity_description.bounds_fn
        return None if bounds_fn is None else bounds_fn(self.ems, self.coordinator.charger_id)

    @property
    def native_min_value(self) -> float:
        bounds = self._bounds()
        return super().native_min_value if bounds is None else bounds[0]

    @property
    def native_max_value(self) -> float:
        bounds = self._bounds()
        return super().native_max_value if bounds is None else bounds[1]

    @property
    def native_value(self) -> float | None:
        return self.entity_description.value_fn(
            self.view, self.ems.settings(self.coordinator.charger_id)
        )

    async def async_set_native_value(self, value: float) -> None:
        changes: dict[str, Any] = {self.entity_description.field: round(value, 1)}
        self.ems.async_update_charger(self.coordinator.charger_id, **changes)


class OcppSiteNumber(EmsSiteEntity, NumberEntity):
    """A home battery SoC setting of the server's energy manager (applies to all its chargers)."""

    entity_description: SiteNumberDescription

    @property
    def native_value(self) -> float:
        description = self.entity_description
        return float(self.entry.options.get(description.option, description.default))

    async def async_set_native_value(self, value: float) -> None:
        self.ems.async_set_site_option(self.entity_description.option, round(value))
