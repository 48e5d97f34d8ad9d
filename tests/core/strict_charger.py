"""A 1.6 charger simulator that keeps to the smart-charging rules more strictly than SimCharger
(stack-level bound, refused purposes, lost frames, the charger's own clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from .v16_harness import CHARGER_ID, Harness, SimCharger, _camel_profile, on


def expiry(profile: dict[str, Any]) -> datetime | None:
    """When a (camelCase) profile's schedule ends (None: never)."""
    schedule = profile["chargingSchedule"]
    if schedule.get("duration") is None:
        return None
    start = datetime.fromisoformat(schedule["startSchedule"].replace("Z", "+00:00"))
    return start + timedelta(seconds=schedule["duration"])


class StrictSim(SimCharger):
    """A 1.6 charger that follows the spec a little more strictly than SimCharger:

    - rejects a profile whose stackLevel exceeds ``ChargeProfileMaxStackLevel``;
    - ``swallow``: that many SetChargingProfile calls are answered only after ``swallow_s`` (past
      the central system's response timeout) and not applied (a lost frame on a weak link);
    - records when each SetChargingProfile arrived (wall clock);
    - a schedule that has not started yet on its own clock (``clock_offset``) is not in force.
    """

    honours_start = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.swallow = 0
        self.swallow_s = 0.0
        self.arrivals: list[tuple[datetime, dict[str, Any]]] = []
        self.reject_purposes: set[str] = set()

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **kwargs: Any
    ) -> Any:
        profile = _camel_profile(cs_charging_profiles)
        self.arrivals.append((datetime.now(UTC), profile))
        self.received.append(
            (
                "SetChargingProfile",
                {"connector_id": connector_id, "cs_charging_profiles": cs_charging_profiles},
            )
        )
        if self.swallow > 0:
            self.swallow -= 1
            await asyncio.sleep(self.swallow_s)
            return call_result.SetChargingProfile(status="Rejected")
        highest = int(self.config.get("ChargeProfileMaxStackLevel", "8"))
        if profile["stackLevel"] > highest or (
            profile["chargingProfilePurpose"] in self.reject_purposes
        ):
            return call_result.SetChargingProfile(status="Rejected")
        self.install(profile)
        return call_result.SetChargingProfile(status="Accepted")


class StrictHarness(Harness):
    def new_client(self, connection: Any) -> Any:
        return StrictSim(CHARGER_ID, connection)
