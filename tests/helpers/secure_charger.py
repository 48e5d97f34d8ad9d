"""A 1.6 charger with the security extension's certificate messages, for the security upgrade tests.

What a real charger keeps across connections (its password, security profile, CSMS root
certificate, client key and certificate) lives in a :class:`Wallet`; :func:`connect_as_configured`
connects the way its profile says: 1 plain ``ws://`` with the password, 2 ``wss://`` (trusting
only its installed root) with the password, 3 ``wss://`` with its client certificate.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection

from custom_components.ocpp_ems.core.server import CentralSystem
from tests.core.pki import key_pem, make_csr

from .charger import SimCharger, after, charger_connection, on


@dataclass(kw_only=True)
class Wallet:
    """What the charger keeps (and how it misbehaves, for the refused cases)."""

    password: bytes | None = None
    profile: int = 1
    root_pem: str | None = None
    certificate_pem: str | None = None
    key_pem: str | None = None
    # The key of a CSR sent, waiting for its certificate.
    pending_key: str | None = None
    # Send a CSR when asked (False: accept the trigger, send nothing).
    send_csr: bool = True
    # The common name of its CSRs (None: its id; another: a broken charger).
    csr_cn: str | None = None


class SecureSim(SimCharger):
    """A SimCharger that installs certificates, signs CSRs and changes its SecurityProfile."""

    def __init__(
        self, charger_id: str, connection: ClientConnection, *, wallet: Wallet, **kwargs: Any
    ) -> None:
        super().__init__(charger_id, connection, **kwargs)
        self.wallet = wallet
        self.configuration["SecurityProfile"] = str(wallet.profile)

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str, **kwargs: Any) -> Any:
        result = await super().on_change_configuration(key, value, **kwargs)
        if key == "SecurityProfile" and result.status in ("Accepted", "RebootRequired"):
            # Takes effect at its next connection (the test plays the reconnect).
            self.wallet.profile = int(value)
        return result

    @on(Action.install_certificate)
    async def on_install_certificate(
        self, certificate_type: str, certificate: str, **kwargs: Any
    ) -> Any:
        payload = {"certificate_type": certificate_type, "certificate": certificate}
        status = await self._answer("InstallCertificate", payload, "Accepted")
        if status == "Accepted":
            self.wallet.root_pem = certificate
        return call_result.InstallCertificate(status=status)

    @on(Action.extended_trigger_message)
    async def on_extended_trigger_message(self, requested_message: str, **kwargs: Any) -> Any:
        payload = {"requested_message": requested_message}
        status = await self._answer("ExtendedTriggerMessage", payload, "Accepted")
        return call_result.ExtendedTriggerMessage(status=status)

    @after(Action.extended_trigger_message)
    async def after_extended_trigger_message(self, requested_message: str, **kwargs: Any) -> None:
        accepted = self.statuses.get("ExtendedTriggerMessage", "Accepted") == "Accepted"
        if accepted and requested_message == "SignChargePointCertificate" and self.wallet.send_csr:
            self._spawn(self.sign_certificate)

    async def sign_certificate(self) -> None:
        csr, key = make_csr(self.wallet.csr_cn or self.id)
        self.wallet.pending_key = key_pem(key)
        await self.call(call.SignCertificate(csr=csr))

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str, **kwargs: Any) -> Any:
        status = await self._answer(
            "CertificateSigned", {"certificate_chain": certificate_chain}, "Accepted"
        )
        if status == "Accepted":
            self.wallet.certificate_pem = certificate_chain
            self.wallet.key_pem = self.wallet.pending_key
        return call_result.CertificateSigned(status=status)


def wallet_context(wallet: Wallet, where: Path) -> ssl.SSLContext:
    """The charger's TLS side: it trusts its installed root only, and presents its client
    certificate on profile 3."""
    context = ssl.create_default_context(cadata=wallet.root_pem)
    if wallet.profile == 3:
        assert wallet.certificate_pem is not None
        assert wallet.key_pem is not None
        certificate = where / "charger.crt"
        key = where / "charger.key"
        certificate.write_text(wallet.certificate_pem)
        key.write_text(wallet.key_pem)
        context.load_cert_chain(certificate, key)
    return context


@asynccontextmanager
async def connect_as_configured(
    central: CentralSystem, charger_id: str, wallet: Wallet, where: Path
) -> AsyncIterator[SecureSim]:
    """Connect the way the charger's profile says (see the module docstring)."""
    if wallet.profile == 1:
        port, context = central.port, None
    else:
        port, context = central.tls_port or 0, wallet_context(wallet, where)
    async with charger_connection(
        port,
        charger_id,
        password=None if wallet.profile == 3 else wallet.password,
        ssl_context=context,
        factory=SecureSim,
        wallet=wallet,
    ) as sim:
        assert isinstance(sim, SecureSim)
        yield sim
