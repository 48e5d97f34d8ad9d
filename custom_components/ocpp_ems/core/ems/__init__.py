"""Energy manager (issue 3): a pure, deterministic charge controller (solar, battery, plans, fuse).

Public API: build an :class:`EnergyManager` from :class:`SiteSettings` and per-charger
:class:`ChargerSettings`, call :meth:`EnergyManager.update` with :class:`SiteInputs` and the time
on every input change, send each :attr:`ChargerDecision.write` that is not None to its charger,
and call again at :attr:`Decision.next_update_at`.
"""

from .config import (
    BatterySettings,
    ChargerSettings,
    PlanSettings,
    PlanTarget,
    SiteSettings,
    SolarSettings,
)
from .controller import EnergyManager
from .types import (
    ChargerCommand,
    ChargerDecision,
    ChargerInputs,
    Decision,
    EnergySlot,
    Mode,
    PhaseReading,
    PriceSlot,
    Reading,
    Reason,
    SiteInputs,
    StaleFallback,
)

__all__ = [
    "BatterySettings",
    "ChargerCommand",
    "ChargerDecision",
    "ChargerInputs",
    "ChargerSettings",
    "Decision",
    "EnergyManager",
    "EnergySlot",
    "Mode",
    "PhaseReading",
    "PlanSettings",
    "PlanTarget",
    "PriceSlot",
    "Reading",
    "Reason",
    "SiteInputs",
    "SiteSettings",
    "SolarSettings",
    "StaleFallback",
]
