"""What a connector's register gave before the charger's clock went back is history for as long
as the connector lives: the old session's queue sent again after a reconnect, or after a restart
of Home Assistant, counts nothing (test_redteam_clock_back_v16.py has it on one connection)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import h16, harness_with, restarted
from .test_redteam_clock_back_v16 import (
    NEW_READING_WH,
    NEW_START_WH,
    new_session_after_the_clock_went_back,
    send_the_old_queue_again,
)
from .v16_harness import Harness

__all__ = ["h16"]

NEW_SESSION_WH = NEW_READING_WH - NEW_START_WH
HISTORY = "history_before_clock_back"  # its key in a connector's stored form


async def test_the_old_queue_sent_again_after_a_reconnect_counts_once(h16: Harness) -> None:
    """The charger reconnects after the new session started (a new connection, the same
    connector), then sends the old session's queue again: it was counted already."""
    sim = await h16.charger_client(boot=False)
    old, running = await new_session_after_the_clock_went_back(h16, sim)
    lifetime = h16.charger.lifetime_energy.total_wh
    sim = await h16.charger_client(boot=False)
    await send_the_old_queue_again(sim, old, running)
    assert running.energy_wh == NEW_SESSION_WH
    assert h16.charger.lifetime_energy.total_wh == lifetime + NEW_SESSION_WH


async def test_the_old_queue_sent_again_after_a_restart_counts_once(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Home Assistant restarts after the new session started (the model as stored), then the
    charger sends the old session's queue again: it was counted already."""
    sim = await h16.charger_client(boot=False)
    old, _running = await new_session_after_the_clock_went_back(h16, sim)
    lifetime = h16.charger.lifetime_energy.total_wh
    async with harness_with(restarted(h16.charger), directory, server_settings, Harness) as h2:
        sim = await h2.charger_client(boot=False)
        running = h2.charger.connector(1).transaction
        assert running is not None
        await send_the_old_queue_again(sim, old, running)
        assert running.energy_wh == NEW_SESSION_WH
        assert h2.charger.lifetime_energy.total_wh == lifetime + NEW_SESSION_WH


@pytest.mark.parametrize(
    ("damage", "history_wh"),
    [
        (lambda stored: None, NEW_START_WH),  # where the old session ended
        (lambda stored: stored.pop(HISTORY), None),  # written before it was kept
        (lambda stored: stored[HISTORY].update(at=None), None),  # its time lost
    ],
    ids=["as-stored", "older-store", "damaged"],
)
async def test_the_register_before_the_clock_went_back_is_stored(
    h16: Harness, damage: Callable[[dict[str, Any]], object], history_wh: float | None
) -> None:
    """The register the old session ended at is stored as history with the connector; a store
    without it (older, or damaged) loads, with nothing taken for history."""
    sim = await h16.charger_client(boot=False)
    await new_session_after_the_clock_went_back(h16, sim)
    stored = json.loads(json.dumps(charger_to_dict(h16.charger)))
    damage(stored["connectors"]["1"])
    history = charger_from_dict(stored).connector(1).meter._history_before_clock_back
    assert (None if history is None else history.register_wh) == history_wh
