"""The certificate life cycle over OCPP 1.6 (security extension), on real websockets.

The charger is the ``ocpp`` package's 1.6 client (:mod:`.v16_harness`) with the security
extension's handlers: what we send passes its schema validation. The CA is a real
:class:`~custom_components.ocpp_ems.core.security.ca.CertificateAuthority`; CSRs are made here with
``cryptography`` (:mod:`.pki`). The round's failure paths (shared by every version) are tested
here too, with fake certificate services.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection

from custom_components.ocpp_ems.core.errors import (
    CommandNotSupportedError,
    CommandRejectedError,
    InvalidCommandError,
)
from custom_components.ocpp_ems.core.model import Charger, ConnectionSecurity
from custom_components.ocpp_ems.core.protocol.certificates import (
    AuthorityCertificates,
    certificate_hash_data,
)
from custom_components.ocpp_ems.core.security.renewal import request_client_renewals
from custom_components.ocpp_ems.core.session import (
    CSMS_ROOT_CERTIFICATE,
    MANUFACTURER_ROOT_CERTIFICATE,
    SECURITY_LOG,
    CertificateHashData,
    ChargerSession,
    SignedFirmware,
)
from custom_components.ocpp_ems.core.settings import SecurityProfile, ServerSettings

from .certificate_fixtures import (
    CHARGER_ID,
    OVER_PLAIN_WS,
    BlockingService,
    CertificatesHarness,
    StaticService,
    assert_issued,
    certificates_harness,
    security_events,
    tampered,
    wait_for,
)
from .fakes import MemoryDirectory
from .pki import make_csr, self_signed
from .v16_harness import SimCharger, after, on


class SecureCharger(SimCharger):
    """A 1.6 charger with the security extension: it keeps the certificates it is given."""

    def __init__(self, charger_id: str, connection: ClientConnection) -> None:
        super().__init__(charger_id, connection)
        self.key: Any = None
        self.chains: list[str] = []
        self.installed: dict[str, list[dict[str, str]]] = {}

    async def sign_certificate(self, cn: str = CHARGER_ID, csr: str | None = None) -> str:
        """Send a CSR (of a new key for ``cn``, or ``csr``); the central system's status."""
        if csr is None:
            csr, self.key = make_csr(cn)
        result = await self.call(call.SignCertificate(csr=csr))
        return str(result.status)

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str, **kwargs: Any) -> Any:
        status = self._record("CertificateSigned", {"certificate_chain": certificate_chain})
        self.chains.append(certificate_chain)
        return call_result.CertificateSigned(status=status)

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str, **kwargs: Any) -> Any:
        status = self._record(
            "InstallCertificate", {"certificate_type": certificate_type, "certificate": certificate}
        )
        if status == "Accepted":
            hash_data = certificate_hash_data(certificate).payload()
            self.installed.setdefault(certificate_type, []).append(hash_data)
        return call_result.InstallCertificate(status=status)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, certificate_type: str, **kwargs: Any) -> Any:
        status = self._record("GetInstalledCertificateIds", {"certificate_type": certificate_type})
        found = self.installed.get(certificate_type)
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(status=status, certificate_hash_data=found)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict[str, str], **kwargs: Any) -> Any:
        self._record("DeleteCertificate", {"certificate_hash_data": certificate_hash_data})
        wanted = CertificateHashData(
            hash_algorithm=certificate_hash_data["hash_algorithm"],
            issuer_name_hash=certificate_hash_data["issuer_name_hash"],
            issuer_key_hash=certificate_hash_data["issuer_key_hash"],
            serial_number=certificate_hash_data["serial_number"],
        )
        for certificates in self.installed.values():
            for item in certificates:
                if CertificateHashData.from_payload(item).matches(wanted):
                    certificates.remove(item)
                    return call_result.DeleteCertificate(status="Accepted")
        return call_result.DeleteCertificate(status="NotFound")

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, requested_message: str, **kwargs: Any) -> Any:
        status = self._record(
            "ExtendedTriggerMessage", {"requested_message": requested_message, **kwargs}
        )
        return call_result.ExtendedTriggerMessage(status=status)

    @after(Action.extended_trigger_message)
    def after_extended_trigger_message(self, requested_message: str, **kwargs: Any) -> None:
        accepted = self.status_override.get("ExtendedTriggerMessage", "Accepted") == "Accepted"
        if requested_message == "SignChargePointCertificate" and accepted:
            self._background.add(asyncio.ensure_future(self.sign_certificate()))

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(
        self, request_id: int, firmware: dict[str, Any], **kwargs: Any
    ) -> Any:
        status = self._record(
            "SignedUpdateFirmware", {"request_id": request_id, "firmware": firmware, **kwargs}
        )
        return call_result.SignedUpdateFirmware(status=status)

    @on(Action.get_log)
    def on_get_log(self, log_type: str, request_id: int, log: dict[str, Any], **kwargs: Any) -> Any:
        status = self._record(
            "GetLog", {"log_type": log_type, "request_id": request_id, "log": log, **kwargs}
        )
        return call_result.GetLog(status=status, filename="security.log")


