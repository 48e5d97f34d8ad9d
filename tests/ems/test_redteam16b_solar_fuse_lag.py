"""Red team 16b on adf5a67: a Solar car on a tight fuse, the house stepping up.

Found: Solar on a 25 A fuse with sun for 26 A, the car at 24.5 A, the house +12 A: the fuse
lowered to 12.5 A, and a second later paused the car (restarted 10 s later), whatever the car's
lag (2-5 s) or meter (every 10-60 s). Until the car follows, the grid shows its old draw: the
surplus seems to fall by that lag too, and the Solar target fell to the car's minimum. The fuse's
lag hold (``fuse._hold_lowers_in_flight``, red team 15b) kept only the written limit; the target
below it fell to the headroom without the lag, 0.5 A: a pause.

Now where the lag explains the fuse's shortfall, a charger whose own target is lower gets that
target, not the pause; the leftover that lag leaves covers its drop, and the Solar stage holds a
drop the lag explains, the lag the grid showed counted too (``limiter._lag_explains``: with a
60 s meter its sample shows none): the written limit stays.

The closed loop of red team 11b (``Plant``: a decision a second, the production driver and
controller; the car follows a taken limit ``lag_s`` later, its meter every ``meter_period_s``).
Its sun counts in the grid's power, not in the line currents the fuse reads: a fuse that binds
in sunshine is one the sun does not relieve (an inverter on other lines, a battery's power).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam11b_refused_fuse import Plant
from .test_redteam16a_unseen_draw_steady import OwnLimit

SUN_W = 3 * 230.0 * 26.0  # sun for 26 A a phase


@pytest.mark.parametrize("mode", [Mode.SOLAR, Mode.MIN_SOLAR])
@pytest.mark.parametrize("meter_s", [10, 60])
@pytest.mark.parametrize("lag_s", [2.0, 5.0])
@pytest.mark.parametrize("car_max_a", [16.0, 32.0])
async def test_a_house_step_on_a_tight_fuse_does_not_pause_a_solar_car(
    mode: Mode, meter_s: int, lag_s: float, car_max_a: float
) -> None:
    """12.5 A at the step and nothing more while the car follows (adf5a67: 0 A a second after
    the step, 12.5 A ten seconds later, in Min+Solar too; de4ba76: 6-10.5 A for 10-25 s); the
    fuse over for the car's lag, as before."""
    control = OwnLimit(lag_s=lag_s, car_max_a=car_max_a)
    plant = Plant(mode, 25.0, {"a": control}, meter_period_s=meter_s)
    await plant.run(40, house_a=0.0, pv_w=SUN_W)
    await plant.run(120, house_a=12.0, pv_w=SUN_W)
    calls = [(round(at), amps) for _name, amps, at in control.calls]
    after = [(at, amps) for at, amps in calls if at > 40]
    assert after == [(41, 12.5)], calls
    assert plant.over_s <= lag_s
