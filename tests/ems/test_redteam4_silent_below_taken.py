"""Red team (4) of the writes held for a silent charger (driver._held, 3471553).

The charger took 32 A (the car charged at full), then leaves every write unanswered (a firmware
that hangs on SetChargingProfile while its connection stays up). The manager decides every 5 s,
the user's maximum moving between 10 and 12 A (any decision that swings below 32 A: solar
surplus). 3c244eb held the writes of a silent charger for a wait that doubles up to 10 minutes
unless they take less than the unanswered one (test_driver_silent_charger: 12 writes an hour).
3471553 also lets out every write that takes less than the last one the charger took: every
decision below 32 A goes out, raises too, for as long as the charger stays silent (each one
waits out the response timeout); the wait held nothing (720 writes an hour). Now only the run's
first write below the one taken goes out at once.
"""

from __future__ import annotations

from .silence import no_answer, rig_that_took_32_a

HOUR_S = 3600.0
STEP_S = 5.0
# The user's maximum in turn while the charger is silent (all below the 32 A taken).
SWINGING_A = (10.0, 12.0)
# 3c244eb's writes an hour to a silent charger (12), with room for those that lower the current.
MAX_WRITES_AN_HOUR = 24


async def test_a_silent_charger_is_not_written_at_every_decision_below_what_it_took() -> None:
    r = await rig_that_took_32_a()
    r.control.on_call = no_answer
    for n in range(int(HOUR_S / STEP_S)):
        r.driver.update_charger("a", {"max_current_a": SWINGING_A[n % len(SWINGING_A)]})
        await r.step(after_s=STEP_S)
    writes = len(r.control.calls) - 1
    assert writes <= MAX_WRITES_AN_HOUR, f"{writes} writes an hour into the silence"
