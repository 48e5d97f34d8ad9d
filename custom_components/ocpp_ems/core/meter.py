"""Meter values -> :class:`~.model.MeterState`, energy counters and session energy.

Parses ``meterValue`` lists of every OCPP version into version-agnostic :class:`Reading` objects,
then applies them to the model: 1.6 (values as strings, ``unit``, signed data as a ``SignedData``
value) and 2.x (values as numbers, ``unitOfMeasure {unit, multiplier}``, ``signedMeterValue``), with
camelCase or snake_case keys. Real chargers send ``Wh`` or ``kWh``, numbers as strings, phase names with ``-N`` suffixes,
empty sample lists, readings out of order, and energy registers that reset or jump; none of that may
corrupt the lifetime total or shrink a running session's energy.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from . import meter_life_before as life_before  # by module: it imports this one in turn
from .model import (
    Charger,
    Connector,
    ConnectorStatus,
    MeterState,
    PhaseValues,
    RegisterPoint,
    Transaction,
)
from .numbers import parse_number
from .settings import ChargerSettings
from .timeutil import (
    CLOCK_OFFSET_TOLERANCE_S,
    clock_offset_s,
    offsets_agree,
    parse_future_timestamp,
    utcnow,
)

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


# --- applying readings to the model -------------------------------------------------------------
#
# Energy is physically plausible or it is not counted. Every constant of the rules is here.
#
# The fastest a charger can add energy: its installation maximum on every phase of its supply at
# the highest voltage the grid standard allows (EN 50160 / IEC 60038: 230 V + 10 %), with a slack
# for meter class errors (<= 2 %), chargers overshooting a limit for a few seconds before they
# settle, and breakers that carry 1.13x their rating for an hour.
MAX_PHASE_VOLTAGE_V = 253.0
POWER_SLACK = 1.25
# What a register may exceed that bound by, once (a token bucket that refills at the maximum power
# but never holds more than this): registers in 0.1 kWh steps, rounding. Smaller than the single
# outliers real chargers send (hundreds of Wh), which therefore wait for confirmation.
ENERGY_TOLERANCE_WH = 250.0
# A charger timestamp further ahead of our clock than this is a wrong clock, not a time: the
# reading counts as of when we received it, and the charger model says so (``clock_skew_s``).
MAX_CLOCK_AHEAD_S = 300.0
# A charger clock further behind ours than this, as its live readings show, is wrong too: the
# energy manager (charger_max_age_s 180 s, readings up to a minute apart) would take them for
# stale. Its times still count for energy (older times never make an allowance); the charger
# model says so (``clock_skew_s`` < 0).
MAX_CLOCK_BEHIND_S = 60.0
# The oldest a charger's offline queue may be (a start older than the running transaction is a
# late offline session up to this age): a start or reading stamped further behind the time
# we got it comes from a clock that restarted at some old date (its firmware's build date).
MAX_PAST_SESSION_AGE = timedelta(days=7)


def max_power_w(settings: ChargerSettings) -> float:
    """The most power (W) a charger with these settings can deliver, with :data:`POWER_SLACK`."""
    return settings.installation_max_a * max(settings.phases, 1) * MAX_PHASE_VOLTAGE_V * POWER_SLACK


_DEFAULT_MAX_POWER_W = max_power_w(ChargerSettings())


def effective_time(charger: Charger, timestamp: datetime, received: datetime) -> datetime:
    """The time a charger's ``timestamp`` stands for (:func:`_time_of`); a clock more than
    :data:`MAX_CLOCK_AHEAD_S` ahead is recorded in ``charger.clock_skew_s``, and cleared by the
    next timestamp that is not."""
    ahead = clock_offset_s(timestamp, received)
    if too_far_ahead(timestamp, received):
        if charger.clock_skew_s is None or charger.clock_skew_s < 0:
            _LOGGER.warning(
                "%s: charger clock is %.0f s ahead; using the time readings arrive",
                charger.charger_id,
                ahead,
            )
        charger.clock_skew_s = round(ahead)
    elif charger.clock_skew_s is not None and charger.clock_skew_s > 0:
        charger.clock_skew_s = None
    return _time_of(timestamp, received)


def _time_of(timestamp: datetime, received: datetime) -> datetime:
    """The time a charger's ``timestamp`` received at ``received`` stands for: itself, or
    ``received`` when it lies too far ahead (:func:`too_far_ahead`)."""
    return received if too_far_ahead(timestamp, received) else timestamp


def too_far_ahead(stamp: datetime, received: datetime) -> bool:
    """Whether a charger's ``stamp``, received at ``received``, lies more than
    :data:`MAX_CLOCK_AHEAD_S` ahead of our clock: a wrong clock, not a time."""
    return clock_offset_s(stamp, received) > MAX_CLOCK_AHEAD_S


def _follow_clock(charger: Charger, timestamp: datetime, received: datetime) -> float | None:
    """Note what a reading stamped ``timestamp`` (not taken before the register:
    :func:`_apply_register`) shows of the charger's clock: ahead (:func:`effective_time`), behind
    (:func:`_follow_live_clock`, whose offset it returns)."""
    effective_time(charger, timestamp, received)
    return _follow_live_clock(charger, timestamp, received)


def _follow_live_clock(charger: Charger, timestamp: datetime, received: datetime) -> float | None:
    """Record a clock more than :data:`MAX_CLOCK_BEHIND_S` behind (``charger.clock_skew_s`` < 0),
    or clear it, once the charger's live readings agree on its offset (``LiveClockOffset``: a
    reading re-sent after a reconnect is legitimately old). A clock ahead is
    :func:`effective_time`'s. Returns the offset (s) this reading confirmed (None: none)."""
    offset = charger._live_clock.observe(timestamp, received)
    if offset is not None:
        _record_clock_behind(charger, offset)
    return offset


def _record_clock_behind(charger: Charger, offset: float) -> None:
    """Set or clear ``charger.clock_skew_s`` by the confirmed ``offset`` of its live clock."""
    skew = charger.clock_skew_s
    if skew is not None and skew > 0:
        return
    if offset >= -MAX_CLOCK_BEHIND_S:
        charger.clock_skew_s = None
        return
    if skew is None:
        _LOGGER.warning(
            "%s: charger clock is %.0f s behind; the energy manager takes its readings as of "
            "when they arrive",
            charger.charger_id,
            -offset,
        )
    charger.clock_skew_s = round(offset)


