"""What every version's session shares: the RPC endpoint, the model writer, background tasks, the
trust level of the connection, and the boot bookkeeping's entry points.

A version's adapter subclasses :class:`RpcSession` with its :class:`~.rpc.Dialect`, its route
table and its provisioning (boot watchdog, acceptance); its commands mixin implements the rest of
:class:`~..session.ChargerSession`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.session import ChargerSession, SessionContext

from .certificates import CertificateSigning
from .limits import Trust
from .rpc import Connection, Dialect, Payload, Route, RpcEndpoint, SessionTasks


class SessionProvisioning(Protocol):
    """What the shared session asks of a version's provisioning."""

    async def boot_watchdog(self) -> None: ...

    async def on_accepted(self, password: str | None) -> None: ...


class RpcSession(ChargerSession):
    """One connected charger on our RPC layer (see the module docstring)."""

    dialect: ClassVar[Dialect]
    routes: ClassVar[Mapping[str, Route[Any]]]
    provisioning: SessionProvisioning

    def __init__(self, connection: Connection, charger: Charger, context: SessionContext) -> None:
        self.charger = charger
        self.context = context
        self.state = ChargerState(charger, context)
        self.tasks = SessionTasks(charger.charger_id)
        self._connection = connection
        self.endpoint: RpcEndpoint[Any] = RpcEndpoint(
            connection,
            charger_id=charger.charger_id,
            dialect=self.dialect,
            routes=self.routes,
            target=self,
            timeout_s=context.server_settings.response_timeout_s,
            trust=self._trust,
            on_frame=self.state.record_seen,
            # Read per frame: the server's option applies to connected chargers at once.
            log_frames=lambda: context.server_settings.log_frames,
        )
        # The charger's certificate signing requests (SignCertificate, the same in every version).
        self.certificate_signing = CertificateSigning(self)

    @property
    def closed(self) -> bool:
        return self.tasks.closed

    @property
    def trust(self) -> Trust:
        """How far the connection is trusted now (authenticated: its password or a client
        certificate of ours)."""
        return self._trust()

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

    async def send(self, action: str, payload: Payload) -> Payload:
        """One CALL of ours, schema-checked both ways; the charger's result payload."""
        return await self.endpoint.call(action, payload)
