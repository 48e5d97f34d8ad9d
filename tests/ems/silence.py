"""A charger that leaves the driver's writes unanswered (the silent-charger tests)."""

from __future__ import annotations

from custom_components.ocpp_ems.core.errors import CommandTimeoutError

from .test_driver import Rig, rig


def no_answer() -> None:
    """``Control.on_call`` of a charger that leaves the write unanswered."""
    raise CommandTimeoutError("SetChargingProfile")


async def rig_that_took_32_a() -> Rig:
    """A rig whose charger took the first decision (32 A)."""
    r = rig()
    await r.step()
    assert r.control.calls == [("set_limit", 32.0, None)]  # taken
    return r