def apply_reading(
    charger: Charger,
    connector_id: int,
    reading: Reading,
    transaction: Transaction | None,
    *,
    max_power: float | None = None,
    received: datetime | None = None,
    live: bool = False,
) -> bool:
    """Write ``reading`` into the connector (and its energy into the transaction). False when it
    changed nothing: replayed history (StopTransaction's transactionData) must not move state or
    energy back. ``received``: when we got it (default now); ``max_power``: see :func:`max_power_w`;
    ``live``: the charger sent it as taken now (a 2.x TransactionEvent not flagged offline), so
    in its register's present life whatever its stamp
    (:func:`~.meter_life_before.of_life_before`).
    """
    connector = charger.connector(connector_id)
    meter = connector.meter
    got = reception(received)
    at = got[0]
    apply_register = partial(
        _apply_register,
        charger,
        connector,
        reading,
        transaction,
        max_power=max_power,
        received=received,
    )
    applied = apply_register(live=live)
    live_offset = None if applied.taken_before else _follow_clock(charger, reading.timestamp, at)
    if live_offset is not None and applied.base_wh is not None:
        # The base itself confirmed it: received live (unless across our answer: settled_s).
        meter._energy_live_offset_s = charger._live_clock.settled_s
    if applied.before_reset and _on_live_clock(reading.timestamp, at, live_offset):
        # Taken now, so in the register's new life: the charger's clock went back since.
        applied = apply_register(live=True)
    changed, base_wh = applied.changed, applied.base_wh
    # A register the meter took for history (False although it has one), or a time before the
    # values shown: its power etc. are history too.
    register_history = reading.energy_register_wh is not None and not changed
    older = register_history or _before_shown(meter, reading, got, live_offset, base_wh)
    if (
        reading.signed is not None
        and transaction is not None
        and transaction.connector_id == connector_id
    ):
        _keep_signed(transaction, reading, late=older)
    if older:
        return changed  # older than what the connector shows: its power etc. are history
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
    if reading.signed is not None:
        meter.signed_meter_value = reading.signed
    meter._previous_shown = _shown(meter)
    meter._shown_register_wh = base_wh
    when = _time_of(reading.timestamp, at)
    meter.timestamp = when
    meter._charger_stamp = _replaced_stamp(reading.timestamp, when)
    meter._received_at, meter._received_monotonic = got
    return True


def _before_shown(
    meter: MeterState,
    reading: Reading,
    got: tuple[datetime, float | None],
    live_offset: float | None,
    base_wh: float | None,
) -> bool:
    """Whether ``reading`` (received ``got``) was taken before the values the connector shows: the
    charger stamped it before them, as :func:`later_s` compares its own stamps (also those
    :func:`effective_time` replaced: one clock stamped them all), unless its register, the
    connector's base now (``base_wh``), proves it taken after them (:func:`_register_proves_after`:
    the first live reading after the charger's clock went back is shown at once). Stamped after
    the values shown before them (or none were), it is an offline queue flushed after a live
    reading. Stamped before both, it is live only as the charger's clock that went back (local
    time at the end of summer time, an NTP correction) and stays back: its own offset off our
    clock is the one its live readings confirmed with it (``live_offset``,
    :func:`_follow_live_clock`). Else it is a queue flushed after two or more live readings, whose
    values must not replace theirs."""
    shown = _shown(meter)
    if shown is None or later_s(*shown, reading.timestamp, got) >= 0.0:
        return False
    if _register_proves_after(meter, reading.timestamp, base_wh):
        return False
    previous = meter._previous_shown
    if previous is None or later_s(*previous, reading.timestamp, got) > 0.0:
        return True
    return not _on_live_clock(reading.timestamp, got[0], live_offset)


def _register_proves_after(meter: MeterState, stamp: datetime, base_wh: float | None) -> bool:
    """Whether a reading stamped ``stamp`` whose register became the connector's base at
    ``base_wh`` (None: it had none, or an implausible one) was taken after the values shown,
    whatever its stamp: a register only counts up, so one that rose past the register read with
    them (:func:`_rose_past`) was read after it. Not across a reset of the register: a reading
    stamped up to its new life's first value may be one of its life before."""
    shown_wh = meter._shown_register_wh
    return (
        base_wh is not None
        and shown_wh is not None
        and _rose_past(base_wh, shown_wh)
        and not life_before.stamped_before_reset(meter, stamp)
    )


def _on_live_clock(stamp: datetime, received: datetime, live_offset: float | None) -> bool:
    """Whether ``stamp``, received ``received``, lies on the charger's live clock: its own offset
    agrees with ``live_offset`` (None: none confirmed)."""
    return live_offset is not None and offsets_agree(clock_offset_s(stamp, received), live_offset)


def _shown(meter: MeterState) -> tuple[datetime, Reception] | None:
    """The charger's own stamp of the values shown, and when we got them (None: none shown)."""
    shown = shown_reading(meter)
    return None if shown is None else (shown.stamp or shown.time, shown.got)


def _sent_before_clock_went_back(
    meter: MeterState, timestamp: datetime, register_wh: float
) -> bool:
    """Whether ``register_wh`` (in Wh), stamped ``timestamp``, is one the connector's register
    gave before the charger's clock went back (:func:`count_from`), sent again (an offline queue
    kept through the reboot): below the register read then (not a coarser register's lag of it:
    the next session's first readings), and stamped up to then by the charger. Counted then;
    stamped after the base's time now, a rise of those would be taken for a register reset and
    counted again."""
    history = meter._history_before_clock_back
    return (
        history is not None
        and register_wh < history.register_wh
        and not _lags(register_wh, history.register_wh)
        and timestamp <= charger_time(history)
    )


# The steps a register counts in (Wh): whole kWh, 0.1 kWh, 0.01 kWh (else whole Wh or finer).
_REGISTER_STEPS_WH = (1000, 100, 10)


def _register_step_wh(register_wh: float) -> int:
    """The step of the register that gave ``register_wh``, as its value shows (5,400 Wh: 0.1 kWh).
    A finer register that happens to read a round value passes for a coarse one."""
    rounded = round(register_wh)
    return next((coarse for coarse in _REGISTER_STEPS_WH if rounded % coarse == 0), 1)


