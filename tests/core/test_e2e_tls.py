"""End-to-end over real TLS: the independent strict ``ocpp-rpc`` chargers against our ``wss://``
listener (security profiles 2 and 3), and the connections they must not get.

The chargers are the ones of ``test_e2e_ocpp_rpc.py`` (``tests/js/charger.mjs``, OCPP 1.6) and
``test_e2e_ocpp_rpc_v201.py`` (``tests/js/station201.mjs``, 2.0.1), with their TLS options
(``tests/js/common.mjs``): ``--ca`` (the only CA they trust), ``--cert`` / ``--key`` (a client
certificate), ``--csr`` (the charger sends SignCertificate, writes the certificate of
CertificateSigned and reconnects with it), ``--tls-max-version`` / ``--ciphers``. Node's TLS stack
(its own OpenSSL 3.0) is the client here, not Python's ``ssl``: a second implementation, as a
charger firmware's TLS library is.

Accepted: profile 2 (TLS + Basic auth) and profile 3 (a certificate our CA signed), each with a
whole session and a limit the charger applies, for 1.6 and 2.0.1; onboarding of a new charger over
TLS (its password without a SecurityProfile downgrade); profile 3 reached through the CSR round
over OCPP (SignCertificate -> CertificateSigned -> reconnect with the certificate).

Refused cases, as the charger sees them (``connect_failed``) and the server's reason:

==========================================  =================================  =========================
charger connects ...                        the charger sees                   the server's reason
==========================================  =================================  =========================
trusting another CA                         SELF_SIGNED_CERT_IN_CHAIN (its     (nothing: no request)
                                            own check; no password sent)
plain ws, profile-3 charger id              HTTP 403                           tls_required
wss without a certificate, profile 3        HTTP 403                           certificate_required
with another charger's certificate          HTTP 403                           certificate_mismatch
with an expired certificate                 ECONNRESET                         TLS: certificate expired
offering only TLS 1.0 / 1.1                 ECONNRESET                         TLS: unsupported protocol
==========================================  =================================  =========================

The TLS failures reach the charger as a reset, not as the alert OpenSSL wrote: asyncio closes the
socket of a failed server handshake at once. The server reports its reason (core/tls_listener.py;
the ``tls_failures`` fixture collects the reports).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.ocpp_ems.core.guard import RefusalReason
from custom_components.ocpp_ems.core.model import ConnectionSecurity
from custom_components.ocpp_ems.core.protocol.certificates import AuthorityCertificates
from custom_components.ocpp_ems.core.security import (
    CertificateAuthority,
    CertificateInfo,
    ServerCredentials,
    build_server_context,
)
from custom_components.ocpp_ems.core.security.tls import TlsFailureReason
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.settings import SecurityProfile, ServerSettings
from custom_components.ocpp_ems.core.tls_listener import TlsFailure

from .conftest import MakeCentral
from .fakes import MemoryDirectory
from .pki import key_pem, make_csr
from .test_e2e_ocpp_rpc import (
    ID_TAG,
    JsCharger,
    assert_whole_session,
    drive_session,
    js_charger,
    record_events,
)
from .test_e2e_ocpp_rpc_v201 import (
    ID_TOKEN,
    JsStation,
    js_station,
    session_then_quit,
)
from .v16_harness import wait_for

NODE = shutil.which("node")
LOCALHOST = "127.0.0.1"
# 32 printable characters: a valid password for 1.6 and for 2.0.1 (16..40).
PASSWORD = "tls-e2e-Pa55word-0123456789abcde"
TLS_SETTINGS = ServerSettings(host=LOCALHOST, port=0, tls_port=0)
CONNECT_FAILED = 6  # the chargers' exit code when no connection could be opened
# The 1.6 charger charges on at the new limit this long before it stops: the server clears the
# power at the stop, and ``drive_session`` polls the model for the new power (without it that
# check races the StopTransaction on a busy machine).
HOLD = ("--hold-ms", "300")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


# --- PKI and the server -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create(key_bits=2048)


@pytest.fixture(scope="module")
def credentials(ca: CertificateAuthority) -> ServerCredentials:
    return ca.issue_server_certificates([LOCALHOST, "localhost"])


class Pki:
    """The files a charger is given: our CA, a foreign CA, its key and certificate."""

    def __init__(self, tmp_path: Path, ca: CertificateAuthority) -> None:
        self.tmp_path = tmp_path
        self.ca = ca
        self.ca_file = tmp_path / "csms-root.pem"
        self.ca_file.write_text(ca.certificate_pem)

    def foreign_ca_file(self) -> Path:
        path = self.tmp_path / "foreign-root.pem"
        foreign = CertificateAuthority.create(common_name="Foreign CA", key_bits=2048)
        path.write_text(foreign.certificate_pem)
        return path

    def csr(self, charger_id: str) -> tuple[Path, Path]:
        """The charger's own key and CSR (what its firmware generates), as files."""
        csr, key = make_csr(charger_id)
        key_path = self.tmp_path / f"{charger_id}.key"
        csr_path = self.tmp_path / f"{charger_id}.csr"
        key_path.write_text(key_pem(key))
        csr_path.write_text(csr)
        return csr_path, key_path

    def certificate(self, charger_id: str, **validity: datetime) -> tuple[Path, Path]:
        """A client certificate for ``charger_id`` signed by our CA from the charger's CSR."""
        csr_path, key_path = self.csr(charger_id)
        issued = self.ca.sign_csr(csr_path.read_text(), charger_id, **validity)
        cert_path = self.tmp_path / f"{charger_id}-{issued.info.serial_number}.pem"
        cert_path.write_text(issued.pem)
        return cert_path, key_path


