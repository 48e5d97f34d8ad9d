"""``Decision.next_update_at`` points only at a future event the controller waits for.

The driver runs the controller again at that time (not sooner than its debounce): a wake-up at or
before "now" makes it decide every second for nothing.
"""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import (
    ChargerSettings,
    EnergyManager,
    Mode,
    Reading,
    Reason,
    SiteInputs,
    SiteSettings,
    SolarSettings,
    StaleFallback,
)

from .util import Loop, car, site

SOLAR = SolarSettings(regulation_margin_w=0.0)


def switchable(solar: SolarSettings = SOLAR, **kwargs: object) -> EnergyManager:
    settings = ChargerSettings(mode=Mode.SOLAR, can_switch_phases=True, **kwargs)  # type: ignore[arg-type]
    return EnergyManager(SiteSettings(solar=solar), {"a": settings})


def on_3p_then(pv_w: float, house: float) -> Loop:
    """A 1p/3p car charging on 3p until t=100 (long after its start), then ``pv_w`` of PV."""
    loop = Loop(switchable(), lambda t: 6000.0 if t <= 100 else pv_w, house=house)
    loop.run(0, 100)
    assert loop.phases("a") == 3
    return loop


def test_a_pending_phase_switch_wakes_at_the_switch() -> None:
    loop = on_3p_then(3000.0, house=0.0)  # below the 3p minimum: a switch down is pending
    for t in range(101, 281):
        d = loop.step(t)
        assert d.chargers["a"].reason is Reason.PHASE_SWITCH_PENDING
        assert d.next_update_at == 101 + SOLAR.phase_down_delay_s  # not "now": nothing due then
    loop.step(281)
    assert loop.phases("a") == 1


def test_a_stop_leaves_no_wake_up_behind() -> None:
    # A deep dip on 3p runs the stop and the 1p switch-down delays together (both 180 s): the stop
    # comes first, and the switch-down timer it leaves running must not wake the driver.
    loop = on_3p_then(0.0, house=300.0)
    loop.run(101, 281)
    d = loop.step(282)
    assert d.chargers["a"].target.paused
    assert d.chargers["a"].reason is Reason.WAITING_FOR_SURPLUS
    assert d.next_update_at is None


def test_a_mode_change_leaves_no_wake_up_behind() -> None:
    # Off while the stop delay runs: the stopped timer must not wake the driver once it is "due".
    loop = on_3p_then(0.0, house=300.0)
    loop.run(101, 110)
    loop.manager.set_mode("a", Mode.OFF)
    d = loop.run(111, 400)
    assert d.chargers["a"].reason is Reason.OFF
    assert d.next_update_at is None


def test_a_stale_input_past_its_grace_wakes_no_one() -> None:
    m = EnergyManager(
        SiteSettings(),
        {"a": ChargerSettings(stale_fallback=StaleFallback.LAST_LIMIT, stale_grace_s=300)},
    )
    m.update(site(0, -6000), 0)
    stale = SiteInputs(grid_w=Reading(-6000, 0), chargers={"a": car(100, power=5934)})
    assert m.update(stale, 100).next_update_at == 400  # the last limit holds until then
    d = m.update(stale, 500)
    assert d.chargers["a"].target.paused
    assert d.next_update_at is None


def test_every_wake_up_is_in_the_future() -> None:
    # A day's worth of clouds on a 1p/3p car: starts, stops, switches and their delays.
    def pv(t: float) -> float:
        return [6500.0, 2500.0, 900.0, 0.0, 4000.0, 7000.0, 1500.0][int(t // 200) % 7]

    loop = Loop(switchable(SolarSettings()), pv, house=400.0)
    for t in range(3000):
        d = loop.step(t)
        assert d.next_update_at is None or d.next_update_at > t, t
