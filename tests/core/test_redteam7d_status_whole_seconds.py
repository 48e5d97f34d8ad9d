"""Red team 7d (statuses): a 1.6 charger whose clock is ON ours but stamps whole seconds
(truncated), and which sends some statuses untimed: a burst within one second, an untimed
Preparing, then its stamped Charging 0.4 s later. The Charging's stamp (the whole second) lies
before the untimed Preparing's arrival (0.5 s into that second) by up to a second: it was dropped
as out of order (the connector showed Preparing, a no-flow status, for the whole session until
the next status change); an untimed status now counts as of its arrival less a second
(``STAMP_RESOLUTION_S``). The README's limitation names a clock "up to a minute behind ours"; this clock is
not behind at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import our_clock
from .v16_harness import Harness


def whole_second_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


async def test_a_whole_second_stamp_right_after_an_untimed_status_is_taken(
    h_cp1: Harness,
) -> None:
    with our_clock() as clock:
        sim = await h_cp1.charger_client(boot=False)
        clock.tick((1.5 - datetime.now(UTC).microsecond / 1e6) % 1.0)  # 0.5 s into a second
        await sim.status(1, "Preparing")
        clock.tick(0.4)
        await sim.status(1, "Charging", timestamp=whole_second_now())
    assert h_cp1.charger.connector(1).status is ConnectorStatus.CHARGING


async def test_a_burst_of_three_whole_second_stamps_ends_on_the_last(h_cp1: Harness) -> None:
    """Pin (correct): Preparing, Charging, SuspendedEV within one second, all stamped the same
    whole second: equal stamps count in arrival order."""
    with our_clock() as clock:
        sim = await h_cp1.charger_client(boot=False)
        for status in ("Preparing", "Charging", "SuspendedEV"):
            await sim.status(1, status, timestamp=whole_second_now())
            clock.tick(0.2)
    assert h_cp1.charger.connector(1).status is ConnectorStatus.SUSPENDED_EV