@pytest.fixture
def pki(tmp_path: Path, ca: CertificateAuthority) -> Pki:
    return Pki(tmp_path, ca)


@pytest.fixture
async def central(
    make_central: MakeCentral, ca: CertificateAuthority, credentials: ServerCredentials
) -> CentralSystem:
    context = build_server_context(credentials, client_ca_pem=ca.certificate_pem)
    return await make_central(settings=TLS_SETTINGS, tls=context)


def wss(central: CentralSystem, charger_id: str) -> str:
    return f"wss://{LOCALHOST}:{central.tls_port}/ocpp/{charger_id}"


def ws(central: CentralSystem, charger_id: str) -> str:
    return f"ws://{LOCALHOST}:{central.port}/ocpp/{charger_id}"


def security(central: CentralSystem, charger_id: str) -> ConnectionSecurity:
    seen = central.charger(charger_id).connection_security
    assert seen is not None, f"{charger_id}: no connection security recorded"
    return seen


@pytest.fixture
def tls_failures(central: CentralSystem) -> list[TlsFailure]:
    """The server's reports of failed TLS handshakes (the charger may see only a reset: the
    server drops the socket right after its alert)."""
    failures: list[TlsFailure] = []
    central.tls_failures.add_listener(failures.append)
    return failures


def admit(directory: MemoryDirectory, charger_id: str, profile: int) -> None:
    directory.accept(charger_id, PASSWORD)
    directory.set_security(charger_id, profile)
    directory.id_tags.update({ID_TAG, ID_TOKEN})


# --- profile 2: TLS + Basic auth ------------------------------------------------------------------
async def test_profile_2_charger_16(
    central: CentralSystem, directory: MemoryDirectory, pki: Pki
) -> None:
    """A 1.6 charger over wss:// trusting our CA, with its password: boot, a session, a limit."""
    charger_id = "TLS-16-P2"
    admit(directory, charger_id, 2)
    events = record_events(central.charger(charger_id))
    args = ("--ca", str(pki.ca_file), "--password", PASSWORD, *HOLD)
    async with js_charger(wss(central, charger_id), *args) as js:
        assert (await js.wait_for("boot"))["status"] == "Accepted"
        seen = security(central, charger_id)
        await drive_session(central, js, charger_id)
        assert await js.wait_exit() == 0, js.transcript()

    assert_whole_session(js, central.charger(charger_id), events)
    connected = js.steps("connected")
    assert [(c["tls"], c["security_profile"], c["basic_auth"]) for c in connected] == [
        (True, 2, True)
    ]
    assert seen.profile is SecurityProfile.TLS_BASIC_AUTH
    assert seen.configured_profile is SecurityProfile.TLS_BASIC_AUTH
    assert seen.basic_auth
    assert not seen.downgraded
    assert seen.tls_version == "TLSv1.3"
    assert seen.certificate_cn is None
    assert directory.auth_successes == [charger_id]
    assert not directory.auth_failures


