"""Secure connection (security profiles 2 and 3) in Home Assistant: the local CA kept in storage,
the wss:// listener with real TLS clients, the CA download, sensors, our security events, renewal
and its repairs."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.diagnostics import async_redact_data
from homeassistant.components.http.auth import async_sign_path
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from websockets.exceptions import InvalidStatus

from custom_components.ocpp_ems import security as security_module
from custom_components.ocpp_ems.const import (
    CONF_ALLOW_SECURITY_DOWNGRADE,
    CONF_PASSWORD,
    CONF_RESPONSE_TIMEOUT,
    CONF_SECURITY_PROFILE,
    CONF_TLS_CERTIFICATE,
    CONF_TLS_ENABLED,
    CONF_TLS_HOSTS,
    CONF_TLS_PORT,
    DOMAIN,
    TLS_CERTIFICATE_OWN,
)
from custom_components.ocpp_ems.core.security import (
    CertificateAuthority,
    CertificateError,
    CertificateErrorReason,
    ServerCredentials,
    fingerprint_sha256,
)
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.diagnostics import TO_REDACT
from custom_components.ocpp_ems.security import ServerSecurity, ca_path

from .core.pki import key_pem, make_csr, self_signed
from .helpers.charger import SimCharger, charger_connection, wait_for
from .helpers.fixtures import Onboard, central_of
from .helpers.platform import only_platforms

TLS_OPTIONS: dict[str, Any] = {
    CONF_RESPONSE_TIMEOUT: 3,
    CONF_TLS_ENABLED: True,
    CONF_TLS_PORT: 0,
    # The tests reach the listener at 127.0.0.1 and check the name like a charger does.
    CONF_TLS_HOSTS: ["127.0.0.1"],
}


@pytest.fixture
def server_options() -> dict[str, Any]:
    return dict(TLS_OPTIONS)


def security_of(entry: MockConfigEntry) -> ServerSecurity:
    security: ServerSecurity = entry.runtime_data.security
    return security


def ca_of(entry: MockConfigEntry) -> CertificateAuthority:
    ca = security_of(entry).ca
    assert ca is not None
    return ca


def client_context(
    ca: CertificateAuthority, certificate: tuple[Path, Path] | None = None
) -> ssl.SSLContext:
    """A charger's TLS side: it trusts our CA (installed as its CSMS root), checks the name, and
    presents ``certificate`` (its client certificate and key files) when given."""
    context = ssl.create_default_context(cadata=ca.certificate_pem)
    if certificate is not None:
        context.load_cert_chain(*certificate)
    return context


def client_certificate(ca: CertificateAuthority, charger_id: str, where: Path) -> tuple[Path, Path]:
    """What a charger holds after the CSR round: its key, and the certificate our CA signed."""
    csr, key = make_csr(charger_id)
    issued = ca.sign_csr(csr, charger_id)
    certificate_file = where / f"{charger_id}.crt"
    key_file = where / f"{charger_id}.key"
    certificate_file.write_text(issued.pem)
    key_file.write_text(key_pem(key))
    return certificate_file, key_file


@asynccontextmanager
async def tls_charger(
    central: CentralSystem, charger_id: str, context: ssl.SSLContext, **kwargs: Any
) -> AsyncIterator[SimCharger]:
    port = central.tls_port
    assert port is not None
    async with charger_connection(port, charger_id, ssl_context=context, **kwargs) as sim:
        yield sim


@asynccontextmanager
async def tls_failure_expected(central: CentralSystem) -> AsyncIterator[None]:
    """A failed TLS handshake is expected, and waited for: the server counts it (see
    test_security_tls_failures.py for what it reports)."""
    before = central.tls_failures.total
    yield
    await wait_for(lambda: central.tls_failures.total > before, what="the failed handshake")


async def onboard_and_leave(onboard: Onboard) -> tuple[MockConfigEntry, bytes]:
    """Accept CP1 over plain ws (it gets its password) and disconnect it."""
    async with onboard() as (_sim, entry):
        pass
    return entry, str(entry.data[CONF_PASSWORD]).encode()


async def set_charger_options(hass: HomeAssistant, entry: MockConfigEntry, **options: Any) -> None:
    hass.config_entries.async_update_entry(entry, options={**entry.options, **options})
    await hass.async_block_till_done()


# --- the CA and its store ------------------------------------------------------------------------
async def test_ca_created_once_and_kept_across_reload(
    hass: HomeAssistant, server_entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    ca = ca_of(server_entry)
    key = f"{DOMAIN}.{server_entry.entry_id}.security"
    stored = hass_storage[key]["data"]
    assert stored["ca"]["certificate"] == ca.certificate_pem
    assert "PRIVATE KEY" in stored["ca"]["private_key"]
    issued = ServerCredentials.from_dict(stored["issued"])
    assert "127.0.0.1" in issued.names
    assert "10.10.10.10" in issued.names  # Home Assistant's local address
    assert stored["own"] is None

    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    assert ca_of(server_entry).fingerprint == ca.fingerprint
    active = security_of(server_entry).active
    assert active is not None
    assert active.not_valid_after == issued.not_valid_after  # not issued again either

    # Deleting the server deletes its CA.
    assert await hass.config_entries.async_remove(server_entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_no_ca_without_tls(
    hass: HomeAssistant, server_entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    hass.config_entries.async_update_entry(server_entry, options={CONF_RESPONSE_TIMEOUT: 3})
    await hass.async_block_till_done()
    assert server_entry.state is ConfigEntryState.LOADED
    assert central_of(server_entry).tls_port is None
    assert security_of(server_entry).ca is None  # not loaded while TLS is off


# --- TLS connections -----------------------------------------------------------------------------
async def test_profile_2_charger_over_tls(
    hass: HomeAssistant, server_entry: MockConfigEntry, onboard: Onboard, connect: Any
) -> None:
    entry, password = await onboard_and_leave(onboard)
    await set_charger_options(hass, entry, **{CONF_SECURITY_PROFILE: 2})
    central = central_of(server_entry)
    context = client_context(ca_of(server_entry))

    async with tls_charger(central, "CP1", context, password=password) as sim:
        assert await sim.boot() == "Accepted"
        await hass.async_block_till_done()
        security = central.charger("CP1").connection_security
        assert security is not None
        assert security.profile == 2
        assert security.tls_version in ("TLSv1.2", "TLSv1.3")
        state = hass.states.get("sensor.acme_wallbox_1_security_profile")
        assert state.state == "profile_2"
        assert state.attributes["required_profile"] == "profile_2"
        assert state.attributes["downgraded"] is False

    # Plain ws is refused now, and reported on the charger's security event entity.
    with pytest.raises(InvalidStatus, match="HTTP 403"):
        async with connect("CP1", password=password):
            pass
    await hass.async_block_till_done()
    event = hass.states.get("event.acme_wallbox_1_security_event")
    assert event.attributes["event_type"] == "refused"
    assert event.attributes["reason"] == "tls_required"
    assert event.attributes["remote"] == "127.0.0.1"

    # Profile 2 needs the password over TLS as well.
    with pytest.raises(InvalidStatus, match="HTTP 401"):
        async with tls_charger(central, "CP1", context):
            pass
    await hass.async_block_till_done()
    event = hass.states.get("event.acme_wallbox_1_security_event")
    assert event.attributes["reason"] == "bad_credentials"

    # A charger that does not trust our CA refuses the connection itself.
    async with tls_failure_expected(central):
        with pytest.raises(ssl.SSLCertVerificationError):
            async with tls_charger(central, "CP1", ssl.create_default_context(), password=password):
                pass


async def test_downgrade_allowed_is_reported(
    hass: HomeAssistant, server_entry: MockConfigEntry, onboard: Onboard, connect: Any
) -> None:
    entry, password = await onboard_and_leave(onboard)
    await set_charger_options(
        hass, entry, **{CONF_SECURITY_PROFILE: 2, CONF_ALLOW_SECURITY_DOWNGRADE: True}
    )
    async with connect("CP1", password=password) as sim:
        assert await sim.boot() == "Accepted"
        await hass.async_block_till_done()
        event = hass.states.get("event.acme_wallbox_1_security_event")
        assert event.attributes["event_type"] == "downgraded"
        assert event.attributes["profile"] == 1
        assert event.attributes["required_profile"] == 2
        state = hass.states.get("sensor.acme_wallbox_1_security_profile")
        assert state.state == "profile_1"
        assert state.attributes["downgraded"] is True


async def test_profile_3_client_certificate(
    hass: HomeAssistant, server_entry: MockConfigEntry, onboard: Onboard, tmp_path: Path
) -> None:
    entry, _password = await onboard_and_leave(onboard)
    await set_charger_options(hass, entry, **{CONF_SECURITY_PROFILE: 3})
    central = central_of(server_entry)
    ca = ca_of(server_entry)
    own = client_certificate(ca, "CP1", tmp_path)

    async with tls_charger(central, "CP1", client_context(ca, own)) as sim:
        assert await sim.boot() == "Accepted"
        await hass.async_block_till_done()
        state = hass.states.get("sensor.acme_wallbox_1_security_profile")
        assert state.state == "profile_3"
        assert state.attributes["certificate_cn"] == "CP1"
        expiry = hass.states.get("sensor.acme_wallbox_1_client_certificate_expiry")
        security = central.charger("CP1").connection_security
        assert security is not None
        assert security.certificate_expires is not None
        assert expiry.state == security.certificate_expires.isoformat()

    # Another charger's certificate (ours, valid) does not open CP1's door.
    other = client_certificate(ca, "CP2", tmp_path)
    with pytest.raises(InvalidStatus, match="HTTP 403"):
        async with tls_charger(central, "CP1", client_context(ca, other)):
            pass
    await hass.async_block_till_done()
    event = hass.states.get("event.acme_wallbox_1_security_event")
    assert event.attributes["event_type"] == "refused"
    assert event.attributes["reason"] == "certificate_mismatch"


# --- what the user sees --------------------------------------------------------------------------
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_security_sensors(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    ca = ca_of(server_entry)
    state = hass.states.get("sensor.ocpp_server_port_0_ca_fingerprint")
    assert state.state == ca.fingerprint
    active = security_of(server_entry).active
    assert active is not None
    state = hass.states.get("sensor.ocpp_server_port_0_server_certificate_expiry")
    assert state.state == active.not_valid_after.isoformat()
    assert "127.0.0.1" in state.attributes["names"]
    assert state.attributes["own_certificate"] is False

    with only_platforms(Platform.SENSOR):
        async with onboard() as (_sim, entry):
            entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
            security = [e for e in entities if e.translation_key == "security_profile"]
            assert len(security) == 1
            assert entity_registry.async_get(security[0].entity_id) == snapshot(
                name="security_profile_entity"
            )
            assert hass.states.get(security[0].entity_id) == snapshot(name="security_profile_state")
            # No client certificate so far: no expiry sensor.
            assert not any(e.translation_key == "client_certificate_expiry" for e in entities)


async def test_server_sensors_snapshot(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The server's device: last refused connection, CA fingerprint, certificate expiry (the
    values change every run: the registry entries are the snapshot)."""
    entities = sorted(
        er.async_entries_for_config_entry(entity_registry, server_entry.entry_id),
        key=lambda e: e.unique_id,
    )
    assert [(e.unique_id.split("_", 1)[1], e.entity_category) for e in entities] == snapshot


