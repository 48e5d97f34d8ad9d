"""The security upgrade of upgrade.py (OCPP 2.0.1 A05) end to end with a real 2.0.1 station: Home
Assistant's "Upgrade security" action against the strict ``ocpp-rpc`` station of
``tests/js/station201.mjs``, which keeps network profiles by configuration slot, orders them by
``NetworkConfigurationPriority`` and after a reset connects with the first slot that works (B09,
B10; its TLS is node's, the certificate of profile 3 comes from its own key and CSR).

1 -> 2 -> 3: it installs our CA as its CSMS root, takes the network profile with our ``wss://``
URL in a new slot first, resets and comes back over TLS with its password; then signs its CSR
round (SignCertificate -> CertificateSigned) and comes back with that certificate. A station whose
new profile never connects falls back to its old slot: the server goes back to the old profile and
a repair issue says what to check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_ems import upgrade as upgrade_module
from custom_components.ocpp_ems.const import (
    DOMAIN,
    ISSUE_SECURITY_UPGRADE_FAILED,
    repair_issue_id,
)
from custom_components.ocpp_ems.core.errors import CommandRejectedError
from custom_components.ocpp_ems.core.model import ConnectionSecurity
from custom_components.ocpp_ems.core.security import CertificateInfo
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.security import ServerSecurity
from custom_components.ocpp_ems.upgrade import NETWORK_PRIORITY_KEY

from .core.test_e2e_ocpp_rpc_v201 import JsStation, js_station
from .core.test_e2e_tls import Pki
from .helpers.charger import wait_for
from .helpers.fixtures import accept_pending_charger, central_of
from .helpers.js_process import NODE
from .test_security import TLS_OPTIONS
from .test_upgrade import logged_in, profile_options, upgrade

CHARGER_ID = "ST-UPGRADE-1"
# The station's reset, its boot and (failing) attempts take a few seconds at most.
WAIT_S = 20.0

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return dict(TLS_OPTIONS)


def station_args(server_entry: MockConfigEntry, tmp_path: Path) -> tuple[tuple[str, ...], Path]:
    """No scripted session; its key and CSR (made by its "firmware"), and where it writes the
    certificate it gets."""
    security: ServerSecurity = server_entry.runtime_data.security
    assert security.ca is not None
    csr, key = Pki(tmp_path, security.ca).csr(CHARGER_ID)
    cert = tmp_path / "station-cert.pem"
    return ("--no-session", "--csr", str(csr), "--key", str(key), "--cert", str(cert)), cert


async def onboarded(hass: HomeAssistant, central: CentralSystem) -> MockConfigEntry:
    """The user accepts the station; it comes back with the password it got (profile 1) and the
    server sets it up."""
    entry = await accept_pending_charger(hass, CHARGER_ID)
    await logged_in(central, CHARGER_ID)
    await wait_for(lambda: central.charger(CHARGER_ID).booted, WAIT_S, "set up")
    return entry


def entity_id(hass: HomeAssistant, entry: MockConfigEntry, translation_key: str) -> str:
    found = [
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.translation_key == translation_key
    ]
    assert len(found) == 1, found
    return found[0]


def state_of(hass: HomeAssistant, entity: str) -> State:
    state = hass.states.get(entity)
    assert state is not None, entity
    return state


def security_events(hass: HomeAssistant, event_entity: str) -> list[State]:
    """Each event on the security event entity from now on, once (the station's own security
    events come in between, and a later one may follow before a poll of the state sees the
    first; the entity restored after a reload of the charger entry shows the same event again:
    its state, the event's time, tells)."""
    events: list[State] = []
    seen_at: set[str] = set()

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        state = event.data["new_state"]
        if state is not None and state.state not in seen_at:
            seen_at.add(state.state)
            events.append(state)

    async_track_state_change_event(hass, event_entity, record)
    return events


def profile_changes(events: list[State]) -> list[tuple[Any, ...]]:
    """(from, to, result) of each ``profile_changed`` among ``events``."""
    return [
        (s.attributes["from_profile"], s.attributes["to_profile"], s.attributes["result"])
        for s in events
        if s.attributes.get("event_type") == "profile_changed"
    ]


def seen(central: CentralSystem) -> ConnectionSecurity:
    security = central.charger(CHARGER_ID).connection_security
    assert security is not None
    return security


def connections(js: JsStation) -> list[tuple[Any, ...]]:
    """(slot, security profile, Basic auth, client certificate) of each connection it made."""
    return [
        (li["slot"], li["security_profile"], li["basic_auth"], li["client_certificate"])
        for li in js.steps("connected")
    ]


async def switch_commands(js: JsStation, slot: int, profile: int, tls_port: int) -> None:
    """What it was sent to switch (A05 steps 2-4) and what it answered."""
    # The Reset comes last: its line (printed in order) is read once the others are.
    await js.wait_for("reset")
    network = js.received("SetNetworkProfile")[-1]
    assert network["status"] == "Accepted", js.transcript()
    assert network["params"] == {
        "configurationSlot": slot,
        "connectionData": {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": f"wss://127.0.0.1:{tls_port}/",
            "messageTimeout": 30,
            "securityProfile": profile,
            "ocppInterface": "Wired0",
        },
    }
    order = ",".join(str(s) for s in range(slot, 0, -1))
    component, name = NETWORK_PRIORITY_KEY.split(".")
    priority = [
        line
        for line in js.received("SetVariables")
        if line["params"]["setVariableData"][0]["variable"]["name"] == name
    ][-1]
    assert priority["params"]["setVariableData"][0]["attributeValue"] == order
    assert priority["results"] == [[component, name, "RebootRequired", None]]
    assert js.received("Reset")[-1]["params"] == {"type": "OnIdle"}


async def test_station_201_upgrades_from_1_to_2_to_3(
    hass: HomeAssistant, server_entry: MockConfigEntry, tmp_path: Path
) -> None:
    central = central_of(server_entry)
    security: ServerSecurity = server_entry.runtime_data.security
    assert security.ca is not None
    assert central.tls_port is not None
    args, cert = station_args(server_entry, tmp_path)
    async with js_station(f"ws://127.0.0.1:{central.port}/{CHARGER_ID}", *args) as js:
        entry = await onboarded(hass, central)
        sensor = entity_id(hass, entry, "security_profile")
        events = security_events(hass, entity_id(hass, entry, "security_event"))
        assert state_of(hass, sensor).state == "profile_1"
        # What it checks before it takes a network profile, and the reason the server reports.
        session = central.session(CHARGER_ID)
        assert session is not None
        tls_url = f"wss://127.0.0.1:{central.tls_port}/"
        with pytest.raises(CommandRejectedError, match="SlotInUse"):
            await session.set_network_profile(1, tls_url, 2)
        with pytest.raises(CommandRejectedError, match="NoCsmsRoot"):
            await session.set_network_profile(2, tls_url, 2)
        with pytest.raises(CommandRejectedError, match="NoNetworkProfile"):
            await session.set_configuration(NETWORK_PRIORITY_KEY, "2,1")

        # 1 -> 2: our CA installed, a wss:// network profile in slot 2 first, a reset.
        assert await upgrade(hass, CHARGER_ID, 2) == {"status": "waiting"}
        await switch_commands(js, 2, 2, central.tls_port)
        assert [li["status"] for li in js.received("InstallCertificate")] == ["Accepted"]
        assert js.received("InstallCertificate")[0]["params"] == {
            "certificateType": "CSMSRootCertificate"
        }
        await wait_for(lambda: profile_options(entry) == (2, False), WAIT_S, "upgrade to 2")
        await hass.async_block_till_done()
        assert connections(js)[-1] == (2, 2, True, False)
        assert seen(central).profile == 2
        assert seen(central).tls_version in ("TLSv1.2", "TLSv1.3")
        assert state_of(hass, sensor).state == "profile_2"
        assert profile_changes(events) == [(1, 2, "upgraded")]

        # 2 -> 3: the CSR round first (its certificate kept, not used yet), then slot 3.
        assert await upgrade(hass, CHARGER_ID, 3) == {"status": "waiting"}
        await js.wait_for("reset", lambda _li: len(js.steps("reset")) == 2)
        await switch_commands(js, 3, 3, central.tls_port)
        assert [li["status"] for li in js.steps("sign_certificate")] == ["Accepted"]
        assert [li["status"] for li in js.received("CertificateSigned")] == ["Accepted"]
        assert security.ca.issued(cert.read_text())
        await wait_for(lambda: profile_options(entry) == (3, False), WAIT_S, "upgrade to 3")
        await hass.async_block_till_done()
        assert connections(js) == [
            (1, 0, False, False),  # new: no password yet
            (1, 1, True, False),  # accepted: its password
            (2, 2, True, False),
            (3, 3, False, True),
        ], js.transcript()
        issued = CertificateInfo.of(cert.read_text())
        assert issued.subject_cn == CHARGER_ID
        assert (seen(central).profile, seen(central).certificate_cn) == (3, CHARGER_ID)
        assert seen(central).certificate_fingerprint == issued.fingerprint_sha256
        assert state_of(hass, sensor).state == "profile_3"
        assert profile_changes(events) == [(1, 2, "upgraded"), (2, 3, "upgraded")]
        assert security.pending_upgrades == {}
        assert await js.quit() == 0, js.transcript()
    js.assert_clean()


async def test_station_201_falls_back_and_the_server_rolls_back(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upgrade_module, "UPGRADE_TIMEOUT_S", 4.0)
    central = central_of(server_entry)
    assert central.tls_port is not None
    args, _cert = station_args(server_entry, tmp_path)
    url = f"ws://127.0.0.1:{central.port}/{CHARGER_ID}"
    async with js_station(url, *args, "--fail-new-profile") as js:
        entry = await onboarded(hass, central)
        event = entity_id(hass, entry, "security_event")
        events = security_events(hass, event)
        assert await upgrade(hass, CHARGER_ID, 2) == {"status": "waiting"}
        await switch_commands(js, 2, 2, central.tls_port)

        # Its TLS handshake on slot 2 fails (it does not trust our server certificate): after
        # NetworkProfileConnectionAttempts (2) it is back on slot 1, let in as a downgrade.
        fallback = await js.wait_for("network_fallback")
        assert (fallback["from_slot"], fallback["to_slot"]) == (2, 1)
        failed = [li for li in js.steps("connect_failed") if li["slot"] == 2]
        assert len(failed) == 2, js.transcript()
        assert {li["error_code"] for li in failed} == {"SELF_SIGNED_CERT_IN_CHAIN"}
        await wait_for(lambda: connections(js)[-1] == (1, 1, True, False), WAIT_S, "slot 1")
        await wait_for(lambda: seen(central).downgraded, WAIT_S, "the downgraded connection")
        assert seen(central).profile == 1
        await wait_for(
            lambda: any(e.attributes.get("event_type") == "downgraded" for e in events),
            WAIT_S,
            "the downgrade reported",
        )

        # Not back on profile 2 in time: the server goes back, a repair says what to check.
        await wait_for(lambda: profile_options(entry) == (1, False), WAIT_S, "rollback")
        await hass.async_block_till_done()
        issue = issue_registry.async_get_issue(
            DOMAIN, repair_issue_id(ISSUE_SECURITY_UPGRADE_FAILED, CHARGER_ID)
        )
        assert issue is not None
        assert issue.translation_placeholders is not None
        assert issue.translation_placeholders["profile"] == "2"
        assert issue.translation_placeholders["previous"] == "1"
        assert profile_changes(events) == [(1, 2, "rolled_back")]
        security: ServerSecurity = server_entry.runtime_data.security
        assert security.pending_upgrades == {}
        # The station stays connected over its old profile.
        assert central.session(CHARGER_ID) is not None
        assert seen(central).profile == 1
        assert state_of(hass, entity_id(hass, entry, "security_profile")).state == "profile_1"
        assert await js.quit() == 0, js.transcript()


async def test_accepting_again_does_not_resend_the_password(
    hass: HomeAssistant, server_entry: MockConfigEntry, tmp_path: Path
) -> None:
    """What a reload of the charger entry does before the station's setup is done (an upgrade's
    option change, right after the acceptance): the acceptance again. A station that logs in
    with its password is not handed it again (a 2.x station would reconnect in the middle of the
    upgrade's commands, A01); it is only asked for a boot."""
    central = central_of(server_entry)
    args, _cert = station_args(server_entry, tmp_path)
    async with js_station(f"ws://127.0.0.1:{central.port}/{CHARGER_ID}", *args) as js:
        await onboarded(hass, central)
        triggers = len(js.received("TriggerMessage"))
        await central.accept_charger(CHARGER_ID)
        await js.wait_for("received", lambda _li: len(js.received("TriggerMessage")) > triggers)
        passwords = [
            line
            for line in js.received("SetVariables")
            if line["params"]["setVariableData"][0]["variable"]["name"] == "BasicAuthPassword"
        ]
        assert len(passwords) == 1, js.transcript()
        assert len(js.steps("connected")) == 2
        assert await js.quit() == 0, js.transcript()