async def test_profile_2_station_201(
    central: CentralSystem, directory: MemoryDirectory, pki: Pki
) -> None:
    """A 2.0.1 station over wss:// with its password: boot, device model, a session, a limit."""
    charger_id = "TLS-201-P2"
    admit(directory, charger_id, 2)
    args = ("--ca", str(pki.ca_file), "--password", PASSWORD)
    async with js_station(wss(central, charger_id), *args) as js:
        assert (await js.wait_for("boot"))["status"] == "Accepted"
        seen = security(central, charger_id)
        await session_then_quit(central, js, charger_id)

    assert [(c["tls"], c["security_profile"]) for c in js.steps("connected")] == [(True, 2)]
    assert js.steps("connected")[0]["protocol"] == "ocpp2.0.1"
    assert seen.profile is SecurityProfile.TLS_BASIC_AUTH
    assert seen.basic_auth
    assert seen.tls_version == "TLSv1.3"
    assert directory.auth_successes == [charger_id]


def password_offers(js: JsCharger | JsStation) -> list[str]:
    """What the server sent the charger to give it a password or lower its profile."""
    offers = [
        f"ChangeConfiguration {line['params'].get('key')}"
        for line in js.received("ChangeConfiguration")
        if line["params"].get("key") in ("AuthorizationKey", "SecurityProfile")
    ]
    offers += [
        f"SetVariables {item['variable']['name']}"
        for line in js.received("SetVariables")
        for item in line["params"]["setVariableData"]
        if item["variable"]["name"] in ("BasicAuthPassword", "SecurityProfile")
    ]
    return offers


async def test_onboarding_over_tls_charger_16(
    central: CentralSystem, directory: MemoryDirectory, pki: Pki
) -> None:
    """A new 1.6 charger set up with our CA and the wss:// URL but no password: it boots
    Pending; the user accepts it; it gets its AuthorizationKey - and no SecurityProfile 1, which
    would be a downgrade from TLS - comes back with the key over TLS and charges."""
    charger_id = "TLS-16-NEW"
    directory.id_tags.add(ID_TAG)
    events = record_events(central.charger(charger_id))
    async with js_charger(wss(central, charger_id), "--ca", str(pki.ca_file), *HOLD) as js:
        assert (await js.wait_for("boot"))["status"] == "Pending"
        directory.accept(charger_id, PASSWORD)
        await central.accept_charger(charger_id)
        await js.wait_for("reconnect")
        await drive_session(central, js, charger_id)
        assert await js.wait_exit() == 0, js.transcript()

    assert_whole_session(js, central.charger(charger_id), events)
    assert [line["params"]["key"] for line in js.received("ChangeConfiguration")][:1] == [
        "AuthorizationKey"
    ]
    assert "SecurityProfile" not in password_offers(js)
    assert not js.steps("downgrade_refused"), js.transcript()
    connected = [(c["security_profile"], c["basic_auth"]) for c in js.steps("connected")]
    assert connected == [(2, False), (2, True)]
    assert security(central, charger_id).basic_auth
    assert central.charger(charger_id).auth_committed
    assert directory.auth_successes == [charger_id]


async def test_onboarding_over_tls_station_201(
    central: CentralSystem, directory: MemoryDirectory, pki: Pki
) -> None:
    """The same for a 2.0.1 station: SecurityCtrlr.BasicAuthPassword, no SecurityProfile change,
    back over TLS with the password, Accepted."""
    charger_id = "TLS-201-NEW"
    args = ("--ca", str(pki.ca_file), "--no-session")
    async with js_station(wss(central, charger_id), *args) as js:
        assert (await js.wait_for("boot"))["status"] == "Pending"
        directory.accept(charger_id, PASSWORD)
        await central.accept_charger(charger_id)
        await js.wait_for("boot", lambda li: li["status"] == "Accepted")
        await js.wait_for("idle")
        assert await js.quit() == 0, js.transcript()

    js.assert_clean()
    assert password_offers(js) == ["SetVariables BasicAuthPassword"], js.transcript()
    connected = [(c["security_profile"], c["basic_auth"]) for c in js.steps("connected")]
    assert connected == [(2, False), (2, True)]
    assert security(central, charger_id).basic_auth
    assert central.charger(charger_id).auth_committed


