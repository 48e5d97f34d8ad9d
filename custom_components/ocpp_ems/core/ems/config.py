"""Settings of the energy manager, all with working defaults (filled from the HA options flow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Final

from .types import EnergySlot, Mode, StaleFallback


@dataclass(frozen=True, slots=True, kw_only=True)
class SolarSettings:
    """Surplus tracking. Thresholds are in W of surplus relative to the charger's minimum power."""

    # Start when the surplus exceeds min power + enable_margin_w for enable_delay_s.
    enable_margin_w: float = 0.0
    enable_delay_s: float = 60.0
    # Stop when the import at min current stays above disable_import_w for disable_delay_s.
    disable_import_w: float = 0.0
    disable_delay_s: float = 180.0
    # A solar car starts, and holds its minimum without counting a dip, while the surplus covers
    # this share of its minimum (the grid gives the rest). A 3-phase minimum (4.1 kW) is too large
    # for the morning's and evening's sun and for shallow dips; at 0.9 each such second still
    # takes 9 Wh of sun for 1 Wh of grid. 1.0: on surplus only.
    min_sun_share: float = 0.9
    # Holding the minimum through a dip buys grid energy; stopping loses the PV of a restart
    # (the start delay and the car's start response at its minimum). A dip is held until its
    # grid energy reaches that loss times this factor, then the car stops (at most after
    # disable_delay_s): never more than twice the cheaper choice, whatever the dip's length
    # ("rent or buy"). 0: the stop delay alone decides.
    restart_cost_factor: float = 1.0
    first_start_skips_delay: bool = True
    # Keep this much unused to absorb meter noise (W). 0: regulate to zero; the write limiter
    # below keeps the error small on both sides, and a fixed margin would be PV left unused.
    regulation_margin_w: float = 0.0
    # Limits are raised at most this much per write (A); lowered without limit (import costs).
    ramp_up_a: float = 6.0
    # Write limiter (spares the charger's flash and the car). A change of at least the deadband
    # is written at once (a raise after min_write_interval_s); a smaller one waits until the
    # energy it misallocates since the last write reaches raise_error_wh (unused PV) or
    # drop_error_wh (grid import), or until small_raise_after_s, whichever comes first. Meter
    # noise and short house-load blips cancel out in that signed error and are never written.
    # A drop goes out at half a raise's deadband: what it corrects is grid import, dearer than
    # unused PV (scenario suite: 1 A for both imported 27 Wh a day more for 5 Wh more of PV,
    # with 33 writes fewer; 0.3 A: 25 Wh less import again for 17 Wh of PV and 66 more writes).
    raise_deadband_a: float = 1.0
    drop_deadband_a: float = 0.5
    raise_error_wh: float = 1.0
    drop_error_wh: float = 1.0
    small_raise_after_s: float = 300.0
    # Charger meter samples older than a write + this are from before it (charger + car reaction).
    # Each charger learns its own from its meter values (``response.py``): these are the values
    # before its first observations, and a floor until a few exist.
    settle_s: float = 8.0
    # ...and after a start or a 1p/3p switch (charger pause, car handshake, ramp) this long.
    start_settle_s: float = 30.0
    # Bounds of the learned settle times; a slower response counts as "the car did not follow".
    settle_min_s: float = 1.0
    settle_max_s: float = 30.0
    start_settle_max_s: float = 90.0
    # 1p/3p switching: own thresholds and delays. None = derived from the 3p minimum power.
    phase_up_w: float | None = None  # default: 3p min power + phase_up_margin_w
    phase_up_margin_w: float = 0.0
    phase_up_delay_s: float = 60.0
    # default: halfway between the 1p maximum the car takes and the 3p minimum (the 3p minimum
    # if lower). Between the two a 3p car at its minimum imports what the sun lacks and a 1p car
    # at its maximum leaves PV unused; halfway both lose the same (``phases._phase_down_w``).
    phase_down_w: float | None = None
    phase_down_delay_s: float = 180.0
    phase_settle_s: float = 60.0
    # Several solar cars: a waiting car starts only when the running ones cannot take the surplus
    # (at their maximum, 3p for a switchable charger). One car absorbing the surplus uses the same
    # PV as two, with one minimum instead of two (fewer stops in a dip, fewer starts and writes),
    # but the first car may take a whole sunny day, and once it is full a small surplus only it
    # could take on 1p goes unused. False (option "share the surplus"): side by side: a waiting
    # car starts once the surplus covers every running car's smallest minimum (a 1p/3p car then
    # switches to 1p), its own and a 1p minimum to spare; then all share equally; where it does
    # not, in turns (``turn_wh``).
    stagger_starts: bool = True
    # One after another: a running car that can charge on less sun than a waiting one (a 1p/3p or
    # 1-phase car before a 3-phase one) hands over to it once the surplus has carried the waiting
    # one this long without a break. The car that can run on 1 phase then keeps its room for the
    # morning's and evening's small surplus, which the other could not take, instead of being
    # full by then (a sunny day: +1.4 to +3.0 kWh of PV for 1 more start and 1 phase switch; on
    # a day where neither fills up, about -0.1 kWh and +1 start). The hour keeps clouds from
    # moving the sun to the car that copes worse with them. None: never. The other way round
    # needs no option: once the surplus has stayed below the running car's smallest minimum
    # for disable_delay_s, a waiting car that takes it from the sun alone (on 1 phase) takes its
    # place where that saves more import than it leaves unused (the evening after a hand-over:
    # scenario suite -0.42 kWh grid, +0.30 kWh PV over 38 days, 2 starts more on one day).
    handover_after_s: float | None = 3600.0
    # Side by side, when the surplus carries one car but not two: a running car that has charged
    # this much more in its session than a waiting one gives way to it (turns, not one car all
    # day; the gap is the hysteresis: about an hour of charging on a 5 kW surplus).
    turn_wh: float = 5000.0
    # Zero-export inverters without an "available power" sensor: try this much more while the grid
    # stays at zero (curtailed PV only appears when something takes it).
    curtailment_probe_w: float = 300.0
    zero_export: bool = False


