"""Failed TLS handshakes in Home Assistant: the server device's security event (real hass, real
TLS on 127.0.0.1, a real OCPP 1.6 charger over wss for the good case). The core's side (every
reason, the rate limit, the counter) is in tests/core/test_tls_failures.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_ems.const import (
    CONF_RESPONSE_TIMEOUT,
    CONF_SECURITY_PROFILE,
    CONF_TLS_CERTIFICATE,
    DOMAIN,
    ISSUE_TLS_CA_DAMAGED,
    ISSUE_TLS_CA_REPLACED,
    ISSUE_TLS_OWN_CERTIFICATE_LOST,
    TLS_CERTIFICATE_OWN,
    repair_issue_id,
)
from custom_components.ocpp_ems.core.security import CertificateAuthority
from custom_components.ocpp_ems.security import (
    DATA_CA_FINGERPRINT,
)

from .core.pki import key_pem, make_csr
from .helpers.charger import wait_for
from .helpers.fixtures import Onboard, central_of
from .helpers.tls_client import blocking_handshake
from .test_security import (
    TLS_OPTIONS,
    ca_of,
    client_certificate,
    client_context,
    onboard_and_leave,
    security_of,
    set_charger_options,
    tls_charger,
)

EVENT = "event.ocpp_server_port_0_security_event"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return dict(TLS_OPTIONS)


def expired_certificate(server_entry: MockConfigEntry, where: Path) -> tuple[Path, Path]:
    csr, key = make_csr("CP1")
    now = datetime.now(UTC)
    issued = ca_of(server_entry).sign_csr(
        csr, "CP1", not_valid_before=now - timedelta(days=30), not_valid_after=now - timedelta(1)
    )
    (where / "old.crt").write_text(issued.pem)
    (where / "old.key").write_text(key_pem(key))
    return where / "old.crt", where / "old.key"


async def test_a_failed_tls_handshake_is_a_server_security_event(
    hass: HomeAssistant, server_entry: MockConfigEntry, onboard: Onboard, tmp_path: Path
) -> None:
    entry, _password = await onboard_and_leave(onboard)
    await set_charger_options(hass, entry, **{CONF_SECURITY_PROFILE: 3})
    central = central_of(server_entry)
    ca = ca_of(server_entry)
    assert hass.states.get(EVENT).state == "unknown"

    # CP1 with its own certificate is in and stays served while the others fail.
    async with tls_charger(
        central, "CP1", client_context(ca, client_certificate(ca, "CP1", tmp_path))
    ) as sim:
        assert await sim.boot() == "Accepted"
        port = central.tls_port
        assert port is not None
        await asyncio.to_thread(
            blocking_handshake,
            port,
            client_context(ca, expired_certificate(server_entry, tmp_path)),
        )
        await wait_for(lambda: central.tls_failures.total == 1, what="the failed handshake")
        await hass.async_block_till_done()
        state = hass.states.get(EVENT)
        assert state.attributes["event_type"] == "refused"
        assert state.attributes["reason"] == "certificate_expired"
        assert state.attributes["description"] == "certificate expired"
        assert state.attributes["remote"] == "127.0.0.1"
        # CP1 last connected from there (it is connected now, from the same loopback address).
        assert state.attributes["charger_ids"] == ["CP1"]
        assert state.attributes["count"] == 1
        assert state.attributes["total"] == 1
        # Plain HTTP on the TLS port: another reason, another event.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /ocpp/CP1 HTTP/1.1\r\n\r\n")
        assert await reader.read() == b""
        writer.close()
        await wait_for(lambda: central.tls_failures.total == 2, what="the second failure")
        await hass.async_block_till_done()
        assert hass.states.get(EVENT).attributes["reason"] == "not_tls"
        assert hass.states.get(EVENT).attributes["total"] == 2
        await sim.heartbeat()
        assert central.charger("CP1").connected


async def test_the_event_goes_with_tls(
    hass: HomeAssistant, server_entry: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    unique_id = f"{server_entry.entry_id}_security_event"
    assert entity_registry.async_get_entity_id("event", DOMAIN, unique_id) == EVENT
    hass.config_entries.async_update_entry(server_entry, options={CONF_RESPONSE_TIMEOUT: 3})
    await hass.async_block_till_done()
    assert entity_registry.async_get_entity_id("event", DOMAIN, unique_id) is None


# --- a damaged or lost security store ---------------------------------------------------------
def server_entry_with_store(
    hass: HomeAssistant, hass_storage: dict[str, Any], data: dict[str, Any], **options: Any
) -> MockConfigEntry:
    """A server entry with TLS whose security store holds ``data`` (not set up yet)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="port_0",
        data={"entry_type": "server", "host": "127.0.0.1", "port": 0},
        options=TLS_OPTIONS | options,
    )
    hass_storage[security_store_key(entry)] = {
        "version": 1,
        "key": security_store_key(entry),
        "data": data,
    }
    entry.add_to_hass(hass)
    return entry