# --- profile 3: a client certificate from our CA -------------------------------------------------
async def test_profile_3_charger_16_with_certificate(
    central: CentralSystem, directory: MemoryDirectory, pki: Pki
) -> None:
    """A 1.6 charger with a certificate our CA signed from its CSR, no password: the certificate
    authenticates it; a whole session with a limit."""
    charger_id = "TLS-16-P3"
    admit(directory, charger_id, 3)
    cert, key = pki.certificate(charger_id)
    events = record_events(central.charger(charger_id))
    args = ("--ca", str(pki.ca_file), "--cert", str(cert), "--key", str(key), *HOLD)
    async with js_charger(wss(central, charger_id), *args) as js:
        assert (await js.wait_for("boot"))["status"] == "Accepted"
        seen = security(central, charger_id)
        await drive_session(central, js, charger_id)
        assert await js.wait_exit() == 0, js.transcript()

    assert_whole_session(js, central.charger(charger_id), events)
    first = js.steps("connected")[0]
    assert (first["security_profile"], first["basic_auth"]) == (3, False)
    assert all(line["client_certificate"] for line in js.steps("connected"))
    assert seen.profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
    assert seen.certificate_cn == charger_id
    assert not seen.basic_auth
    assert security(central, charger_id).profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
    assert not directory.auth_failures
    # It is not given a password (1.6: AuthorizationKey + SecurityProfile 1 would be a downgrade).
    assert not password_offers(js), js.transcript()
    assert not js.steps("downgrade_refused"), js.transcript()
    assert len(js.steps("connected")) == 1


async def test_profile_3_station_201_with_certificate(
    central: CentralSystem, directory: MemoryDirectory, pki: Pki
) -> None:
    charger_id = "TLS-201-P3"
    admit(directory, charger_id, 3)
    cert, key = pki.certificate(charger_id)
    charger = central.charger(charger_id)
    args = ("--ca", str(pki.ca_file), "--cert", str(cert), "--key", str(key))
    async with js_station(wss(central, charger_id), *args) as js:
        assert (await js.wait_for("boot"))["status"] == "Accepted"
        seen = security(central, charger_id)
        await session_then_quit(central, js, charger_id)

    first = js.steps("connected")[0]
    assert (first["security_profile"], first["basic_auth"]) == (3, False)
    assert all(line["client_certificate"] for line in js.steps("connected"))
    assert seen.profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
    assert seen.certificate_cn == charger_id
    assert charger.configuration.get("SecurityCtrlr.SecurityProfile") == "3"
    assert security(central, charger_id).profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
    assert not password_offers(js), js.transcript()
    assert len(js.steps("connected")) == 1


# --- profile 3 through the CSR round over OCPP ----------------------------------------------------
@pytest.fixture
async def signing_central(
    socket_enabled: None,
    directory: MemoryDirectory,
    ca: CertificateAuthority,
    credentials: ServerCredentials,
) -> AsyncIterator[CentralSystem]:
    """The TLS server with our CA as its certificate service (it signs chargers' CSRs)."""
    context = build_server_context(credentials, client_ca_pem=ca.certificate_pem)
    central = CentralSystem(
        TLS_SETTINGS, directory, tls=context, certificates=AuthorityCertificates(ca)
    )
    await central.start()
    yield central
    await central.stop()


def certificate_round_args(pki: Pki, charger_id: str) -> tuple[tuple[str, ...], Path]:
    """The charger's TLS options for the round: our CA, its password (profile 2 until it has its
    certificate), its CSR and key, and where it writes the certificate it gets."""
    csr, key = pki.csr(charger_id)
    cert = pki.tmp_path / f"{charger_id}-signed.pem"
    args = ("--ca", str(pki.ca_file), "--password", PASSWORD)
    return (*args, "--csr", str(csr), "--key", str(key), "--cert", str(cert)), cert


