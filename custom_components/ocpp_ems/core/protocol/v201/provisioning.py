"""What the CSMS does to a 2.x charging station on its own initiative, around boot."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .session import V201Session


class Provisioning:
    """Boot bookkeeping and post-boot setup of one session (SKELETON, issue 9)."""

    def __init__(self, session: V201Session) -> None:
        self._session = session
        self.boot_seen = False

    def on_boot(self, *, accepted: bool) -> None:
        self.boot_seen = True

    def after_boot(self) -> None:
        """The boot answer was sent: now we may send CALLs of our own."""

    async def boot_watchdog(self) -> None:
        """A known station that reconnects without booting: ask for a boot."""

    async def on_accepted(self, password: str | None) -> None:
        """The user accepted the station: Basic-auth password, then a boot."""