class Harness16(CertificatesHarness):
    def new_client(self, connection: ClientConnection) -> Any:
        return SecureCharger(CHARGER_ID, connection)


@pytest.fixture
async def h(
    socket_enabled: None, directory: MemoryDirectory, server_settings: ServerSettings
) -> AsyncIterator[Harness16]:
    async with certificates_harness(directory, server_settings, Harness16) as harness:
        yield harness


@pytest.fixture
async def sim(h: Harness16) -> SecureCharger:
    charger: SecureCharger = await h.charger_client()
    return charger


# --- the charger's certificate signing request ---------------------------------------------------
async def test_csr_round_trip(h: Harness16, sim: SecureCharger) -> None:
    assert await sim.sign_certificate() == "Accepted"
    await wait_for(lambda: sim.chains)
    assert list(sim.actions("CertificateSigned")[0]) == ["certificate_chain"]  # no 2.x fields
    certificate = assert_issued(sim.chains[0], h.authority, sim.key)
    await wait_for(lambda: security_events(h))
    (event,) = security_events(h)
    assert event.data["type"] == "CertificateIssued"
    assert event.data["source"] == "server"
    assert f"{certificate.serial_number:X}" in event.data["tech_info"]


@pytest.mark.parametrize("bad", ["wrong_cn", "bad_signature"])
async def test_refused_csr(
    h: Harness16, sim: SecureCharger, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    csr, _key = make_csr("CP2" if bad == "wrong_cn" else CHARGER_ID)
    if bad == "bad_signature":
        csr = tampered(csr)
    with caplog.at_level(logging.INFO):
        assert await sim.sign_certificate(csr=csr) == "Accepted"
        await wait_for(lambda: security_events(h))
    (event,) = security_events(h)
    assert event.data["type"] == "CertificateSigningRefused"
    assert event.data["source"] == "server"
    reason = "cn_mismatch" if bad == "wrong_cn" else "bad_signature"
    assert event.data["tech_info"].startswith(reason)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("custom_components")]
    assert any("refused its certificate signing request" in message for message in ours)
    # Our log never quotes the CSR (the simulated charger's library logs its own frames).
    body = "".join(csr.splitlines()[1:-1])
    assert not any("CERTIFICATE REQUEST" in m or body[:40] in m for m in ours)
    await asyncio.sleep(0.05)
    assert sim.chains == []  # nothing signed, nothing sent


async def test_rate_limit(h: Harness16, sim: SecureCharger) -> None:
    assert await sim.sign_certificate() == "Accepted"
    await wait_for(lambda: sim.chains)
    # Within the minute: rejected, whatever it sends (a wrong CN costs its slot as well).
    assert await sim.sign_certificate() == "Rejected"
    h.clock.now += 59
    assert await sim.sign_certificate() == "Rejected"
    h.clock.now += 2
    assert await sim.sign_certificate("CP2") == "Accepted"
    # (Its round refuses the CN in a worker thread: a request while it runs is refused as busy.)
    await wait_for(lambda: len(security_events(h)) == 2)  # issued, then the CN refused
    h.clock.now += 61
    assert await sim.sign_certificate() == "Accepted"
    await wait_for(lambda: len(sim.chains) == 2)


