"""The OCPP 1.6J adapter's session: one connected charger, from connect to disconnect.

:class:`V16Session` wires the parts together: our RPC endpoint (:mod:`..rpc`) with the 1.6 dialect
(:data:`DIALECT`: schemas, error codes, meter-value rules) and route table (:mod:`.handlers`), the
outgoing commands (:mod:`.commands`), post-boot setup (:mod:`.provisioning`) and the model writer
(:class:`~...charger_state.ChargerState`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import ocpp.v16

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.errors import CommandNotSupportedError
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.protocol.frames import ErrorCodes, sampled_value_rules
from custom_components.ocpp_ems.core.protocol.limits import Trust
from custom_components.ocpp_ems.core.protocol.rpc import (
    Connection,
    Dialect,
    Payload,
    RpcEndpoint,
    SessionTasks,
)
from custom_components.ocpp_ems.core.protocol.schemas import Schemas
from custom_components.ocpp_ems.core.session import SessionContext
from custom_components.ocpp_ems.core.timeutil import utcnow

from .capabilities import CORE
from .commands import V16Commands
from .handlers import ROUTES
from .provisioning import Provisioning

OCPP_VERSION = "1.6"

# Transaction ids are int32 in practice; seconds since this epoch stay unique and fit until 2092.
_TX_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

# The official 1.6 JSON schemas shipped in the ``ocpp`` package (read here, at import time).
_SCHEMAS = Schemas(Path(ocpp.v16.__file__).parent / "schemas")
DIALECT = Dialect(
    version=OCPP_VERSION,
    schemas=_SCHEMAS,
    codes=ErrorCodes(),
    known_actions=_SCHEMAS.actions,
    sampled_value_rules=sampled_value_rules(_SCHEMAS.request_schema("MeterValues")),
)


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
        self.endpoint = RpcEndpoint(
            connection,
            charger_id=charger.charger_id,
            dialect=DIALECT,
            routes=ROUTES,
            target=self,
            timeout_s=context.server_settings.response_timeout_s,
            trust=self._trust,
            on_frame=self.state.record_seen,
        )

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

    # --- lifecycle -------------------------------------------------------------------------------
    async def run(self) -> None:
        self.tasks.spawn(self.provisioning.boot_watchdog(), "boot watchdog")
        try:
            await self.endpoint.serve()
        finally:
            self.tasks.close()

    async def close(self) -> None:
        self.tasks.close()
        self.endpoint.close()
        await self._connection.close()

    async def on_accepted(self, password: str | None) -> None:
        await self.provisioning.on_accepted(password)

    # --- outgoing --------------------------------------------------------------------------------
    async def call(self, action: str, payload: Payload, profile: str = CORE) -> Payload:
        """Send one CALL; refused locally when the charger lacks the feature ``profile``."""
        supported = self.charger.capabilities.supported_profiles
        # Unknown before the configuration was read: then try and let the charger answer.
        if profile != CORE and supported and profile not in supported:
            raise CommandNotSupportedError(action)
        return await self.endpoint.call(action, payload)

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
