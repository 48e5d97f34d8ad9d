"""Red team 20e: a car under its limit when Home Assistant restarts in its session.

Found (note 66, known weak): the offset a car takes below the limit it follows
(``follow_offset.py``) was not stored. After a restart in the same session the manager wrote
each car its share, the car took its offset less, and the offset was learned again only at the
next change the car followed: 5-10 writes in the first 5 minutes (12.0, 13.3, 12.0, 13.3 A ...)
and 2-6 % of the surplus to the grid, where the restart changed nothing else.

Now the offsets go into the stored form with the car's session, like its SoC and phases
(``learned.py``), and come back only in that session: the first write after the restart is
the share plus the offset, and nothing follows it.
"""

from __future__ import annotations

import json

import pytest

from custom_components.ocpp_ems.core.ems import Mode
from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.config import SiteSettings
from custom_components.ocpp_ems.core.ems.driver import ChargerLink, EmsDriver, Timing
from custom_components.ocpp_ems.core.ems.learned import SESSION_KEY
from custom_components.ocpp_ems.core.model import Capabilities, Charger

from .test_driver import open_session
from .test_redteam11b_refused_fuse import Plant
from .test_redteam18a_fuse_edge_rounding import History, before_last_minutes, share_of_the_sun

HISTORIES = {
    # Two cars 1.3 A under, one taking the sun (the other waits), a 10 s meter.
    "solar": History(
        Mode.SOLAR,
        40.0,
        10,
        ((2.0, 32.0, 3), (2.0, 32.0, 1)),
        ((20.0, 2, 60),),
        (14.0, 2),
        offsets=(1.3, 1.3),
    ),
    # The same with chargers 5 s slow on a 60 s meter.
    "slow_meter": History(
        Mode.SOLAR,
        40.0,
        60,
        ((5.0, 32.0, 3), (5.0, 32.0, 1)),
        ((20.0, 2, 60),),
        (14.0, 2),
        offsets=(1.3, 0.9),
    ),
    # Two 1-phase cars side by side (Min+Solar), one 10 s slow.
    "min_solar": History(
        Mode.MIN_SOLAR,
        40.0,
        10,
        ((10.0, 32.0, 1), (2.0, 32.0, 1)),
        ((20.0, 2, 60),),
        (12.0, 2),
        offsets=(1.3, 0.9),
    ),
}


def restart(plant: Plant, stored: object) -> None:
    """Home Assistant restarts: a new driver from the stored form, the chargers still in their
    sessions at the limits they were given."""
    driver = EmsDriver(
        SiteSettings(fuse_a=plant.fuse_a), EmsOptions(), clock=plant.clock, timing=lambda: Timing()
    )
    driver.load(stored)
    for cid, control in plant.controls.items():
        model = Charger(charger_id=cid, connected=True, booted=True, capabilities=Capabilities())
        open_session(model, f"tx-{cid}")
        driver.add_charger(cid, ChargerLink(model=model, control=lambda c=control: c))
    plant.driver = driver


async def _after_a_restart(history: History) -> tuple[float, list[float], object]:
    """``history`` through its steps and 5 minutes of steady sun, restarted, then 5 minutes:
    the cars' draw then as a share of the surplus, the writes that were changes (not the
    restart's first write to each charger), and the restarted driver's stored sessions."""
    plant, since = await before_last_minutes(history, steady_s=300)
    restart(plant, json.loads(json.dumps(plant.driver.dump())))
    share = await share_of_the_sun(plant, history, 300)
    changes = [
        amps
        for control in plant.controls.values()
        for _name, amps, at in control.calls
        if at > since + 1.0
    ]
    return share, changes, plant.driver.dump()[SESSION_KEY]


@pytest.mark.parametrize("name", list(HISTORIES))
async def test_a_car_under_its_limit_takes_its_share_at_once_after_a_restart(name: str) -> None:
    """All of the surplus and no write after the restart's first (without the stored offsets:
    94-98 % of it, 3-8 more writes); the offsets are stored again."""
    share, changes, sessions = await _after_a_restart(HISTORIES[name])
    assert share >= 0.995, share
    assert changes == []
    assert any("offsets" in stored for stored in sessions.values())
