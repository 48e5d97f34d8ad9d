"""The version-independent pieces of the certificate life cycle: certificate hash data, the
per-charger throttle, the certificate service on our CA."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.typing import Subprotocol

from custom_components.ocpp_ems.core.errors import CommandNotSupportedError
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.protocol import DEFAULT_VERSION, certificates
from custom_components.ocpp_ems.core.protocol.certificates import (
    CSR_MIN_INTERVAL_S,
    AuthorityCertificates,
    CsrThrottle,
    certificate_hash_data,
)
from custom_components.ocpp_ems.core.protocol.v16 import V16Session
from custom_components.ocpp_ems.core.security.ca import (
    CertificateAuthority,
    CertificateError,
    CertificateInfo,
)
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.session import (
    CertificateHashData,
    ChargerSession,
    SessionContext,
)
from custom_components.ocpp_ems.core.settings import ServerSettings

from .certificate_fixtures import CHARGER_ID, FakeClock, shared_authority, wait_for
from .fakes import MemoryDirectory
from .pki import make_csr


@pytest.fixture
def authority() -> CertificateAuthority:
    return shared_authority()


def _key_bits(authority: CertificateAuthority) -> bytes:
    key = authority.certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    # The subjectPublicKey BIT STRING of an RSA key is its PKCS#1 encoding.
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def test_hash_data_of_our_ca(authority: CertificateAuthority) -> None:
    """RFC 6960 CertID, as a charger reports it: computed here by hand."""
    data = certificate_hash_data(authority.certificate_pem)
    subject = authority.certificate.subject.public_bytes()
    assert data == CertificateHashData(
        hash_algorithm="SHA256",
        issuer_name_hash=hashlib.sha256(subject).hexdigest(),
        issuer_key_hash=hashlib.sha256(_key_bits(authority)).hexdigest(),
        serial_number=f"{authority.certificate.serial_number:x}",
    )
    sha384 = certificate_hash_data(authority.certificate, algorithm="SHA384")
    assert sha384.issuer_name_hash == hashlib.sha384(subject).hexdigest()


def test_hash_data_of_an_issued_certificate(authority: CertificateAuthority) -> None:
    issued = authority.sign_csr(make_csr(CHARGER_ID)[0], CHARGER_ID)
    data = certificate_hash_data(issued.pem, authority.certificate_pem, algorithm="SHA512")
    assert data.issuer_key_hash == hashlib.sha512(_key_bits(authority)).hexdigest()
    assert data.serial_number == issued.info.serial_number.lower()


def test_hash_data_matching() -> None:
    data = CertificateHashData(
        hash_algorithm="SHA256", issuer_name_hash="ab", issuer_key_hash="cd", serial_number="0f1"
    )
    assert CertificateHashData.from_payload(data.payload()) == data
    shouting = CertificateHashData(
        hash_algorithm="sha256", issuer_name_hash="AB", issuer_key_hash="CD", serial_number="F1"
    )
    assert data.matches(shouting)
    other = CertificateHashData(
        hash_algorithm="SHA256", issuer_name_hash="ab", issuer_key_hash="cd", serial_number="f2"
    )
    assert not data.matches(other)


def test_throttle_per_charger_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(certificates, "_THROTTLE_KEEP", 4)
    clock = FakeClock()
    throttle = CsrThrottle(clock=clock)
    assert throttle.admit("A")
    assert not throttle.admit("A")
    assert throttle.admit("B")  # another charger has its own slot
    clock.now += CSR_MIN_INTERVAL_S
    assert throttle.admit("A")
    for name in "CDEF":  # past the bound: the expired entries are dropped
        clock.now += 1
        assert throttle.admit(name)
    assert set(throttle._last) <= set("ACDEF")
    assert not throttle.admit("F")


def test_service_on_our_ca(authority: CertificateAuthority) -> None:
    clock = FakeClock()
    service = AuthorityCertificates(authority, throttle=CsrThrottle(clock=clock), validity_days=30)
    assert service.root_certificate_pem() == authority.certificate_pem
    assert service.admit_csr(CHARGER_ID)
    chain = service.sign_csr(make_csr(CHARGER_ID)[0], CHARGER_ID)
    assert authority.issued(chain)
    with pytest.raises(CertificateError):
        service.sign_csr(make_csr("CP2")[0], CHARGER_ID)


def test_service_validity(authority: CertificateAuthority) -> None:
    service = AuthorityCertificates(authority, validity_days=30)
    info = CertificateInfo.of(service.sign_csr(make_csr(CHARGER_ID)[0], CHARGER_ID))
    assert info.not_valid_after - info.not_valid_before == timedelta(days=30)


def test_service_without_a_ca() -> None:
    current: list[CertificateAuthority | None] = [None]
    service = AuthorityCertificates(lambda: current[0])
    assert service.root_certificate_pem() is None
    assert not service.admit_csr(CHARGER_ID)
    with pytest.raises(RuntimeError):
        service.sign_csr(make_csr(CHARGER_ID)[0], CHARGER_ID)


def test_not_supported_says_what_to_do() -> None:
    assert str(CommandNotSupportedError("X")) == "X is not supported by this charger"
    err = CommandNotSupportedError("X", "use Y")
    assert str(err) == "X is not supported by this charger: use Y"
    assert err.detail == "use Y"


async def test_the_server_gives_its_sessions_the_service(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    authority: CertificateAuthority,
) -> None:
    service = AuthorityCertificates(authority)
    contexts: list[SessionContext] = []

    def factory(
        connection: ServerConnection, charger: Charger, context: SessionContext
    ) -> ChargerSession:
        contexts.append(context)
        return V16Session(connection, charger, context)

    central = CentralSystem(
        server_settings, directory, factories={DEFAULT_VERSION: factory}, certificates=service
    )
    await central.start()
    try:
        url = f"ws://127.0.0.1:{central.port}/{CHARGER_ID}"
        async with connect(url, subprotocols=[Subprotocol(DEFAULT_VERSION)]):
            await wait_for(lambda: contexts)
    finally:
        await central.stop()
    assert contexts[0].certificates is service