def assert_round(
    js: JsCharger | JsStation,
    central: CentralSystem,
    charger_id: str,
    ca: CertificateAuthority,
    cert: Path,
) -> None:
    """SignCertificate Accepted, CertificateSigned with a certificate of our CA for the charger
    id, and the charger back over TLS with it, without its password."""
    assert [line["status"] for line in js.steps("sign_certificate")] == ["Accepted"]
    assert [line["status"] for line in js.received("CertificateSigned")] == ["Accepted"]
    issued = CertificateInfo.of(cert.read_text())
    assert issued.subject_cn == charger_id
    assert ca.issued(cert.read_text())
    connected = [
        (line["security_profile"], line["basic_auth"], line["client_certificate"])
        for line in js.steps("connected")
    ]
    assert connected[:2] == [(2, True, False), (3, False, True)], js.transcript()
    seen = security(central, charger_id)
    assert seen.profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
    assert seen.certificate_cn == charger_id
    assert seen.certificate_fingerprint == issued.fingerprint_sha256
    assert not seen.basic_auth


async def test_profile_3_charger_16_through_the_csr_round(
    signing_central: CentralSystem,
    directory: MemoryDirectory,
    pki: Pki,
    ca: CertificateAuthority,
) -> None:
    """A 1.6 charger at profile 2 sends SignCertificate with its CSR (security extension); we
    sign it and send CertificateSigned; it reconnects with the certificate and boots, the user
    moves it to profile 3, and the session runs over that connection."""
    central = signing_central
    charger_id = "TLS-16-CSR"
    admit(directory, charger_id, 2)
    events = record_events(central.charger(charger_id))
    args, cert = certificate_round_args(pki, charger_id)
    async with js_charger(wss(central, charger_id), *args, *HOLD) as js:
        await js.wait_for("certificate_signed")
        directory.set_security(charger_id, 3)
        await drive_session(central, js, charger_id)
        assert await js.wait_exit() == 0, js.transcript()

    assert_whole_session(js, central.charger(charger_id), events)
    assert_round(js, central, charger_id, ca, cert)
    assert not js.steps("downgrade_refused"), js.transcript()
    # It booted again on the new connection (as after a change of SecurityProfile).
    assert [line["status"] for line in js.steps("boot")] == ["Accepted", "Accepted"]


async def test_profile_3_station_201_through_the_csr_round(
    signing_central: CentralSystem,
    directory: MemoryDirectory,
    pki: Pki,
    ca: CertificateAuthority,
) -> None:
    """The same round in 2.0.1 (A02/A03: SignCertificate ChargingStationCertificate,
    CertificateSigned); the station comes back without a new boot and charges."""
    central = signing_central
    charger_id = "TLS-201-CSR"
    admit(directory, charger_id, 2)
    args, cert = certificate_round_args(pki, charger_id)
    async with js_station(wss(central, charger_id), *args) as js:
        await js.wait_for("certificate_signed")
        directory.set_security(charger_id, 3)
        await session_then_quit(central, js, charger_id)

    assert_round(js, central, charger_id, ca, cert)
    signed = js.received("CertificateSigned")[0]
    assert signed["params"]["certificateType"] == "ChargingStationCertificate"
    assert [line["reason"] for line in js.steps("boot")] == ["PowerUp"]


# --- refused --------------------------------------------------------------------------------------
async def refused_connection(url: str, *args: str) -> dict[str, object]:
    """Run the 1.6 charger against ``url``; it must fail to connect. Its ``connect_failed``."""
    async with js_charger(url, *args) as js:
        code = await js.wait_exit()
    assert code == CONNECT_FAILED, js.transcript()
    assert not js.steps("connected"), js.transcript()
    failed = js.steps("connect_failed")
    assert len(failed) == 1, js.transcript()
    return failed[0]


async def test_refused_a_charger_trusting_another_ca(
    central: CentralSystem, directory: MemoryDirectory, pki: Pki
) -> None:
    """Our server certificate does not chain to the CA the charger trusts: the charger ends the
    TLS handshake itself (its password never leaves it)."""
    admit(directory, "TLS-CA", 2)
    args = ("--ca", str(pki.foreign_ca_file()), "--password", PASSWORD)
    failed = await refused_connection(wss(central, "TLS-CA"), *args)
    assert failed["http_status"] is None
    # Our chain ends in our CA's certificate, which the charger does not trust.
    assert failed["error_code"] == "SELF_SIGNED_CERT_IN_CHAIN", failed
    assert central.session("TLS-CA") is None
    assert central.last_refusal is None  # no HTTP request reached the server
    assert not directory.auth_successes
    assert not directory.auth_failures