async def test_one_round_at_a_time(h: Harness16, sim: SecureCharger) -> None:
    service = BlockingService()
    h.certificates = service
    h.sessions[-1].context.certificates = service
    assert await sim.sign_certificate() == "Accepted"
    assert await sim.sign_certificate() == "Rejected"  # the first one still signs
    service.release.set()
    await wait_for(lambda: len(service.signed) == 1)


async def test_no_signer_is_rejected(h: Harness16) -> None:
    h.certificates = None
    sim: SecureCharger = await h.charger_client()
    assert await sim.sign_certificate() == "Rejected"
    # A CA the host has not created yet: the same.
    h.certificates = AuthorityCertificates(lambda: None)
    sim = await h.charger_client()
    assert await sim.sign_certificate() == "Rejected"
    with pytest.raises(InvalidCommandError):
        await h.session.install_root_certificate()
    await asyncio.sleep(0.05)
    assert sim.chains == []
    assert security_events(h) == []


async def test_an_unauthenticated_connection_is_rejected(h: Harness16) -> None:
    h.authenticated = False
    sim: SecureCharger = await h.charger_client()
    assert await sim.sign_certificate() == "Rejected"


async def test_a_connection_without_tls_is_rejected(
    h: Harness16, caplog: pytest.LogCaptureFixture
) -> None:
    """Profile 1: its password, but over plain ws:// (readable and changeable on the way)."""
    h.security = OVER_PLAIN_WS
    sim: SecureCharger = await h.charger_client()
    with caplog.at_level(logging.INFO):
        assert await sim.sign_certificate() == "Rejected"
    assert "certificate signing request rejected: The connection is not TLS" in caplog.text
    await asyncio.sleep(0.05)
    assert sim.chains == []
    assert security_events(h) == []


