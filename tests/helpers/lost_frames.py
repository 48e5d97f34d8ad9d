"""A charger that loses a central system's CALL: never answered, while the ones after it are (a
lost frame on a weak link, a busy charger). Any simulator built on the ``ocpp`` library's
ChargePoint (1.6 SimCharger, 2.x SimStation); no Home Assistant here (the core's tests use it)."""

from __future__ import annotations

import json
from typing import Any


def lose_next(charge_point: Any, action: str) -> list[dict[str, Any]]:
    """``charge_point`` loses the next CALL ``action`` (it goes unanswered: the central system
    times out); returns the list its payload is put in once it arrived."""
    route = charge_point.route_message
    lost: list[dict[str, Any]] = []

    async def losing(raw: str) -> None:
        message = json.loads(raw)
        if message[0] == 2 and message[2] == action:  # a CALL of that action
            del charge_point.route_message  # the ones after it are answered
            lost.append(message[3])
            return
        await route(raw)

    charge_point.route_message = losing
    return lost


def charge_point_of(charger: Any) -> Any:
    """The simulator behind a Home Assistant test's charger (``versions.ChargerSide``)."""
    return charger.sim if hasattr(charger, "sim") else charger.station
