"""A car started beside a steady load near the main fuse, with a charger meter that lags the grid's.

A closed loop with real timing (``fuse_loop``): the house per line (with it a charger in Manual
mode, which the energy manager leaves alone: its draw is the house's load).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import ChargerSettings, Mode

from .fuse_loop import FUSE_A, MARGIN_A, Charger, Site, same_on_every_line

LIMIT_A = FUSE_A - MARGIN_A
TEN_MINUTES = 600
# Charger meters that report once a minute: the car's start is not in them for up to a minute.
METER_S = 60.0


@pytest.mark.parametrize("meter_s", [10.0, 60.0])
@pytest.mark.parametrize("phases", [3, 1])
# Fast takes its fuse share, Min + solar without sun its minimum.
@pytest.mark.parametrize(("mode", "amps"), [(Mode.FAST, 6.5), (Mode.MIN_SOLAR, 6.0)])
def test_a_car_started_on_its_fuse_share_is_not_paused_by_its_own_draw(
    meter_s: float, phases: int, mode: Mode, amps: float
) -> None:
    """A Manual charger beside it draws 16 A steadily; the fuse leaves the car 6.5 A, just above
    its minimum. Once started, the grid showed the car while its charger's meter still showed it
    paused: its draw was taken for the house's, its fuse share fell below the minimum and it was
    paused, the pause showed and it started again. With 60 s meter values the meter never caught
    it drawing: a start every 12 s, 50 in ten minutes (5 with 10 s meter values)."""
    cfg = ChargerSettings(mode=mode, phases=phases, max_current_a=16.0)
    car = Charger(cfg, meter_s=meter_s)
    site = Site({"car": car}, same_on_every_line(LIMIT_A - 6.5))
    site.run(0, TEN_MINUTES)
    assert car.starts == 1
    assert car.limit_a == amps
    assert not site.over


def test_a_car_slow_to_start_frees_no_fuse_headroom_before_it_draws() -> None:
    """Two Fast cars share what 12 A of house load leaves; one takes 20 s after its charger
    applied a start before it draws (its handshake), beyond what the learned response says. Its
    start is counted as far as the grid shows it: the other car is not given its share in the
    meantime (the fuse would carry both once it draws), and neither is paused by its own draw
    (18 starts in ten minutes before)."""
    cars = {
        "a": Charger(ChargerSettings(mode=Mode.FAST, max_current_a=16.0), meter_s=METER_S),
        "b": Charger(
            ChargerSettings(mode=Mode.FAST, max_current_a=16.0), meter_s=METER_S, start_s=20.0
        ),
    }
    site = Site(cars, same_on_every_line(12.0))
    site.run(0, TEN_MINUTES)
    assert not site.over
    assert [car.starts for car in cars.values()] == [1, 1]
    assert [car.limit_a for car in cars.values()] == [6.2, 6.2]


def test_a_house_load_rising_while_a_car_is_slow_to_start_is_lowered_once_the_grid_shows_it() -> (
    None
):
    """The house's load rises by 7 A while a started car has not drawn yet: the rise is taken
    for the car until it draws. Then the grid shows the line over the fuse and both cars are
    lowered at once: over only until the next grid reading and the charger applying the drop."""
    cars = {
        "a": Charger(ChargerSettings(mode=Mode.FAST, max_current_a=16.0), meter_s=METER_S),
        "b": Charger(
            ChargerSettings(mode=Mode.FAST, max_current_a=16.0), meter_s=METER_S, start_s=20.0
        ),
    }
    site = Site(cars, lambda t: (5.0,) * 3 if t < 3.0 else (12.0,) * 3)
    site.run(0, TEN_MINUTES)
    assert site.over == [22.0, 23.0]  # b draws from 22 s; seen at 22, lowered from 24
    assert sum(car.limit_a for car in cars.values()) <= LIMIT_A - 12.0