# What the home battery may give the car once the user allows battery-assisted charging (the
# option's default; until then ``BatterySettings.max_discharge_to_car_w`` is 0 W).
BATTERY_ASSIST_DEFAULT_W: Final = 2000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BatterySettings:
    """Home battery rules. Without a battery reading they are ignored."""

    priority_soc: float = 100.0  # below: battery first; at or above: car first
    allow_discharge_to_car: bool = False
    # Discharge into the car only above this SoC (when allowed). Half the battery stays for the
    # house; allowing battery-assisted charging then does something without a second setting.
    floor_soc: float = 50.0
    max_discharge_to_car_w: float = 0.0  # how much the battery may add for the car (when allowed)
    # Output a discharge cap so the battery only feeds the house: the site has a discharge limit
    # to set (the driver clears it while none can be: no entity configured, or one unavailable
    # or not in W). Without one nothing keeps the battery from a car while its share cannot be
    # read: no fallback runs on it then (``controller._fall_back``).
    emit_discharge_limit: bool = True
    # Battery first: the battery is owed the surplus up to what it takes at most. None: learned
    # (``measure.SiteMemory.battery_accept_w``); set, it caps the learned value.
    max_charge_w: float | None = None
    # Usable capacity (Wh; the option ``battery_capacity_kwh``): a plan counts on no sun before
    # the battery has its share up to the priority SoC. None: learned
    # (``measure.SiteMemory.battery_capacity_wh``); nothing learned yet, the plan leaves the
    # battery its charging power until departure (``plan_charge._battery_fill``).
    capacity_wh: float | None = None

    def car_first(self, soc: float | None) -> bool:
        """The cars take the sun before the battery: at or above ``priority_soc`` (an unknown
        SoC counts as below it: the battery keeps its charge)."""
        return soc is not None and soc >= self.priority_soc

    def feeds_car(self, soc: float | None) -> bool:
        """Battery-assisted charging: the battery may give the cars its share (allowed, and the
        SoC above the floor; an unknown SoC is not)."""
        return self.allow_discharge_to_car and soc is not None and soc > self.floor_soc


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSettings:
    """How departure plans use a solar forecast (without one they plan with the grid only)."""

    # Share of the forecast PV a plan counts on: forecasts miss by 20-40 % on a day, and energy
    # the sun does not give has to come from dearer slots later. Learned from the forecast's
    # track record once a few days are measured (``plan_learning``).
    forecast_confidence: float = 0.7
    house_load_w: float = 500.0  # typical house load by day: the forecast's surplus is above it
    # What the forecast's PV usually turns out to be (measured / forecast, the learned median):
    # how slots are compared, where the confidence is how much sun to count on.
    forecast_typical: float = 1.0
    # The house's expected energy per slot where it was learned (``plan_learning``); time outside
    # them counts ``house_load_w``. Both settings above are the priors of what is learned.
    house_slots: tuple[EnergySlot, ...] = ()
    # (car minimum W, share of the expected surplus a car with it gets on surplus only), learned
    # (``sun_capture``); none known: all of it.
    sun_capture: tuple[tuple[float, float], ...] = ()
    # (car minimum W, sun a car on surplus only misses, grid that fills the dips below the
    # minimum), per Wh of expected surplus, for a car held at its minimum there (Min + solar),
    # learned (``sun_capture``); none known: nothing to gain.
    sun_bridge: tuple[tuple[float, float, float], ...] = ()
    # What a kWh of PV sent to the grid earns (currency per kWh, like the prices): the sun a car
    # takes in a slot planned at its minimum is not free. 0: the sun counts as free.
    feed_in_price: float = 0.0
    # What the home battery takes at most as measured (W; ``measure.SiteMemory.battery_accept_w``,
    # the driver fills it in), where ``BatterySettings.max_charge_w`` is not set. None: unknown.
    battery_charge_w: float | None = None
    # The home battery's usable capacity as learned (Wh; ``measure.SiteMemory.battery_capacity_wh``,
    # the driver fills it in), where ``BatterySettings.capacity_wh`` is not set. None: unknown.
    battery_capacity_wh: float | None = None
    # The site's time zone (the driver fills it in): a price not out yet is that of the same
    # wall-clock time a day earlier. None: 24 hours earlier.
    zone: tzinfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSettings:
    voltage_v: float = 230.0
    fuse_a: float | None = None  # main fuse per phase; None = no load management
    site_phases: int = 3
    fuse_margin_a: float = 0.5
    # Without per-phase grid currents the house load may all sit on one phase: assume that (safe).
    assume_balanced_house_load: bool = False
    grid_max_age_s: float = 60.0
    pv_max_age_s: float = 120.0
    battery_max_age_s: float = 120.0
    charger_max_age_s: float = 180.0
    # Solar and Min + solar charge in full from the grid while the price is at or below this
    # (currency per kWh, like the price slots; a negative price pays for the import). None: never.
    cheap_price: float | None = None
    solar: SolarSettings = field(default_factory=SolarSettings)
    battery: BatterySettings = field(default_factory=BatterySettings)
    plan: PlanSettings = field(default_factory=PlanSettings)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanTarget:
    """Reach ``energy_wh`` (session energy) or ``soc`` (needs a vehicle SoC) by ``departure``."""

    departure: float
    energy_wh: float | None = None
    soc: float | None = None


