"""The OCPP 1.6J adapter's session: one connected charger, from connect to disconnect.

:class:`V16Session` is the shared :class:`~..rpc_session.RpcSession` (our RPC endpoint, the model
writer, tasks, trust) with the 1.6 dialect (:data:`DIALECT`: schemas, error codes, meter-value
rules), route table (:mod:`.handlers`), outgoing commands (:mod:`.commands`) and post-boot setup
(:mod:`.provisioning`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from custom_components.ocpp_ems.core.errors import CommandNotSupportedError
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.protocol.common import offers
from custom_components.ocpp_ems.core.protocol.frames import (
    ErrorCodes,
    field_rules,
    sampled_value_rules,
)
from custom_components.ocpp_ems.core.protocol.rpc import Connection, Dialect, Payload
from custom_components.ocpp_ems.core.protocol.rpc_session import RpcSession
from custom_components.ocpp_ems.core.protocol.schemas import Schemas, shipped_schemas
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
_SCHEMAS = Schemas(shipped_schemas("v16"))
DIALECT = Dialect(
    version=OCPP_VERSION,
    schemas=_SCHEMAS,
    codes=ErrorCodes(),
    known_actions=_SCHEMAS.actions,
    sampled_value_rules=sampled_value_rules(_SCHEMAS.request_schema("MeterValues")),
    # A transaction's start and end must get through: their registers are coerced, not refused,
    # and a Stop's over-long (optional) idTag is left out. A Start's stays refused: its tag is
    # what authorizes the session. A status in the wrong case ("charging") is taken: refused, the
    # charger's state was lost (a charging car shown idle).
    field_rules=field_rules(
        _SCHEMAS.request_schema,
        {
            "StartTransaction": ("meterStart",),
            "StopTransaction": ("meterStop", "idTag"),
            "StatusNotification": ("status", "errorCode"),
        },
    ),
)


class V16Session(V16Commands, RpcSession):
    """One connected OCPP 1.6J charger."""

    ocpp_version = OCPP_VERSION
    dialect = DIALECT
    routes = ROUTES
    provisioning: Provisioning
    _last_transaction_id: ClassVar[int] = 0

    def __init__(self, connection: Connection, charger: Charger, context: SessionContext) -> None:
        super().__init__(connection, charger, context)
        self.provisioning = Provisioning(self)

    # --- outgoing --------------------------------------------------------------------------------
    async def call(self, action: str, payload: Payload, profile: str = CORE) -> Payload:
        """Send one CALL; refused locally when the charger lacks the feature ``profile``."""
        if not offers(profile, self.context.charger_settings(), self.charger.capabilities):
            raise CommandNotSupportedError(action)
        return await self.send(action, payload)

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