def _lags(register_wh: float, mark_wh: float) -> bool:
    """Whether ``register_wh`` lies below ``mark_wh`` by less than a step of the register that gave
    it (:func:`_register_step_wh`): the same energy, cut or rounded by a coarser register than the
    one that read ``mark_wh`` (a meterStart in Wh), never a reset."""
    return mark_wh - _register_step_wh(register_wh) < register_wh < mark_wh


def _rose_past(register_wh: float, mark_wh: float) -> bool:
    """Whether ``register_wh`` lies above ``mark_wh`` by a step of the register that gave it at
    least (:func:`_register_step_wh`): more energy, not the same rounded up by a coarser register
    (nor an unchanged one)."""
    return register_wh - mark_wh >= _register_step_wh(register_wh)


# A register value without a unit that is this many times below the base, while x 1000 it would
# be a plausible next value (from one kWh below the base: registers in whole kWh), is kWh: a
# 1.6 charger that leaves out ``unit="kWh"`` (its meterStart, in Wh by the spec, sets the base).
_UNITLESS_KWH_RATIO = 100.0
_KWH_WH = 1000.0


def apply_reading_energy(
    charger: Charger,
    connector: Connector,
    reading: Reading,
    transaction: Transaction | None,
    *,
    max_power: float | None = None,
    received: datetime | None = None,
) -> bool:
    """Feed the energy register of ``reading`` (if it has one) into :func:`apply_energy`, in the
    unit :func:`_register_wh` settles: every reading's register passes here, live or late (re-sent
    after its session ended). False when it had none or it was history."""
    return _apply_register(
        charger, connector, reading, transaction, max_power=max_power, received=received
    ).changed


class _RegisterApplied(NamedTuple):
    """What a reading's register did (:func:`_apply_register`)."""

    changed: bool  # it changed something (False: none, or history)
    taken_before: bool  # it shows the reading was taken before the connector's register
    base_wh: float | None  # the register (Wh) when it is the connector's base now
    # Not applied: it may be of the register's life before its reset
    # (:func:`~.meter_life_before.of_life_before`).
    before_reset: bool = False


def _apply_register(
    charger: Charger,
    connector: Connector,
    reading: Reading,
    transaction: Transaction | None,
    *,
    max_power: float | None,
    received: datetime | None,
    live: bool = False,
) -> _RegisterApplied:
    """:func:`apply_reading_energy`'s work: whether the register of ``reading`` changed anything,
    whether it shows the reading was taken before the connector's register (history below it, or
    given before the charger's clock went back: :func:`_sent_before_clock_went_back`), and the
    register in Wh when it became the connector's base (taken, not a candidate). A reading taken
    before shows the charger's clock as it was, not as it is: only the others note a clock ahead
    (:func:`effective_time`). History at the register (unchanged, stamped before it: a charger's
    clock that went back while no energy flowed) may be either. ``live``: the reading was taken
    in the register's present life (sent as taken now, or on the charger's live clock)."""
    register_wh = _register_wh(
        charger, connector, reading, transaction, max_power=max_power, received=received
    )
    if register_wh is None:
        return _RegisterApplied(changed=False, taken_before=False, base_wh=None)
    if _sent_before_clock_went_back(connector.meter, reading.timestamp, register_wh):
        return _RegisterApplied(changed=False, taken_before=True, base_wh=None)
    base = _base(charger, connector, transaction)
    point = _point(charger, register_wh, reading.timestamp, received)
    if not live and life_before.of_life_before(connector.meter, base, point):
        life_before.hold_life_before(connector.meter, point, _own(connector, transaction))
        return _RegisterApplied(changed=False, taken_before=False, base_wh=None, before_reset=True)
    changed = _apply_point(charger, connector, point, transaction, max_power=max_power)
    taken_before = not changed and base is not None and register_wh < base.register_wh
    if not taken_before:
        assert point.received_at is not None
        effective_time(charger, reading.timestamp, point.received_at)
    taken = changed and connector.meter.energy_candidate is None
    return _RegisterApplied(changed, taken_before, register_wh if taken else None)


def _own(connector: Connector, transaction: Transaction | None) -> Transaction | None:
    """``transaction`` when it is ``connector``'s: another connector's register (connector 0:
    the whole charger) is never that transaction's energy."""
    if transaction is not None and transaction.connector_id != connector.connector_id:
        return None
    return transaction


def _register_wh(
    charger: Charger,
    connector: Connector,
    reading: Reading,
    transaction: Transaction | None,
    *,
    max_power: float | None,
    received: datetime | None,
) -> float | None:
    """The energy register of ``reading`` in Wh: as parsed, or read as kWh when it was sent
    without a unit and only kWh makes it a plausible next value (else a 10 kWh session counted as
    10 Wh, the rest taken for a register reset; a Wh register that happens to fit gains no more
    than any plausible value may). Logged once per charger (``Charger.first_warning``)."""
    value = reading.energy_register_wh
    if value is None or not reading.energy_unit_missing:
        return value
    base = _base(charger, connector, transaction)
    if base is None or value * _UNITLESS_KWH_RATIO > base.register_wh:
        return value
    point = _point(charger, value, reading.timestamp, received)  # no clock state moves
    power = _DEFAULT_MAX_POWER_W if max_power is None else max_power
    allowance = rise_allowance(
        power,
        connector.meter.energy_slack_wh,
        base,
        point,
        live_offset_s=charger._live_clock.confirmed_s,
    )
    as_wh = value * _KWH_WH
    if not base.register_wh - _KWH_WH <= as_wh <= base.register_wh + allowance:
        return value  # a real reset, or no fit: the usual rules judge it
    if charger.first_warning("unitless kWh register"):
        _LOGGER.warning(
            "%s: energy register %s sent without a unit is %.0f Wh only as kWh (last %.0f Wh); "
            "reading it as kWh. Configure the charger to send unit kWh or Wh",
            charger.charger_id,
            value,
            as_wh,
            base.register_wh,
        )
    # A coarse register lags the base (a meterStart in Wh) by up to a step, a whole kWh at most:
    # no rise yet, never a reset.
    return base.register_wh if _lags(as_wh, base.register_wh) else as_wh