# The priority a user gives a charger (``ChargerSettings.priority``): 0 (the default) to 10.
PRIORITY_MIN, PRIORITY_MAX = 0, 10


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerSettings:
    """One charger's EMS settings."""

    mode: Mode = Mode.SOLAR
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    phases: int = 3  # wired phases (1 or 3)
    can_switch_phases: bool = False
    line_1p: int = 1  # which line (1..3) a single-phase charge uses
    current_step_a: float = 0.1  # 1.0 for chargers that only take whole amps
    # Higher first when sharing the fuse and the surplus: a solar car of higher priority starts
    # as though lower ones were not running, and they give way (``solar._start_terms``).
    priority: int = 0
    min_write_interval_s: float = 10.0
    stale_fallback: StaleFallback = StaleFallback.MIN_CURRENT
    stale_grace_s: float = 300.0
    min_soc: float | None = None  # charge at once below this vehicle SoC (any mode but Off)
    min_energy_wh: float | None = None  # charge at once until this much energy in the session
    vehicle_capacity_wh: float | None = None  # for SoC targets
    charge_efficiency: float = 0.9  # grid-to-battery, used to estimate charge time
    plan: PlanTarget | None = None

    def battery_wh(self, soc: float, target_soc: float) -> float | None:
        """The energy into the car's battery from ``soc`` up to ``target_soc`` (%; negative above
        it), None without the car's capacity. At the charger: divided by ``charge_efficiency``."""
        if not self.vehicle_capacity_wh:
            return None
        return (target_soc - soc) / 100.0 * self.vehicle_capacity_wh
