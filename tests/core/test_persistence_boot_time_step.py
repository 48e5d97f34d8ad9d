"""The 2.x station's boot time is stored by our clock as it is at the save: moved by the step our
clock took since the boot (``meter_time.by_our_clock_now``, as ``tx_boot_mark.boot_time_now`` moves it
within one run). Restored, it has no monotonic time (that clock starts again with our host) and
is moved no more, so a step taken before the save must already be in it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from custom_components.ocpp_ems.core.meter_time import reception
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict

from .test_time_hostile import our_clock

# A host that came up without a real-time clock (behind) or one kept in local time (ahead).
HOST_OFF = timedelta(minutes=45)


@pytest.mark.parametrize("step", [-HOST_OFF, HOST_OFF, timedelta(0)], ids=["back", "ahead", "none"])
async def test_the_stored_boot_time_is_moved_by_the_step_our_clock_took_since(
    step: timedelta,
) -> None:
    with our_clock() as clock:
        charger = Charger(charger_id="CS 1", ocpp_version="ocpp2.0.1")
        charger._booted_at = reception(None)
        booted = charger._booted_at[0]
        clock.tick(600)
        clock.step(step)  # NTP sets our clock
        restored = charger_from_dict(charger_to_dict(charger))
    assert restored._booted_at is not None
    stored_at, monotonic = restored._booted_at
    # (our clock and the monotonic one are read microseconds apart)
    assert (stored_at - booted).total_seconds() == pytest.approx(step.total_seconds(), abs=0.1)
    assert monotonic is None


def test_no_boot_known_stays_none() -> None:
    charger = Charger(charger_id="CS 1", ocpp_version="ocpp2.0.1")
    assert charger_to_dict(charger)["booted_at"] is None
    assert charger_from_dict(charger_to_dict(charger))._booted_at is None
