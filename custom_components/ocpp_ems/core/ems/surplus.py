"""Site power balance: how much power the cars may use, and how much fuse is left per phase.

Surplus. The meters give grid (import +) and battery (discharge +) power; the cars' own draw is
added back, so the result is the power all cars together could draw without importing:
``available = ev - grid - battery_term``.
- Battery first (SoC below the priority SoC): battery charging is not surplus, battery discharge is
  import (``battery_term = max(battery, 0)``).
- Car first (at or above it): battery charging is surplus too (``battery_term = battery``).
- Battery-assisted charging (allowed and SoC above the floor): the configured discharge for the car
  is added. Otherwise the battery must not feed the car: ``discharge_limit_w`` is the house's own
  deficit, a cap the HA side can give a hybrid inverter so the battery covers the house and the
  grid the car.

Never more than the PV gives. In one instant ``ev - grid - battery`` is exactly ``pv - house``, but
the terms are read at different moments: the grid meter every few seconds, the battery and PV every
few more, the charger's meter every 10-60 s, and the cars' draw right after a start or a raise is
the commanded current (the controller's prediction, which runs ahead of the grid meter while the
car is still ramping up or the charger has not applied the limit yet). So the sum can count the
same power twice: a car that started at 10.2 A on 8 kW of PV is counted at 10.2 A while the grid
still shows the export beside the 7.2 A it draws so far, and the surplus reads 9.1 kW; a battery
that stopped charging is still read as charging. With a PV reading the measured part is capped at the
PV power (the house load is never negative); battery assistance and curtailed PV are added on top,
as they are power the PV reading does not show.

Zero-export / hybrid inverters curtail PV instead of exporting, so "no export" does not mean "no
surplus". Two ways to see the hidden headroom: an inverter sensor of available (potential) PV
power gives it directly (``available - pv``, while the grid shows no import: an inverter that clips
reads its DC side above what it can give); without it, ``zero_export`` makes the controller
probe: while the grid shows no import, a running car is offered ``curtailment_probe_w`` more, the
inverter un-curtails to feed it, and the next reading shows the new, larger balance. Import is the
signal that the real limit was reached, and the normal regulation backs off.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import SiteSettings

# Grid power within this band counts as "zero" when probing a curtailed inverter (W).
ZERO_EXPORT_BAND_W = 50.0


@dataclass(frozen=True, slots=True)
class Balance:
    available_w: float  # power all cars may draw (before the regulation margin)
    battery_first_w: float  # battery charging held back from the cars (battery-first mode)
    discharge_limit_w: float | None


def site_balance(
    *,
    settings: SiteSettings,
    ev_w: float,
    grid_w: float,
    battery_w: float | None,
    battery_soc: float | None,
    pv_w: float | None,
    pv_available_w: float | None,
    any_car_drawing: bool,
    cars_cap_w: float | None = None,
    paired_deficit_w: float | None = None,
    battery_owed_w: float = 0.0,
) -> Balance:
    """The balance; ``cars_cap_w``: the cars' draw as the battery's cap counts it (None: none is
    charging), the higher of each car's two estimates (its meter, the prediction): what a car
    draws must never count as the house's deficit, or the battery covers it;
    ``paired_deficit_w``: the deficit from readings of one moment (``measure._paired_deficit``),
    the lower of the two caps; ``battery_owed_w``: battery first, what the battery would take
    beyond what it charges now (``measure._battery_owed``): not surplus either."""
    available = ev_w - grid_w
    battery_first_w = 0.0
    assist_w = 0.0  # what the battery may add for the car (battery-assisted charging)
    discharge_limit: float | None = None
    rules = settings.battery
    if battery_w is not None:
        if rules.car_first(battery_soc):
            available -= battery_w
        else:
            available -= max(battery_w, 0.0) + battery_owed_w
            battery_first_w = max(-battery_w, 0.0) + battery_owed_w
        if rules.feeds_car(battery_soc):
            assist_w = rules.max_discharge_to_car_w
        if rules.emit_discharge_limit and cars_cap_w is not None:
            house_deficit = grid_w + battery_w - cars_cap_w
            if paired_deficit_w is not None:
                house_deficit = min(house_deficit, paired_deficit_w)
            house_deficit = max(0.0, house_deficit)
            discharge_limit = house_deficit + assist_w
    if pv_w is not None:
        # Readings from different moments (see the module doc) cannot make more than the PV.
        available = min(available, pv_w)
    available += assist_w
    solar = settings.solar
    if pv_w is not None and pv_available_w is not None:
        available += curtailed_pv_w(grid_w, pv_w, pv_available_w)
    elif solar.zero_export and any_car_drawing and grid_w <= ZERO_EXPORT_BAND_W:
        available += solar.curtailment_probe_w
    return Balance(available, battery_first_w, discharge_limit)


def curtailed_pv_w(grid_w: float, pv_w: float, pv_available_w: float) -> float:
    """PV the inverter holds back and would give for more load (W): available - output, while
    the grid does not import. Import says it gives no more: a clipping inverter (its DC side
    reads above what it can convert) or a real limit reached, as when probing."""
    if grid_w > ZERO_EXPORT_BAND_W:
        return 0.0
    return max(0.0, pv_available_w - pv_w)


def fuse_headroom(
    *,
    settings: SiteSettings,
    grid_currents: tuple[float | None, float | None, float | None] | None,
    grid_w: float | None,
    ev_currents: tuple[float, float, float],
) -> tuple[float | None, float | None, float | None] | None:
    """Current (A) the chargers together may draw per line (None: no fuse; a line None: its
    house load unknown, with neither its phase current nor the grid power).

    House current per line = grid current - cars' current on that line. PV export is not counted as
    headroom: a cloud can take it away faster than a charger follows, and then the fuse would trip.
    """
    if settings.fuse_a is None:
        return None
    limit = settings.fuse_a - settings.fuse_margin_a
    house = _house_currents(settings, grid_currents, grid_w, ev_currents)
    headroom = [None if h is None else limit - max(0.0, h) for h in house]
    headroom += [0.0] * (3 - len(headroom))  # no such line on a 1-phase site
    return headroom[0], headroom[1], headroom[2]


def site_lines(settings: SiteSettings) -> int:
    """The lines of the site's connection (1 or 3)."""
    return settings.site_phases if settings.site_phases in (1, 3) else 3