async def test_security_sensors_go_with_tls(
    hass: HomeAssistant, server_entry: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    unique_id = f"{server_entry.entry_id}_ca_fingerprint"
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, unique_id) is not None
    hass.config_entries.async_update_entry(server_entry, options={CONF_RESPONSE_TIMEOUT: 3})
    await hass.async_block_till_done()
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, unique_id) is None


async def test_ca_download(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    ca = ca_of(server_entry)
    path = ca_path(server_entry.entry_id)
    client = await hass_client()
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == "application/x-pem-file"
    assert "ocpp-ems-ca.pem" in response.headers["Content-Disposition"]
    body = await response.text()
    assert body == ca.certificate_pem
    assert "PRIVATE" not in body
    assert fingerprint_sha256(body) == ca.fingerprint

    # No login, no certificate.
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get(path)).status == 401
    # A signed link (what the options show) works without a login.
    signed = async_sign_path(hass, path, timedelta(minutes=5))
    response = await anonymous.get(signed)
    assert response.status == 200
    assert await response.text() == ca.certificate_pem

    # Unknown entries and servers without TLS have nothing to download.
    assert (await client.get(ca_path("nope"))).status == 404
    hass.config_entries.async_update_entry(server_entry, options={CONF_RESPONSE_TIMEOUT: 3})
    await hass.async_block_till_done()
    assert (await client.get(path)).status == 404