def _keep_signed(transaction: Transaction, reading: Reading, *, late: bool) -> None:
    """Signed data of the session: its first, and its latest (by the charger's context; a
    ``late`` reading, older than the connector's newest, is not the latest unless it ends the
    session)."""
    if transaction.signed_start is None or reading.context == "Transaction.Begin":
        transaction.signed_start = reading.signed
    if reading.context == "Transaction.End" or (
        reading.context != "Transaction.Begin" and not (late and transaction.signed_end is not None)
    ):
        transaction.signed_end = reading.signed


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
    *,
    max_power: float | None = None,
    received: datetime | None = None,
) -> bool:
    """Feed one energy register value of ``connector`` (a reading, a start, a stop) into the
    lifetime counter and ``transaction``. Returns False when it was history (ignored).

    The rules (version-agnostic; every increment of lifetime or session energy passes them):

    - A value is *plausible* when it rose from the connector's last plausible value by no more
      than ``max_power`` x the time between them, plus what is left of
      :data:`ENERGY_TOLERANCE_WH`. Plausible values count.
    - Anything else (lower: a reset or a low outlier; higher: a jump or a high outlier) counts
      nothing and becomes the connector's *candidate*. When the next value is plausible from the
      candidate, the reset / jump is confirmed: the step itself is not energy, the rise after it
      counts (bounded like any increment) and the value becomes the new base. A single outlier is
      forgotten once a plausible value follows.
    - While our clock reads behind the connector's restored register (it went back over a
      restart), a rise is dated by the charger's own stamps (:func:`_since_base`), and one the
      charger's own clock explains is held, never confirmed as a jump: the base keeps its time
      until our clocks cover the rise (:func:`held_for_our_clock`); a session that ends
      meanwhile is owed it (:mod:`.meter_held_end`).
    - An unchanged value keeps the base's time: the bound grows while a register in coarse steps
      waits for its next step.
    - A value equal to a reading held as maybe the register's life before, register and stamp
      (a stop the charger sends late after the reset with that life's values), is that reading
      sent again (:func:`~.meter_life_before.is_held`): ignored, neither a rise nor an end that
      settles the hold.
    - A value older than the base (:func:`time_since`: our own clock set back is no age) is
      history (a replay) unless plausible from the base: ignored, never a candidate (after a
      confirmed reset, the register's replayed previous life would otherwise confirm itself as a
      jump and count again).
    - Timestamps too far ahead are clock skew (:func:`effective_time`); elapsed time is the
      largest of the charger's and our own clocks, so a wrong clock never drops energy; the
      charger's counts from a :func:`believable_stamp` time only, so a wrong clock never makes an
      allowance either.
    - Only the transaction's own connector credits it; the lifetime counts the whole-charger meter
      (connector 0) when there is one, else the outlets.
    """
    point = _received_point(charger, register_wh, timestamp, received)
    return _apply_point(charger, connector, point, transaction, max_power=max_power)


def _apply_point(
    charger: Charger,
    connector: Connector,
    point: RegisterPoint,
    transaction: Transaction | None,
    *,
    max_power: float | None,
) -> bool:
    """:func:`apply_energy`'s rules for ``point`` (noting nothing of the charger's clock)."""
    register_wh = point.register_wh
    power = _DEFAULT_MAX_POWER_W if max_power is None else max_power
    transaction = _own(connector, transaction)
    meter = connector.meter
    if life_before.is_held(meter, point):
        return False
    base = _base(charger, connector, transaction)
    if base is None:
        # The first value ever: the base from now on (the lifetime starts at the register).
        _take(
            charger, connector, transaction, point, credit=0.0, slack=None, newer=True, fresh=True
        )
        return True
    since = _since_base(connector, base, point)
    older = since is not None and since < 0.0
    newer = since is None or since > 0.0
    if older and register_wh <= base.register_wh:
        return False
    rise = register_wh - base.register_wh
    if rise == 0.0 and meter.energy_register_wh is not None:
        # Unchanged. While energy may flow the base keeps the time it was first seen (a register
        # in coarse steps may have risen by up to one step meanwhile); otherwise the base moves
        # on, so that idle hours never become an allowance for one bogus jump. A pending outlier
        # is forgotten.
        meter.energy_candidate = None
        if not _energy_may_flow(connector) and newer:
            _move_base_time(meter, point)
            meter.energy_slack_wh = None
        if newer:
            life_before.prove_life_before(charger, connector, point, transaction, power)
        return True
    allowance = rise_allowance(
        power, meter.energy_slack_wh, base, point, live_offset_s=charger._live_clock.confirmed_s
    )
    if 0.0 <= rise <= allowance:
        # A rise our clocks got after the base is the newest reading, whatever the charger's
        # stamps say (its clock set back while ours was behind: kept as history, the base stayed
        # stamped hours ahead, a new life's readings were dropped and an outlier counted).
        by_our_clock = time_since(base, point)
        newer = newer or by_our_clock is None or by_our_clock > 0.0
        _take(charger, connector, transaction, point, credit=rise, slack=allowance, newer=newer)
        if newer:
            life_before.prove_life_before(charger, connector, point, transaction, power)
        return True
    if older:
        # From before the base and not plausible from it: the register's previous life replayed
        # after a reset (re-sent readings, transactionData), never a jump to confirm.
        return False
    candidate = meter.energy_candidate
    if candidate is not None and not held_for_our_clock(connector, base, point, power):
        from_candidate = rise_allowance(power, None, candidate, point)
        if 0.0 <= register_wh - candidate.register_wh <= from_candidate:
            # Confirmed: the register really was reset / jumped. The step is not energy; the
            # rise after it is, bounded like any other.
            credit = min(register_wh - candidate.register_wh, allowance)
            if candidate.register_wh < base.register_wh:  # a reset: a new life from there
                meter._register_reset_stamp = life_before.reset_stamp(candidate)
                life_before.remember_life_before(meter, base, transaction)
            _LOGGER.info(
                "%s: energy register of connector %s went from %.0f to %.0f Wh (confirmed); "
                "counted %.0f Wh",
                charger.charger_id,
                connector.connector_id,
                base.register_wh,
                register_wh,
                credit,
            )
            _take(
                charger, connector, transaction, point, credit=credit, slack=allowance, newer=newer
            )
            return True
    _LOGGER.debug(
        "%s: implausible energy register %.0f Wh on connector %s (last %.0f Wh); not counted "
        "unless the next reading confirms it",
        charger.charger_id,
        register_wh,
        connector.connector_id,
        base.register_wh,
    )
    meter.energy_candidate = point
    return True


