"""Security profiles 2 and 3 over real TLS on 127.0.0.1: the wss:// listener beside the plain one.

Chargers are websockets clients with ssl contexts that trust our CA, with or without a client
certificate our CA signed from a CSR the test (the charger) generated. The server runs the real
protocol adapters; what matters here is the handshake, so the clients only connect.

Refused cases and where they are refused:

=============================================  ==============================================
charger connects ...                           refused by
=============================================  ==============================================
trusting another CA (our server certificate)   the client's own TLS verification
with a client certificate from a foreign CA    TLS alert from the server (unknown CA)
with an expired client certificate             TLS alert from the server (certificate expired)
with another charger's certificate             HTTP 403 certificate_mismatch
plain ws, profile 2 or 3                       HTTP 403 tls_required
wss without certificate, profile 3             HTTP 403 certificate_required (a downgrade)
wss without password, profile 2                HTTP 401 bad_credentials
TLS 1.0 / 1.1                                  TLS alert (protocol version)
=============================================  ==============================================
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.errors import ServerBindError
from custom_components.ocpp_ems.core.guard import RefusalReason
from custom_components.ocpp_ems.core.handshake import TransportRefusal, check_transport
from custom_components.ocpp_ems.core.model import ConnectionSecurity
from custom_components.ocpp_ems.core.protocol.certificates import AuthorityCertificates
from custom_components.ocpp_ems.core.security import (
    OCPP_REQUIRED_SUITES,
    CertificateAuthority,
    CertificateInfo,
    IssuedCertificate,
    ServerCredentials,
    TlsPeer,
    build_server_context,
)
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.settings import (
    ChargerSettings,
    SecurityProfile,
    ServerSettings,
)

from .conftest import MakeCentral
from .fakes import MemoryDirectory
from .pki import key_pem, make_csr
from .v16_harness import wait_for

PASSWORD = "tls-Pa55word-0123456789abc"
LOCALHOST = "127.0.0.1"


# --- PKI -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create(key_bits=2048)


@pytest.fixture(scope="module")
def foreign_ca() -> CertificateAuthority:
    return CertificateAuthority.create(common_name="Foreign CA", key_bits=2048)


@pytest.fixture(scope="module")
def credentials(ca: CertificateAuthority) -> ServerCredentials:
    return ca.issue_server_certificates([LOCALHOST, "localhost"])


@pytest.fixture
def server_context(ca: CertificateAuthority, credentials: ServerCredentials) -> ssl.SSLContext:
    return build_server_context(credentials, client_ca_pem=ca.certificate_pem)


class Charger:
    """A charger's TLS side: the CA it trusts and the client certificate it holds (if any)."""

    def __init__(self, tmp_path: Path, trust: CertificateAuthority) -> None:
        self.tmp_path = tmp_path
        self.trust = trust
        self.certificate: tuple[Path, Path] | None = None

    def get_certificate(
        self, charger_id: str, issuer: CertificateAuthority, **validity: Any
    ) -> IssuedCertificate:
        """The SignCertificate round: a key and CSR made here, signed by ``issuer``."""
        csr, key = make_csr(charger_id)
        issued = issuer.sign_csr(csr, charger_id, **validity)
        cert_path = self.tmp_path / f"{charger_id}-{issued.info.serial_number}.pem"
        key_path = cert_path.with_suffix(".key")
        cert_path.write_text(issued.pem)
        key_path.write_text(key_pem(key))
        self.certificate = (cert_path, key_path)
        return issued

    def context(
        self,
        *,
        maximum: ssl.TLSVersion | None = None,
        minimum: ssl.TLSVersion | None = None,
        ciphers: str | None = None,
    ) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.trust.certificate_pem)
        if self.certificate is not None:
            context.load_cert_chain(*self.certificate)
        if ciphers is not None:
            context.set_ciphers(ciphers)
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum
        return context


@pytest.fixture
def charger(tmp_path: Path, ca: CertificateAuthority) -> Charger:
    return Charger(tmp_path, ca)


# --- server ----------------------------------------------------------------------------------------
TLS_SETTINGS = ServerSettings(host=LOCALHOST, port=0, tls_port=0)


@pytest.fixture
async def central(make_central: MakeCentral, server_context: ssl.SSLContext) -> CentralSystem:
    return await make_central(settings=TLS_SETTINGS, tls=server_context)


