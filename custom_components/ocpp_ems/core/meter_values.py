"""What a MeterValues message says: ``meterValue`` lists of every OCPP version parsed into
version-agnostic :class:`Reading` objects, in the model's units.

1.6 sends values as strings, a ``unit``, signed data as a ``SignedData`` value; 2.x values as
numbers, ``unitOfMeasure {unit, multiplier}``, ``signedMeterValue``; either with camelCase or
snake_case keys. Real chargers send ``Wh`` or ``kWh``, numbers as strings, phase names with ``-N``
suffixes and empty sample lists: none of that raises. What a reading does to the model is
:mod:`.meter`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .numbers import parse_number
from .timeutil import parse_future_timestamp, utcnow

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
CURRENT_OFFERED = "Current.Offered"
VOLTAGE = "Voltage"
SOC = "SoC"
TEMPERATURE = "Temperature"

# Scale factors to the model's units (Wh, W, A, V, %).
_SCALE = {"wh": 1.0, "kwh": 1000.0, "w": 1.0, "kw": 1000.0, "a": 1.0, "v": 1.0, "percent": 1.0}
_LINE_TO_LINE = frozenset({"L1-L2", "L2-L3", "L3-L1"})


@dataclass(kw_only=True)
class Reading:
    """Everything one ``meterValue`` entry (one timestamp) said, in model units."""

    timestamp: datetime
    context: str | None = None
    energy_register_wh: float | None = None
    # The register was sent without a unit (1.6: Wh by default; some chargers mean kWh).
    energy_unit_missing: bool = False
    power_w: float | None = None
    current_a: dict[str, float] = field(default_factory=dict)
    voltage_v: dict[str, float] = field(default_factory=dict)
    offered_current_a: float | None = None
    soc_percent: float | None = None
    temperature_c: float | None = None
    # Signed meter data of the energy register, exactly as the charger sent it (2.x: the
    # ``signedMeterValue`` object; 1.6: the value of a ``SignedData`` sample).
    signed: Any = None

    @property
    def empty(self) -> bool:
        return not (
            self.energy_register_wh is not None
            or self.power_w is not None
            or self.current_a
            or self.voltage_v
            or self.offered_current_a is not None
            or self.soc_percent is not None
            or self.temperature_c is not None
            or self.signed is not None
        )


@dataclass(frozen=True, kw_only=True)
class _Sample:
    measurand: str
    value: float
    phase: str | None
    location: str | None
    unit_given: bool = True


def parse_meter_values(meter_value: Any) -> list[Reading]:
    """One :class:`Reading` per usable entry, oldest first. Never raises on bad input."""
    if not isinstance(meter_value, list):
        return []
    readings = []
    for entry in meter_value:
        if not isinstance(entry, dict):
            continue
        reading = _parse_entry(entry)
        if not reading.empty:
            readings.append(reading)
    readings.sort(key=lambda r: r.timestamp)
    return readings


def _parse_entry(entry: dict[str, Any]) -> Reading:
    # A time far ahead is kept: effective_time tells a clock ahead (and the user) by it.
    reading = Reading(timestamp=parse_future_timestamp(entry.get("timestamp")) or utcnow())
    raw = entry.get("sampled_value", entry.get("sampledValue"))
    samples = [s for s in (_parse_sample(item) for item in raw or []) if s is not None]
    contexts = [item.get("context") for item in raw or [] if isinstance(item, dict)]
    reading.context = next((c for c in contexts if isinstance(c, str)), None)
    by_measurand: dict[str, list[_Sample]] = {}
    for sample in samples:
        by_measurand.setdefault(sample.measurand, []).append(sample)
    for measurand, of_measurand in by_measurand.items():
        # Some chargers report both the grid inlet and the outlet: the outlet is what the car
        # gets. A measurand metered only at the inlet (a supply-side meter) is still read.
        if any(s.location != "Inlet" for s in of_measurand):
            by_measurand[measurand] = [s for s in of_measurand if s.location != "Inlet"]
    energy_samples = by_measurand.get(ENERGY_REGISTER, [])
    reading.energy_register_wh = _total(energy_samples)
    reading.energy_unit_missing = any(not s.unit_given for s in energy_samples)
    reading.power_w = _total(by_measurand.get(POWER, []))
    reading.current_a = _per_phase(by_measurand.get(CURRENT, []))
    reading.voltage_v = _voltages(by_measurand.get(VOLTAGE, []))
    offered = [s.value for s in by_measurand.get(CURRENT_OFFERED, [])]
    reading.offered_current_a = max(offered) if offered else None
    reading.soc_percent = _first(by_measurand.get(SOC, []))
    reading.temperature_c = _first(by_measurand.get(TEMPERATURE, []))
    reading.signed = next(
        (s for s in (_signed(item) for item in raw or [] if isinstance(item, dict)) if s), None
    )
    return reading


def _signed(item: dict[str, Any]) -> Any:
    """The signed data of an energy register sample, as sent (None: it has none)."""
    if (item.get("measurand") or ENERGY_REGISTER) != ENERGY_REGISTER:
        return None
    signed = item.get("signedMeterValue", item.get("signed_meter_value"))
    if signed is not None:
        return signed
    return item.get("value") if item.get("format") == "SignedData" else None


def _parse_sample(item: Any) -> _Sample | None:
    if not isinstance(item, dict):
        return None
    measurand = item.get("measurand") or ENERGY_REGISTER
    if not isinstance(measurand, str):
        return None
    value = parse_number(item.get("value"))
    if value is None:
        return None  # SignedData, empty strings, "NaN"-like garbage
    unit = item.get("unit")
    of_measure = item.get("unitOfMeasure", item.get("unit_of_measure"))
    if isinstance(of_measure, dict):  # 2.x: {unit, multiplier}, value x 10^multiplier
        unit = of_measure.get("unit")
        multiplier = of_measure.get("multiplier", 0)
        if type(multiplier) is not int or not -9 <= multiplier <= 9:
            return None
        value *= 10.0**multiplier
    scaled = _to_model_unit(measurand, value, unit if isinstance(unit, str) else None)
    if scaled is None or not math.isfinite(scaled):
        return None  # 1.7e308 kWh: finite as sent, not once scaled (never stored as inf)
    phase = item.get("phase") if isinstance(item.get("phase"), str) else None
    location = item.get("location") if isinstance(item.get("location"), str) else None
    return _Sample(
        measurand=measurand,
        value=scaled,
        phase=phase,
        location=location,
        unit_given=isinstance(unit, str),
    )


def _to_model_unit(measurand: str, value: float, unit: str | None) -> float | None:
    if measurand == TEMPERATURE:
        key = (unit or "Celsius").lower()
        if key in ("celsius", "celcius"):
            return value
        if key == "fahrenheit":
            return (value - 32.0) * 5.0 / 9.0
        if key == "k":
            return value - 273.15
        return None
    if unit is None:
        return value  # every 1.6 default unit (Wh, W, A, V, Percent) is already the model's
    scale = _SCALE.get(unit.lower())
    if scale is None:
        return None  # varh, kVA, ... for a measurand we read: not comparable, drop it
    return value * scale


def _total(samples: list[_Sample]) -> float | None:
    """The whole-connector value: the phase-less sample, else the sum of the phase samples."""
    for sample in samples:
        if sample.phase is None:
            return sample.value
    phases = _per_phase(samples)
    total = sum(phases.values())
    return total if phases and math.isfinite(total) else None


def _per_phase(samples: list[_Sample]) -> dict[str, float]:
    values: dict[str, float] = {}
    for sample in samples:
        key = _phase_key(sample.phase)
        if key is not None:
            values[key] = sample.value
    return values


def _voltages(samples: list[_Sample]) -> dict[str, float]:
    """Phase-to-neutral voltages; line-to-line ones (L1-L2) only fill phases not reported as L-N."""
    values = _per_phase([s for s in samples if s.phase not in _LINE_TO_LINE])
    for sample in samples:
        if sample.phase in _LINE_TO_LINE:
            key = _phase_key(sample.phase)
            if key is not None and key not in values:
                values[key] = sample.value / math.sqrt(3.0)
    return values


def _phase_key(phase: str | None) -> str | None:
    key = (phase or "L1").split("-")[0].upper()
    return key if key in ("L1", "L2", "L3") else None


def _first(samples: list[_Sample]) -> float | None:
    return samples[0].value if samples else None


def last_register_wh(readings: Sequence[Reading]) -> float | None:
    """The energy register of the newest reading that has one (None: none has)."""
    return next(
        (r.energy_register_wh for r in reversed(readings) if r.energy_register_wh is not None),
        None,
    )