def _since_base(connector: Connector, base: RegisterPoint, point: RegisterPoint) -> float | None:
    """:func:`time_since` ``base`` of ``point``; for a rise while our clock reads behind the
    connector's restored register (:func:`_restored_ahead_of_our_clock`: it went back over a
    restart, so the times we got readings show none since), by the charger's own stamps: its
    clock ran on. A jump is then a candidate, confirmed or held (:func:`held_for_our_clock`),
    never history that our monotonic clock makes plausible later (10 kWh counted for 0)."""
    since = time_since(base, point)
    if (
        since is None
        or point.register_wh <= base.register_wh
        or _restored_ahead_of_our_clock(connector, point) is None
    ):
        return since
    return (charger_time(point) - charger_time(base)).total_seconds()


def held_for_our_clock(
    connector: Connector, base: RegisterPoint, point: RegisterPoint, power_w: float
) -> bool:
    """Whether ``point``'s rise beyond the allowance from ``base`` is held, not confirmed as a
    jump (which would count the allowance alone): our clock went back since the connector's
    register was stored (:func:`_restored_ahead_of_our_clock`: a host without a real-time clock,
    up before NTP set it) and the charger's own clock explains the rise since then
    (:func:`_charger_clock_explains`). The base keeps its time, so the usual rule takes the rise
    once our clocks cover it: our monotonic clock since the restore, or ours once set right."""
    restored = _restored_ahead_of_our_clock(connector, point)
    return (
        restored is not None
        and restored.register_wh <= base.register_wh < point.register_wh  # a rise, no reset
        and _charger_clock_explains(power_w, restored, point)
    )


def _restored_ahead_of_our_clock(
    connector: Connector, point: RegisterPoint
) -> RegisterPoint | None:
    """The connector's restored register when its time lies more than :data:`MAX_CLOCK_AHEAD_S`
    ahead of our clock as ``point`` arrived (None: not so). That time was at most as far ahead of
    our clock when stored (:func:`effective_time`): ours went back since, and no time it shows
    since the restore (elapsed by our monotonic clock only) measures what the charger did."""
    restored = connector.stored_register
    if restored is None or restored.timestamp is None or point.received_at is None:
        return None
    return restored if too_far_ahead(restored.timestamp, point.received_at) else None


def _charger_clock_explains(power_w: float, restored: RegisterPoint, point: RegisterPoint) -> bool:
    """Whether the register's rise from ``restored`` to ``point`` fits the time between them by
    the charger's own stamps, from a :func:`believable_stamp` restored time (no clock that jumped
    years ahead): a rise the usual rules would take, were our clock right."""
    restored_at, point_at = charger_time(restored), charger_time(point)
    if not believable_stamp(restored_at, point_at):
        return False
    elapsed_s = (point_at - restored_at).total_seconds()
    return point.register_wh - restored.register_wh <= max_energy_wh(power_w, elapsed_s)


def energy_up_to_base(
    charger: Charger,
    connector: Connector,
    register_wh: float,
    timestamp: datetime,
    *,
    max_power: float | None = None,
    received: datetime | None = None,
) -> float:
    """The energy from an older value (history to :func:`apply_energy`: a start that arrives after
    later readings) up to the connector's base, bounded like any increment."""
    meter = connector.meter
    if meter.energy_register_wh is None or meter.energy_timestamp is None:
        return 0.0
    received = received or utcnow()
    when = effective_time(charger, timestamp, received)
    power = _DEFAULT_MAX_POWER_W if max_power is None else max_power
    elapsed = 0.0
    if believable_stamp(when, received):
        elapsed = (meter.energy_timestamp - when).total_seconds()
    return max(0.0, min(meter.energy_register_wh - register_wh, max_energy_wh(power, elapsed)))


def register_base(charger: Charger, connector: Connector) -> RegisterPoint | None:
    """Where the connector's energy counts from now (None: no register value known yet)."""
    return _base(charger, connector, None)


def _base(
    charger: Charger, connector: Connector, transaction: Transaction | None
) -> RegisterPoint | None:
    """The connector's last plausible register value; after a restart (meter readings are not
    restored) the open transaction's or the stored one."""
    meter = connector.meter
    if (read := read_register(meter)) is not None:
        return read
    open_tx = transaction or connector.transaction
    if (
        open_tx is not None
        and open_tx.connector_id == connector.connector_id
        and not open_tx.start_pending
    ):
        # Its last value was read when stored (older versions: at its start at the latest), so
        # before the register stored with it was restored; the charger's own stamp is that
        # register's when it is the same reading.
        stored = connector.stored_register
        at = open_tx.meter_last_at or open_tx.started_at
        return RegisterPoint(
            register_wh=open_tx.meter_last_wh,
            timestamp=at,
            received_at=None,
            _received_monotonic=None if stored is None else stored._received_monotonic,
            charger_stamp=stored.charger_stamp if stored and stored.timestamp == at else None,
        )
    if connector.stored_register is not None:
        return connector.stored_register
    if any(c.stored_register is not None for c in charger.connectors.values()):
        return None  # the lifetime's last register may be another connector's (connector 0's)
    # Stored before connectors kept their register: the lifetime counter's, if it can be this one's.
    counter = charger.lifetime_energy
    restored = all(c.meter.energy_register_wh is None for c in charger.connectors.values())
    if (
        counter.last_register_wh is not None
        and restored
        and _sole_lifetime_source(charger, connector)
    ):
        return RegisterPoint(
            register_wh=counter.last_register_wh,
            timestamp=counter.last_register_at,
            received_at=None,
        )
    return None


def read_register(meter: MeterState) -> RegisterPoint | None:
    """The connector's register as read since the model was built (None: not read yet)."""
    if meter.energy_register_wh is None:
        return None
    return RegisterPoint(
        register_wh=meter.energy_register_wh,
        timestamp=meter.energy_timestamp,
        received_at=meter.energy_received_at,
        _received_monotonic=meter._energy_received_monotonic,
        charger_stamp=meter._energy_charger_stamp,
        live_offset_s=meter._energy_live_offset_s,
    )


