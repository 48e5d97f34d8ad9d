"""The OCPP 1.6J adapter's session: one connected charger, from connect to disconnect.

:class:`V16Session` wires the parts together: the frame guard in front of the ``ocpp`` library
(:mod:`..frames`), the library endpoint that routes incoming CALLs (:mod:`.handlers`), the outgoing
commands (:mod:`.commands`), post-boot setup (:mod:`.provisioning`) and the model writer
(:class:`~...charger_state.ChargerState`). Everything typed ``Any`` from the untyped ``ocpp``
package stays inside this package: the rest of the core sees
:class:`~...session.ChargerSession` and the model only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from ocpp.exceptions import OCPPError
from ocpp.messages import get_validator
from ocpp.v16.enums import Action
from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.errors import (
    CommandNotSupportedError,
    CommandRejectedError,
    InvalidCommandError,
)
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.protocol.frames import (
    Connection,
    FrameGuard,
    sampled_value_rules,
)
from custom_components.ocpp_ems.core.protocol.limits import Trust
from custom_components.ocpp_ems.core.protocol.rpc import SessionTasks
from custom_components.ocpp_ems.core.session import SessionContext
from custom_components.ocpp_ems.core.timeutil import utcnow

from .capabilities import CORE
from .commands import SECRET_KEYS, V16Commands
from .handlers import OUTGOING_FRAMES, Endpoint
from .provisioning import Provisioning

OCPP_VERSION = "1.6"

# Transaction ids are int32 in practice; seconds since this epoch stay unique and fit until 2092.
_TX_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
# Meter-value repair rules, from the library's own schema (read at import, not in the event loop).
_SAMPLED_VALUE_RULES = sampled_value_rules(get_validator(2, "MeterValues", OCPP_VERSION).schema)
_KNOWN_ACTIONS = frozenset(action.value for action in Action)


class V16Session(V16Commands):
    """One connected OCPP 1.6J charger."""

    ocpp_version = OCPP_VERSION
    _last_transaction_id: ClassVar[int] = 0

    def __init__(self, connection: Connection, charger: Charger, context: SessionContext) -> None:
        self.charger = charger
        self.context = context
        self.state = ChargerState(charger, context)
        self.tasks = SessionTasks(charger.charger_id)
        self.provisioning = Provisioning(self)
        self._connection = connection
        self._guard = FrameGuard(
            connection,
            charger_id=charger.charger_id,
            known_actions=_KNOWN_ACTIONS,
            handled_actions=self._handled_actions,
            sampled_value_rules=_SAMPLED_VALUE_RULES,
            trust=self._trust,
        )
        self._endpoint = Endpoint(self, self._guard, context.server_settings.response_timeout_s)

    @property
    def closed(self) -> bool:
        return self.tasks.closed

    def _trust(self) -> Trust:
        if self.context.admission() is not Admission.ACCEPTED:
            return Trust.PENDING
        # Set by the server's handshake when the charger presented its password.
        if getattr(self._connection, "username", None):
            return Trust.AUTHENTICATED
        return Trust.UNAUTHENTICATED

    def _handled_actions(self) -> set[str]:
        route_map: Mapping[str, Mapping[str, Any]] = self._endpoint.route_map
        return {action for action, hooks in route_map.items() if "_on_action" in hooks}

    # --- lifecycle -------------------------------------------------------------------------------
    async def run(self) -> None:
        self.tasks.spawn(self.provisioning.boot_watchdog(), "boot watchdog")
        try:
            await self._endpoint.start()
        except ConnectionClosed:
            pass
        finally:
            self.tasks.close()

    async def close(self) -> None:
        self.tasks.close()
        await self._connection.close()

    async def on_accepted(self, password: str | None) -> None:
        await self.provisioning.on_accepted(password)

    # --- outgoing --------------------------------------------------------------------------------
    async def call(self, payload: Any, profile: str = CORE) -> Any:
        """Send one CALL; refused locally when the charger lacks the feature ``profile``."""
        action = type(payload).__name__
        supported = self.charger.capabilities.supported_profiles
        # Unknown before the configuration was read: then try and let the charger answer.
        if profile != CORE and supported and profile not in supported:
            raise CommandNotSupportedError(action)
        sent: list[str] = []

        async def send() -> Any:
            # Endpoint._send records the frame here: an error without it is the library's
            # validation of our own payload (nothing went out), not the charger's answer.
            OUTGOING_FRAMES.set(sent)
            return await self._endpoint.call(payload, suppress=False)

        try:
            return await self.tasks.call(action, send)
        except CommandRejectedError as err:
            cause = err.__cause__
            if not sent and isinstance(cause, OCPPError):
                detail = cause.details.get("cause") if isinstance(cause.details, dict) else None
                reason = str(detail or cause.description)
                if getattr(payload, "key", None) in SECRET_KEYS:
                    reason = str(cause.description)  # the detail may quote the secret value
                raise InvalidCommandError(action, reason) from cause
            raise

    # --- 1.6 transaction ids ---------------------------------------------------------------------
    def new_transaction_id(self) -> int:
        """Unique across chargers, reconnects and (unless > 1 per second on average) restarts."""
        candidate = max(
            V16Session._last_transaction_id + 1, int((utcnow() - _TX_EPOCH).total_seconds())
        )
        while self.charger.find_transaction(str(candidate)) is not None:
            candidate += 1
        V16Session._last_transaction_id = candidate
        return candidate
