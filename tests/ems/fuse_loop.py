"""A closed loop around the main fuse with real timing, for the fuse's hostile tests.

The house's current per line; chargers that apply a write ``delay_s`` later, whose car draws
``start_s`` after a start, wired to ``lines`` (their options may say otherwise) and whose meter
names ``meter_lines`` and reports every ``meter_s``; the grid's phase currents every 2 s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerInputs,
    ChargerSettings,
    Decision,
    EnergyManager,
    PhaseReading,
    Reading,
    SiteInputs,
    SiteSettings,
)

V = 230.0
FUSE_A = 25.0
MARGIN_A = 0.5
Lines = tuple[float, float, float]
GRID_EVERY_S = 2.0


@dataclass
class Charger:
    """A charger and its car. ``lines``: the site lines it draws on (None: L1, or all three on a
    three-phase charger); ``meter_lines``: the ones its meter names (None: the same)."""

    cfg: ChargerSettings
    lines: tuple[int, ...] | None = None
    meter_lines: tuple[int, ...] | None = None
    delay_s: float = 2.0
    start_s: float = 0.0
    meter_s: float = 10.0
    limit_a: float = 0.0
    drawing_from: float = float("inf")
    pending: list[tuple[float, ChargerCommand]] = field(default_factory=list)
    sample: tuple[Lines, float] = ((0.0, 0.0, 0.0), -1e9)
    written: ChargerCommand | None = None
    starts: int = 0  # writes that took it from paused (or nothing) to a current

    @property
    def wired(self) -> tuple[int, ...]:
        if self.lines is not None:
            return self.lines
        return (0, 1, 2) if self.cfg.phases == 3 else (0,)

    def amps(self, t: float) -> float:
        return self.limit_a if t >= self.drawing_from else 0.0

    def apply(self, t: float) -> None:
        for due, command in list(self.pending):
            if due <= t:
                self.pending.remove((due, command))
                was = self.limit_a
                self.limit_a = 0.0 if command.paused else command.current_a
                if self.limit_a == 0.0:
                    self.drawing_from = float("inf")
                elif was == 0.0:
                    self.drawing_from = t + self.start_s

    def write(self, t: float, command: ChargerCommand) -> None:
        if not command.paused and (self.written is None or self.written.paused):
            self.starts += 1
        self.written = command
        self.pending.append((t + self.delay_s, command))

    def inputs(self, t: float) -> ChargerInputs:
        if t - self.sample[1] >= self.meter_s:
            seen = [0.0, 0.0, 0.0]
            for k in self.meter_lines or self.wired:
                seen[k] = self.amps(t)
            self.sample = ((seen[0], seen[1], seen[2]), t)
        values, at = self.sample
        return ChargerInputs(
            plugged=True, charging=self.limit_a > 0.0, currents_a=PhaseReading(values, at)
        )


class Site:
    """The loop; ``over`` lists the seconds a line carried more than the fuse."""

    def __init__(self, chargers: dict[str, Charger], house: Callable[[float], Lines]) -> None:
        self.chargers = chargers
        self.house = house
        self.manager = EnergyManager(
            SiteSettings(fuse_a=FUSE_A, fuse_margin_a=MARGIN_A),
            {cid: charger.cfg for cid, charger in chargers.items()},
        )
        self.grid: tuple[Lines, float] = ((0.0, 0.0, 0.0), -1e9)
        self.over: list[float] = []

    def lines(self, t: float) -> Lines:
        amps = list(self.house(t))
        for charger in self.chargers.values():
            for k in charger.wired:
                amps[k] += charger.amps(t)
        return amps[0], amps[1], amps[2]

    def step(self, t: float) -> Decision:
        for charger in self.chargers.values():
            charger.apply(t)
        now = self.lines(t)
        if max(now) > FUSE_A + 1e-6:
            self.over.append(t)
        if t - self.grid[1] >= GRID_EVERY_S:
            self.grid = (now, t)
        values, at = self.grid
        inputs = SiteInputs(
            grid_w=Reading(sum(values) * V, at),
            grid_currents_a=PhaseReading(values, at),
            chargers={cid: charger.inputs(t) for cid, charger in self.chargers.items()},
        )
        decision = self.manager.update(inputs, t)
        for cid, charger in self.chargers.items():
            if (command := decision.chargers[cid].write) is not None:
                charger.write(t, command)
        return decision

    def run(self, t0: int, t1: int) -> Decision:
        """Every second from ``t0`` to before ``t1``; the last decision."""
        decision = self.step(float(t0))
        for t in range(t0 + 1, t1):
            decision = self.step(float(t))
        return decision


def same_on_every_line(amps: float) -> Callable[[float], Lines]:
    """A house drawing ``amps`` on each line, all the time."""
    return lambda _t: (amps, amps, amps)