def _received_point(
    charger: Charger, register_wh: float, timestamp: datetime | None, received: datetime | None
) -> RegisterPoint:
    """:func:`_point`, the charger's clock ahead noted by its :func:`effective_time`."""
    point = _point(charger, register_wh, timestamp, received)
    assert point.received_at is not None
    effective_time(charger, charger_time(point), point.received_at)
    return point


def _point(
    charger: Charger, register_wh: float, timestamp: datetime | None, received: datetime | None
) -> RegisterPoint:
    """``register_wh`` stamped ``timestamp`` (None: not stamped), as of the time it stands for
    (:func:`_time_of`), received as :func:`reception` says, with the charger's live clock offset
    settled by then (``LiveClockOffset.settled_s``)."""
    received_at, monotonic = reception(received)
    stamp = timestamp or received_at
    when = _time_of(stamp, received_at)
    return RegisterPoint(
        register_wh=register_wh,
        timestamp=when,
        received_at=received_at,
        _received_monotonic=monotonic,
        charger_stamp=_replaced_stamp(stamp, when),
        live_offset_s=charger._live_clock.settled_s,
    )


# When we got something: by our clock, and by our monotonic clock (None: not known).
Reception = tuple[datetime | None, float | None]


class Report(NamedTuple):
    """A status or reading as it is ordered against others (``status_order.taken_after``,
    :func:`_before_shown`)."""

    # The time it stands for (:func:`effective_time`).
    time: datetime
    # The charger's own stamp (None: it sent none): also one ``time`` replaced.
    stamp: datetime | None
    # When we got it.
    got: Reception


def shown_reading(meter: MeterState) -> Report | None:
    """The values ``meter`` shows (None: none yet); a reading always carries a stamp."""
    if meter.timestamp is None:
        return None
    stamp = own_stamp(meter._charger_stamp, meter.timestamp)
    return Report(meter.timestamp, stamp, (meter._received_at, meter._received_monotonic))


def reception(received: datetime | None) -> tuple[datetime, float | None]:
    """When we got a reading: ``received`` (not known by the monotonic clock), else now."""
    if received is not None:
        return received, None
    return utcnow(), time.monotonic()


def time_since(base: RegisterPoint, point: RegisterPoint) -> float | None:
    """How much later than ``base`` (s; < 0: before it, history) ``point`` was taken, by the
    charger's stamps: the one rule of what is new (None: a time is unknown).

    A register that did not go down is compared as :func:`later_s` says. A register that went
    down is compared by the charger's own stamps alone (also where they lay too far ahead of our
    clock to stand for a time: one clock stamped both): below the base it is either history
    re-sent (its stamp is old) or a reset, and a replay taken for a reset would count again.
    :func:`_stamped_before_set_back` tells history whose stamp is "later" only because the
    charger's clock went back since it was taken."""
    if base.timestamp is None or point.timestamp is None:
        return None
    if point.register_wh < base.register_wh:
        since = (charger_time(point) - charger_time(base)).total_seconds()
        return -math.inf if _stamped_before_set_back(base, point, since) else since
    return later_s(base.timestamp, _received(base), point.timestamp, _received(point))


def _replaced_stamp(stamp: datetime, when: datetime) -> datetime | None:
    """The charger's own ``stamp``, kept where :func:`effective_time` replaced it by ``when``
    (None: ``when`` is the stamp)."""
    return None if when == stamp else stamp


def charger_time(point: RegisterPoint) -> datetime:
    """``point``'s time by the charger's clock (its effective time when it sent none)."""
    stamp = own_stamp(point.charger_stamp, point.timestamp)
    assert stamp is not None
    return stamp


def own_stamp(charger_stamp: datetime | None, time: datetime | None) -> datetime | None:
    """A time by the charger's clock: its own stamp where one was kept (its ``time`` was replaced:
    :func:`_replaced_stamp`), else ``time`` (None: none)."""
    return charger_stamp or time


# How much further apart a charger's stamps of a live base and a later point may lie than we
# received them (the base's age when sent, delays) while its clock ran on: far below the step
# that puts the queue of a clock set back since beyond :data:`MAX_CLOCK_AHEAD_S`.
_STAMPS_APART_S = 60.0


def _stamped_before_set_back(base: RegisterPoint, point: RegisterPoint, since_s: float) -> bool:
    """Whether ``point``, stamped ``since_s`` after the live ``base`` by the charger, was taken by
    a clock set back since: its stamp lay ahead of our clock while the base's did not, and by
    more than the time between receiving them (by our monotonic clock where known) could make
    (ours went back, and the charger with it: an offline queue flushed after live readings). A
    clock that ran on (one slowly drifting ahead, or right while ours went back) stamps a reset
    after the base about as much later as we received it: a reset, not history."""
    if point.charger_stamp is None or base.charger_stamp is not None or base.received_at is None:
        return False
    apart_s = (point.received_at - base.received_at).total_seconds() if point.received_at else 0.0
    if point._received_monotonic is not None and base._received_monotonic is not None:
        apart_s = point._received_monotonic - base._received_monotonic
    return since_s > apart_s + _STAMPS_APART_S


def later_s(then: datetime, then_received: Reception, now: datetime, received: Reception) -> float:
    """How much later (s; < 0: before) ``now`` was taken than ``then``, each received as said:
    the stamps compared with ``then`` moved by the step our own clock took back between the
    receptions (an NTP correction: our clock against the monotonic one). A charger that sets its
    clock by ours (Heartbeat) stamps a live reading an hour "before" the one it took a minute
    earlier once our clock went back an hour; one whose stamps lie ahead of ours by then gets the
    time we received it (:func:`effective_time`), an hour "before" too."""
    return (now - then).total_seconds() - min(clock_step_s(then_received, received), 0.0)


def _received(point: RegisterPoint) -> Reception:
    return point.received_at, point._received_monotonic


# Our clock and the monotonic clock drift apart by microseconds between two readings of both: no
# step (it would move stamps kept for ordering, and two reports stamped alike would swap order).
MIN_CLOCK_STEP_S = 1.0


