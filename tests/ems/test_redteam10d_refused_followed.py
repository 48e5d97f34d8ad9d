"""Red team 10d on e68ca9e: ``ChargerResponse.refused`` drops the refused write but not what its
decision cleared: ``wrote`` set ``followed_at`` to None, and it stays None after the removal.
A sample of the car at the write before (which it had followed) then counts as unsettled
until that write's settle time has passed, and its draw is capped at the write before that
(``least_offered_a``: the house load overestimated by the difference, red team 10b's defect
in a smaller window). No closed-loop effect was found (red team 10b's loops give the same
writes): this pins the response state only. A strict xfail until ``refused`` put back the
``followed_at`` of the write before (``ChargerResponse.followed_before``)."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems.config import SolarSettings
from custom_components.ocpp_ems.core.ems.response import ChargerResponse

SOLAR = SolarSettings()


def test_a_refused_write_dropped_leaves_the_followed_raise_settled() -> None:
    response = ChargerResponse()
    response.observe(0.0, 6.0, 3, SOLAR)
    response.wrote(1.0, 6.0, SOLAR, start=False)
    response.observe(20.0, 6.0, 3, SOLAR)
    response.wrote(100.0, 16.0, SOLAR, start=False)
    response.observe(103.0, 16.0, 3, SOLAR)  # followed the raise
    before = response.least_offered_a(105.0, SOLAR)
    response.wrote(104.0, 10.0, SOLAR, start=False)  # a lower, refused
    response.refused(104.0)
    response.observe(105.0, 16.0, 3, SOLAR)
    assert (before, response.least_offered_a(105.0, SOLAR)) == (16.0, 16.0)
