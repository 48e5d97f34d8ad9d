"""The certificate life cycle over OCPP 2.0.1 and 2.1, on real websockets.

The station is the ``ocpp`` package's 2.0.1 / 2.1 client (:mod:`.v201_harness`); every CALL we
send is checked against the package's schemas at the end of the tests that send them. The round's
failure paths are the same code as 1.6's (tested in :mod:`.test_certificates_v16`); here: what
2.x adds (certificate types, reasons in ``statusInfo``, the 2.1 request id, network profiles,
Plug & Charge answered Failed).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.messages import Call, validate_payload

from custom_components.ocpp_ems.core.errors import (
    CommandNotSupportedError,
    CommandRejectedError,
)
from custom_components.ocpp_ems.core.protocol import OCPP21, OCPP201
from custom_components.ocpp_ems.core.protocol.certificates import certificate_hash_data
from custom_components.ocpp_ems.core.protocol.v201 import V201Session
from custom_components.ocpp_ems.core.session import (
    CSMS_ROOT_CERTIFICATE,
    SECURITY_LOG,
    SignedFirmware,
)
from custom_components.ocpp_ems.core.settings import ServerSettings

from .certificate_fixtures import (
    CHARGER_ID,
    OVER_PLAIN_WS,
    CertificatesHarness,
    V21CertificatesHarness,
    V201CertificatesHarness,
    assert_issued,
    certificates_harness,
    security_events,
    wait_for,
)
from .fakes import MemoryDirectory
from .pki import make_csr, self_signed
from .v201_harness import VERSIONS, SimStation, SimStation21, _Station


class _SigningStation(_Station):
    """A station that sends a CSR when asked (TriggerMessage SignChargingStationCertificate)."""

    key: Any = None

    async def sign_certificate(
        self, cn: str = CHARGER_ID, csr: str | None = None, **fields: Any
    ) -> Any:
        """SignCertificate (a CSR of a new key for ``cn``, or ``csr``); the CSMS's answer."""
        if csr is None:
            csr, self.key = make_csr(cn)
        return await self.call(self._call.SignCertificate(csr=csr, **fields))

    def chains(self) -> list[str]:
        return [payload["certificateChain"] for payload in self.actions("CertificateSigned")]

    async def _after_TriggerMessage(self, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        if payload["requestedMessage"] == "SignChargingStationCertificate":
            if answer.get("status") == "Accepted":
                await self.sign_certificate()
            return
        await super()._after_TriggerMessage(payload, answer)


class SigningStation(_SigningStation, SimStation):
    pass


class SigningStation21(_SigningStation, SimStation21):
    pass


class Harness201(V201CertificatesHarness):
    station_class = SigningStation


class Harness21(V21CertificatesHarness):
    station_class = SigningStation21


HARNESSES: dict[str, type[CertificatesHarness]] = {OCPP201: Harness201, OCPP21: Harness21}


@pytest.fixture(params=VERSIONS)
async def h(
    request: pytest.FixtureRequest,
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
) -> AsyncIterator[CertificatesHarness]:
    harness_class = HARNESSES[request.param]
    async with certificates_harness(directory, server_settings, harness_class) as harness:
        yield harness


@pytest.fixture
async def sim(h: CertificatesHarness) -> _SigningStation:
    station: _SigningStation = await h.charger_client()
    return station


async def assert_schema_valid(sim: _SigningStation) -> None:
    """Every CALL the station got passes the ``ocpp`` package's schema of its version."""
    for action, payload in sim.received:
        await validate_payload(Call(str(uuid.uuid4()), action, payload), sim._ocpp_version)


def reason(answer: Any) -> str:
    return str(answer.status_info["reason_code"])


# --- the station's certificate signing request ---------------------------------------------------
async def test_csr_round_trip(h: CertificatesHarness, sim: _SigningStation) -> None:
    fields: dict[str, Any] = {"certificate_type": "ChargingStationCertificate"}
    if h.subprotocol == OCPP21:
        fields["request_id"] = 7
    answer = await sim.sign_certificate(**fields)
    assert answer.status == "Accepted"
    await wait_for(sim.chains)
    (signed,) = sim.actions("CertificateSigned")
    assert signed["certificateType"] == "ChargingStationCertificate"
    assert signed.get("requestId") == fields.get("request_id")
    assert_issued(signed["certificateChain"], h.authority, sim.key)
    await wait_for(lambda: security_events(h))
    assert security_events(h)[0].data["type"] == "CertificateIssued"
    await assert_schema_valid(sim)


async def test_csr_without_a_type_is_for_the_csms_connection(
    h: CertificatesHarness, sim: _SigningStation
) -> None:
    assert (await sim.sign_certificate()).status == "Accepted"
    await wait_for(sim.chains)
    assert sim.actions("CertificateSigned")[0]["certificateType"] == "ChargingStationCertificate"


async def test_refused_csr(h: CertificatesHarness, sim: _SigningStation) -> None:
    assert (await sim.sign_certificate("CP2")).status == "Accepted"
    await wait_for(lambda: security_events(h))
    (event,) = security_events(h)
    assert (event.data["type"], event.data["source"]) == ("CertificateSigningRefused", "server")
    assert sim.chains() == []


async def test_rejections_say_why(h: CertificatesHarness, sim: _SigningStation) -> None:
    answer = await sim.sign_certificate(certificate_type="V2GCertificate")  # Plug & Charge
    assert (answer.status, reason(answer)) == ("Rejected", "NotSupported")
    assert (await sim.sign_certificate()).status == "Accepted"
    answer = await sim.sign_certificate()
    assert (answer.status, reason(answer)) == ("Rejected", "TryLater")
    await wait_for(sim.chains)

    h.sessions[-1].context.certificates = None
    answer = await sim.sign_certificate()
    assert (answer.status, reason(answer)) == ("Rejected", "NoCA")

    h.authenticated = False
    h.clock.now += 3600
    unauthenticated: _SigningStation = await h.charger_client()
    answer = await unauthenticated.sign_certificate()
    assert (answer.status, reason(answer)) == ("Rejected", "NotAuthenticated")

    # With its password, but over plain ws:// (profile 1): nothing is signed.
    h.authenticated = True
    h.security = OVER_PLAIN_WS
    plain: _SigningStation = await h.charger_client()
    answer = await plain.sign_certificate()
    assert (answer.status, reason(answer)) == ("Rejected", "NotSecure")
    assert "not TLS" in answer.status_info["additional_info"]


# --- CSMS -> station -----------------------------------------------------------------------------
async def test_certificates(h: CertificatesHarness, sim: _SigningStation) -> None:
    session = h.session
    await session.install_root_certificate()
    assert sim.actions("InstallCertificate") == [
        {"certificateType": "CSMSRootCertificate", "certificate": h.authority.certificate_pem}
    ]
    sim.answers["InstallCertificate"] = {
        "status": "Rejected",
        "statusInfo": {"reasonCode": "InvalidCert"},
    }
    with pytest.raises(CommandRejectedError) as err:
        await session.install_root_certificate(self_signed()[0])
    assert err.value.status == "Rejected: InvalidCert"

    ours = certificate_hash_data(h.authority.certificate_pem)
    child = certificate_hash_data(self_signed("sub.example")[0])
    sim.answers["GetInstalledCertificateIds"] = {
        "status": "Accepted",
        "certificateHashDataChain": [
            {"certificateType": "CSMSRootCertificate", "certificateHashData": ours.payload()},
            {
                "certificateType": "V2GCertificateChain",
                "certificateHashData": ours.payload(),
                "childCertificateHashData": [child.payload()],
            },
        ],
    }
    installed = await session.get_installed_certificate_ids()
    assert [c.certificate_type for c in installed] == [CSMS_ROOT_CERTIFICATE, "V2GCertificateChain"]
    assert installed[0].hash_data == ours
    assert installed[1].children == (child,)
    sim.answers["GetInstalledCertificateIds"] = {"status": "NotFound"}
    assert await session.get_installed_certificate_ids([CSMS_ROOT_CERTIFICATE]) == []
    assert [p.get("certificateType") for p in sim.actions("GetInstalledCertificateIds")] == [
        None,
        [CSMS_ROOT_CERTIFICATE],
    ]

    await session.delete_certificate(ours)
    assert sim.actions("DeleteCertificate") == [{"certificateHashData": ours.payload()}]
    sim.status_override["DeleteCertificate"] = "NotFound"
    with pytest.raises(CommandRejectedError):
        await session.delete_certificate(ours)
    await assert_schema_valid(sim)


async def test_request_new_client_certificate(h: CertificatesHarness, sim: _SigningStation) -> None:
    await h.session.request_new_client_certificate()
    assert sim.actions("TriggerMessage")[-1] == {
        "requestedMessage": "SignChargingStationCertificate"
    }
    await wait_for(sim.chains)  # the CSR round followed
    assert_issued(sim.chains()[0], h.authority, sim.key)
    # The 1.6 name of the trigger is understood.
    await h.session.trigger_message("SignChargePointCertificate")
    assert sim.actions("TriggerMessage")[-1] == {
        "requestedMessage": "SignChargingStationCertificate"
    }
    sim.status_override["TriggerMessage"] = "NotImplemented"
    with pytest.raises(CommandNotSupportedError):
        await h.session.request_new_client_certificate()
    sim.fail_with_error["TriggerMessage"] = "NotImplemented"
    with pytest.raises(CommandNotSupportedError):
        await h.session.request_new_client_certificate()
    sim.fail_with_error["TriggerMessage"] = "InternalError"
    with pytest.raises(CommandRejectedError):
        await h.session.request_new_client_certificate()


async def test_security_profile(h: CertificatesHarness, sim: _SigningStation) -> None:
    # Writable on this station (2.x makes it read-only, some stations do not).
    assert await h.session.set_security_profile(2) == "Accepted"
    (written,) = sim.actions("SetVariables")[-1]["setVariableData"]
    assert written["component"] == {"name": "SecurityCtrlr"}
    assert (written["variable"], written["attributeValue"]) == ({"name": "SecurityProfile"}, "2")

    def read_only(station: Any) -> None:
        station.read_only.add(("SecurityCtrlr", "SecurityProfile"))

    await h.charger_client(setup=read_only)
    with pytest.raises(CommandNotSupportedError) as err:
        await h.session.set_security_profile(2)
    assert "A05" in str(err.value)


async def test_network_profile(h: CertificatesHarness, sim: _SigningStation) -> None:
    session: V201Session = h.session  # type: ignore[assignment]  # the 2.x harness's
    await session.set_network_profile(2, "wss://ha.local:9443/", 2)
    (sent,) = sim.actions("SetNetworkProfile")
    connection = {
        "ocppTransport": "JSON",
        "ocppCsmsUrl": "wss://ha.local:9443/",
        "messageTimeout": 30,
        "securityProfile": 2,
        "ocppInterface": "Wired0",
    }
    if h.subprotocol == OCPP201:
        connection["ocppVersion"] = "OCPP20"  # required in 2.0.1; 2.1 leaves it out
    assert sent == {"configurationSlot": 2, "connectionData": connection}
    sim.status_override["SetNetworkProfile"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await session.set_network_profile(2, "wss://ha.local:9443/", 3, interface="Wireless0")

    priority = ("OCPPCommCtrlr", None, None, "NetworkConfigurationPriority", "Actual")
    sim.device_model[priority] = "1"
    assert await session.set_network_priority([2, 1]) == "Accepted"
    assert sim.device_model[priority] == "2,1"
    await assert_schema_valid(sim)


async def test_signed_firmware_and_logs(h: CertificatesHarness, sim: _SigningStation) -> None:
    session = h.session
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    signer, _key = self_signed("firmware.example")
    await session.signed_update_firmware(
        SignedFirmware(
            location="https://fw/x.bin",
            retrieve_date=when,
            signing_certificate=signer,
            signature="c2lnbmF0dXJl",
        ),
        retries=1,
    )
    update = sim.actions("UpdateFirmware")[0]
    assert update["firmware"] == {
        "location": "https://fw/x.bin",
        "retrieveDateTime": "2030-01-02T03:04:05.000Z",
        "signingCertificate": signer,
        "signature": "c2lnbmF0dXJl",
    }
    assert update["retries"] == 1
    sim.status_override["UpdateFirmware"] = "InvalidCertificate"
    with pytest.raises(CommandRejectedError):
        await session.update_firmware("https://fw/y.bin", when)

    assert await session.get_log(SECURITY_LOG, "ftp://logs/", retries=2, retry_interval_s=9) == (
        "log.zip"
    )
    log = sim.actions("GetLog")[0]
    assert (log["logType"], log["log"], log["retries"], log["retryInterval"]) == (
        "SecurityLog",
        {"remoteLocation": "ftp://logs/"},
        2,
        9,
    )
    await assert_schema_valid(sim)


# --- Plug & Charge, not offered ------------------------------------------------------------------
async def test_plug_and_charge_is_answered_failed(
    h: CertificatesHarness, sim: _SigningStation
) -> None:
    # Our answers pass our own schema check (else the RPC layer answers InternalError).
    answer = await sim.request(
        "Get15118EVCertificate",
        {
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": "Install",
            "exiRequest": "AA",
        },
    )
    assert answer.payload == {
        "status": "Failed",
        "exiResponse": "",
        "statusInfo": {
            "reasonCode": "NotSupported",
            "additionalInfo": "This CSMS does not offer ISO 15118 Plug & Charge",
        },
    }
    request = {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": "00",
        "issuerKeyHash": "00",
        "serialNumber": "1",
        "responderURL": "http://ocsp.example",
    }
    answer = await sim.request("GetCertificateStatus", {"ocspRequestData": request})
    assert (answer.payload["status"], answer.payload["statusInfo"]["reasonCode"]) == (
        "Failed",
        "NotSupported",
    )
