"""Red team 9c on 575a3c1: a charger that refuses a limit ONCE (busy) and takes the next.

Closed loop with the production retry (30 s): the car draws what its control last took; the
house load steps up so the fuse needs the charger lowered, or the sun comes out so Solar mode
wants it raised. The controller and the driver are real; the control is the test's fake."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import Mode
from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.config import SiteSettings
from custom_components.ocpp_ems.core.ems.driver import ChargerLink, EmsDriver, Timing
from custom_components.ocpp_ems.core.errors import CommandRejectedError
from custom_components.ocpp_ems.core.model import Capabilities, Charger

from .test_driver import T0, Clock, Control
from .util import car, site

FUSE_A = 40.0
V = 230.0


class BusyOnce(Control):
    """Refuses the first limit written after ``arm()``, takes every other."""

    armed: bool = False

    def arm(self) -> None:
        self.armed = True

    async def set_limit(
        self, amps: float | None, *, phases: int | None = None, by_manager: bool = False
    ) -> None:
        self.calls.append(("set_limit", amps, phases))
        if self.armed:
            self.armed = False
            raise CommandRejectedError("set_limit", "Rejected")
        self.limit.requested_a = amps


def _driver(mode: Mode, clock: Clock, control: Control) -> EmsDriver:
    model = Charger(charger_id="a", connected=True, booted=True, capabilities=Capabilities())
    driver = EmsDriver(
        SiteSettings(fuse_a=FUSE_A),
        EmsOptions(),
        clock=clock,
        timing=lambda: Timing(),  # (production: retry 30 s)
    )
    driver.charger_view("a").mode = mode
    driver.add_charger("a", ChargerLink(model=model, control=lambda: control))
    return driver


async def _run(
    driver: EmsDriver, clock: Clock, control: Control, seconds: int, house_a: float, pv_w: float
) -> list[float]:
    """A decision a second; the car draws what the control took (3 phases). The car's draw
    each second."""
    draws: list[float] = []
    for _ in range(seconds):
        clock.t += 1.0
        t = clock.t
        draw = control.limit.requested_a or 0.0
        lines = (draw + house_a,) * 3
        grid_w = lines[0] * V * 3 - pv_w
        inputs = site(
            t,
            grid_w,
            {"a": car(t, power=draw * V * 3, currents=(draw,) * 3)},
            grid_currents=lines,
            pv=pv_w,
        )
        step = driver.step(inputs, t)
        for cid, command in step.writes.items():
            await driver.write(cid, command)
        draws.append(draw)
    return draws


async def test_a_lower_refused_once_for_the_fuse_stays_safe() -> None:
    """Pin (passes on HEAD and a04ba98): Fast mode at 32 A, the house steps up to 20 A on a 40 A
    fuse, the charger is busy at the first lower and takes the next: the fuse carries more
    than 40 A for 2 s (the refusal's decision and the next), as before 575a3c1."""
    clock = Clock(T0)
    control = BusyOnce()
    driver = _driver(Mode.FAST, clock, control)
    await _run(driver, clock, control, 10, house_a=0.0, pv_w=0.0)
    assert control.limit.requested_a == 32.0
    control.arm()
    draws = await _run(driver, clock, control, 60, house_a=20.0, pv_w=0.0)
    assert sum(1 for d in draws if d + 20.0 > FUSE_A) == 2


async def test_a_lower_refused_once_does_not_throttle_the_car_below_the_fuse_share() -> None:
    """575a3c1 counted the refused 19.5 A as written: the car's own draw above it (12.5 A) was
    house load against its own share, the next writes 7, 13, 19, 19.5 A (32 s below the
    19.5 A the fuse allows). The run's first refusal is forgiven: 19.5 A again at once."""
    clock = Clock(T0)
    control = BusyOnce()
    driver = _driver(Mode.FAST, clock, control)
    await _run(driver, clock, control, 10, house_a=0.0, pv_w=0.0)
    control.arm()
    draws = await _run(driver, clock, control, 60, house_a=20.0, pv_w=0.0)
    # (draws[0:2]: 32 A, the refusal and the decision after it)
    assert min(draws[2:]) >= FUSE_A - SiteSettings().fuse_margin_a - 20.0 - 1.0


async def test_a_raise_refused_once_in_solar_mode_reaches_the_surplus_soon() -> None:
    """575a3c1 waited 30 s after a raise refused once: 6.5 A for 10 s, then 7.5, 13.5, the
    16.5 A surplus reached 30 s after the refusal (about 40 Wh exported); now 2 s after."""
    clock = Clock(T0)
    control = BusyOnce()
    driver = _driver(Mode.SOLAR, clock, control)
    await _run(driver, clock, control, 120, house_a=0.0, pv_w=6.5 * V * 3)
    assert control.limit.requested_a == 6.5
    control.arm()
    draws = await _run(driver, clock, control, 60, house_a=0.0, pv_w=16.5 * V * 3)
    assert draws[5:] == [16.5] * 55