async def test_diagnostics_hold_no_private_key(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, server_entry)
    security = diagnostics["server"]["security"]
    ca = ca_of(server_entry)
    assert security["ca"]["fingerprint_sha256"] == ca.fingerprint
    assert security["own_certificate"] is False
    assert {c["key"] for c in security["server_certificates"]} == {"EC secp256r1", "RSA 2048"}
    assert security["tls_port"] == central_of(server_entry).tls_port
    text = json.dumps(diagnostics)
    assert "PRIVATE KEY" not in text
    # Whatever holds a key is redacted by name as well (the store's documents, a form's key).
    stored = hass_storage[f"{DOMAIN}.{server_entry.entry_id}.security"]["data"]
    assert "PRIVATE KEY" in json.dumps(stored)
    assert "PRIVATE KEY" not in json.dumps(async_redact_data(stored, TO_REDACT))
    assert "PRIVATE KEY" not in caplog.text


# --- renewal -------------------------------------------------------------------------------------
async def test_renewal_without_restart(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    central = central_of(server_entry)
    security = security_of(server_entry)
    before = security.active
    assert before is not None
    ca = ca_of(server_entry)

    async def served_fingerprint() -> str:
        """The certificate a new TLS connection gets (the RSA one: pinned by the suite)."""
        context = client_context(ca)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("AES128-GCM-SHA256")
        port = central.tls_port
        assert port is not None
        from websockets.asyncio.client import connect

        async with connect(f"wss://127.0.0.1:{port}/probe", ssl=context) as websocket:
            ssl_object = websocket.transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True)
            return fingerprint_sha256(der)

    rsa_before = next(c for c in before.certificates if c.info.key.startswith("RSA"))
    assert await served_fingerprint() == rsa_before.info.fingerprint_sha256

    # Within the renewal window: the daily check issues a new one.
    monkeypatch.setattr(security_module, "RENEW_BEFORE_DAYS", 400)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(days=1, seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    after = security.active
    assert after is not None
    assert after is not before
    assert central_of(server_entry) is central  # no restart
    rsa_after = next(c for c in after.certificates if c.info.key.startswith("RSA"))
    assert await served_fingerprint() == rsa_after.info.fingerprint_sha256
    state = hass.states.get("sensor.ocpp_server_port_0_server_certificate_expiry")
    assert state.state == after.not_valid_after.isoformat()


async def test_renewal_failure_raises_repair(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    security = security_of(server_entry)
    before = security.active
    monkeypatch.setattr(security_module, "RENEW_BEFORE_DAYS", 400)

    def fail(*_args: Any, **_kwargs: Any) -> ServerCredentials:
        raise CertificateError(CertificateErrorReason.INVALID_HOST, "'bad name' is no host")

    monkeypatch.setattr(CertificateAuthority, "issue_server_certificates", fail)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(days=1, seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    issue_id = f"tls_renewal_failed_{server_entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "tls_renewal_failed"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["error"] == "'bad name' is no host"
    assert security.active is before  # the old one stays in use

    monkeypatch.undo()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(days=2, seconds=2))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_first_certificate_failing_retries_setup(
    hass: HomeAssistant,
    socket_enabled: None,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*_args: Any, **_kwargs: Any) -> ServerCredentials:
        raise CertificateError(CertificateErrorReason.INVALID_HOST, "no names")

    monkeypatch.setattr(CertificateAuthority, "issue_server_certificates", fail)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="port_0",
        data={"entry_type": "server", "host": "127.0.0.1", "port": 0},
        options=TLS_OPTIONS,
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert issue_registry.async_get_issue(DOMAIN, f"tls_renewal_failed_{entry.entry_id}")


async def test_own_certificate_and_its_expiry_repair(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The user's own certificate is presented once the options pick it (no restart); one that
    expires within 30 days raises a repair, which goes when ours is picked again."""
    security = security_of(server_entry)
    central = central_of(server_entry)
    certificate, key = self_signed("127.0.0.1", days=10)
    own = ServerCredentials.from_user_pem(certificate, key)
    await security.async_prepare(security_module.tls_options(server_entry.options), own)
    hass.config_entries.async_update_entry(
        server_entry,
        options={**server_entry.options, CONF_TLS_CERTIFICATE: TLS_CERTIFICATE_OWN},
    )
    await hass.async_block_till_done()
    assert central_of(server_entry) is central
    assert security.active is security.own
    issue_id = f"tls_certificate_expiring_{server_entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    state = hass.states.get("sensor.ocpp_server_port_0_server_certificate_expiry")
    assert state.attributes["own_certificate"] is True

    # A charger that trusts that certificate connects (self-signed for a DNS name: no name check).
    context = ssl.create_default_context(cadata=certificate)
    context.check_hostname = False
    port = central.tls_port
    assert port is not None
    async with charger_connection(port, "NEW1", ssl_context=context) as sim:
        assert await sim.boot() == "Pending"

    # A renewed one (valid long enough) settles it.
    certificate, key = self_signed("127.0.0.1", days=90)
    await security.async_prepare(
        security_module.tls_options(server_entry.options),
        ServerCredentials.from_user_pem(certificate, key),
    )
    await security.async_check()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    hass.config_entries.async_update_entry(
        server_entry, options={**server_entry.options, CONF_TLS_CERTIFICATE: "local_ca"}
    )
    await hass.async_block_till_done()
    assert security.active is not security.own


async def test_new_name_issues_certificate_without_restart(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    security = security_of(server_entry)
    central = central_of(server_entry)
    before = security.active
    hass.config_entries.async_update_entry(
        server_entry,
        options={**server_entry.options, CONF_TLS_HOSTS: ["127.0.0.1", "wallbox-gw.lan"]},
    )
    await hass.async_block_till_done()
    await wait_for(lambda: security.active is not before, what="new certificate")
    assert central_of(server_entry) is central
    active = security.active
    assert active is not None
    assert "wallbox-gw.lan" in active.names


async def test_certificate_names_and_url_host(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """Names come from the host name, the internal URL, the listen address, the local IPs and
    the user; the URL for chargers uses the listen address or Home Assistant's local IP."""
    await hass.config.async_update(internal_url="http://ha.home.lan:8123")
    entry = MockConfigEntry(
        domain=DOMAIN, data={"entry_type": "server", "host": "0.0.0.0", "port": 0}
    )
    names = await security_module.async_certificate_hosts(
        hass, entry, security_module.tls_options({CONF_TLS_HOSTS: ["Extra.lan", " ", "extra.LAN"]})
    )
    assert "ha.home.lan" in names
    assert "10.10.10.10" in names
    assert "0.0.0.0" not in names
    assert names[-1] == "Extra.lan"  # once, whatever the case
    assert await security_module.async_tls_url_host(hass, entry) == "10.10.10.10"
    assert await security_module.async_tls_url_host(hass, server_entry) == "127.0.0.1"

    # Nothing to present before it is started; no pending upgrade to drop.
    idle = ServerSecurity(hass, entry)
    with pytest.raises(RuntimeError):
        idle.context()
    await idle.async_set_pending_upgrade("CP9", None)
    assert idle.pending_upgrades == {}
