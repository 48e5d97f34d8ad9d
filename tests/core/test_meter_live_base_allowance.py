"""meter.rise_allowance from a base received live: the charger's clock set forward since makes
no allowance (a reading 50 kWh high counted), while an offline queue keeps its stamps' time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_ems.core.meter import max_energy_wh, rise_allowance
from custom_components.ocpp_ems.core.model import RegisterPoint
from custom_components.ocpp_ems.core.timeutil import CLOCK_OFFSET_TOLERANCE_S

POWER_W = 22_000.0
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BEHIND = timedelta(hours=-2)  # the charger's clock, as its live readings confirmed it
MINUTE = timedelta(minutes=1)


def _point(
    stamp: datetime,
    received: datetime,
    received_monotonic: float,
    live_offset_s: float | None = None,
) -> RegisterPoint:
    return RegisterPoint(
        register_wh=10_000.0,
        timestamp=stamp,
        received_at=received,
        _received_monotonic=received_monotonic,
        live_offset_s=live_offset_s,
    )


def test_a_clock_set_forward_after_a_live_base_allows_only_the_time_we_waited() -> None:
    base = _point(NOW + BEHIND, NOW, 100.0)
    set_right = _point(NOW + MINUTE, NOW + MINUTE, 160.0)
    allowance = rise_allowance(POWER_W, None, base, set_right, live_offset_s=BEHIND.total_seconds())
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 60.0 + CLOCK_OFFSET_TOLERANCE_S))


def test_a_base_not_on_the_live_clock_keeps_the_stamps_time() -> None:
    """An offline queue: its first reading, stamped two hours ago, is the base of the next one
    that arrives with it; the charger's clock is right (confirmed offset 0)."""
    queued_first = _point(NOW + BEHIND, NOW, 100.0)
    queued_next = _point(NOW + BEHIND + MINUTE, NOW, 100.0)
    allowance = rise_allowance(POWER_W, None, queued_first, queued_next, live_offset_s=0.0)
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 60.0))


def test_a_queue_flushed_after_a_live_base_keeps_the_time_it_was_offline() -> None:
    base = _point(NOW, NOW, 100.0)
    hours_later = timedelta(hours=2)
    queued = _point(NOW + hours_later - MINUTE, NOW + hours_later, 100.0 + 7200.0)
    allowance = rise_allowance(POWER_W, None, base, queued, live_offset_s=0.0)
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 7200.0))


@pytest.mark.parametrize("confirmed_now", [None, 0.0], ids=["none_since_the_set", "the_new_clock"])
def test_a_base_is_judged_by_the_offset_confirmed_when_we_received_it(
    confirmed_now: float | None,
) -> None:
    """We told the charger the time since the base: no offset is confirmed now, or the new
    clock's (0); the base, received on the old clock's (2 h behind), was received live."""
    base = _point(NOW + BEHIND, NOW, 100.0, live_offset_s=BEHIND.total_seconds())
    set_right = _point(NOW + MINUTE, NOW + MINUTE, 160.0)
    allowance = rise_allowance(POWER_W, None, base, set_right, live_offset_s=confirmed_now)
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 60.0 + CLOCK_OFFSET_TOLERANCE_S))


def test_a_base_that_does_not_say_is_judged_by_the_offset_confirmed_now() -> None:
    """A restored base (no offset recorded): a queue's stamps keep their time unless the offset
    confirmed now shows the base live."""
    base = _point(NOW + BEHIND, NOW, 100.0)
    set_right = _point(NOW + MINUTE, NOW + MINUTE, 160.0)
    allowance = rise_allowance(POWER_W, None, base, set_right, live_offset_s=None)
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 7260.0))
