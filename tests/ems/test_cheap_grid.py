"""Cheap grid: Solar and Min + solar charge in full while the grid price is at or below the site's
cheap price, until the run of cheap slots ends (fake clock, scripted inputs)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerSettings,
    EnergyManager,
    Mode,
    PlanTarget,
    Reason,
    SiteInputs,
    SiteSettings,
)
from custom_components.ocpp_ems.core.ems.cheap_grid import cheap_until, next_price_change
from custom_components.ocpp_ems.core.ems.types import PriceSlot

from .util import car, site

H = 3600.0


def hours(*prices: float, start: float = 0.0) -> tuple[PriceSlot, ...]:
    """One slot an hour from ``start``, at these prices."""
    return tuple(
        PriceSlot(start + n * H, start + (n + 1) * H, price) for n, price in enumerate(prices)
    )


def test_the_cheap_run_ends_at_the_first_dear_slot_or_gap() -> None:
    prices = hours(0.05, 0.02, -0.01, 0.30, 0.01)
    assert cheap_until(prices, 0.05, 10.0) == 3 * H
    assert cheap_until(prices, 0.05, 2.5 * H) == 3 * H
    assert cheap_until(prices, 0.05, 3.5 * H) is None  # dear now
    assert cheap_until(prices, 0.05, 4.5 * H) == 5 * H
    assert cheap_until(prices, 0.0, 10.0) is None
    assert cheap_until(prices, 0.0, 2.5 * H) == 3 * H  # a negative price is cheap at 0
    assert cheap_until(prices, None, 10.0) is None  # no limit: never
    assert cheap_until(prices, 0.05, 6 * H) is None  # no price known for now
    # Slots out of order are one run; a gap of a minute (no price known) ends it.
    assert cheap_until(tuple(reversed(prices[:3])), 0.05, 10.0) == 3 * H
    gap = (PriceSlot(0, H, 0.0), PriceSlot(H + 60, 2 * H, 0.0))
    assert cheap_until(gap, 0.05, 10.0) == H
    # A dear slot overlapping the run's end ends it there.
    overlap = (PriceSlot(0, H, 0.0), PriceSlot(H / 2, 2 * H, 0.3))
    assert cheap_until(overlap, 0.05, 10.0) == H


def test_next_price_change() -> None:
    prices = hours(0.1, 0.2, start=H)
    assert next_price_change(prices, 0.0) == H
    assert next_price_change(prices, H) == 2 * H
    assert next_price_change(prices, 3 * H) is None
    assert next_price_change((), 0.0) is None


def manager(mode: Mode, cheap: float | None = 0.05, **kwargs: object) -> EnergyManager:
    return EnergyManager(
        SiteSettings(cheap_price=cheap),
        {"a": ChargerSettings(mode=mode, **kwargs)},  # type: ignore[arg-type]
    )


def priced(inputs: SiteInputs, prices: tuple[PriceSlot, ...]) -> SiteInputs:
    return replace(inputs, prices=prices)


@pytest.mark.parametrize("mode", [Mode.SOLAR, Mode.MIN_SOLAR])
def test_solar_modes_charge_in_full_while_the_grid_is_cheap(mode: Mode) -> None:
    """No surplus at all (the grid imports 500 W): in full from the grid, told until when."""
    prices = hours(0.30, 0.04, 0.04, 0.30)
    m = manager(mode)
    d = m.update(priced(site(H + 10, 500), prices), H + 10)
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)
    assert (d.chargers["a"].reason, d.chargers["a"].until) == (Reason.CHEAP_GRID, 3 * H)
    assert d.cheap_grid_until == 3 * H  # the site's sensor shows it whatever a car's reason
    # The next price change wakes the manager (a held forecast changes no sensor).
    assert d.next_update_at == 2 * H


def test_not_at_a_dearer_price_nor_without_a_limit() -> None:
    prices = hours(0.06)
    d = manager(Mode.SOLAR).update(priced(site(10, 500), prices), 10)
    assert d.chargers["a"].target.paused
    assert d.chargers["a"].reason is Reason.WAITING_FOR_SURPLUS
    assert d.cheap_grid_until is None
    d = manager(Mode.SOLAR, cheap=None).update(priced(site(10, 500), hours(-0.5)), 10)
    assert d.chargers["a"].target.paused
    assert d.cheap_grid_until is None
    # Without a limit no price change wakes the manager (the sensor's changes do).
    assert d.next_update_at is None


def test_fast_and_plans_are_left_alone() -> None:
    prices = hours(0.01, 0.30, 0.30)
    d = manager(Mode.FAST).update(priced(site(10, 500), prices), 10)
    assert d.chargers["a"].reason is Reason.FAST
    # The site's run is known (and its end wakes the manager) whatever the cars' modes.
    assert (d.cheap_grid_until, d.next_update_at) == (H, H)
    plan = PlanTarget(departure=3 * H, energy_wh=5000)
    d = manager(Mode.PLAN, plan=plan).update(priced(site(10, 500), prices), 10)
    assert d.chargers["a"].reason is not Reason.CHEAP_GRID


def test_after_the_run_the_surplus_rules_take_over() -> None:
    """The run over: with surplus the car goes on from the sun without a stop and start; in a
    deficit it is stopped by the stop rule, not at once."""
    prices = hours(0.01, 0.30)
    m = manager(Mode.SOLAR, cheap=0.05)
    assert m.update(priced(site(10, 500), prices), 10).chargers["a"].reason is Reason.CHEAP_GRID
    sunny = priced(site(H + 1, -6000, {"a": car(H + 1, power=11000)}), prices)
    d = m.update(sunny, H + 1)
    assert d.chargers["a"].reason is Reason.SOLAR
    assert not d.chargers["a"].target.paused

    m = manager(Mode.SOLAR, cheap=0.05)
    m.update(priced(site(10, 500), prices), 10)
    dark = priced(site(H + 1, 11500, {"a": car(H + 1, power=11000)}), prices)
    d = m.update(dark, H + 1)
    assert not d.chargers["a"].target.paused
    assert d.chargers["a"].reason is Reason.STOPPING
    late = priced(site(H + 400, 4600, {"a": car(H + 400, power=4100)}), prices)
    assert m.update(late, H + 400).chargers["a"].target.paused
