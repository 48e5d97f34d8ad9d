"""A charger that takes no current limit (its option "Smart charging" off, or a charger that lists
no SmartCharging): the energy manager can only start and stop it, and it draws its maximum when it
charges. Its settings (``charger_config.charger_settings``) say so, and the controller's rules do
the rest: Solar starts it only on a surplus for all of it, the fuse counts all of it.

The loops here draw what such a charger really draws: its full current whenever it is not paused,
whatever current was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerSettings,
    Decision,
    EnergyManager,
    Mode,
    SiteSettings,
)
from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions, charger_settings
from custom_components.ocpp_ems.core.ems.charger_view import ChargerView
from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import Capabilities, EvChargingNeeds
from custom_components.ocpp_ems.core.settings import ChargerSettings as QuirkSettings
from custom_components.ocpp_ems.core.settings import SmartChargingMode

from .fuse_loop import Charger, Site, same_on_every_line
from .util import SunLoop

V = 230.0
FULL_A = 16.0  # what the charger is set to by itself: its draw whenever it charges
FULL_W = FULL_A * 3 * V  # 11.04 kW on three phases
OFF = QuirkSettings(smart_charging=SmartChargingMode.OFF, installation_max_a=FULL_A)
# Automatic, and the charger lists its features without SmartCharging.
UNLISTED = Capabilities(
    supported_profiles=frozenset({"Core", "FirmwareManagement"}), phase_switching=True
)


def settings(
    view: ChargerView,
    quirks: QuirkSettings = OFF,
    capabilities: Capabilities | None = None,
    ev: EvChargingNeeds | None = None,
) -> ChargerSettings:
    rules = LimitRules(quirks, capabilities or Capabilities(phase_switching=True))
    return charger_settings(view, rules, EmsOptions(), now=0.0, zone=UTC, ev=ev)


def test_its_minimum_is_its_maximum_and_it_switches_no_phases() -> None:
    users = ChargerView(min_current_a=6.0, max_current_a=10.0)
    off = settings(users)
    assert (off.min_current_a, off.max_current_a, off.can_switch_phases) == (16.0, 16.0, False)
    unlisted = settings(users, QuirkSettings(installation_max_a=FULL_A), UNLISTED)
    assert (unlisted.min_current_a, unlisted.max_current_a, unlisted.can_switch_phases) == (
        16.0,
        16.0,
        False,
    )
    # A car that says it takes less (ISO 15118) draws that much.
    needs = EvChargingNeeds(
        requested_energy_transfer="AC_three_phase",
        received_at=datetime.fromtimestamp(0.0, UTC),
        ev_max_current_a=10.0,
    )
    smaller = settings(users, ev=needs)
    assert (smaller.min_current_a, smaller.max_current_a) == (10.0, 10.0)
    # Automatic and its features not known yet (before its boot): assumed to take limits.
    unknown = settings(users, QuirkSettings(installation_max_a=FULL_A))
    assert (unknown.min_current_a, unknown.max_current_a, unknown.can_switch_phases) == (
        6.0,
        10.0,
        True,
    )


class OnOffLoop(SunLoop):
    """The sun loop with one such charger ("a"), drawing its full current whenever it is not
    paused; ``imported_w`` is the most the grid ever imported, ``written`` every command sent."""

    def __init__(self, mode: Mode) -> None:
        super().__init__(EnergyManager(SiteSettings(), {"a": settings(ChargerView(mode=mode))}))
        self.imported_w = 0.0
        self.written: list[ChargerCommand] = []

    def draw(self, cid: str) -> float:
        command = self.commands[cid]
        return 0.0 if command is None or command.paused else FULL_W

    def step(self, t: float) -> Decision:
        self.imported_w = max(self.imported_w, self.draw("a") - self.sun_w)
        decision = super().step(t)
        self.written += [d.write for d in decision.chargers.values() if d.write is not None]
        return decision


def test_solar_starts_it_only_on_a_surplus_for_all_of_it() -> None:
    loop = OnOffLoop(Mode.SOLAR)
    loop.during(0, 600, 5000.0)
    assert loop.amps() == 0.0
    assert all(command.paused for command in loop.written)
    loop.during(601, 1200, 12000.0)
    assert loop.commands["a"] == ChargerCommand(FULL_A, 3)
    # Nothing but a pause and the full current is ever asked of it; the grid gave it nothing.
    assert {command.current_a for command in loop.written} == {0.0, FULL_A}
    assert loop.imported_w == 0.0


def test_min_solar_runs_it_at_full_without_sun() -> None:
    loop = OnOffLoop(Mode.MIN_SOLAR)
    loop.during(0, 60, 0.0)
    assert loop.commands["a"] == ChargerCommand(FULL_A, 3)


@dataclass
class OnOffCharger(Charger):
    """A fuse loop's charger that draws its full current once started, whatever was written."""

    def amps(self, t: float) -> float:
        return FULL_A if super().amps(t) > 0.0 else 0.0


def test_two_on_a_fuse_are_never_planned_above_it() -> None:
    """25 A beside a house drawing 5 A on each line: one of them fits, the other is stopped."""
    fast = settings(ChargerView(mode=Mode.FAST))
    chargers: dict[str, Charger] = {cid: OnOffCharger(cfg=fast) for cid in ("a", "b")}
    loop = Site(chargers, same_on_every_line(5.0))
    decision = loop.run(0, 600)
    assert loop.over == []
    targets = sorted((d.target for d in decision.chargers.values()), key=lambda c: c.paused)
    assert targets == [ChargerCommand(FULL_A, 3), ChargerCommand.pause(3)]
