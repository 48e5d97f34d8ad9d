"""The OCPP central system: a websockets server that admits chargers and runs one session each.

CONTRACT (implementation in progress): public API used by the HA layer, tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable

from .directory import ChargerDirectory, StateStore
from .model import Charger
from .session import ChargerSession
from .settings import ServerSettings


class CentralSystem:
    def __init__(
        self,
        settings: ServerSettings,
        directory: ChargerDirectory,
        store: StateStore | None = None,
    ) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        """Load persisted state, then bind. Raises ServerBindError when the port cannot be used."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Close every connection and the listening socket; cancel all tasks; save state."""
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The bound port (useful with port 0 in tests)."""
        raise NotImplementedError

    def charger(self, charger_id: str) -> Charger:
        """The model of a charger (created on demand; survives reconnects and, via the store, restarts)."""
        raise NotImplementedError

    def session(self, charger_id: str) -> ChargerSession | None:
        """The live connection of a charger, or None when it is offline."""
        raise NotImplementedError

    def add_charger_listener(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Called with the charger id whenever a charger model is created (for HA to add devices)."""
        raise NotImplementedError

    async def accept_charger(self, charger_id: str) -> None:
        """The user approved a pending charger: provision its password and let it boot Accepted."""
        raise NotImplementedError

    async def reject_charger(self, charger_id: str) -> None:
        """The user ignored/deleted a charger: drop its connection."""
        raise NotImplementedError