def security_store_key(entry: MockConfigEntry) -> str:
    return f"{DOMAIN}.{entry.entry_id}.security"


DAMAGED = {"certificates": [{"certificate": "garbage", "private_key": "garbage"}]}


async def test_a_damaged_server_certificate_is_issued_again(
    hass: HomeAssistant, socket_enabled: None, hass_storage: dict[str, Any]
) -> None:
    """Only our server certificate is damaged: the CA issues a new one and the server starts
    (before, the whole server, plain ws:// chargers too, stayed in setup retry)."""
    ca = CertificateAuthority.create(key_bits=2048)
    entry = server_entry_with_store(
        hass, hass_storage, {"ca": ca.to_dict(), "issued": DAMAGED, "own": None, "upgrades": {}}
    )
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED, entry.reason
    assert central_of(entry).tls_port
    assert ca_of(entry).fingerprint == ca.fingerprint
    active = security_of(entry).active
    assert active is not None
    assert not active.user_provided
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_damaged_own_certificate_is_a_repair_and_ours_is_presented(
    hass: HomeAssistant,
    socket_enabled: None,
    hass_storage: dict[str, Any],
    issue_registry: ir.IssueRegistry,
) -> None:
    ca = CertificateAuthority.create(key_bits=2048)
    entry = server_entry_with_store(
        hass,
        hass_storage,
        {"ca": ca.to_dict(), "issued": None, "own": DAMAGED | {"user_provided": True}},
        **{CONF_TLS_CERTIFICATE: TLS_CERTIFICATE_OWN},
    )
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED, entry.reason
    active = security_of(entry).active
    assert active is not None
    assert not active.user_provided
    issue = issue_registry.async_get_issue(
        DOMAIN, repair_issue_id(ISSUE_TLS_OWN_CERTIFICATE_LOST, entry.entry_id)
    )
    assert issue is not None
    assert issue.translation_key == "tls_own_certificate_lost"
    # The user switches to our certificate: the repair goes.
    hass.config_entries.async_update_entry(entry, options=TLS_OPTIONS)
    await hass.async_block_till_done()
    assert (
        issue_registry.async_get_issue(
            DOMAIN, repair_issue_id(ISSUE_TLS_OWN_CERTIFICATE_LOST, entry.entry_id)
        )
        is None
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_damaged_ca_keeps_the_plain_listener_and_raises_a_repair(
    hass: HomeAssistant,
    socket_enabled: None,
    hass_storage: dict[str, Any],
    issue_registry: ir.IssueRegistry,
) -> None:
    """The server runs without TLS (plain ws:// chargers are served), a repair says what to do,
    and the damaged store is kept as it is (a backup of it may be restored)."""
    damaged = {"ca": {"certificate": "garbage", "private_key": "garbage"}, "upgrades": {}}
    entry = server_entry_with_store(hass, hass_storage, dict(damaged))
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED, entry.reason
    central = central_of(entry)
    assert central.port
    assert central.tls_port is None
    issue = issue_registry.async_get_issue(
        DOMAIN, repair_issue_id(ISSUE_TLS_CA_DAMAGED, entry.entry_id)
    )
    assert issue is not None
    assert issue.translation_key == "tls_ca_damaged"
    assert issue.severity is ir.IssueSeverity.ERROR
    await security_of(entry).async_set_pending_upgrade("CP1", {"profile": 2})
    assert hass_storage[security_store_key(entry)]["data"] == damaged
    # The secure connection options cannot mend it: they say so and point to the repair.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "security"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "ca_damaged"
    assert hass_storage[security_store_key(entry)]["data"] == damaged
    await hass.config_entries.async_remove(entry.entry_id)
    assert (
        issue_registry.async_get_issue(
            DOMAIN, repair_issue_id(ISSUE_TLS_CA_DAMAGED, entry.entry_id)
        )
        is None
    )


async def test_a_lost_ca_is_replaced_with_a_repair(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The security store is gone (a partial restore, a deleted file): the entry's data still
    names the old CA, so the new one comes with a repair and a warning (the TLS chargers trust
    the old one)."""
    old = ca_of(server_entry).fingerprint
    assert server_entry.data[DATA_CA_FINGERPRINT] == old
    assert (
        issue_registry.async_get_issue(
            DOMAIN, repair_issue_id(ISSUE_TLS_CA_REPLACED, server_entry.entry_id)
        )
        is None
    )
    hass_storage.pop(security_store_key(server_entry))
    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    new = ca_of(server_entry).fingerprint
    assert new != old
    assert server_entry.data[DATA_CA_FINGERPRINT] == new
    issue = issue_registry.async_get_issue(
        DOMAIN, repair_issue_id(ISSUE_TLS_CA_REPLACED, server_entry.entry_id)
    )
    assert issue is not None
    assert issue.is_persistent
    assert issue.translation_placeholders == {
        "server": server_entry.title,
        "fingerprint": new,
        "old_fingerprint": old,
    }
    assert any("was lost" in record.getMessage() for record in caplog.records)
