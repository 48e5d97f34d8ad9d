"""Protocol adapters and the registry the server negotiates subprotocols from.

Adding an OCPP version = writing its adapter package (a :class:`~..session.ChargerSession`
subclass whose handlers call :class:`~..charger_state.ChargerState`, like ``v16/``) and adding one
entry to :data:`SESSION_FACTORIES`. The server offers exactly the versions listed there. Shared by
every version: our OCPP-J RPC layer :mod:`.rpc` (with :mod:`.frames`, :mod:`.schemas`,
:mod:`.limits` and :mod:`.wire_log`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

from websockets.asyncio.server import ServerConnection

from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.session import ChargerSession, SessionContext

# Imported eagerly, not on first connection: the adapter reads the official JSON schemas from the
# ``ocpp`` package, which is file I/O that must happen while Home Assistant imports the integration
# (in an executor), never inside the event loop.
from .v16 import V16Session
from .v201 import V21Session, V201Session

OCPP16 = "ocpp1.6"
OCPP201 = "ocpp2.0.1"
OCPP21 = "ocpp2.1"

# A charger offering no subprotocol at all is a (sloppy) 1.6J charger: such firmware exists.
DEFAULT_VERSION = OCPP16

SessionFactory = Callable[[ServerConnection, Charger, SessionContext], ChargerSession]


SESSION_FACTORIES: dict[str, SessionFactory] = {
    OCPP21: V21Session,
    OCPP201: V201Session,
    OCPP16: V16Session,
}


def select_version(offered: Sequence[str], available: Collection[str]) -> str | None:
    """The version to speak: the first ``offered`` one that is ``available`` (a charger lists its
    versions in its order of preference, OCPP-J 3.1.2); None if none is."""
    return next((version for version in offered if version in available), None)


def create_session(
    version: str,
    connection: ServerConnection,
    charger: Charger,
    context: SessionContext,
    factories: Mapping[str, SessionFactory] | None = None,
) -> ChargerSession:
    """Build the adapter for ``version`` (KeyError when no adapter is registered for it)."""
    registry = SESSION_FACTORIES if factories is None else factories
    return registry[version](connection, charger, context)
