"""The controller's rewind from a refused write (``EnergyManager.rewind_refused``, asked by the
driver for a limit refused as its run's first failure within the write interval of the last
one the charger took): the refused write leaves the response history (its limit bounds no
draw); a refused start is forgotten instead, the next decision writing it afresh."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import Mode
from custom_components.ocpp_ems.core.ems.config import ChargerSettings, SiteSettings
from custom_components.ocpp_ems.core.ems.controller import EnergyManager
from custom_components.ocpp_ems.core.ems.types import ChargerCommand

from .util import car, site

TAKEN = ChargerCommand(16.0, 3)


def _fast_manager() -> EnergyManager:
    return EnergyManager(SiteSettings(fuse_a=40.0), {"a": ChargerSettings(mode=Mode.FAST)})


def test_a_refused_start_is_forgotten_and_written_afresh() -> None:
    manager = _fast_manager()
    first = manager.update(site(0.0, 0.0, {"a": car(0.0)}), 0.0).chargers["a"].write
    assert first is not None
    assert not first.paused  # a start
    manager.rewind_refused("a", ChargerCommand.pause(3), -5.0)
    memory = manager.memory("a")
    assert memory is not None
    assert (memory.last_write, memory.last_write_at) == (None, float("-inf"))
    assert manager.update(site(1.0, 0.0, {"a": car(1.0)}), 1.0).chargers["a"].write == first


def test_a_refused_lower_leaves_the_response_history() -> None:
    manager = _fast_manager()
    manager.update(site(0.0, 0.0, {"a": car(0.0)}), 0.0)
    at_full = car(20.0, power=16.0 * 230 * 3, currents=(16.0,) * 3)
    manager.update(site(20.0, 0.0, {"a": at_full}), 20.0)
    memory = manager.memory("a")
    assert memory is not None
    written = [write.amps for write in memory.response.writes]
    # The house takes 30 A: the car is lowered (decided at 40 s), and the charger refuses.
    lines = (30.0 + 16.0,) * 3
    inputs = site(
        40.0,
        46.0 * 230 * 3,
        {"a": car(40.0, power=16.0 * 230 * 3, currents=(16.0,) * 3)},
        grid_currents=lines,
    )
    lower = manager.update(inputs, 40.0).chargers["a"].write
    assert lower is not None
    assert lower.current_a < 16.0
    assert [write.amps for write in memory.response.writes] == [*written, lower.current_a]
    manager.rewind_refused("a", TAKEN, 30.0)
    assert [write.amps for write in memory.response.writes] == written
    assert memory.response.watch is None or memory.response.watch.write.amps != lower.current_a
    assert (memory.last_write, memory.last_write_at) == (TAKEN, 30.0)