async def test_refused_plain_ws_for_profile_3(
    central: CentralSystem, directory: MemoryDirectory
) -> None:
    admit(directory, "TLS-WS", 3)
    failed = await refused_connection(ws(central, "TLS-WS"), "--password", PASSWORD)
    assert failed["http_status"] == 403
    refusal = central.last_refusal
    assert refusal is not None
    assert refusal.reason is RefusalReason.TLS_REQUIRED
    assert central.session("TLS-WS") is None


async def test_refused_wss_without_certificate_for_profile_3(
    central: CentralSystem, directory: MemoryDirectory, pki: Pki
) -> None:
    """A profile-3 charger coming back with its password but no certificate: a downgrade."""
    admit(directory, "TLS-DOWN", 3)
    args = ("--ca", str(pki.ca_file), "--password", PASSWORD)
    failed = await refused_connection(wss(central, "TLS-DOWN"), *args)
    assert failed["http_status"] == 403
    refusal = central.last_refusal
    assert refusal is not None
    assert refusal.reason is RefusalReason.CERTIFICATE_REQUIRED


async def test_refused_another_chargers_certificate(
    central: CentralSystem, directory: MemoryDirectory, pki: Pki
) -> None:
    admit(directory, "TLS-A", 3)
    admit(directory, "TLS-B", 3)
    cert, key = pki.certificate("TLS-B")
    args = ("--ca", str(pki.ca_file), "--cert", str(cert), "--key", str(key))
    failed = await refused_connection(wss(central, "TLS-A"), *args)
    assert failed["http_status"] == 403
    refusal = central.last_refusal
    assert refusal is not None
    assert refusal.reason is RefusalReason.CERTIFICATE_MISMATCH
    assert refusal.charger_id == "TLS-A"
    assert central.session("TLS-A") is None
    assert central.session("TLS-B") is None


async def test_refused_an_expired_certificate(
    central: CentralSystem, directory: MemoryDirectory, pki: Pki, tls_failures: list[TlsFailure]
) -> None:
    """Our CA signed it, but it expired: the server's OpenSSL ends the handshake with an alert
    (nothing reaches the HTTP handshake)."""
    admit(directory, "TLS-EXP", 3)
    now = datetime.now(UTC)
    cert, key = pki.certificate(
        "TLS-EXP", not_valid_before=now - timedelta(days=30), not_valid_after=now - timedelta(1)
    )
    args = ("--ca", str(pki.ca_file), "--cert", str(cert), "--key", str(key))
    failed = await refused_connection(wss(central, "TLS-EXP"), *args)
    assert failed["http_status"] is None
    # The charger sees the connection reset (asyncio drops the socket without sending the alert
    # OpenSSL wrote); the server's reason:
    assert failed["error_code"] == "ECONNRESET", failed
    await wait_for(lambda: tls_failures)
    assert [f.reason for f in tls_failures] == [TlsFailureReason.CERTIFICATE_EXPIRED]
    assert central.session("TLS-EXP") is None
    assert central.last_refusal is None


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1.1"])
async def test_refused_tls_1_0_and_1_1(
    central: CentralSystem,
    directory: MemoryDirectory,
    pki: Pki,
    tls_failures: list[TlsFailure],
    version: str,
) -> None:
    """A charger that offers only TLS 1.0 or 1.1 (SECLEVEL=0: OpenSSL 3 would not offer their
    SHA-1 signatures otherwise): the server answers with a protocol_version alert."""
    admit(directory, "TLS-OLD", 2)
    args = (
        "--ca",
        str(pki.ca_file),
        "--password",
        PASSWORD,
        "--tls-min-version",
        version,
        "--tls-max-version",
        version,
        "--ciphers",
        "DEFAULT:@SECLEVEL=0",
    )
    failed = await refused_connection(wss(central, "TLS-OLD"), *args)
    assert failed["http_status"] is None
    assert failed["error_code"] == "ECONNRESET", failed
    # Node did offer the old version (a client that cannot would fail before sending anything):
    # the server's OpenSSL refused it.
    await wait_for(lambda: tls_failures)
    assert [f.reason for f in tls_failures] == [TlsFailureReason.VERSION_TOO_OLD]
    assert central.session("TLS-OLD") is None
    assert central.last_refusal is None
