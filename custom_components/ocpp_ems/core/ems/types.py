"""Inputs and outputs of the energy manager: plain frozen data, no behaviour.

Time is a float of POSIX seconds everywhere (the HA side passes ``dt_util.utcnow().timestamp()``,
tests and the benchmark pass a fake clock). Signs follow the reference: grid + import / - export,
battery + discharging / - charging, PV + production.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Mode(StrEnum):
    """Charge mode of one charger, chosen by the user."""

    OFF = "off"
    FAST = "fast"
    MIN_SOLAR = "min_solar"
    SOLAR = "solar"
    PLAN = "plan"
    # The user took the charger over (a manual limit or pause): the energy manager leaves it alone.
    # The driver never hands such a charger to the controller (``driver.py``).
    MANUAL = "manual"


class Reason(StrEnum):
    """Why a charger got the limit it got (shown to the user, translated on the HA side).

    It says what the manager is doing now. A wait that ends by itself (a delay, a grace period, a
    boost, a planned slot, the next try of a write the charger left unanswered or refused) sets
    :attr:`ChargerDecision.until` to the moment it ends.
    """

    OFF = "off"
    NOT_PLUGGED = "not_plugged"
    CHARGER_UNAVAILABLE = "charger_unavailable"
    FAST = "fast"
    BOOST = "boost"
    # Solar or Min + solar at a grid price at or below the cheap price: full, until the run ends.
    CHEAP_GRID = "cheap_grid"
    SOLAR = "solar"
    WAITING_FOR_SURPLUS = "waiting_for_surplus"
    # Solar: the surplus would start it, but other solar cars take it (staggered, or their turn).
    OTHER_CAR = "other_car"
    MIN_CURRENT_HELD = "min_current_held"
    BATTERY_FIRST = "battery_first"
    FUSE_LIMIT = "fuse_limit"
    PLANNED_SLOT = "planned_slot"
    PLAN_WAITING = "plan_waiting"
    MINIMUM_CHARGE = "minimum_charge"
    TARGET_REACHED = "target_reached"
    STALE_INPUT = "stale_input"
    PHASE_SWITCH = "phase_switch"
    MANUAL = "manual"  # mode Manual: the user's limit, nothing written
    # A SoC plan without the car's SoC: it plans with the energy target (or waits for the SoC).
    PLAN_SOC_UNAVAILABLE = "plan_soc_unavailable"
    # Waits with an end (``ChargerDecision.until``):
    STARTING = "starting"  # surplus enough to start: the start delay (or write interval) runs
    STOPPING = "stopping"  # solar car held at its minimum in a deficit: the stop delay runs
    PHASE_SWITCH_PENDING = "phase_switch_pending"  # a 1p/3p switch delay (or settle time) runs
    # The driver's, in place of the controller's (``ChargerDecision.controller_reason``): the
    # charger left a write unanswered, its writes wait for the next try; it refused a limit or the
    # stop the controller still wants, asked again at the next try (``driver._waiting_decision``).
    CHARGER_NOT_ANSWERING = "charger_not_answering"
    CHARGER_REFUSED = "charger_refused"


class StaleFallback(StrEnum):
    """What a charger does while an input its mode needs is stale or unavailable."""

    MIN_CURRENT = "min_current"
    PAUSE = "pause"
    LAST_LIMIT = "last_limit"  # keep the last limit for ``stale_grace_s``, then pause


@dataclass(frozen=True, slots=True)
class Reading:
    """One sensor value and when it was measured. ``value`` None means the sensor is unavailable."""

    value: float | None
    at: float


@dataclass(frozen=True, slots=True)
class PhaseReading:
    """Per-phase currents (A) L1..L3 and when they were measured; None where unknown.

    Grid currents are signed (import +) when the meter tells; an unsigned meter is read as import,
    which is the safe side for the fuse.
    """

    values: tuple[float | None, float | None, float | None]
    at: float


@dataclass(frozen=True, slots=True)
class PriceSlot:
    """Energy price from ``start`` (inclusive) to ``end`` (exclusive), any resolution."""

    start: float
    end: float
    price: float


def slot_at(slots: Iterable[PriceSlot], t: float) -> PriceSlot | None:
    """The slot that covers ``t`` (the first of them; None: no price known for then)."""
    return next((slot for slot in slots if slot.start <= t < slot.end), None)


@dataclass(frozen=True, slots=True)
class EnergySlot:
    """Energy (Wh) expected from ``start`` (inclusive) to ``end`` (exclusive): a solar forecast."""

    start: float
    end: float
    wh: float


@dataclass(frozen=True, slots=True)
class PlanOutlook:
    """How a departure plan means to reach its target from now (Wh into the car)."""

    solar_wh: float  # expected from the sun before departure (forecast, discounted)
    grid_wh: float  # planned from the grid in the cheapest slots


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerInputs:
    """What is known about one charger right now. Everything but the state flags is optional."""

    connected: bool = True  # the charger is online (OCPP connection up)
    plugged: bool = False
    charging: bool = False
    power_w: Reading | None = None
    currents_a: PhaseReading | None = None
    offered_a: float | None = None
    phases_in_use: int | None = None
    vehicle_soc: Reading | None = None  # percent
    session_energy_wh: float | None = None  # energy charged in the running session
    # The charger reports the car suspended the charge itself (OCPP SuspendedEV): full or limited.
    ev_suspended: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteInputs:
    """Everything the controller sees in one update. Fields left None are not configured."""

    grid_w: Reading | None = None
    grid_currents_a: PhaseReading | None = None
    pv_w: Reading | None = None
    # Power the PV could give now (inverter's available/potential power), for zero-export sites.
    pv_available_w: Reading | None = None
    battery_w: Reading | None = None
    battery_soc: Reading | None = None
    prices: tuple[PriceSlot, ...] = ()
    # What an exported kWh earns (a dynamic feed-in tariff's sensor); where it has no slot, the
    # plan's fixed feed-in price counts.
    feed_in_prices: tuple[PriceSlot, ...] = ()
    # PV production forecast (the whole site's, e.g. HA's energy platform): what plans count on.
    solar_forecast: tuple[EnergySlot, ...] = ()
    chargers: dict[str, ChargerInputs] = field(default_factory=dict)
    # The sun's elevation at the site now (degrees; None: unknown): an inverter asleep at night
    # is no stale PV sensor (``pv_sleep.py``).
    sun_elevation_deg: float | None = None


@dataclass(frozen=True, slots=True)
class ChargerCommand:
    """What a charger should be set to. ``paused``: 0 A / suspended (``current_a`` is then 0)."""

    current_a: float
    phases: int
    paused: bool = False

    @classmethod
    def pause(cls, phases: int) -> ChargerCommand:
        return cls(current_a=0.0, phases=phases, paused=True)


@dataclass(frozen=True, slots=True)
class ChargerDecision:
    """The controller's answer for one charger in one update."""

    charger_id: str
    target: ChargerCommand  # what the controller wants now
    write: ChargerCommand | None  # what to send now; None = nothing (unchanged or rate limited)
    reason: Reason
    surplus_share_w: (
        float  # power allocated to this charger from the surplus (incl. a held minimum)
    )
    stale: bool = False
    plan_feasible: bool = True
    plan: PlanOutlook | None = None  # a departure plan's solar and grid energy (Plan mode)
    # When the wait the reason names ends (POSIX s): the start or stop delay, the 1p/3p delay, the
    # write interval, a stale input's grace period, a boost, the next planned slot, the charger's
    # next try. None: no wait with an end (the reason holds until the inputs change).
    until: float | None = None
    # The controller's reason where ``reason`` says the manager waits for the charger (None:
    # ``reason`` is the controller's), and when the controller's wait ends (its ``until``).
    controller_reason: Reason | None = None
    controller_until: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The controller's answer for the whole site in one update."""

    chargers: dict[str, ChargerDecision]
    surplus_w: float | None  # power all EVs could use without import (None: no grid reading)
    # Cap for the home battery's discharge: it covers the house, never the car (None: no cap).
    battery_discharge_limit_w: float | None
    stale_inputs: frozenset[str]  # non-empty -> raise a repair issue; it clears when empty again
    next_update_at: float | None  # call update() again by then even without new inputs (timers)
    # The end of the run of cheap price slots now lies in (``cheap_grid.py``; None: not cheap
    # now, or no cheap price set): Solar and Min + solar charge in full until then.
    cheap_grid_until: float | None = None
    # Of the stale inputs, the meters whose sign looks inverted (``meter_sign.py``): a repair of
    # their own says how to turn them round.
    inverted_inputs: frozenset[str] = frozenset()


def plausible_soc(value: float | None) -> bool:
    """A state of charge (%) that can be one: a BMS's error code (255) or -1 is none."""
    return value is not None and 0.0 <= value <= 100.0
