"""The OCPP 2.0.1 / 2.1 adapter's session: one connected charging station."""

from __future__ import annotations

from collections import deque

from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.protocol.frames import (
    CALL_RESULT_ERROR,
    SEND,
    ErrorCodes,
    field_rules,
    sampled_value_rules,
)
from custom_components.ocpp_ems.core.protocol.rpc import Connection, Dialect, Payload
from custom_components.ocpp_ems.core.protocol.rpc_session import RpcSession
from custom_components.ocpp_ems.core.protocol.schemas import (
    Schemas,
    ViolationCodes,
    shipped_schemas,
)
from custom_components.ocpp_ems.core.session import SessionContext

from .commands import V201Commands
from .handlers import ROUTES
from .provisioning import Provisioning

# OCPP-J 2.0.1 (part 4, 4.2.3): its own codes for a broken frame and for schema rules. A missing
# required field violates its occurrence constraint (1..1); 2.0.1's ProtocolError is about the
# PDU structure, no longer 1.6's "payload incomplete".
_ERROR_CODES = ErrorCodes(
    malformed="RpcFrameworkError",
    unknown_message_type="MessageTypeNotSupported",
    too_large="FormatViolation",
)
_VIOLATION_CODES = ViolationCodes(
    required="OccurrenceConstraintViolation",
    occurrence="OccurrenceConstraintViolation",
    structure="FormatViolation",
)


# Tried in this order: the event type first (the idToken rule depends on it), the idToken's type
# before the idToken (a type in the wrong case is taken, the token kept).
_TRANSACTION_EVENT_FIELDS = (
    "eventType",
    "triggerReason",
    "transactionInfo.chargingState",
    "transactionInfo.stoppedReason",
    "idToken.type",
    "idToken",
)


def _dialect(version: str, module: str, unanswered: frozenset[int] = frozenset()) -> Dialect:
    # The official schemas shipped in the ``ocpp`` package (read here, at import time).
    schemas = Schemas(shipped_schemas(module), request_suffix="Request", codes=_VIOLATION_CODES)
    return Dialect(
        version=version,
        schemas=schemas,
        codes=_ERROR_CODES,
        known_actions=schemas.actions,
        # Meter-value quirks are repaired as in 1.6: a bad sample must not cost a whole
        # TransactionEvent (a transaction's start or end) its answer.
        sampled_value_rules=sampled_value_rules(
            schemas.request_schema("MeterValues"),
            lists={"MeterValues": "meterValue", "TransactionEvent": "meterValue"},
            numeric=True,
        ),
        # A transaction's end must get through (E13: a refused one is retried, then dropped,
        # and the session never ends here): the enum values of a TransactionEvent are taken
        # regardless of case, and an Ended's (optional) idToken that breaks its schema (over-long,
        # its additionalInfo too) is left out. A Started's or Updated's stays refused: its token
        # is what authorizes the session (as 1.6's StartTransaction vs StopTransaction).
        field_rules=field_rules(
            schemas.request_schema,
            # A status in the wrong case is taken too (refused, the station's state was lost).
            {
                "TransactionEvent": _TRANSACTION_EVENT_FIELDS,
                "StatusNotification": ("connectorStatus",),
            },
            when={"TransactionEvent": {"idToken": {"eventType": "Ended"}}},
        ),
        unanswered_message_types=unanswered,
    )


DIALECT_201 = _dialect("2.0.1", "v201")
DIALECT_21 = _dialect("2.1", "v21", frozenset({CALL_RESULT_ERROR, SEND}))


# ReportChargingProfiles pages kept per connection.
PROFILE_REPORTS_KEPT = 32


class V201Session(V201Commands, RpcSession):
    """One connected OCPP 2.0.1 charging station."""

    ocpp_version = "2.0.1"
    dialect = DIALECT_201
    routes = ROUTES
    provisioning: Provisioning

    def __init__(self, connection: Connection, charger: Charger, context: SessionContext) -> None:
        super().__init__(connection, charger, context)
        self.provisioning = Provisioning(self)
        # The latest ReportChargingProfiles pages the station sent (answers to GetChargingProfiles;
        # bounded: a station may send them unasked).
        self.profile_reports: deque[Payload] = deque(maxlen=PROFILE_REPORTS_KEPT)

    async def call(self, action: str, payload: Payload) -> Payload:
        return await self.send(action, payload)


class V21Session(V201Session):
    """One connected OCPP 2.1 charging station (what 2.1 adds is used where the station has it)."""

    ocpp_version = "2.1"
    dialect = DIALECT_21
