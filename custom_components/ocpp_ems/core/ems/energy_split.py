"""A session's energy by source: how much of what a car took came from solar, battery and grid.

Pure functions: :func:`energy_mix` says where the car's power comes from now, :func:`split_session`
adds the energy a session took since the last update to its split, by the mix seen at that update
(the power mix while the energy flowed, not the one after it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class EnergyMix:
    """Shares (0..1, summing to 1) of the power a car takes from solar, battery and grid."""

    solar: float
    battery: float
    grid: float


GRID_ONLY = EnergyMix(0.0, 0.0, 1.0)


def energy_mix(
    *, grid_w: float | None, pv_w: float | None, battery_w: float | None, ev_w: float
) -> EnergyMix:
    """Where the car's power comes from now, split proportionally among the site's sources.

    With a PV reading every source is known: the car gets the same mix as every other load
    (PV, battery discharge and grid import in proportion). Without one, import and discharge
    are assigned to the car first (the cautious reading) and the rest is solar. An unknown grid
    counts as grid.
    """
    if grid_w is None:
        return GRID_ONLY
    imported = max(grid_w, 0.0)
    discharged = max(battery_w or 0.0, 0.0)
    if pv_w is not None:
        supply = max(pv_w, 0.0) + imported + discharged
        if supply <= 0.0:
            return GRID_ONLY
        grid = imported / supply
        battery = discharged / supply
        return EnergyMix(max(0.0, 1.0 - grid - battery), battery, grid)
    if ev_w <= 0.0:
        return GRID_ONLY if imported > 0.0 else EnergyMix(1.0, 0.0, 0.0)
    grid = min(1.0, imported / ev_w)
    battery = min(1.0 - grid, discharged / ev_w)
    return EnergyMix(max(0.0, 1.0 - grid - battery), battery, grid)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSplit:
    """One session's energy (Wh) by source, what it was attributed up to, and the mix then."""

    transaction_id: str | None = None
    solar_wh: float = 0.0
    battery_wh: float = 0.0
    grid_wh: float = 0.0
    attributed_wh: float = 0.0
    mix: EnergyMix = GRID_ONLY


def split_session(
    split: SessionSplit, *, transaction_id: str | None, energy_wh: float | None, mix: EnergyMix
) -> SessionSplit:
    """The split after one update: the session's energy since the last one, by the mix seen then.

    A new transaction starts from zero; the energy it took before we first saw it gets the mix of
    now. Energy never goes back (a lower reading adds nothing). ``mix`` is kept for the next call.
    """
    if transaction_id is not None and transaction_id != split.transaction_id:
        split = SessionSplit(transaction_id=transaction_id)
    if transaction_id is not None and energy_wh is not None and energy_wh > split.attributed_wh:
        added = energy_wh - split.attributed_wh
        used = split.mix if split.attributed_wh > 0.0 else mix
        split = replace(
            split,
            solar_wh=split.solar_wh + added * used.solar,
            battery_wh=split.battery_wh + added * used.battery,
            grid_wh=split.grid_wh + added * used.grid,
            attributed_wh=energy_wh,
        )
    return replace(split, mix=mix)
