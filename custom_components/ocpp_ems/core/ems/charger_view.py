"""One charger's EMS settings as the user chose them, and its session's energy split (persisted).

Entities and actions read and change a :class:`ChargerView`; the driver turns it into the
controller's :class:`~.config.ChargerSettings` (``charger_config.py``). ``to_dict`` / ``from_dict``
are its stored form: plain JSON values, and anything unreadable falls back to the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any, Final

from custom_components.ocpp_ems.core.numbers import finite_number

from .energy_split import GRID_ONLY, EnergyMix, SessionSplit
from .types import Mode

_OPTIONAL_NUMBERS = (
    "min_current_a",
    "max_current_a",
    "target_energy_kwh",
    "plan_energy_kwh",
    "plan_soc",
    "vehicle_capacity_kwh",
)
_ENERGIES = ("solar_wh", "battery_wh", "grid_wh", "attributed_wh")
# The largest car battery the capacity number and the plan_charge action take (kWh).
VEHICLE_CAPACITY_MAX_KWH: Final = 500


@dataclass(kw_only=True)
class ChargerView:
    """One charger's EMS settings chosen by the user and its session's energy split (persisted)."""

    mode: Mode = Mode.SOLAR
    min_current_a: float | None = None  # None: the charger's minimum
    max_current_a: float | None = None  # None: the installation maximum
    target_energy_kwh: float | None = None
    departure_time: time | None = None  # daily departure (local time) for the target energy
    # A one-off plan (action plan_charge): a departure date and an energy or SoC target.
    plan_departure: datetime | None = None
    plan_energy_kwh: float | None = None
    plan_soc: float | None = None
    vehicle_capacity_kwh: float | None = None
    priority: int = 0  # who gets the surplus and the fuse first (``ChargerSettings.priority``)
    # Full power until then (action boost_now), whatever the mode but Off and Manual.
    boost_until: datetime | None = None
    # The session's energy by source (Wh) and what it was last attributed up to.
    transaction_id: str | None = None
    solar_wh: float = 0.0
    battery_wh: float = 0.0
    grid_wh: float = 0.0
    attributed_wh: float = 0.0
    mix: EnergyMix = field(default=GRID_ONLY)
    # Not stored: True once the split was brought up to the charger's settled energy since the
    # start (a restored split may be up to the save delay behind what was shown before a crash).
    settled: bool = False

    @property
    def known_vehicle_capacity_kwh(self) -> float | None:
        """The car's usable battery, None while not set (0 or less is the capacity number's
        "not set"): the one place that says so for the plans, Solar mode and the actions."""
        capacity = self.vehicle_capacity_kwh
        return capacity if capacity is not None and capacity > 0.0 else None

    @property
    def split(self) -> SessionSplit:
        """The session's energy split (``energy_split.split_session`` moves it on)."""
        return SessionSplit(
            transaction_id=self.transaction_id,
            solar_wh=self.solar_wh,
            battery_wh=self.battery_wh,
            grid_wh=self.grid_wh,
            attributed_wh=self.attributed_wh,
            mix=self.mix,
        )

    @split.setter
    def split(self, split: SessionSplit) -> None:
        self.transaction_id = split.transaction_id
        self.solar_wh = split.solar_wh
        self.battery_wh = split.battery_wh
        self.grid_wh = split.grid_wh
        self.attributed_wh = split.attributed_wh
        self.mix = split.mix

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": str(self.mode),
            "min_current_a": self.min_current_a,
            "max_current_a": self.max_current_a,
            "target_energy_kwh": self.target_energy_kwh,
            "departure_time": None
            if self.departure_time is None
            else self.departure_time.isoformat(),
            "plan_departure": None
            if self.plan_departure is None
            else self.plan_departure.isoformat(),
            "plan_energy_kwh": self.plan_energy_kwh,
            "plan_soc": self.plan_soc,
            "vehicle_capacity_kwh": self.vehicle_capacity_kwh,
            "priority": self.priority,
            "boost_until": None if self.boost_until is None else self.boost_until.isoformat(),
            "transaction_id": self.transaction_id,
            "solar_wh": self.solar_wh,
            "battery_wh": self.battery_wh,
            "grid_wh": self.grid_wh,
            "attributed_wh": self.attributed_wh,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChargerView:
        """Stored data back; anything unreadable falls back to the default."""
        view = cls()
        with suppress(ValueError, TypeError):
            view.mode = Mode(data.get("mode", view.mode))
        for key in _OPTIONAL_NUMBERS:
            setattr(view, key, finite_number(data.get(key)))
        for key in _ENERGIES:
            setattr(view, key, finite_number(data.get(key)) or 0.0)
        priority = finite_number(data.get("priority"))
        view.priority = 0 if priority is None else round(priority)
        view.departure_time = _time(data.get("departure_time"))
        view.plan_departure = _datetime(data.get("plan_departure"))
        view.boost_until = _datetime(data.get("boost_until"))
        transaction = data.get("transaction_id")
        view.transaction_id = str(transaction) if transaction is not None else None
        return view


def _time(value: Any) -> time | None:
    if not isinstance(value, str):
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        return None


def _datetime(value: Any) -> datetime | None:
    """An aware datetime; a stored one without a zone is UTC (plans are stored in UTC)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
