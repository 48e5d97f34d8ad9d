"""The energy manager's server-level options: one declarative table (HA-free).

Every option the user sets for a server's energy manager is one row of :data:`OPTIONS`: its key in
the server entry's options (stored flat; the keys never change, so stored entries keep working), its
one default, type and bounds, unit, the section of the options form it sits in and the kind of field
that edits it. Each row reads its value back (:meth:`Option.read`: the default where unset, garbage
or out of bounds clamped), so everything that uses these options goes through this table: the
options form (``server_options_flow.py``), :func:`site_settings` and the runtime
(``STALE_GRACE.read(options)``...).

Defaults that the controller also has (``SiteSettings``, ``BatterySettings``, ``ChargerSettings``)
are taken from it, so the controller, the form and the readers cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

from custom_components.ocpp_ems.core.numbers import parse_number

from .charger_config import EmsOptions
from .config import (
    BATTERY_ASSIST_DEFAULT_W,
    BatterySettings,
    ChargerSettings,
    PlanSettings,
    SiteSettings,
    SolarSettings,
)
from .types import StaleFallback

_SITE: Final = SiteSettings()
_BATTERY: Final = BatterySettings()
_SOLAR: Final = SolarSettings()
_CHARGER: Final = ChargerSettings()
_PLAN: Final = PlanSettings()


class Section(StrEnum):
    """The sections of the options form, in order (an option without one sits above them)."""

    INPUTS = "inputs"  # grid meter and price
    SITE_LIMITS = "site_limits"  # main fuse, phases, voltage
    SOLAR = "solar"  # PV sensors and how surplus is found
    BATTERY = "battery"  # home battery sensors and rules
    ADVANCED = "advanced"  # stale inputs and write pacing

    @property
    def collapsed(self) -> bool:
        """Shown folded: the factory settings suit almost everyone."""
        return self is Section.ADVANCED


class Kind(StrEnum):
    """The field an option is edited with (the HA layer maps it to a selector)."""

    BOOLEAN = "boolean"
    SENSOR = "sensor"  # entity picker: sensors of one device class
    ENTITY = "entity"  # entity picker: entities of some domains
    CONFIG_ENTRY = "config_entry"  # config entry picker (e.g. a solar forecast's)
    NUMBER = "number"  # number box
    SLIDER = "slider"  # number slider
    SELECT = "select"  # dropdown of fixed choices
    TEXT = "text"


@dataclass(frozen=True, slots=True, kw_only=True)
class Option[T]:
    """One row of the table. ``section`` None: at the top of the form, above the sections."""

    key: str
    section: Section | None
    default: T

    @property
    def kind(self) -> Kind:
        raise NotImplementedError

    def parse(self, raw: Any) -> T | None:
        """A stored (or entered) value as the option's type; None when it is not one."""
        raise NotImplementedError

    def read(self, options: Mapping[str, Any]) -> T:
        """The option's value in a server entry's options (the default where unset or invalid)."""
        raw = options.get(self.key)
        value = None if raw is None else self.parse(raw)
        return self.default if value is None else value

    def stored(self, value: T) -> Any:
        """How a value is stored in the options (plain JSON)."""
        return value

    def to_form(self, value: T) -> Any:
        """How a value is shown in the options form."""
        return value

    def from_form(self, raw: Any) -> Any:
        """What the form's answer is stored as; None: the key is left out (unset)."""
        value = self.parse(raw)
        return None if value is None else self.stored(value)

    def in_bounds(self, raw: Any) -> bool:
        """Whether the form may take ``raw`` as it is (a stored value beyond the bounds is clamped
        on read, an entered one is refused)."""
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Toggle(Option[bool]):
    @property
    def kind(self) -> Kind:
        return Kind.BOOLEAN

    def parse(self, raw: Any) -> bool | None:
        return bool(raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityRef(Option[str | None]):
    """An entity id. ``device_class`` set: a sensor of that class; else an entity of ``domains``."""

    default: str | None = None
    device_class: str | None = None
    domains: tuple[str, ...] = ("sensor",)

    @property
    def kind(self) -> Kind:
        return Kind.SENSOR if self.device_class is not None else Kind.ENTITY

    def parse(self, raw: Any) -> str | None:
        return _text(raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigEntryRef(Option[str | None]):
    """The id of another integration's config entry."""

    default: str | None = None

    @property
    def kind(self) -> Kind:
        return Kind.CONFIG_ENTRY

    def parse(self, raw: Any) -> str | None:
        return _text(raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Text(Option[str | None]):
    default: str | None = None

    @property
    def kind(self) -> Kind:
        return Kind.TEXT

    def parse(self, raw: Any) -> str | None:
        return _text(raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Number(Option[float]):
    """A number within ``minimum``..``maximum`` (stored values beyond them are clamped)."""

    minimum: float
    maximum: float
    step: float = 1.0
    unit: str | None = None
    slider: bool = False

    @property
    def kind(self) -> Kind:
        return Kind.SLIDER if self.slider else Kind.NUMBER

    def parse(self, raw: Any) -> float | None:
        return _bounded(raw, self.minimum, self.maximum)

    def stored(self, value: float) -> Any:
        return _whole(value, self.step)

    def in_bounds(self, raw: Any) -> bool:
        return _within(raw, self.minimum, self.maximum)

    @property
    def form_minimum(self) -> float:
        """The least the field takes."""
        return self.minimum


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionalNumber(Option[float | None]):
    """A number that may be left unset (None: the controller's own behaviour applies).
    ``zero_is_unset``: 0 (or less) means unset too (e.g. "no main fuse"), also where ``minimum``
    is above 0 (a fuse of 1 A is refused, 0 is none)."""

    default: float | None = None
    minimum: float
    maximum: float
    step: float = 1.0
    unit: str | None = None
    zero_is_unset: bool = False

    @property
    def kind(self) -> Kind:
        return Kind.NUMBER

    def parse(self, raw: Any) -> float | None:
        if self._unset(raw):
            return None
        return _bounded(raw, self.minimum, self.maximum)

    def stored(self, value: float | None) -> Any:
        return None if value is None else _whole(value, self.step)

    def in_bounds(self, raw: Any) -> bool:
        zero = self.zero_is_unset and parse_number(raw) == 0
        return zero or _within(raw, self.minimum, self.maximum)

    @property
    def form_minimum(self) -> float:
        """The least the field takes: 0 where that means unset."""
        return min(self.minimum, 0.0) if self.zero_is_unset else self.minimum

    def _unset(self, raw: Any) -> bool:
        number = parse_number(raw)
        return self.zero_is_unset and number is not None and number <= 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Select[C: int | str](Option[C]):
    """One of ``choices``; the form shows them as text, the options store them as they are (an
    enum member as its plain value). Translated by the HA selector ``translation_key`` = key."""

    choices: tuple[C, ...]

    @property
    def kind(self) -> Kind:
        return Kind.SELECT

    def parse(self, raw: Any) -> C | None:
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        text = str(raw).strip()
        return next((choice for choice in self.choices if str(choice) == text), None)

    def stored(self, value: C) -> Any:
        return value if isinstance(value, int) else str(value)

    def to_form(self, value: C) -> Any:
        return str(value)

    @property
    def form_choices(self) -> list[str]:
        return [str(choice) for choice in self.choices]


def _text(raw: Any) -> str | None:
    return (raw.strip() or None) if isinstance(raw, str) else None


def _bounded(raw: Any, minimum: float, maximum: float) -> float | None:
    """A finite number clamped to the bounds; None for anything else (text, nan, inf, bool)."""
    number = parse_number(raw)
    return None if number is None else min(max(number, minimum), maximum)


def _within(raw: Any, minimum: float, maximum: float) -> bool:
    """Empty or a number within the bounds."""
    number = parse_number(raw)
    return raw is None or (number is not None and minimum <= number <= maximum)


def _whole(value: float, step: float) -> float | int:
    """Whole numbers of a whole-step field are stored as int (seconds, amperes...)."""
    return int(value) if float(step).is_integer() and value.is_integer() else value


# ----------------------------------------------------------------------------------- the table
EMS_ENABLED: Final = Toggle(key="ems_enabled", section=None, default=False)

# Grid meter and price.
# Import +, export -.
GRID_POWER: Final = EntityRef(key="grid_power_entity", section=Section.INPUTS, device_class="power")
GRID_CURRENT_L1: Final = EntityRef(
    key="grid_current_l1_entity", section=Section.INPUTS, device_class="current"
)
GRID_CURRENT_L2: Final = EntityRef(
    key="grid_current_l2_entity", section=Section.INPUTS, device_class="current"
)
GRID_CURRENT_L3: Final = EntityRef(
    key="grid_current_l3_entity", section=Section.INPUTS, device_class="current"
)
PRICE: Final = EntityRef(key="price_entity", section=Section.INPUTS, device_class="monetary")
# Attribute(s) of the price sensor with upcoming slots (comma separated); unset: common names.
PRICE_FORECAST_ATTRIBUTE: Final = Text(key="price_forecast_attribute", section=Section.INPUTS)
# A fixed energy price per kWh for the sessions' cost (it wins over the price entity). Unset or 0:
# the price entity's (in its unit, see core/tariff.py).
SESSION_PRICE: Final = OptionalNumber(
    key="session_price",
    section=Section.INPUTS,
    minimum=0,
    maximum=100,
    step=0.001,
    # In the currency Home Assistant is set to.
    unit="/kWh",
    zero_is_unset=True,
)
# What a kWh exported earns (a dynamic feed-in tariff): read like the price sensor (its unit and
# forecast attribute(s)); where it has no price for a time, FEED_IN_PRICE counts.
FEED_IN_PRICE_ENTITY: Final = EntityRef(
    key="feed_in_price_entity", section=Section.INPUTS, device_class="monetary"
)
# What a kWh exported earns (in the currency Home Assistant is set to): departure plans weigh it
# against the night's price for a slot at the minimum in weak sun. 0: the sun counts as free.
FEED_IN_PRICE: Final = Number(
    key="feed_in_price",
    section=Section.INPUTS,
    default=_PLAN.feed_in_price,
    minimum=0,
    maximum=100,
    step=0.001,
    unit="/kWh",
)
# Solar and Min + solar charge in full from the grid while the electricity price is at or below
# this (per kWh, in the currency Home Assistant is set to; negative: the grid pays). Unset: never.
CHEAP_GRID_PRICE: Final = OptionalNumber(
    key="cheap_grid_price",
    section=Section.INPUTS,
    minimum=-10,
    maximum=100,
    step=0.001,
    unit="/kWh",
)

# Site limits.
# Main fuse per phase (A); unset or 0: no load management. Below 6 A (a typo, kW typed into an A
# field) no car gets its minimum: every charger would stay paused for the fuse.
FUSE: Final = OptionalNumber(
    key="fuse_a",
    section=Section.SITE_LIMITS,
    minimum=_CHARGER.min_current_a,
    maximum=400,
    unit="A",
    zero_is_unset=True,
)
SITE_PHASES: Final = Select[int](
    key="site_phases", section=Section.SITE_LIMITS, default=_SITE.site_phases, choices=(1, 3)
)
VOLTAGE: Final = Number(
    key="voltage_v",
    section=Section.SITE_LIMITS,
    default=_SITE.voltage_v,
    minimum=100,
    maximum=260,
    unit="V",
)

# Solar.
PV_POWER: Final = EntityRef(key="pv_power_entity", section=Section.SOLAR, device_class="power")
# What the PV could give now (hybrid / zero-export inverters whose PV is curtailed).
PV_AVAILABLE_POWER: Final = EntityRef(
    key="pv_available_power_entity", section=Section.SOLAR, device_class="power"
)
# The inverter curtails instead of exporting and there is no available-power sensor: probe.
ZERO_EXPORT: Final = Toggle(key="zero_export", section=Section.SOLAR, default=_SOLAR.zero_export)
# Off: a dip is held at the minimum for the whole stop delay (restart cost factor 0).
STOP_EARLY_IN_DIPS: Final = Toggle(
    key="stop_early_in_dips", section=Section.SOLAR, default=_SOLAR.restart_cost_factor > 0.0
)
# A solar car starts, and holds its minimum, while the surplus covers this share of it (%).
MIN_SUN_SHARE: Final = Number(
    key="min_sun_share",
    section=Section.SOLAR,
    default=round(_SOLAR.min_sun_share * 100.0),
    minimum=50,
    maximum=100,
    step=5,
    unit="%",
    slider=True,
)
# On: several solar cars charge side by side once the surplus covers their minimums (the stagger
# rule off); off: one after another.
SHARE_SURPLUS: Final = Toggle(
    key="share_surplus", section=Section.SOLAR, default=not _SOLAR.stagger_starts
)
# The PV forecast departure plans count on (a config entry with an energy platform forecast, e.g.
# Forecast.Solar). Unset: the one the Energy dashboard's solar sources use.
SOLAR_FORECAST: Final = ConfigEntryRef(key="solar_forecast_entry", section=Section.SOLAR)
# Share of the forecast PV surplus a plan leaves to the sun (%).
FORECAST_CONFIDENCE: Final = Number(
    key="forecast_confidence",
    section=Section.SOLAR,
    default=round(_PLAN.forecast_confidence * 100.0),
    minimum=0,
    maximum=100,
    unit="%",
    slider=True,
)
# The house's typical load by day: the forecast's surplus is what lies above it (W).
HOUSE_LOAD: Final = Number(
    key="house_load_w",
    section=Section.SOLAR,
    default=_PLAN.house_load_w,
    minimum=0,
    maximum=20000,
    step=50,
    unit="W",
)

# Home battery.
# Discharge +, charge -.
BATTERY_POWER: Final = EntityRef(
    key="battery_power_entity", section=Section.BATTERY, device_class="power"
)
BATTERY_SOC: Final = EntityRef(
    key="battery_soc_entity", section=Section.BATTERY, device_class="battery"
)
# The inverter's maximum discharge power: set so the battery covers the house but not the car
# (unless battery-assisted charging is allowed), in every mode.
BATTERY_DISCHARGE_LIMIT: Final = EntityRef(
    key="battery_discharge_limit_entity",
    section=Section.BATTERY,
    domains=("number", "input_number"),
)
BATTERY_PRIORITY_SOC: Final = Number(
    key="battery_priority_soc",
    section=Section.BATTERY,
    default=_BATTERY.priority_soc,
    minimum=0,
    maximum=100,
    unit="%",
    slider=True,
)
# The most the battery takes when charging (W): below the priority SoC the car gets only the surplus
# beyond it. Unset: learned from the highest charging power seen (lowered after a lasting export).
BATTERY_MAX_CHARGE: Final = OptionalNumber(
    key="battery_max_charge_w",
    section=Section.BATTERY,
    minimum=0,
    maximum=50000,
    step=100,
    unit="W",
    zero_is_unset=True,
)
# Usable capacity (kWh, as on the battery's datasheet; the core counts Wh): while the battery
# charges first, a departure plan counts on the sun only beyond what fills it up to the priority
# SoC. Unset: learned from the power and SoC sensors (``measure.CapacityLearner``, once its SoC
# moved 10 points one way). From the smallest balcony storage (0.5 kWh) to several stacked home
# batteries (200 kWh); empty, not 0, is "learned".
BATTERY_CAPACITY: Final = OptionalNumber(
    key="battery_capacity_kwh",
    section=Section.BATTERY,
    minimum=0.5,
    maximum=200,
    # Datasheets give two decimals (10.24 kWh, 3.55 kWh).
    step=0.01,
    unit="kWh",
)
BATTERY_ASSIST: Final = Toggle(
    key="battery_assist", section=Section.BATTERY, default=_BATTERY.allow_discharge_to_car
)
BATTERY_FLOOR_SOC: Final = Number(
    key="battery_floor_soc",
    section=Section.BATTERY,
    default=_BATTERY.floor_soc,
    minimum=0,
    maximum=100,
    unit="%",
    slider=True,
)
# Battery power the car may get with battery-assisted charging (only then: 0 W otherwise).
BATTERY_ASSIST_POWER: Final = Number(
    key="battery_assist_power_w",
    section=Section.BATTERY,
    default=BATTERY_ASSIST_DEFAULT_W,
    minimum=0,
    maximum=50000,
    step=100,
    unit="W",
)

# Advanced: stale inputs and write pacing.
STALE_FALLBACK: Final = Select[StaleFallback](
    key="stale_fallback",
    section=Section.ADVANCED,
    default=_CHARGER.stale_fallback,
    choices=tuple(StaleFallback),
)
# A site sensor older than this is stale (s). Unset: the controller's per-sensor ages.
STALE_AFTER: Final = OptionalNumber(
    key="stale_after_s", section=Section.ADVANCED, minimum=10, maximum=3600, unit="s"
)
# How long "last limit" holds before pausing (s).
STALE_GRACE: Final = Number(
    key="stale_grace_s",
    section=Section.ADVANCED,
    default=_CHARGER.stale_grace_s,
    minimum=0,
    maximum=86400,
    unit="s",
)
# Shortest time between two raises of a charger's limit (drops go out at once). 0: no minimum.
MIN_WRITE_INTERVAL: Final = Number(
    key="min_write_interval_s",
    section=Section.ADVANCED,
    default=_CHARGER.min_write_interval_s,
    minimum=0,
    maximum=3600,
    unit="s",
)

# In form order: the unsectioned ones first, then section by section.
OPTIONS: Final[tuple[Option[Any], ...]] = (
    EMS_ENABLED,
    GRID_POWER,
    GRID_CURRENT_L1,
    GRID_CURRENT_L2,
    GRID_CURRENT_L3,
    PRICE,
    PRICE_FORECAST_ATTRIBUTE,
    SESSION_PRICE,
    FEED_IN_PRICE_ENTITY,
    FEED_IN_PRICE,
    CHEAP_GRID_PRICE,
    FUSE,
    SITE_PHASES,
    VOLTAGE,
    PV_POWER,
    PV_AVAILABLE_POWER,
    ZERO_EXPORT,
    STOP_EARLY_IN_DIPS,
    MIN_SUN_SHARE,
    SHARE_SURPLUS,
    SOLAR_FORECAST,
    FORECAST_CONFIDENCE,
    HOUSE_LOAD,
    BATTERY_POWER,
    BATTERY_SOC,
    BATTERY_DISCHARGE_LIMIT,
    BATTERY_PRIORITY_SOC,
    BATTERY_MAX_CHARGE,
    BATTERY_CAPACITY,
    BATTERY_ASSIST,
    BATTERY_FLOOR_SOC,
    BATTERY_ASSIST_POWER,
    STALE_FALLBACK,
    STALE_AFTER,
    STALE_GRACE,
    MIN_WRITE_INTERVAL,
)
KEYS: Final = tuple(option.key for option in OPTIONS)
# The site sensors the energy manager follows (not the discharge limit: it only writes that one).
SENSOR_INPUTS: Final = tuple(
    option for option in OPTIONS if isinstance(option, EntityRef) and option.kind is Kind.SENSOR
)
GRID_CURRENTS: Final = (GRID_CURRENT_L1, GRID_CURRENT_L2, GRID_CURRENT_L3)
# The inputs read as a power (W, kW...).
POWER_INPUTS: Final = tuple(option for option in SENSOR_INPUTS if option.device_class == "power")
# The inputs that measure the site: each its own sensor (two prices may be one: a net-metering
# feed-in earns the import price).
MEASURED_INPUTS: Final = tuple(
    option for option in SENSOR_INPUTS if option.device_class != "monetary"
)


def section_options(section: Section | None) -> tuple[Option[Any], ...]:
    """The rows of one form section (None: the ones above the sections), in table order."""
    return tuple(option for option in OPTIONS if option.section is section)


# ----------------------------------------------------------------------------------- readers
def site_settings(options: Mapping[str, Any]) -> SiteSettings:
    """The controller's site settings from a server entry's options (defaults where unset)."""
    assist = BATTERY_ASSIST.read(options)
    capacity_kwh = BATTERY_CAPACITY.read(options)
    site = SiteSettings(
        voltage_v=VOLTAGE.read(options),
        fuse_a=FUSE.read(options),
        site_phases=SITE_PHASES.read(options),
        cheap_price=CHEAP_GRID_PRICE.read(options),
        solar=replace(
            _SOLAR,
            zero_export=ZERO_EXPORT.read(options),
            restart_cost_factor=(
                _SOLAR.restart_cost_factor if STOP_EARLY_IN_DIPS.read(options) else 0.0
            ),
            stagger_starts=not SHARE_SURPLUS.read(options),
            min_sun_share=MIN_SUN_SHARE.read(options) / 100.0,
        ),
        battery=replace(
            _BATTERY,
            priority_soc=BATTERY_PRIORITY_SOC.read(options),
            allow_discharge_to_car=assist,
            floor_soc=BATTERY_FLOOR_SOC.read(options),
            max_discharge_to_car_w=BATTERY_ASSIST_POWER.read(options) if assist else 0.0,
            max_charge_w=BATTERY_MAX_CHARGE.read(options),
            capacity_wh=None if capacity_kwh is None else capacity_kwh * 1000.0,
        ),
        plan=PlanSettings(
            forecast_confidence=FORECAST_CONFIDENCE.read(options) / 100.0,
            house_load_w=HOUSE_LOAD.read(options),
            feed_in_price=FEED_IN_PRICE.read(options),
        ),
    )
    if (age := STALE_AFTER.read(options)) is not None:
        site = replace(site, grid_max_age_s=age, pv_max_age_s=age, battery_max_age_s=age)
    return site


def driver_options(options: Mapping[str, Any]) -> EmsOptions:
    """The options the driver applies to every charger of the site."""
    return EmsOptions(
        stale_fallback=STALE_FALLBACK.read(options),
        stale_grace_s=STALE_GRACE.read(options),
        min_write_interval_s=MIN_WRITE_INTERVAL.read(options),
    )
