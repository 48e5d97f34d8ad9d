"""What the energy manager learned survives a restart (``learned.py``): each charger's response
times and the home battery's maximum go through the driver's stored form, as plain JSON, and
come back as a prior, and what was seen of the car (its SoC, its phases) comes back in the same
session only; anything unreadable is skipped and nothing restored is unsafe."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    Mode,
    Reason,
    SiteSettings,
    SolarSettings,
)
from custom_components.ocpp_ems.core.ems.charger_work import ChargerMemory
from custom_components.ocpp_ems.core.ems.driver import EmsDriver
from custom_components.ocpp_ems.core.ems.learned import (
    RESPONSE_KEY,
    SESSION_KEY,
    SITE_KEY,
    SOC_KEY,
)
from custom_components.ocpp_ems.core.ems.response import ChargerResponse
from custom_components.ocpp_ems.core.model import ChargerInfo

from .test_driver import T0, Rig, open_session, rig
from .test_response import stepping_pv
from .util import SlowLoop, car, site

SOLAR = SolarSettings()
WALLBOX = ChargerInfo(vendor="Acme", model="Wall 11", firmware_version="1.0")
BATTERY_SITE = SiteSettings(
    battery=BatterySettings(priority_soc=60), solar=SolarSettings(regulation_margin_w=0.0)
)


def response(driver: EmsDriver, charger_id: str = "a") -> ChargerResponse:
    memory = driver._manager.memory(charger_id)
    assert memory is not None
    return memory.response


def memory_of(r: Rig) -> ChargerMemory:
    memory = r.driver._manager.memory("a")
    assert memory is not None
    return memory


def slow_charger(
    r: Rig, t0: float, t1: float, *, apply_s: float = 15.0, meter_s: float = 10.0
) -> SlowLoop:
    """The rig's controller in a closed loop with a charger that applies a limit ``apply_s``
    late (a start 20 s later still), meter values every ``meter_s``."""
    loop = SlowLoop(
        r.driver._manager,
        stepping_pv,
        lambda t: 300.0,
        apply_s=apply_s,
        start_s=20.0,
        meter_s=meter_s,
    )
    loop.run(t0, t1)
    return loop


def restarted(stored: object, **kwargs: Any) -> Rig:
    """A new driver (a restart) given ``stored`` through JSON, as the store keeps it."""
    again = rig(mode=Mode.SOLAR, **kwargs)
    again.driver.load(json.loads(json.dumps(stored)))
    return again


def times(learned: ChargerResponse) -> tuple[float, ...]:
    return (
        learned.early_s(SOLAR),
        learned.late_s(SOLAR),
        learned.early_s(SOLAR, start=True),
        learned.late_s(SOLAR, start=True),
    )


def test_learned_response_times_come_back_after_a_restart() -> None:
    first = rig(mode=Mode.SOLAR)
    slow_charger(first, 0, 1800)
    learned = times(response(first.driver))
    assert learned[1] > SOLAR.settle_s  # the slow charger's, not the default
    stored = first.driver.dump()
    again = restarted(stored)
    assert times(response(again.driver)) == learned
    assert again.driver.dump() == stored
    assert again.driver.learned()["chargers"]["a"]["late_s"] == learned[1]


def test_a_restored_response_spares_the_writes_of_learning_again() -> None:
    # The first quarter hour after a restart: with the learned response each PV step takes one
    # write; learning from scratch, the default 8 s settle time makes a charger 25 s slow write
    # more (10 writes restored, 13 fresh). (A 15 s one: 10 and 12 at 1c82730, now 10 and 10:
    # before the response is learned, a sample seen not showing a raise no longer shows it.)
    first = rig(mode=Mode.SOLAR)
    slow_charger(first, 0, 1800, apply_s=25.0)
    restored = slow_charger(restarted(first.driver.dump()), 0, 899, apply_s=25.0)
    fresh = slow_charger(rig(mode=Mode.SOLAR), 0, 899, apply_s=25.0)
    assert len(restored.writes) <= 10 < len(fresh.writes)


def test_new_observations_replace_a_restored_response() -> None:
    first = rig(mode=Mode.SOLAR)
    slow_charger(first, 0, 1800)
    # Another OCPP link (or anything else the identity does not show): it now follows in 1 s.
    again = restarted(first.driver.dump())
    slow_charger(again, 0, 1800, apply_s=1.0, meter_s=2.0)
    assert response(again.driver).late_s(SOLAR) <= 3.0


def test_the_battery_maximum_comes_back_after_a_restart() -> None:
    first = rig(mode=Mode.SOLAR, site_settings=BATTERY_SITE)
    # Seen charging 5 kW (grid at zero): that is what it takes.
    first.driver.step(site(10, 0.0, {"a": car(10)}, battery=-5000, battery_soc=40), 10)
    stored = first.driver.dump()
    assert stored[SITE_KEY] == {"battery_accept_w": 5000.0}
    again = restarted(stored, site_settings=BATTERY_SITE)
    fresh = rig(mode=Mode.SOLAR, site_settings=BATTERY_SITE)
    # It charges 3 kW beside a little export: 2 kW of that are still the battery's.
    inputs = site(20, -50.0, {"a": car(20)}, battery=-3000, battery_soc=40)
    assert again.driver.step(inputs, 20).decision.surplus_w == -1850.0
    assert fresh.driver.step(inputs, 20).decision.surplus_w == 50.0
    assert again.driver.learned()["battery_accept_w"] == 5000.0


def test_the_learned_battery_capacity_comes_back_after_a_restart() -> None:
    """A 10 kWh battery seen charging at 5 kW from 20 % to 70 %: its capacity is stored, shown
    and planned with again after a restart."""
    first = rig(mode=Mode.SOLAR, site_settings=BATTERY_SITE)
    assert "battery_capacity_wh" not in first.driver.learned()
    t = 0.0
    while t <= 3600.0:
        soc = math.floor(20.0 + 50.0 * t / 3600.0)
        first.driver.step(site(t, 0.0, {"a": car(t)}, battery=-5000, battery_soc=soc), t)
        t += 10.0
    stored = json.loads(json.dumps(first.driver.dump()))
    assert stored[SITE_KEY]["battery_capacity_wh"] == pytest.approx(10000.0, rel=0.02)
    again = restarted(stored, site_settings=BATTERY_SITE)
    assert again.driver.learned()["battery_capacity_wh"] == pytest.approx(10000.0, rel=0.02)
    again.driver.step(site(4000, 0.0, {"a": car(4000)}, battery=0, battery_soc=70), 4000)
    plan = again.driver._manager.site.plan
    assert plan.battery_capacity_wh == pytest.approx(10000.0, rel=0.02)


@pytest.mark.parametrize(
    "stored",
    [
        None,
        [],
        "chargers",
        {RESPONSE_KEY: "a", SITE_KEY: 5},
        {RESPONSE_KEY: {"a": [1, 2]}, SITE_KEY: {"battery_accept_w": "5000"}},
        {RESPONSE_KEY: {"a": {"changes": "x", "starts": {"a": 1}, "identity": 7}}},
        {
            RESPONSE_KEY: {
                "a": {
                    "changes": [
                        [1.0, "x"],
                        [-1.0, 2.0],
                        [5.0, 3.0],
                        [1.0, 2.0, 3.0],
                        True,
                        [True, 2.0],
                        [None, 2.0],
                    ],
                    "identity": ["Acme", 1, None],
                }
            },
            SITE_KEY: {"battery_accept_w": -5000.0},
        },
        {SITE_KEY: {"battery_accept_w": True}},
        {SITE_KEY: {"battery_accept_w": 1e9}},
        # Other versions of the keys are not read.
        {"learned_response_v0": {"a": {"changes": [[1.0, 2.0]] * 5}}},
        {"learned_site_v2": {"battery_accept_w": 5000.0}},
    ],
)
def test_unreadable_learned_data_is_skipped(stored: object) -> None:
    again = restarted(stored, site_settings=BATTERY_SITE)
    assert times(response(again.driver)) == (0.0, SOLAR.settle_s, 0.0, SOLAR.start_settle_s)
    assert again.driver._manager.site_memory.battery_accept_w is None
    assert set(again.driver.dump()) == {"chargers"}  # nothing learned to store


def test_json_without_nan_or_infinity_still_skips_them() -> None:
    # Python's json writes NaN and Infinity; a hand-edited or foreign store may hold them.
    stored = {
        RESPONSE_KEY: {"a": {"changes": [[math.nan, 2.0], [1.0, math.inf]]}},
        SITE_KEY: {"battery_accept_w": math.nan},
    }
    again = restarted(stored)
    assert len(response(again.driver).changes) == 0
    assert again.driver._manager.site_memory.battery_accept_w is None


def test_restored_times_are_clamped_to_the_settle_range() -> None:
    # Stored with longer bounds than this site's: a restored time never holds a car back longer
    # than the settings allow.
    stored = {RESPONSE_KEY: {"a": {"changes": [[200.0, 500.0]] * 5, "starts": [[0.0, 1000.0]] * 5}}}
    again = restarted(stored)
    learned = response(again.driver)
    assert learned.late_s(SOLAR) == SOLAR.settle_max_s
    assert learned.early_s(SOLAR) == SOLAR.settle_max_s
    assert learned.late_s(SOLAR, start=True) == SOLAR.start_settle_max_s
    assert again.driver.dump()[RESPONSE_KEY]["a"]["changes"][0] == [30.0, 30.0]
    # An old store with more observations than are kept: the newest ones.
    many = {RESPONSE_KEY: {"a": {"changes": [[0.0, float(i)] for i in range(40)]}}}
    assert response(restarted(many).driver).changes[0] == (0.0, 25.0)


def test_other_hardware_learns_afresh() -> None:
    first = rig(mode=Mode.SOLAR)
    first.model.info = WALLBOX
    first.driver.charger_changed("a")
    slow_charger(first, 0, 1800)
    stored = first.driver.dump()
    assert stored[RESPONSE_KEY]["a"]["identity"] == ["Acme", "Wall 11", "1.0"]
    # The same charger after a restart (it reports the same hardware again): kept.
    same = restarted(stored)
    same.model.info = WALLBOX
    same.driver.charger_changed("a")
    assert times(response(same.driver)) == times(response(first.driver))
    # New firmware, reported after the restart (boot notification) or already known before the
    # stored data is loaded: the old response is dropped.
    same.model.info = ChargerInfo(vendor="Acme", model="Wall 11", firmware_version="2.0")
    same.driver.charger_changed("a")
    assert len(response(same.driver).changes) == 0
    assert RESPONSE_KEY not in same.driver.dump()
    updated = rig(mode=Mode.SOLAR)
    updated.model.info = ChargerInfo(vendor="Acme", model="Wall 11", firmware_version="2.0")
    updated.driver.charger_changed("a")
    updated.driver.load(stored)
    assert len(response(updated.driver).changes) == 0


def test_a_charger_keeps_its_response_while_manual_or_unloaded() -> None:
    first = rig(mode=Mode.SOLAR)
    slow_charger(first, 0, 1800)
    learned = times(response(first.driver))
    stored = first.driver.dump()
    first.driver.update_charger("a", {"mode": Mode.MANUAL})
    assert first.driver._manager.memory("a") is None
    assert first.driver.dump() == {**stored, "chargers": first.driver.dump()["chargers"]}
    assert first.driver.learned()["chargers"]["a"]["late_s"] == learned[1]
    first.driver.update_charger("a", {"mode": Mode.SOLAR})
    assert times(response(first.driver)) == learned
    # Its entry unloaded (the server stays): still stored.
    first.driver.remove_charger("a")
    assert first.driver.dump()[RESPONSE_KEY] == stored[RESPONSE_KEY]


# --- a SoC plan's last known SoC ------------------------------------------------------------------
def soc_plan(transaction_id: str | None) -> Rig:
    """A SoC plan (80 % of 60 kWh, departure in 40 min: charging now) on a charger in session
    ``transaction_id``."""
    r = rig(mode=Mode.PLAN)
    view = r.driver.charger_view("a")
    view.plan_departure = datetime.fromtimestamp(T0 + 2400, UTC)
    view.plan_soc = 80.0
    view.vehicle_capacity_kwh = 60.0
    if transaction_id is not None:
        open_session(r.model, transaction_id)
    return r


async def plan_reason(r: Rig, **charger: Any) -> Reason:
    step, _ = await r.step(60.0, charger=car(r.clock.t + 60.0, **charger), grid=500.0)
    return step.decision.chargers["a"].reason


async def test_a_soc_plan_goes_on_after_a_restart_in_the_same_session() -> None:
    first = soc_plan("tx-1")
    assert await plan_reason(first, soc=50.0, energy=1000.0) is Reason.PLANNED_SLOT
    stored = first.driver.dump()
    assert stored[SESSION_KEY] == {"a": {"soc": 50.0, "energy_wh": 1000.0, "session": ["tx-1"]}}
    # Restarted while the car's SoC sensor is not back yet: the estimate goes on.
    again = soc_plan("tx-1")
    again.driver.load(json.loads(json.dumps(stored)))
    assert await plan_reason(again, soc=None, energy=1200.0) is Reason.PLANNED_SLOT
    memory = memory_of(again)
    assert memory.soc_seen == (50.0, 1000.0)
    # Messages the charger queued while Home Assistant was down end that session: another car.
    open_session(again.model, "tx-2")
    assert await plan_reason(again, soc=None, energy=0.0) is Reason.PLAN_SOC_UNAVAILABLE
    assert memory.soc_seen is None


@pytest.mark.parametrize(
    ("session", "stored"),
    [
        ("tx-2", {"soc": 50.0, "energy_wh": 1000.0, "session": ["tx-1"]}),  # another session
        (None, {"soc": 50.0, "energy_wh": 1000.0, "session": ["tx-1"]}),  # none
        ("tx-1", {"soc": 150.0, "energy_wh": 1000.0, "session": ["tx-1"]}),
        ("tx-1", {"soc": 50.0, "energy_wh": -1.0, "session": ["tx-1"]}),
        ("tx-1", {"soc": math.nan, "energy_wh": 1000.0, "session": ["tx-1"]}),
        ("tx-1", {"soc": 50.0, "energy_wh": 1000.0, "session": []}),
        ("tx-1", {"soc": 50.0, "energy_wh": 1000.0, "session": "tx-1"}),
        ("tx-1", ["soc", 50.0]),
    ],
)
async def test_a_soc_of_another_session_or_unreadable_is_not_restored(
    session: str | None, stored: object
) -> None:
    again = soc_plan(session)
    again.driver.load({SOC_KEY: {"a": stored}})
    assert await plan_reason(again, soc=None, energy=0.0) is Reason.PLAN_SOC_UNAVAILABLE


async def test_a_restored_soc_waits_for_the_charger_to_show_its_session() -> None:
    again = soc_plan("tx-1")
    again.model.connected = False
    # As stored before the car's phases were (the SoC alone): still read.
    stored = {SOC_KEY: {"a": {"soc": 50.0, "energy_wh": 1000.0, "session": ["tx-1"]}}}
    again.driver.load(stored)
    await plan_reason(again, soc=None, energy=1000.0, connected=False)
    assert again.driver.dump()[SESSION_KEY] == stored[SOC_KEY]  # kept, not yet resolved
    again.model.connected = True
    assert await plan_reason(again, soc=None, energy=1000.0) is Reason.PLANNED_SLOT


# --- the phases a car draws on --------------------------------------------------------------------
def energy_plan(transaction_id: str) -> Rig:
    """An energy plan (5 kWh, departure in an hour) on a charger in session ``transaction_id``:
    planned from the grid (no prices), in the last quarter hour on 3 phases at 32 A, in the last
    three on 1 phase."""
    r = rig(mode=Mode.PLAN)
    view = r.driver.charger_view("a")
    view.plan_departure = datetime.fromtimestamp(T0 + 3600, UTC)
    view.plan_energy_kwh = 5.0
    open_session(r.model, transaction_id)
    return r


async def plan_start(r: Rig) -> float | None:
    """When the plan starts charging the car, paused now (s from T0)."""
    step, _ = await r.step(10.0, charger=car(r.clock.t + 10.0, power=0.0))
    decision = step.decision.chargers["a"]
    assert decision.reason is Reason.PLAN_WAITING
    return None if decision.until is None else decision.until - T0


async def test_a_one_phase_car_stays_one_phase_after_a_restart_in_the_same_session() -> None:
    first = energy_plan("tx-1")
    assert await plan_start(first) == 2700.0  # not seen drawing yet: the charger's 3 phases
    drawing = car(first.clock.t + 10.0, power=7360, currents=(32, 0, 0))
    await first.step(10.0, charger=drawing, grid=7360.0)
    assert memory_of(first).car_phases == 1
    stored = json.loads(json.dumps(first.driver.dump()))
    assert stored[SESSION_KEY] == {"a": {"car_phases": 1, "session": ["tx-1"]}}
    # Restarted while the car is paused: still a 1-phase car, its plan starts as early.
    again = energy_plan("tx-1")
    again.driver.load(stored)
    assert await plan_start(again) == 900.0
    assert memory_of(again).car_phases == 1
    assert again.driver.dump()[SESSION_KEY] == stored[SESSION_KEY]
    # Seen drawing on every phase: it takes what the charger offers.
    drawing = car(again.clock.t + 10.0, power=22080, currents=(32, 32, 32))
    await again.step(10.0, charger=drawing, grid=22080.0)
    assert memory_of(again).car_phases is None
    assert SESSION_KEY not in again.driver.dump()
    assert await plan_start(again) == 2700.0


async def test_restored_phases_are_dropped_once_the_session_turns_out_ended() -> None:
    stored = {SESSION_KEY: {"a": {"car_phases": 1, "offsets": [1.3], "session": ["tx-1"]}}}
    again = energy_plan("tx-1")
    again.driver.load(stored)
    assert await plan_start(again) == 900.0
    assert memory_of(again).follow.offsets == (1.3,)
    # Messages the charger queued while Home Assistant was down end that session: another car.
    open_session(again.model, "tx-2")
    assert await plan_start(again) == 2700.0
    assert (memory_of(again).car_phases, memory_of(again).follow.offsets) == (None, ())
    assert SESSION_KEY not in again.driver.dump()


@pytest.mark.parametrize(
    ("session", "stored"),
    [
        ("tx-2", {"car_phases": 1, "session": ["tx-1"]}),  # another session
        ("tx-1", {"car_phases": 3, "session": ["tx-1"]}),  # every phase is not remembered
        ("tx-1", {"car_phases": 0, "session": ["tx-1"]}),
        ("tx-1", {"car_phases": "1", "session": ["tx-1"]}),
        ("tx-1", {"car_phases": 1.0, "session": ["tx-1"]}),
        ("tx-1", {"car_phases": True, "session": ["tx-1"]}),
        ("tx-1", {"car_phases": 1, "session": []}),
        ("tx-1", {"car_phases": 1}),
        ("tx-1", {"session": ["tx-1"]}),  # nothing seen
        # One unreadable part makes the whole record so.
        ("tx-1", {"car_phases": 5, "soc": 50.0, "energy_wh": 1000.0, "session": ["tx-1"]}),
        ("tx-1", {"car_phases": 1, "soc": 50.0, "session": ["tx-1"]}),
        # Offsets no learner keeps: over 2 A, between 0 and 0.5 A, not numbers, more than 5.
        ("tx-2", {"offsets": [1.3], "session": ["tx-1"]}),
        ("tx-1", {"car_phases": 1, "offsets": [2.5], "session": ["tx-1"]}),
        ("tx-1", {"car_phases": 1, "offsets": [0.3], "session": ["tx-1"]}),
        ("tx-1", {"car_phases": 1, "offsets": [-1.0], "session": ["tx-1"]}),
        ("tx-1", {"car_phases": 1, "offsets": ["1.3"], "session": ["tx-1"]}),
        ("tx-1", {"car_phases": 1, "offsets": [True], "session": ["tx-1"]}),
        ("tx-1", {"car_phases": 1, "offsets": 1.3, "session": ["tx-1"]}),
        ("tx-1", {"car_phases": 1, "offsets": [1.3] * 6, "session": ["tx-1"]}),
        ("tx-1", {"offsets": [], "session": ["tx-1"]}),
    ],
)
async def test_phases_of_another_session_or_unreadable_are_not_restored(
    session: str, stored: object
) -> None:
    again = energy_plan(session)
    again.driver.load(json.loads(json.dumps({SESSION_KEY: {"a": stored}})))
    assert await plan_start(again) == 2700.0
    memory = memory_of(again)
    assert (memory.car_phases, memory.soc_seen, memory.follow.offsets) == (None, None, ())
    assert SESSION_KEY not in again.driver.dump()


async def test_a_car_seen_in_a_session_is_stored_whole_and_comes_back_whole() -> None:
    # The SoC, the phases and the offsets; the current form wins over the SoC alone stored
    # before it.
    record = {
        "soc": 50.0,
        "energy_wh": 1000.0,
        "car_phases": 2,
        "offsets": [0.0, 1.3, 1.2],
        "session": ["tx-1"],
    }
    stale = {"soc": 20.0, "energy_wh": 0.0, "session": ["tx-1"]}
    again = energy_plan("tx-1")
    again.driver.load({SOC_KEY: {"a": stale}, SESSION_KEY: {"a": record}})
    await plan_start(again)
    memory = memory_of(again)
    assert (memory.soc_seen, memory.car_phases) == ((50.0, 1000.0), 2)
    assert (memory.follow.offsets, memory.follow.offset_a) == ((0.0, 1.3, 1.2), 1.2)
    assert again.driver.dump()[SESSION_KEY] == {"a": record}


async def test_a_car_seen_is_kept_while_its_charger_is_out_of_the_controller() -> None:
    stored = {"a": {"car_phases": 1, "session": ["tx-1"]}}
    r = energy_plan("tx-1")
    r.driver.load({SESSION_KEY: stored})
    assert await plan_start(r) == 900.0
    # The user's for a while, then handed back in the same session: still a 1-phase car.
    r.driver.update_charger("a", {"mode": Mode.MANUAL})
    await r.step(10.0, charger=car(r.clock.t + 10.0, power=0.0))
    assert r.driver.dump()[SESSION_KEY] == stored
    r.driver.update_charger("a", {"mode": Mode.PLAN})
    assert await plan_start(r) == 900.0
    # Its entry unloaded (as on a reload, before the stored form is written): stored still.
    r.driver.remove_charger("a")
    assert r.driver.dump()[SESSION_KEY] == stored