# --- failures after Accepted (the same code for every version) -----------------------------------
async def test_signing_failures(
    h: Harness16,
    sim: SecureCharger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = h.session
    service = StaticService(error=RuntimeError("the CA went away"))
    session.context.certificates = service
    with caplog.at_level(logging.INFO):
        assert await sim.sign_certificate() == "Accepted"
        await wait_for(lambda: "could not sign" in caplog.text)
        service.error = None
        service.chain = "not a certificate"
        assert await sim.sign_certificate() == "Accepted"
        await wait_for(lambda: "returned no certificate" in caplog.text)
    assert sim.chains == []

    issued = h.authority.sign_csr(make_csr(CHARGER_ID)[0], CHARGER_ID).pem
    service.chain = issued
    sim.status_override["CertificateSigned"] = "Rejected"
    with caplog.at_level(logging.INFO):
        assert await sim.sign_certificate() == "Accepted"
        await wait_for(lambda: "refused the certificate we signed" in caplog.text)
        sim.fail_with_error.add("CertificateSigned")
        assert await sim.sign_certificate() == "Accepted"
        await wait_for(lambda: "was not delivered" in caplog.text)
    assert security_events(h) == []  # nothing issued, nothing refused by us


# --- central system -> charger -------------------------------------------------------------------
async def test_install_root_certificate(h: Harness16, sim: SecureCharger) -> None:
    session = h.session
    await session.install_root_certificate()  # our CA, from the certificate service
    own, _key = self_signed("other.example")
    await session.install_root_certificate(own)
    assert sim.actions("InstallCertificate") == [
        {"certificate_type": "CentralSystemRootCertificate", "certificate": pem}
        for pem in (h.authority.certificate_pem, own)
    ]
    for status in ("Rejected", "Failed"):
        sim.status_override["InstallCertificate"] = status
        with pytest.raises(CommandRejectedError) as err:
            await session.install_root_certificate()
        assert err.value.status == status


async def test_installed_certificates_and_delete(h: Harness16, sim: SecureCharger) -> None:
    session = h.session
    assert await session.get_installed_certificate_ids() == []  # NotFound for both types
    assert [p["certificate_type"] for p in sim.actions("GetInstalledCertificateIds")] == [
        "CentralSystemRootCertificate",
        "ManufacturerRootCertificate",
    ]
    await session.install_root_certificate()
    sim.installed["ManufacturerRootCertificate"] = [
        certificate_hash_data(self_signed("maker.example")[0]).payload()
    ]
    installed = await session.get_installed_certificate_ids()
    assert [c.certificate_type for c in installed] == [
        CSMS_ROOT_CERTIFICATE,
        MANUFACTURER_ROOT_CERTIFICATE,
    ]
    ours = certificate_hash_data(h.authority.certificate_pem)
    assert installed[0].hash_data.matches(ours)
    # 1.6's own name is understood too.
    only = await session.get_installed_certificate_ids(["CentralSystemRootCertificate"])
    assert [c.certificate_type for c in only] == [CSMS_ROOT_CERTIFICATE]

    await session.delete_certificate(ours)
    assert sim.actions("DeleteCertificate")[0]["certificate_hash_data"] == {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": ours.issuer_name_hash,
        "issuer_key_hash": ours.issuer_key_hash,
        "serial_number": ours.serial_number,
    }
    assert await session.get_installed_certificate_ids([CSMS_ROOT_CERTIFICATE]) == []
    with pytest.raises(CommandRejectedError) as err:
        await session.delete_certificate(ours)
    assert err.value.status == "NotFound"


async def test_request_new_client_certificate(h: Harness16, sim: SecureCharger) -> None:
    await h.session.request_new_client_certificate()
    assert sim.actions("ExtendedTriggerMessage") == [
        {"requested_message": "SignChargePointCertificate"}
    ]
    await wait_for(lambda: sim.chains)  # the CSR round followed
    assert_issued(sim.chains[0], h.authority, sim.key)

    sim.status_override["ExtendedTriggerMessage"] = "NotImplemented"
    with pytest.raises(CommandNotSupportedError):
        await h.session.request_new_client_certificate()
    sim.status_override["ExtendedTriggerMessage"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await h.session.request_new_client_certificate()
    # A charger without the security extension answers a CALLERROR.
    sim.fail_with_error.add("ExtendedTriggerMessage")
    with pytest.raises(CommandNotSupportedError) as err:
        await h.session.request_new_client_certificate()
    assert "NotSupported" in str(err.value)


async def test_extended_trigger_messages(h: Harness16, sim: SecureCharger) -> None:
    session = h.session
    await session.trigger_message("LogStatusNotification")
    await session.trigger_message("SignChargingStationCertificate")  # the 2.x name
    await session.trigger_message("Heartbeat")  # TriggerMessage as before
    assert sim.actions("ExtendedTriggerMessage") == [
        {"requested_message": "LogStatusNotification"},
        {"requested_message": "SignChargePointCertificate"},
    ]
    assert sim.actions("TriggerMessage") == [{"requested_message": "Heartbeat"}]


async def test_security_profile(h: Harness16, sim: SecureCharger) -> None:
    session = h.session
    assert await session.set_security_profile(2) == "Accepted"
    assert sim.actions("ChangeConfiguration")[-1] == {"key": "SecurityProfile", "value": "2"}
    with pytest.raises(InvalidCommandError):
        await session.set_security_profile(4)
    sim.reject_keys.add("SecurityProfile")  # lower than it has, or a prerequisite missing
    with pytest.raises(CommandRejectedError):
        await session.set_security_profile(3)
    with pytest.raises(CommandNotSupportedError) as err:
        await session.set_network_profile(1, "wss://ha.local:9443/", 2)
    assert "SecurityProfile" in str(err.value)


async def test_signed_firmware_and_logs(h: Harness16, sim: SecureCharger) -> None:
    session = h.session
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    signer, _key = self_signed("firmware.example")
    firmware = SignedFirmware(
        location="https://fw/x.bin",
        retrieve_date=when,
        signing_certificate=signer,
        signature="c2lnbmF0dXJl",
        install_date=when,
    )
    await session.signed_update_firmware(firmware, retries=2, retry_interval_s=30)
    await session.signed_update_firmware(
        SignedFirmware(
            location="https://fw/y.bin",
            retrieve_date=when,
            signing_certificate=signer,
            signature="c2ln",
        )
    )
    first, second = sim.actions("SignedUpdateFirmware")
    assert first["firmware"] == {
        "location": "https://fw/x.bin",
        "retrieve_date_time": "2030-01-02T03:04:05.000Z",
        "install_date_time": "2030-01-02T03:04:05.000Z",
        "signing_certificate": signer,
        "signature": "c2lnbmF0dXJl",
    }
    assert (first["retries"], first["retry_interval"]) == (2, 30)
    assert "install_date_time" not in second["firmware"]
    assert "retries" not in second
    assert first["request_id"] != second["request_id"]
    for status in ("InvalidCertificate", "RevokedCertificate", "Rejected"):
        sim.status_override["SignedUpdateFirmware"] = status
        with pytest.raises(CommandRejectedError):
            await session.signed_update_firmware(firmware)
    sim.status_override["SignedUpdateFirmware"] = "AcceptedCanceled"
    await session.signed_update_firmware(firmware)

    assert await session.get_log(SECURITY_LOG, "ftp://logs/", oldest=when, latest=when) == (
        "security.log"
    )
    log = sim.actions("GetLog")[0]
    assert log["log_type"] == "SecurityLog"
    assert log["log"] == {
        "remote_location": "ftp://logs/",
        "oldest_timestamp": "2030-01-02T03:04:05.000Z",
        "latest_timestamp": "2030-01-02T03:04:05.000Z",
    }
    sim.status_override["GetLog"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await session.get_log(SECURITY_LOG, "ftp://logs/")
    # GetDiagnostics stays 1.6's diagnostics request.
    assert await session.request_diagnostics("ftp://diag") == "diag.zip"


async def test_security_events_of_the_charger_are_marked(h: Harness16, sim: SecureCharger) -> None:
    await sim.call(
        call.SecurityEventNotification(
            type="InvalidCentralSystemCertificate",
            timestamp="2030-01-01T00:00:00Z",
            tech_info="self-signed",
        )
    )
    (event,) = security_events(h)
    assert event.data["source"] == "charger"
    assert event.data["type"] == "InvalidCentralSystemCertificate"


async def test_certificates_about_to_expire_are_renewed(
    h: Harness16, sim: SecureCharger, caplog: pytest.LogCaptureFixture
) -> None:
    """The daily check asks a connected charger whose certificate ends within 30 days for a new
    one; a later one, a charger without a certificate or a session, and a refusal are skipped."""
    now = datetime(2026, 11, 30, tzinfo=UTC)

    def presented(expires: datetime | None) -> ConnectionSecurity:
        return ConnectionSecurity(
            profile=SecurityProfile.TLS_CLIENT_CERTIFICATE,
            configured_profile=SecurityProfile.TLS_CLIENT_CERTIFICATE,
            certificate_expires=expires,
        )

    def session_of(charger_id: str) -> ChargerSession | None:
        return h.session if charger_id == h.charger.charger_id else None

    h.charger.connection_security = presented(now + timedelta(days=40))
    assert await request_client_renewals({"CP": h.charger}, session_of, now=now) == []
    h.charger.connection_security = presented(now + timedelta(days=20))
    others = {"gone": Charger(charger_id="gone", connection_security=presented(now))}
    others["plain"] = Charger(charger_id="plain")
    chargers = {h.charger.charger_id: h.charger, **others}
    assert await request_client_renewals(chargers, session_of, now=now) == [h.charger.charger_id]
    assert sim.actions("ExtendedTriggerMessage") == [
        {"requested_message": "SignChargePointCertificate"}
    ]
    await wait_for(lambda: sim.chains)  # the CSR round followed
    sim.status_override["ExtendedTriggerMessage"] = "Rejected"
    assert await request_client_renewals(chargers, session_of, now=now) == []
    assert "could not ask for a new certificate" in caplog.text
