"""Meter values -> :class:`~.model.MeterState`, energy counters and session energy.

Parses OCPP 1.6 ``meterValue`` lists (as the ``ocpp`` package hands them to a handler: snake_case
keys, values as strings) into version-agnostic :class:`Reading` objects, then applies them to the
model. Real chargers send ``Wh`` or ``kWh``, numbers as strings, phase names with ``-N`` suffixes,
empty sample lists, readings out of order, and energy registers that reset or jump; none of that may
corrupt the lifetime total or shrink a running session's energy.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .model import Charger, Connector, PhaseValues, Transaction
from .timeutil import parse_timestamp, utcnow

_LOGGER = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
CURRENT_OFFERED = "Current.Offered"
VOLTAGE = "Voltage"
SOC = "SoC"
TEMPERATURE = "Temperature"

# Scale factors to the model's units (Wh, W, A, V, %).
_SCALE = {"wh": 1.0, "kwh": 1000.0, "w": 1.0, "kw": 1000.0, "a": 1.0, "v": 1.0, "percent": 1.0}
# A register increase faster than this (plus a slack) is a bogus jump, not energy: 400 kW covers DC.
_MAX_PLAUSIBLE_POWER_W = 400_000.0
_JUMP_SLACK_WH = 1000.0
_LINE_TO_LINE = frozenset({"L1-L2", "L2-L3", "L3-L1"})


@dataclass(kw_only=True)
class Reading:
    """Everything one ``meterValue`` entry (one timestamp) said, in model units."""

    timestamp: datetime
    context: str | None = None
    energy_register_wh: float | None = None
    power_w: float | None = None
    current_a: dict[str, float] = field(default_factory=dict)
    voltage_v: dict[str, float] = field(default_factory=dict)
    offered_current_a: float | None = None
    soc_percent: float | None = None
    temperature_c: float | None = None

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
        )


@dataclass(frozen=True, kw_only=True)
class _Sample:
    measurand: str
    value: float
    phase: str | None
    location: str | None


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
    reading = Reading(timestamp=parse_timestamp(entry.get("timestamp")))
    raw = entry.get("sampled_value", entry.get("sampledValue"))
    samples = [s for s in (_parse_sample(item) for item in raw or []) if s is not None]
    # Some chargers report both the grid inlet and the outlet: the outlet is what the car gets.
    if any(s.location != "Inlet" for s in samples):
        samples = [s for s in samples if s.location != "Inlet"]
    contexts = [item.get("context") for item in raw or [] if isinstance(item, dict)]
    reading.context = next((c for c in contexts if isinstance(c, str)), None)
    by_measurand: dict[str, list[_Sample]] = {}
    for sample in samples:
        by_measurand.setdefault(sample.measurand, []).append(sample)
    reading.energy_register_wh = _total(by_measurand.get(ENERGY_REGISTER, []))
    reading.power_w = _total(by_measurand.get(POWER, []))
    reading.current_a = _per_phase(by_measurand.get(CURRENT, []))
    reading.voltage_v = _voltages(by_measurand.get(VOLTAGE, []))
    offered = [s.value for s in by_measurand.get(CURRENT_OFFERED, [])]
    reading.offered_current_a = max(offered) if offered else None
    reading.soc_percent = _first(by_measurand.get(SOC, []))
    reading.temperature_c = _first(by_measurand.get(TEMPERATURE, []))
    return reading


def _parse_sample(item: Any) -> _Sample | None:
    if not isinstance(item, dict):
        return None
    measurand = item.get("measurand") or ENERGY_REGISTER
    if not isinstance(measurand, str):
        return None
    try:
        value = float(str(item.get("value")).strip())
    except ValueError:
        return None  # SignedData, empty strings, "NaN"-like garbage
    if not math.isfinite(value):
        return None
    unit = item.get("unit")
    scaled = _to_model_unit(measurand, value, unit if isinstance(unit, str) else None)
    if scaled is None:
        return None
    phase = item.get("phase") if isinstance(item.get("phase"), str) else None
    location = item.get("location") if isinstance(item.get("location"), str) else None
    return _Sample(measurand=measurand, value=scaled, phase=phase, location=location)


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
    return sum(phases.values()) if phases else None


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


# --- applying readings to the model -------------------------------------------------------------


def apply_reading(
    charger: Charger, connector_id: int, reading: Reading, transaction: Transaction | None
) -> bool:
    """Write ``reading`` into the connector (and transaction). False when it is older than what we
    have: replayed history (StopTransaction's transactionData) must not move state or energy back.
    """
    connector = charger.connector(connector_id)
    meter = connector.meter
    if meter.timestamp is not None and reading.timestamp < meter.timestamp:
        return False
    if reading.energy_register_wh is not None:
        apply_energy(charger, connector, reading.energy_register_wh, transaction, reading.timestamp)
    if reading.power_w is not None:
        meter.power_w = reading.power_w
    if reading.current_a:
        meter.current_a = _phase_values(reading.current_a)
    if reading.voltage_v:
        meter.voltage_v = _phase_values(reading.voltage_v)
    if reading.offered_current_a is not None:
        meter.offered_current_a = reading.offered_current_a
    if reading.soc_percent is not None:
        meter.soc_percent = reading.soc_percent
    if reading.temperature_c is not None:
        meter.temperature_c = reading.temperature_c
    meter.timestamp = reading.timestamp
    return True


def _phase_values(values: dict[str, float]) -> PhaseValues:
    phases = PhaseValues()
    for key, value in values.items():
        phases.set(key, value)
    return phases


def apply_energy(
    charger: Charger,
    connector: Connector,
    register_wh: float,
    transaction: Transaction | None,
    timestamp: datetime | None = None,
) -> None:
    """Feed one energy register value into the lifetime counter and the running session.

    A value older than the connector's latest reading (a late or replayed start/stop) is history:
    moving the register back to it would count the way up to the current value a second time."""
    when = timestamp or utcnow()
    latest = connector.meter.energy_timestamp
    if latest is not None and when < latest:
        return
    previous = connector.meter.energy_register_wh
    jump = _implausible_jump(previous, register_wh, connector.meter.timestamp, when)
    _feed_lifetime(charger, connector, register_wh, jump)
    if transaction is not None:
        _feed_transaction(transaction, register_wh, jump)
    connector.meter.energy_register_wh = register_wh
    if timestamp is not None:
        # The register is now as of ``timestamp``: replayed readings up to it are history.
        connector.meter.energy_timestamp = timestamp


def _implausible_jump(
    previous: float | None, register_wh: float, then: datetime | None, now: datetime
) -> bool:
    if previous is None or then is None or register_wh <= previous:
        return False
    hours = max((now - then).total_seconds(), 0.0) / 3600.0
    return register_wh - previous > _JUMP_SLACK_WH + hours * _MAX_PLAUSIBLE_POWER_W


def _feed_lifetime(charger: Charger, connector: Connector, register_wh: float, jump: bool) -> None:
    counter = charger.lifetime_energy
    if jump:
        # Re-baseline without counting the jump (EnergyCounter only guards against going backwards).
        _LOGGER.warning(
            "%s: energy register jumped to %.0f Wh; not counted", charger.charger_id, register_wh
        )
        if counter.last_register_wh is not None:
            counter.last_register_wh = register_wh
        return
    main = charger.connectors.get(0)
    main_meter = main is not None and main.meter.energy_register_wh is not None
    if connector.connector_id == 0:
        counter.update(register_wh)  # a whole-charger meter: the charger's total
        return
    if main_meter:
        return  # the whole-charger meter already counts every outlet
    if len(charger.outlets) <= 1:
        counter.update(register_wh)  # the only outlet: its register is the charger's total
        return
    # Several outlets with their own meters: add each outlet's increments.
    previous = connector.meter.energy_register_wh
    if previous is not None and register_wh > previous:
        counter.total_wh += register_wh - previous


def _feed_transaction(transaction: Transaction, register_wh: float, jump: bool) -> None:
    if register_wh < transaction.meter_last_wh or jump:
        # Register reset / jump mid-session: keep the energy so far and continue from the new value.
        energy = transaction.energy_wh
        transaction.meter_start_wh = register_wh - energy
    transaction.meter_last_wh = register_wh


def clear_flow(connector: Connector) -> None:
    """After a session ends no power flows (many chargers stop reporting it outside a session)."""
    meter = connector.meter
    if meter.power_w is not None:
        meter.power_w = 0.0
    meter.current_a = _phase_values(dict.fromkeys(_present_phases(meter.current_a), 0.0))


def _present_phases(values: PhaseValues) -> list[str]:
    return [key for key in ("l1", "l2", "l3") if getattr(values, key) is not None]
