"""Numbers of a charger: its live current limit, and the energy manager's current bounds and
target energy (those exist only while the server runs its energy manager). A server entry with its
energy manager enabled gets the site-wide home battery SoC settings and the cheap grid price on its
own device."""

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

from .coordinator import ChargerConfigEntry, ChargerCoordinator, ServerConfigEntry
from .core.current_control import CurrentController
from .core.ems import ChargerSettings as EmsChargerSettings
from .core.ems import options as ems_options
from .core.ems.charger_view import VEHICLE_CAPACITY_MAX_KWH
from .core.ems.config import PRIORITY_MAX, PRIORITY_MIN
from .core.limits import LimitRules
from .ems_entity import EmsEntity, EmsSiteEntity, ems_of
from .energy_manager import ChargerView
from .entity import OcppEntity
from .hub import is_charger_entry
from .ownership import async_manual_change

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
    # A current: bounds and step are the charger's limit rules (else the description's own), and
    # it is unavailable while those rules write no limits.
    current: bool = False
    # The value as stored: a tenth (currents, energies) or a whole number (a priority).
    stored: Callable[[float], float] = lambda value: round(value, 1)


EMS_NUMBERS: tuple[EmsNumberDescription, ...] = (
    EmsNumberDescription(
        key="ems_min_current",
        translation_key="ems_min_current",
        device_class=NumberDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        entity_category=EntityCategory.CONFIG,
        mode=NumberMode.BOX,
        field="min_current_a",
        value_fn=lambda _view, settings: settings.min_current_a,
        current=True,
    ),
    EmsNumberDescription(
        key="ems_max_current",
        translation_key="ems_max_current",
        device_class=NumberDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        entity_category=EntityCategory.CONFIG,
        mode=NumberMode.BOX,
        field="max_current_a",
        value_fn=lambda _view, settings: settings.max_current_a,
        current=True,
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
    # The car's usable battery: a SoC plan's energy, and in Solar mode whether the sun ahead
    # fills it anyway (``core/ems/sun_ahead.py``). 0: not set.
    EmsNumberDescription(
        key="vehicle_capacity",
        translation_key="vehicle_capacity",
        device_class=NumberDeviceClass.ENERGY_STORAGE,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        entity_category=EntityCategory.CONFIG,
        mode=NumberMode.BOX,
        native_min_value=0,
        native_max_value=VEHICLE_CAPACITY_MAX_KWH,
        native_step=0.1,
        field="vehicle_capacity_kwh",
        value_fn=lambda view, _settings: view.known_vehicle_capacity_kwh or 0.0,
    ),
    # Who gets the sun and the fuse first: the controller's own bounds.
    EmsNumberDescription(
        key="priority",
        translation_key="priority",
        entity_category=EntityCategory.CONFIG,
        mode=NumberMode.BOX,
        native_min_value=PRIORITY_MIN,
        native_max_value=PRIORITY_MAX,
        native_step=1,
        field="priority",
        value_fn=lambda _view, settings: settings.priority,
        stored=round,
    ),
)


@dataclass(frozen=True, kw_only=True)
class SiteNumberDescription(NumberEntityDescription):
    """A site-wide energy manager setting: a row of the options table (``core/ems/options.py``),
    which holds its key, bounds and step, and where the options step edits the same value."""

    option: ems_options.Number | ems_options.OptionalNumber
    # The unit is the currency Home Assistant is set to, per kWh.
    price: bool = False


def _site_number(
    option: ems_options.Number | ems_options.OptionalNumber, **kwargs: Any
) -> SiteNumberDescription:
    return SiteNumberDescription(
        key=option.key,
        translation_key=option.key,
        entity_category=EntityCategory.CONFIG,
        mode=NumberMode.BOX,
        native_min_value=option.minimum,
        native_max_value=option.maximum,
        native_step=option.step,
        option=option,
        **kwargs,
    )


SITE_NUMBERS: tuple[SiteNumberDescription, ...] = (
    # Below it the home battery charges first; at or above it the car does.
    _site_number(
        ems_options.BATTERY_PRIORITY_SOC,
        device_class=NumberDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
    ),
    # Battery-assisted charging discharges the home battery into the car only above it.
    _site_number(
        ems_options.BATTERY_FLOOR_SOC,
        device_class=NumberDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
    ),
    # Solar and Min + solar charge in full from the grid at or below it (unset: unknown).
    _site_number(ems_options.CHEAP_GRID_PRICE, price=True),
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


def _controller(coordinator: ChargerCoordinator) -> CurrentController:
    return coordinator.central.current_control(coordinator.charger_id)


class _LimitRulesNumber(NumberEntity):
    """A current whose bounds and step are the charger's limit rules (``_rules`` None: the
    description's own)."""

    coordinator: ChargerCoordinator

    def _rules(self) -> LimitRules | None:
        return _controller(self.coordinator).rules

    @property
    def native_min_value(self) -> float:
        rules = self._rules()
        return super().native_min_value if rules is None else rules.min_a

    @property
    def native_max_value(self) -> float:
        rules = self._rules()
        return super().native_max_value if rules is None else rules.max_a

    @property
    def native_step(self) -> float | None:
        rules = self._rules()
        return super().native_step if rules is None else rules.step_a


class OcppCurrentLimitNumber(OcppEntity, _LimitRulesNumber):
    """The live current limit (per phase); setting it is a manual change (``ownership.py``)."""

    @property
    def native_value(self) -> float:
        # No requested limit means "up to the installation maximum": show that, not "unknown".
        return _controller(self.coordinator).limit_a

    async def async_set_native_value(self, value: float) -> None:
        await async_manual_change(
            self.coordinator.config_entry, lambda control: control.set_limit(value)
        )


class OcppEmsNumber(EmsEntity, _LimitRulesNumber):
    """An energy manager setting of the charger."""

    entity_description: EmsNumberDescription

    def _rules(self) -> LimitRules | None:
        return super()._rules() if self.entity_description.current else None

    @property
    def available(self) -> bool:
        # A charger that takes no limit charges on/off at its full current: the energy manager
        # ignores its current bounds then, so they are not offered for a change that does nothing.
        rules = self._rules()
        return super().available and (rules is None or rules.smart_charging)

    @property
    def native_value(self) -> float | None:
        return self.entity_description.value_fn(
            self.view, self.ems.settings(self.coordinator.charger_id)
        )

    async def async_set_native_value(self, value: float) -> None:
        description = self.entity_description
        changes: dict[str, Any] = {description.field: description.stored(value)}
        self.ems.async_update_charger(self.coordinator.charger_id, **changes)


class OcppSiteNumber(EmsSiteEntity, NumberEntity):
    """A site setting of the server's energy manager (applies to all its chargers): the home
    battery's SoCs, the cheap grid price."""

    entity_description: SiteNumberDescription

    @property
    def native_value(self) -> float | None:
        return self.entity_description.option.read(self.entry.options)

    @property
    def native_unit_of_measurement(self) -> str | None:
        if self.entity_description.price:
            return f"{self.hass.config.currency}/kWh"
        return self.entity_description.native_unit_of_measurement

    async def async_set_native_value(self, value: float) -> None:
        option = self.entity_description.option
        self.ems.async_set_site_option(option.key, option.from_form(value))
