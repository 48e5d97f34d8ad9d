"""Failed TLS handshakes in Home Assistant: the server device's security event (real hass, real
TLS on 127.0.0.1, a real OCPP 1.6 charger over wss for the good case). The core's side (every
reason, the rate limit, the counter) is in tests/core/test_tls_failures.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_ems.const import CONF_RESPONSE_TIMEOUT, CONF_SECURITY_PROFILE, DOMAIN

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