def _house_currents(
    settings: SiteSettings,
    grid_currents: tuple[float | None, float | None, float | None] | None,
    grid_w: float | None,
    ev_currents: tuple[float, float, float],
) -> list[float | None]:
    """The house's current per line of the site (A; None: unknown): the grid's phase current
    less the cars' where it is read, else an estimate from the grid power."""
    lines = site_lines(settings)
    measured = [None if grid_currents is None else grid_currents[k] for k in range(lines)]
    house = [None if m is None else m - ev_currents[k] for k, m in enumerate(measured)]
    if None in house and grid_w is not None:
        estimate = _unmeasured_house_a(settings, grid_w, ev_currents, house)
        house = [estimate if h is None else h for h in house]
    return house


def _unmeasured_house_a(
    settings: SiteSettings,
    grid_w: float,
    ev_currents: tuple[float, float, float],
    house: list[float | None],
) -> float:
    """The house's current on a line without a phase reading, from the grid power, assuming the
    worst: all of the house's net load on that line (or a share of it, with a balanced house
    load), and at least what the read lines leave of it (PV exporting on one line hides load on
    another from the net power). Where the read lines leave less than nothing, a line exports,
    or the meter gives currents without a sign (a P1 meter's): then each read line may be
    exporting what it reads."""
    net_a = grid_w / settings.voltage_v - sum(ev_currents)
    spread_a = max(0.0, net_a)
    if settings.assume_balanced_house_load:
        spread_a /= site_lines(settings)
    known = [h for h in house if h is not None]
    if not known:
        return spread_a
    left_a = net_a - sum(known)
    if left_a < 0.0:
        left_a = net_a + sum(abs(h) for h in known)
    return max(spread_a, left_a)