def clock_step_s(then: Reception, now: Reception) -> float:
    """How far our clock jumped (s; < 0: back) between two receptions: what it moved beyond the
    monotonic clock (> 0 also when our host slept: the monotonic clock stops then; 0: a
    reception time is unknown, e.g. a restored base, or less than :data:`MIN_CLOCK_STEP_S`)."""
    then_at, then_monotonic = then
    now_at, now_monotonic = now
    if then_at is None or then_monotonic is None or now_at is None or now_monotonic is None:
        return 0.0
    step_s = (now_at - then_at).total_seconds() - (now_monotonic - then_monotonic)
    return step_s if abs(step_s) >= MIN_CLOCK_STEP_S else 0.0


def by_our_clock_now(then: tuple[datetime, float | None], now: Reception) -> datetime:
    """The time ``then`` was received, by our clock as it is at ``now``: moved by the step our
    clock took since (:func:`clock_step_s`; what is kept over a restart is moved before it is
    saved: the monotonic clock it is told by starts again with our host)."""
    return then[0] + timedelta(seconds=clock_step_s(then, now))


def rise_allowance(
    power_w: float,
    slack_wh: float | None,
    base: RegisterPoint,
    point: RegisterPoint,
    *,
    live_offset_s: float | None = None,
) -> float:
    """How much energy may have been added from ``base`` to ``point``: max power x elapsed time
    (the largest of the charger's, :func:`_charger_elapsed_s`, our clock's and our monotonic
    clock's: a clock set back never drops energy, nor does our host's sleep, which the monotonic
    clock does not count) plus the remaining tolerance. Whether ``base`` was received live is
    judged by the live clock offset settled when we received it (``base.live_offset_s``: one
    confirmed since, after we told the charger the time, is another clock's), else by
    ``live_offset_s``, the charger's confirmed now (``LiveClockOffset.confirmed_s``; None: not
    known)."""
    ours_s = _our_elapsed_s(base, point)
    if base.live_offset_s is not None:
        live_offset_s = base.live_offset_s
    elapsed = max(_charger_elapsed_s(base, point, ours_s, live_offset_s), ours_s)
    slack = ENERGY_TOLERANCE_WH if slack_wh is None else min(slack_wh, ENERGY_TOLERANCE_WH)
    return max_energy_wh(power_w, elapsed, slack)


def _our_elapsed_s(base: RegisterPoint, point: RegisterPoint) -> float:
    """The time between receiving ``base`` and ``point`` (s): the larger by our clock and by our
    monotonic clock (0: not known)."""
    elapsed = 0.0
    if base.received_at is not None and point.received_at is not None:
        elapsed = (point.received_at - base.received_at).total_seconds()
    if base._received_monotonic is not None and point._received_monotonic is not None:
        elapsed = max(elapsed, point._received_monotonic - base._received_monotonic)
    return elapsed


def _charger_elapsed_s(
    base: RegisterPoint, point: RegisterPoint, ours_s: float, live_offset_s: float | None
) -> float:
    """The time from ``base`` to ``point`` by their times (0: unknown, or a base time that is not
    a :func:`believable_stamp`). An offline queue needs it: stamped over hours, it arrives at
    once. A base received live (:func:`_on_live_clock`) was taken as we got it, and ``point``
    before we got it: no more than ``ours_s`` (the time between receiving them) lies between
    them, whatever a clock set forward since stamps; more only by what our clock stepped between
    them (:func:`clock_step_s`: our host slept, then our clock was set back; no charger can
    make it step)."""
    if (
        base.timestamp is None
        or point.timestamp is None
        or not believable_stamp(base.timestamp, base.received_at)
    ):
        return 0.0
    elapsed = (point.timestamp - base.timestamp).total_seconds()
    if base.received_at is not None and _on_live_clock(
        charger_time(base), base.received_at, live_offset_s
    ):
        our_step_s = abs(clock_step_s(_received(base), _received(point)))
        return min(elapsed, ours_s + our_step_s + CLOCK_OFFSET_TOLERANCE_S)
    return elapsed


def believable_stamp(timestamp: datetime, received: datetime | None) -> bool:
    """Whether a charger's ``timestamp`` of what we got at ``received`` (None: not known) can be
    its time: at most :data:`MAX_PAST_SESSION_AGE` before. Older is a clock restarted at an old
    date (its firmware's build date, then set by our answer): the years from there to its next
    timestamp are no time it charged in, never an allowance for a register outlier."""
    return received is None or received - timestamp <= MAX_PAST_SESSION_AGE


def max_energy_wh(power_w: float, elapsed_s: float, slack_wh: float = ENERGY_TOLERANCE_WH) -> float:
    """The most energy ``elapsed_s`` seconds at ``power_w`` can add: the bound of every increment."""
    return slack_wh + power_w * max(elapsed_s, 0.0) / 3600.0


def last_register_wh(readings: Sequence[Reading]) -> float | None:
    """The energy register of the newest reading that has one (None: none has)."""
    return next(
        (r.energy_register_wh for r in reversed(readings) if r.energy_register_wh is not None),
        None,
    )


def _take(
    charger: Charger,
    connector: Connector,
    transaction: Transaction | None,
    point: RegisterPoint,
    *,
    credit: float,
    slack: float | None,
    newer: bool,
    fresh: bool = False,
) -> None:
    """``point`` is the connector's new base; ``credit`` Wh count for the lifetime / session
    (``fresh``: the first value, with no base at all to count from). ``newer``: it was taken
    after the base (:func:`time_since`): the base's time is its own from now on."""
    meter = connector.meter
    register_wh = point.register_wh
    meter.energy_register_wh = register_wh
    if newer or meter.energy_timestamp is None:
        _move_base_time(meter, point)
    else:
        _move_base_reception(meter, point)
    meter.energy_slack_wh = None if slack is None else min(slack - credit, ENERGY_TOLERANCE_WH)
    meter.energy_candidate = None
    count_lifetime(charger, connector, register_wh, credit, fresh=fresh)
    if transaction is not None:
        if transaction.start_pending:
            # Its start was unknown: it began where this credit began.
            transaction.start_pending = False
            transaction.meter_start_wh = register_wh - credit
        credit_session(charger, transaction, credit)
        transaction.meter_last_wh = register_wh
        transaction.meter_last_at = meter.energy_timestamp


