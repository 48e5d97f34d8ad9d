"""How long a retry that keeps failing waits: the one home of the back-off shared by the live
limit's refresh (current_control), the stop of a self-started transaction (transaction_stops) and
the energy manager's writes (ems.write_retry)."""

from __future__ import annotations

# The longest wait (s) between retries of something the charger keeps refusing or leaving
# unanswered: a rewrite every REFRESH_RETRY_S of a limit it refuses anyway only fills the log.
REFUSED_RETRY_MAX_S = 600.0


def backed_off(delay: float, previous: float | None) -> float:
    """The next wait of a retry that keeps failing: ``delay`` the first time, then twice the wait
    before (up to :data:`REFUSED_RETRY_MAX_S`): a charger that keeps failing is asked less and
    less often."""
    if previous is None:
        return delay
    return min(max(delay, 2 * previous), REFUSED_RETRY_MAX_S)
