"""What the certificate tests of every version share: a real CA, harnesses whose sessions get a
certificate service (and an authenticated TLS connection), fake services, and the checks of an
issued certificate.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from websockets.asyncio.server import ServerConnection

from custom_components.ocpp_ems.core.model import ChargerEvent, ConnectionSecurity, EventKind
from custom_components.ocpp_ems.core.protocol.certificates import (
    AuthorityCertificates,
    CsrThrottle,
)
from custom_components.ocpp_ems.core.security.ca import CertificateAuthority
from custom_components.ocpp_ems.core.session import CertificateService, SessionContext
from custom_components.ocpp_ems.core.settings import SecurityProfile, ServerSettings

from .fakes import MemoryDirectory
from .v16_harness import CHARGER_ID, Harness, protocol_harness, wait_for
from .v201_harness import V21Harness, V201Harness

__all__ = [
    "CHARGER_ID",
    "OVER_PLAIN_WS",
    "OVER_TLS",
    "BlockingService",
    "CertificatesHarness",
    "FakeClock",
    "StaticService",
    "V21CertificatesHarness",
    "V201CertificatesHarness",
    "assert_issued",
    "certificates_harness",
    "security_events",
    "shared_authority",
    "tampered",
    "wait_for",
]


@dataclass
class FakeClock:
    """A monotonic clock the test moves."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@functools.cache
def shared_authority() -> CertificateAuthority:
    """One CA for all these tests (none changes it). 2048 bits: quicker to make than the
    production 3072, the same code path."""
    return CertificateAuthority.create(key_bits=2048)


# What the server's handshake records for a profile-2 login (TLS and the password).
OVER_TLS = ConnectionSecurity(
    profile=SecurityProfile.TLS_BASIC_AUTH,
    configured_profile=SecurityProfile.TLS_BASIC_AUTH,
    basic_auth=True,
    tls_version="TLSv1.3",
)
# ... and for a profile-1 login (the password over plain ws://).
OVER_PLAIN_WS = ConnectionSecurity(
    profile=SecurityProfile.BASIC_AUTH,
    configured_profile=SecurityProfile.BASIC_AUTH,
    basic_auth=True,
)


class CertificatesHarness(Harness):
    """A harness whose sessions have ``certificates`` and a connection secured as ``security``
    says (default: TLS), authenticated unless ``authenticated`` is False (as after a Basic-auth
    login or with a client certificate): the harness's websocket itself is plain, so this is what
    the server's handshake would have recorded (``tests/core/test_tls.py`` signs over real TLS).
    :func:`certificates_harness` gives it our CA (``authority``) behind a throttle on ``clock``."""

    certificates: CertificateService | None = None
    authenticated: bool = True
    security: ConnectionSecurity = OVER_TLS
    authority: CertificateAuthority
    clock: FakeClock

    def new_session(self, connection: ServerConnection, context: SessionContext) -> Any:
        if self.authenticated:
            connection.username = CHARGER_ID
        # The server records it just before it makes the session (server._handle).
        self.charger.connection_security = self.security
        return super().new_session(connection, replace(context, certificates=self.certificates))


@contextlib.asynccontextmanager
async def certificates_harness(
    directory: MemoryDirectory, settings: ServerSettings, cls: type[CertificatesHarness]
) -> AsyncIterator[Any]:
    """A running protocol harness of ``cls`` (accepted charger) with our CA's service."""
    settings.response_timeout_s = 1.0
    async with protocol_harness(directory, settings, cls) as harness:
        assert isinstance(harness, CertificatesHarness)
        harness.authority = shared_authority()
        harness.clock = FakeClock()
        harness.certificates = AuthorityCertificates(
            harness.authority, throttle=CsrThrottle(clock=harness.clock)
        )
        yield harness


class V201CertificatesHarness(CertificatesHarness, V201Harness):
    """:class:`CertificatesHarness` speaking 2.0.1."""


class V21CertificatesHarness(CertificatesHarness, V21Harness):
    """:class:`CertificatesHarness` speaking 2.1."""


@dataclass
class StaticService:
    """A certificate service that answers what a test sets (``chain``: what sign_csr returns;
    ``error``: what it raises)."""

    chain: str = ""
    error: Exception | None = None
    root: str | None = None
    admitted: bool = True
    signed: list[tuple[str, str]] = field(default_factory=list)

    def root_certificate_pem(self) -> str | None:
        return self.root

    def admit_csr(self, charger_id: str) -> bool:
        return self.admitted

    def sign_csr(self, csr: str, charger_id: str) -> str:
        self.signed.append((csr, charger_id))
        if self.error is not None:
            raise self.error
        return self.chain


@dataclass
class BlockingService(StaticService):
    """Signs only once ``release`` is set (a round that is still running)."""

    release: threading.Event = field(default_factory=threading.Event)

    def sign_csr(self, csr: str, charger_id: str) -> str:
        self.release.wait(5)
        return super().sign_csr(csr, charger_id)


def security_events(harness: Harness) -> list[ChargerEvent]:
    return [event for event in harness.events if event.kind is EventKind.SECURITY_EVENT]


def assert_issued(
    chain: str,
    authority: CertificateAuthority,
    key: CertificateIssuerPrivateKeyTypes,
    charger_id: str = CHARGER_ID,
) -> x509.Certificate:
    """``chain`` is one certificate (the leaf alone: our CA is the root) for ``charger_id``'s
    ``key``, signed by ``authority``, for TLS client authentication."""
    certificates = x509.load_pem_x509_certificates(chain.encode())
    assert len(certificates) == 1
    certificate = certificates[0]
    certificate.verify_directly_issued_by(authority.certificate)  # raises if not
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [name.value for name in names] == [charger_id]
    assert certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert authority.issued(certificate)
    return certificate


def tampered(csr_pem: str) -> str:
    """The CSR with one bit of its signature flipped: well-formed, but its signature fails."""
    der = bytearray(
        x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER)
    )
    der[-1] ^= 0x01
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