def count_from(meter: MeterState, at: datetime) -> None:
    """The register counts from ``at`` (a start after the charger's clock went back:
    ``charger_state``); an own stamp of the charger's kept for the earlier time goes with it.
    What it gave up to its value read before is history for good
    (:func:`_sent_before_clock_went_back`: the connector's, across connections and restarts).
    The values shown count from ``at`` by the charger's clock too (:func:`_before_shown`): the
    register proved the step back, so the session's first readings need no live clock to show."""
    meter._history_before_clock_back = read_register(meter)
    meter.energy_timestamp = at
    meter._energy_charger_stamp = None
    if meter.timestamp is not None:
        meter._charger_stamp = at


def _move_base_time(meter: MeterState, point: RegisterPoint) -> None:
    """The base counts from ``point``'s time, and from when we received it."""
    meter.energy_timestamp = point.timestamp
    meter._energy_charger_stamp = point.charger_stamp
    _move_base_reception(meter, point)
    _forget_history_passed(meter)


def _move_base_reception(meter: MeterState, point: RegisterPoint) -> None:
    """The base was received when ``point`` was, with the live clock offset confirmed then."""
    meter.energy_received_at = point.received_at
    meter._energy_received_monotonic = point._received_monotonic
    meter._energy_live_offset_s = point.live_offset_s


def _forget_history_passed(meter: MeterState) -> None:
    """Forget what the register gave before the charger's clock went back (:func:`count_from`;
    stored no more) once the base, at or above its register, is stamped after its time by the
    charger: a reading it would take for history lies below the base and before it by the
    charger's own stamps, history to :func:`apply_energy` itself."""
    history = meter._history_before_clock_back
    base = read_register(meter)
    if (
        history is not None
        and base is not None
        and base.register_wh >= history.register_wh
        and charger_time(base) > charger_time(history)
    ):
        meter._history_before_clock_back = None


def credit_session(charger: Charger, transaction: Transaction, credit_wh: float) -> None:
    """Add ``credit_wh`` to the session's energy, costed at the price of now: every credit,
    whichever rule found it (a reading, a late start, a past session), is costed here."""
    transaction.credited_wh = transaction.energy_wh + credit_wh
    _add_cost(transaction, credit_wh, charger.energy_price)


def _add_cost(transaction: Transaction, credit_wh: float, price_per_kwh: float | None) -> None:
    """Cost the energy just credited at the price of now (the session's cost follows a changing
    tariff increment by increment; energy credited while no price is known costs nothing)."""
    if price_per_kwh is None:
        return
    transaction.cost = (transaction.cost or 0.0) + credit_wh / 1000.0 * price_per_kwh


def _energy_may_flow(connector: Connector) -> bool:
    """Charging, or a session whose state is not known yet (just after a restart)."""
    status = connector.status
    if status is ConnectorStatus.CHARGING:
        return True
    return connector.transaction is not None and status is ConnectorStatus.UNKNOWN


def count_lifetime(
    charger: Charger, connector: Connector, register_wh: float, credit: float, *, fresh: bool
) -> None:
    """Add ``credit`` Wh of ``connector`` (``fresh``: its first value, with no base to count
    from) to the lifetime total.

    The register of record is connector 0 (the whole charger) once it has a meter, else the
    outlets'. Outlets count also beside connector 0 (one that reported once, answering a
    TriggerMessage, and never again must not stop the total), and both sides keep a balance
    (``outlets_ahead_wh``): each one's rise adds only what exceeds what the other counted ahead
    of it, in whichever order they report, so nothing is counted twice. Connector 0's lead ends
    with the outlets' sessions (:func:`settle_lifetime_balance`: by then they reported all they
    took; what remains is the charger's own use, which no outlet reports and which must not hold
    back the outlets once connector 0 falls silent).
    """
    counter = charger.lifetime_energy
    if not _counts_for_lifetime(charger, connector):
        ahead = counter.outlets_ahead_wh
        counter.total_wh += credit - min(credit, max(0.0, -ahead))
        counter.outlets_ahead_wh = ahead + credit
        return
    if connector.connector_id == 0:
        ahead = 0.0 if fresh else counter.outlets_ahead_wh  # starting over: nothing to match
        counter.outlets_ahead_wh = ahead - credit
        credit -= min(credit, max(0.0, ahead))
    if (
        counter.last_register_wh is None
        and counter.total_wh == 0.0
        and _sole_lifetime_source(charger, connector)
    ):
        counter.total_wh = register_wh  # the charger's own total from the start
    else:
        counter.total_wh += credit
    counter.last_register_wh = register_wh
    counter.last_register_at = connector.meter.energy_timestamp


def settle_lifetime_balance(charger: Charger) -> None:
    """No outlet has a session open (one just ended, its stop value applied): the outlets have
    reported what they took, so what connector 0 counted beyond them is its own use, never
    theirs to make up (``count_lifetime``)."""
    counter = charger.lifetime_energy
    if counter.outlets_ahead_wh < 0.0 and all(c.transaction is None for c in charger.outlets):
        counter.outlets_ahead_wh = 0.0


def _counts_for_lifetime(charger: Charger, connector: Connector) -> bool:
    """Whether ``connector``'s register is the lifetime's register of record: connector 0 (the
    whole charger) when it has a meter, else every outlet."""
    if connector.connector_id == 0:
        return True
    main = charger.connectors.get(0)
    return main is None or main.meter.energy_register_wh is None


def _sole_lifetime_source(charger: Charger, connector: Connector) -> bool:
    """Whether this connector's register is the charger's total (not one outlet of several)."""
    return connector.connector_id == 0 or len(charger.outlets) <= 1


def clear_flow(connector: Connector) -> bool:
    """No power flows now (a session ended, the charger rebooted, the connector is idle): many
    chargers stop reporting it then, so the last values would stay. True when that changed them."""
    meter = connector.meter
    before = (meter.power_w, meter.current_a)
    if meter.power_w is not None:
        meter.power_w = 0.0
    meter.current_a = _phase_values(dict.fromkeys(_present_phases(meter.current_a), 0.0))
    return (meter.power_w, meter.current_a) != before


def _present_phases(values: PhaseValues) -> list[str]:
    return [key for key in ("l1", "l2", "l3") if getattr(values, key) is not None]