def basic(charger_id: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{charger_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def wss(central: CentralSystem, charger_id: str) -> str:
    return f"wss://{LOCALHOST}:{central.tls_port}/ocpp/{charger_id}"


def ws(central: CentralSystem, charger_id: str) -> str:
    return f"ws://{LOCALHOST}:{central.port}/ocpp/{charger_id}"


@asynccontextmanager
async def connected(
    central: CentralSystem, url: str, charger_id: str, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """Connect and wait until the server registered the charger."""
    async with connect(url, subprotocols=["ocpp1.6"], open_timeout=10, **kwargs) as client:
        await wait_for(lambda: central.session(charger_id) is not None)
        yield client
    await wait_for(lambda: not central.charger(charger_id).connected)


async def refused(url: str, **kwargs: Any) -> int:
    """The HTTP status a handshake was refused with."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, subprotocols=["ocpp1.6"], open_timeout=10, **kwargs):
            pass
    return info.value.response.status_code


async def tls_refused(url: str, context: ssl.SSLContext) -> BaseException:
    """A connection that fails at the TLS level (no HTTP answer at all)."""
    with pytest.raises((ssl.SSLError, InvalidMessage, ConnectionError, EOFError)) as info:
        async with connect(url, ssl=context, subprotocols=["ocpp1.6"], open_timeout=10):
            pass
    return info.value


def security(central: CentralSystem, charger_id: str) -> ConnectionSecurity:
    result = central.charger(charger_id).connection_security
    assert result is not None
    return result


def last_reason(central: CentralSystem) -> RefusalReason | None:
    refusal = central.last_refusal
    return None if refusal is None else refusal.reason


def ssl_error_text(error: BaseException) -> str:
    """The error and its causes, for asserting on the TLS alert."""
    texts = []
    current: BaseException | None = error
    while current is not None:
        texts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " | ".join(texts)


# --- profile 2 -------------------------------------------------------------------------------------
async def test_profile_2_with_basic_auth_over_tls(
    central: CentralSystem, directory: MemoryDirectory, charger: Charger
) -> None:
    directory.accept("CP2", PASSWORD)
    directory.set_security("CP2", 2)
    async with connected(
        central, wss(central, "CP2"), "CP2", ssl=charger.context(), additional_headers=basic("CP2")
    ) as client:
        ssl_object = client.transport.get_extra_info("ssl_object")
        assert ssl_object.version() == "TLSv1.3"
        seen = security(central, "CP2")
        assert seen.profile is SecurityProfile.TLS_BASIC_AUTH
        assert seen.configured_profile is SecurityProfile.TLS_BASIC_AUTH
        assert seen.basic_auth
        assert not seen.downgraded
        assert seen.tls_version == "TLSv1.3"
        assert seen.cipher == ssl_object.cipher()[0]
        assert seen.certificate_cn is None
    assert central.charger("CP2").auth_committed  # its first login with the password commits it
    assert directory.auth_successes == ["CP2"]


async def test_profile_2_without_or_with_a_wrong_password_is_refused(
    central: CentralSystem, directory: MemoryDirectory, charger: Charger
) -> None:
    directory.accept("CP2", PASSWORD)
    directory.set_security("CP2", 2)
    context = charger.context()
    assert await refused(wss(central, "CP2"), ssl=context) == 401
    assert last_reason(central) is RefusalReason.BAD_CREDENTIALS
    status = await refused(
        wss(central, "CP2"), ssl=context, additional_headers=basic("CP2", "wrong")
    )
    assert status == 401
    assert len(directory.auth_failures) == 2
    # Profile 2 without a password on our side: refused too (never let in without one), but it
    # is no failed login of the charger's.
    directory.accept("CP2b")
    directory.set_security("CP2b", 2)
    assert await refused(wss(central, "CP2b"), ssl=context) == 401
    assert len(directory.auth_failures) == 2


# --- profile 3 -------------------------------------------------------------------------------------
async def test_profile_3_with_its_own_certificate(
    central: CentralSystem, directory: MemoryDirectory, charger: Charger, ca: CertificateAuthority
) -> None:
    directory.accept("CP3", PASSWORD)
    directory.set_security("CP3", 3)
    issued = charger.get_certificate("CP3", ca)
    async with connected(central, wss(central, "CP3"), "CP3", ssl=charger.context()):
        seen = security(central, "CP3")
        assert seen.profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
        assert seen.certificate_cn == "CP3"
        assert seen.certificate_fingerprint == issued.info.fingerprint_sha256
        assert seen.certificate_serial == issued.info.serial_number
        assert seen.certificate_expires == issued.info.not_valid_after
        assert not seen.basic_auth
    # The certificate authenticated it: the password state is left alone.
    assert not central.charger("CP3").auth_committed
    assert central.charger("CP3").auth_unused_logins == 0
    assert directory.auth_successes == []


async def test_a_certificate_replaces_the_password_even_when_committed(
    central: CentralSystem, directory: MemoryDirectory, charger: Charger, ca: CertificateAuthority
) -> None:
    """A profile-1 charger that got its certificate (the upgrade path): the certificate is the
    stronger proof; it gets in without the password it committed to."""
    directory.accept("CP1", PASSWORD)
    central.charger("CP1").auth_provisioned = central.charger("CP1").auth_committed = True
    charger.get_certificate("CP1", ca)
    async with connected(central, wss(central, "CP1"), "CP1", ssl=charger.context()):
        assert security(central, "CP1").profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
        # ... and it takes over an open connection like any authenticated one.
        async with connected(central, wss(central, "CP1"), "CP1", ssl=charger.context()):
            pass


async def test_another_chargers_certificate_is_refused(
    central: CentralSystem, directory: MemoryDirectory, charger: Charger, ca: CertificateAuthority
) -> None:
    for charger_id in ("CP3", "CP4"):
        directory.accept(charger_id, PASSWORD)
        directory.set_security(charger_id, 3)
    charger.get_certificate("CP4", ca)
    context = charger.context()
    assert await refused(wss(central, "CP3"), ssl=context) == 403
    assert last_reason(central) is RefusalReason.CERTIFICATE_MISMATCH
    # A profile-1 or -2 charger id is no easier to take with it (and the password does not help).
    directory.set_security("CP3", 2)
    assert await refused(wss(central, "CP3"), ssl=context, additional_headers=basic("CP3")) == 403
    # It counts as a failed login: the third one blocks the address.
    assert await refused(wss(central, "CP3"), ssl=context) == 403
    assert await refused(wss(central, "CP3"), ssl=context) == 429
    assert not central.charger("CP3").connected


def memory_handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> dict[str, ssl.SSLError]:
    """A TLS handshake between the two contexts in memory: which side failed, and why.

    Over a socket the charger may see only a reset (the server closes right after its alert), and
    the server's reason is not logged: this shows the server's own verdict."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    sides = {
        "client": client.wrap_bio(client_in, client_out, server_hostname=LOCALHOST),
        "server": server.wrap_bio(server_in, server_out, server_side=True),
    }
    done: set[str] = set()
    errors: dict[str, ssl.SSLError] = {}
    for _ in range(10):
        for name, side in sides.items():
            if name in done or name in errors:
                continue
            try:
                side.do_handshake()
                done.add(name)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as err:
                errors[name] = err
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    return errors


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize(
    ("case", "server_says"),
    [
        ("foreign_ca", "unable to get local issuer certificate"),
        ("expired", "certificate has expired"),
    ],
)
async def test_a_foreign_or_expired_client_certificate_fails_the_tls_handshake(
    central: CentralSystem,
    directory: MemoryDirectory,
    charger: Charger,
    server_context: ssl.SSLContext,
    ca: CertificateAuthority,
    foreign_ca: CertificateAuthority,
    version: ssl.TLSVersion,
    case: str,
    server_says: str,
) -> None:
    """A certificate with the right CN from another CA, or from our CA but expired: OpenSSL ends
    the handshake; the HTTP handshake never runs, so nothing is recorded."""
    directory.accept("CP3")
    directory.set_security("CP3", 3)
    if case == "foreign_ca":
        charger.get_certificate("CP3", foreign_ca)
    else:
        now = datetime.now(UTC)
        issued = charger.get_certificate(
            "CP3",
            ca,
            not_valid_before=now - timedelta(days=30),
            not_valid_after=now - timedelta(days=1),
        )
        assert not issued.info.valid_at()
    context = charger.context(minimum=version, maximum=version)
    errors = memory_handshake(server_context, context)
    assert isinstance(errors["server"], ssl.SSLCertVerificationError)
    assert server_says in str(errors["server"])
    await tls_refused(wss(central, "CP3"), context)
    assert central.session("CP3") is None
    assert central.last_refusal is None


async def test_a_certificate_not_valid_now_is_refused_even_if_tls_let_it_pass(
    ca: CertificateAuthority, charger: Charger
) -> None:
    """OpenSSL checks the dates first; the handshake checks them again (defence in depth)."""
    issued = charger.get_certificate("CP3", ca)
    certificate = x509.load_pem_x509_certificate(issued.pem.encode())
    settings = ChargerSettings(security_profile=SecurityProfile.TLS_CLIENT_CERTIFICATE)
    peer = TlsPeer(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", certificate=certificate)
    for moment in (issued.info.not_valid_after, issued.info.not_valid_before - timedelta(1)):
        verdict = check_transport("CP3", settings, peer, now=moment)
        assert verdict == TransportRefusal(
            reason=RefusalReason.CERTIFICATE_INVALID, failed_login=True
        )
    verdict = check_transport("CP3", settings, peer, now=datetime.now(UTC))
    assert isinstance(verdict, ConnectionSecurity)


# --- the server certificate --------------------------------------------------------------------
async def test_a_charger_trusting_another_ca_refuses_our_server(
    central: CentralSystem,
    directory: MemoryDirectory,
    tmp_path: Path,
    foreign_ca: CertificateAuthority,
) -> None:
    directory.accept("CP2", PASSWORD)
    directory.set_security("CP2", 2)
    error = await tls_refused(wss(central, "CP2"), Charger(tmp_path, foreign_ca).context())
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert central.session("CP2") is None


@pytest.mark.parametrize(("iana", "openssl"), list(OCPP_REQUIRED_SUITES.items()))
async def test_every_ocpp_required_suite_is_offered_with_the_right_key(
    central: CentralSystem, directory: MemoryDirectory, charger: Charger, iana: str, openssl: str
) -> None:
    """A TLS 1.2 charger that speaks only one of the four mandatory suites gets in; the ECDSA
    suites are served with the EC certificate, the RSA ones with the RSA certificate."""
    directory.accept("CP1")
    context = charger.context(maximum=ssl.TLSVersion.TLSv1_2, ciphers=openssl)
    async with connected(central, wss(central, "CP1"), "CP1", ssl=context) as client:
        ssl_object = client.transport.get_extra_info("ssl_object")
        assert ssl_object.version() == "TLSv1.2"
        assert ssl_object.cipher()[0] == openssl
        server_key = x509.load_der_x509_certificate(ssl_object.getpeercert(True)).public_key()
        expected = ec.EllipticCurvePublicKey if "ECDSA" in iana else rsa.RSAPublicKey
        assert isinstance(server_key, expected)
        assert security(central, "CP1").tls_version == "TLSv1.2"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
async def test_tls_1_0_and_1_1_are_refused(
    central: CentralSystem,
    directory: MemoryDirectory,
    charger: Charger,
    ca: CertificateAuthority,
    credentials: ServerCredentials,
    server_context: ssl.SSLContext,
    version: ssl.TLSVersion,
) -> None:
    assert server_context.minimum_version is ssl.TLSVersion.TLSv1_2
    directory.accept("CP1")
    with pytest.warns(DeprecationWarning, match="TLSVersion"):
        context = charger.context(minimum=ssl.TLSVersion.TLSv1, maximum=version)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # the old versions sign with SHA-1
    # Control: a server that allows the old version. If even that fails, this OpenSSL cannot
    # offer it at all.
    permissive = build_server_context(credentials, client_ca_pem=ca.certificate_pem)
    with pytest.warns(DeprecationWarning, match="TLSVersion"):
        permissive.minimum_version = ssl.TLSVersion.TLSv1
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    if memory_handshake(permissive, context):  # pragma: no cover - depends on the local OpenSSL
        pytest.skip(f"the local OpenSSL cannot offer {version.name}; the server minimum is 1.2")
    errors = memory_handshake(server_context, context)
    assert "unsupported protocol" in str(errors["server"])
    await tls_refused(wss(central, "CP1"), context)
    assert central.session("CP1") is None
    assert central.last_refusal is None


async def test_a_renewed_server_certificate_is_used_without_restart(
    make_central: MakeCentral,
    directory: MemoryDirectory,
    charger: Charger,
    ca: CertificateAuthority,
    credentials: ServerCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    current = [build_server_context(credentials, client_ca_pem=ca.certificate_pem)]
    failing = False

    def source() -> ssl.SSLContext:
        if failing:
            raise RuntimeError("storage gone")
        return current[0]

    central = await make_central(settings=TLS_SETTINGS, tls=source)
    directory.accept("CP3")
    directory.set_security("CP3", 3)
    charger.get_certificate("CP3", ca)

    async def server_fingerprint() -> str:
        async with connected(central, wss(central, "CP3"), "CP3", ssl=charger.context()) as client:
            der = client.transport.get_extra_info("ssl_object").getpeercert(True)
            assert security(central, "CP3").profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
        return hashlib.sha256(der).hexdigest()

    first = await server_fingerprint()
    renewed = ca.issue_server_certificates([LOCALHOST])
    current[0] = build_server_context(renewed, client_ca_pem=ca.certificate_pem)
    second = await server_fingerprint()  # the client certificate is still checked after the switch
    assert second != first
    # A source that fails keeps the last context (and says so).
    failing = True
    assert await server_fingerprint() == second
    assert "The TLS context source failed; its last context is used" in caplog.text


# --- plain ws and downgrades -------------------------------------------------------------------------
@pytest.mark.parametrize("profile", [2, 3])
async def test_plain_ws_is_refused_for_profile_2_and_3(
    central: CentralSystem, directory: MemoryDirectory, profile: int
) -> None:
    directory.accept("CP1", PASSWORD)
    directory.set_security("CP1", profile)
    # Even with the right password (sent in clear: it is refused all the same).
    assert await refused(ws(central, "CP1"), additional_headers=basic("CP1")) == 403
    assert last_reason(central) is RefusalReason.TLS_REQUIRED
    assert directory.auth_failures == []


async def test_profile_1_works_on_both_listeners(
    central: CentralSystem, directory: MemoryDirectory, charger: Charger
) -> None:
    directory.accept("CP1")
    async with connected(central, ws(central, "CP1"), "CP1"):
        seen = security(central, "CP1")
        assert seen.profile is SecurityProfile.BASIC_AUTH
        assert seen.tls_version is None
    async with connected(central, wss(central, "CP1"), "CP1", ssl=charger.context()):
        assert security(central, "CP1").profile is SecurityProfile.TLS_BASIC_AUTH
    # Its committed password is needed on either.
    directory.passwords["CP1"] = PASSWORD
    central.charger("CP1").auth_provisioned = central.charger("CP1").auth_committed = True
    assert await refused(wss(central, "CP1"), ssl=charger.context()) == 401
    async with connected(
        central, wss(central, "CP1"), "CP1", ssl=charger.context(), additional_headers=basic("CP1")
    ):
        assert security(central, "CP1").basic_auth


async def test_a_downgrade_is_refused_unless_allowed(
    central: CentralSystem,
    directory: MemoryDirectory,
    charger: Charger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A profile-3 charger without its certificate, over TLS with Basic auth: refused; allowed
    when the user permits a downgrade (then logged and marked)."""
    directory.accept("CP3", PASSWORD)
    directory.set_security("CP3", 3)
    context = charger.context()  # no client certificate
    assert await refused(wss(central, "CP3"), ssl=context, additional_headers=basic("CP3")) == 403
    assert last_reason(central) is RefusalReason.CERTIFICATE_REQUIRED
    assert not central.charger("CP3").connected

    directory.set_security("CP3", 3, allow_downgrade=True)
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_ems")
    for _ in range(2):
        async with connected(
            central, wss(central, "CP3"), "CP3", ssl=context, additional_headers=basic("CP3")
        ):
            seen = security(central, "CP3")
            assert seen.downgraded
            assert seen.profile is SecurityProfile.TLS_BASIC_AUTH
            assert seen.configured_profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
    warned = [
        r
        for r in caplog.records
        if "although its profile is 3" in r.getMessage() and r.levelno == logging.WARNING
    ]
    assert len(warned) == 1  # once, not at every reconnect
    # Downgraded below its profile it still needs its password, also on plain ws.
    assert await refused(wss(central, "CP3"), ssl=context) == 401
    async with connected(central, ws(central, "CP3"), "CP3", additional_headers=basic("CP3")):
        assert security(central, "CP3").profile is SecurityProfile.BASIC_AUTH
        assert security(central, "CP3").downgraded


# --- certificate signing requests: over TLS only ---------------------------------------------------
@pytest.fixture
async def signing_central(
    socket_enabled: None,
    directory: MemoryDirectory,
    ca: CertificateAuthority,
    server_context: ssl.SSLContext,
) -> AsyncIterator[CentralSystem]:
    """Both listeners; our CA signs the chargers' certificate requests."""
    central = CentralSystem(
        TLS_SETTINGS, directory, tls=server_context, certificates=AuthorityCertificates(ca)
    )
    await central.start()
    yield central
    await central.stop()


async def sign_certificate(client: ClientConnection, version: str, csr: str) -> dict[str, Any]:
    """Send SignCertificate; its answer's payload (the server's own CALLs meanwhile are left
    unanswered: the session goes on regardless)."""
    payload = {"csr": csr}
    if version != "ocpp1.6":
        payload["certificateType"] = "ChargingStationCertificate"
    await client.send(json.dumps([2, "csr-1", "SignCertificate", payload]))
    async with asyncio.timeout(5):
        while True:
            frame = json.loads(await client.recv())
            if frame[:2] == [3, "csr-1"]:
                answer: dict[str, Any] = frame[2]
                return answer


async def certificate_signed(client: ClientConnection) -> str:
    """The chain of the server's CertificateSigned CALL."""
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await client.recv())
            if frame[0] == 2 and frame[2] == "CertificateSigned":
                chain: str = frame[3]["certificateChain"]
                return chain


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_certificate_is_signed_over_tls_only(
    signing_central: CentralSystem,
    directory: MemoryDirectory,
    charger: Charger,
    ca: CertificateAuthority,
    version: str,
) -> None:
    """Profile 1 (the password over plain ws://): whoever read the password, or relays the
    frames and puts in its own CSR, would get a two-year client certificate in the charger's
    name, which profile 3 then accepts. Refused; the same charger over TLS gets its certificate."""
    central = signing_central
    directory.accept("CP1", PASSWORD)
    csr, _key = make_csr("CP1")
    async with connect(
        ws(central, "CP1"), subprotocols=[version], additional_headers=basic("CP1")
    ) as client:
        answer = await sign_certificate(client, version, csr)
    if version == "ocpp1.6":
        assert answer == {"status": "Rejected"}
    else:
        assert answer["status"] == "Rejected"
        assert answer["statusInfo"]["reasonCode"] == "NotSecure"
    await wait_for(lambda: not central.charger("CP1").connected)

    async with connect(
        wss(central, "CP1"),
        ssl=charger.context(),
        subprotocols=[version],
        additional_headers=basic("CP1"),
    ) as client:
        assert await sign_certificate(client, version, csr) == {"status": "Accepted"}
        chain = await certificate_signed(client)
    assert ca.issued(chain)
    assert CertificateInfo.of(chain).subject_cn == "CP1"


# --- listener lifecycle -----------------------------------------------------------------------------
async def test_tls_listener_settings(
    socket_enabled: None,
    make_central: MakeCentral,
    directory: MemoryDirectory,
    server_context: ssl.SSLContext,
) -> None:
    with pytest.raises(ValueError, match="tls_port"):
        CentralSystem(ServerSettings(host=LOCALHOST, port=0, tls_port=0), directory)
    plain = await make_central(tls=server_context)
    assert plain.tls_port is None
    central = await make_central(settings=TLS_SETTINGS, tls=server_context)
    assert central.tls_port not in (None, central.port)
    # The TLS port is taken: nothing stays bound.
    taken = CentralSystem(
        ServerSettings(host=LOCALHOST, port=0, tls_port=central.tls_port),
        directory,
        tls=server_context,
    )
    with pytest.raises(ServerBindError):
        await taken.start()
    with pytest.raises(RuntimeError):
        _ = taken.port
    stopped = CentralSystem(ServerSettings(host=LOCALHOST, port=0), directory)
    with pytest.raises(RuntimeError):
        _ = stopped.tls_port


async def test_a_pending_charger_is_not_asked_for_a_certificate(
    central: CentralSystem, directory: MemoryDirectory, charger: Charger
) -> None:
    assert directory.admission("NEW") is Admission.PENDING
    async with connected(central, wss(central, "NEW"), "NEW", ssl=charger.context()):
        assert security(central, "NEW").profile is SecurityProfile.TLS_BASIC_AUTH
