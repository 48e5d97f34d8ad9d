"""Moving a charger up the security profiles from Home Assistant (upgrade.py): 1 -> 2 -> 3 end to
end with a 1.6 charger that follows (real TLS, the CSR round with our CA), a charger that does not
come back (rollback and repair), and the refused cases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_ems import upgrade as upgrade_module
from custom_components.ocpp_ems.const import (
    CONF_ALLOW_SECURITY_DOWNGRADE,
    CONF_PASSWORD,
    CONF_RESPONSE_TIMEOUT,
    CONF_SECURITY_PROFILE,
    DOMAIN,
)
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.security import CertificateInfo
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.security import ServerSecurity
from custom_components.ocpp_ems.upgrade import SecurityUpgrades, async_switch_v2

from .helpers.charger import wait_for
from .helpers.fixtures import Onboard, async_unload_all, central_of
from .helpers.secure_charger import Wallet, connect_as_configured
from .test_security import TLS_OPTIONS

EVENT = "event.acme_wallbox_1_security_event"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return dict(TLS_OPTIONS)


async def accepted_charger(onboard: Onboard) -> tuple[MockConfigEntry, Wallet]:
    """CP1 accepted (it got its password) and offline; its wallet holds the password."""
    async with onboard() as (_sim, entry):
        pass
    return entry, Wallet(password=str(entry.data[CONF_PASSWORD]).encode())


def device_of(hass: HomeAssistant, charger_id: str) -> str:
    entry = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, charger_id)
    assert entry is not None
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, charger_id), entry.entry_id)
    assert device is not None
    return device.id


async def upgrade(hass: HomeAssistant, charger_id: str, profile: int) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "upgrade_security",
        {"device_id": device_of(hass, charger_id), "security_profile": str(profile)},
        blocking=True,
        return_response=True,
    )


async def logged_in(central: CentralSystem, charger_id: str) -> None:
    """Its connection is authenticated (what an upgrade needs)."""

    def authenticated() -> bool:
        security = central.charger(charger_id).connection_security
        return security is not None and (security.basic_auth or security.profile == 3)

    await wait_for(authenticated, what="an authenticated connection")


@asynccontextmanager
async def upgrading(
    hass: HomeAssistant, central: CentralSystem, wallet: Wallet, tmp_path: Path
) -> AsyncIterator[Any]:
    """CP1 connected as configured and logged in, asked to move to profile 2 (its connection)."""
    async with connect_as_configured(central, "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await logged_in(central, "CP1")
        await upgrade(hass, "CP1", 2)
        yield sim


def profile_options(entry: MockConfigEntry) -> tuple[Any, Any]:
    return entry.options.get(CONF_SECURITY_PROFILE), entry.options.get(
        CONF_ALLOW_SECURITY_DOWNGRADE
    )


async def test_upgrade_1_to_2_to_3(
    hass: HomeAssistant, server_entry: MockConfigEntry, onboard: Onboard, tmp_path: Path
) -> None:
    entry, wallet = await accepted_charger(onboard)
    central = central_of(server_entry)
    security: ServerSecurity = server_entry.runtime_data.security
    ca = security.ca
    assert ca is not None

    async with connect_as_configured(central, "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await logged_in(central, "CP1")
        assert await upgrade(hass, "CP1", 2) == {"status": "waiting"}
        # Provisioned and switched; meanwhile the old way still gets in.
        assert wallet.root_pem == ca.certificate_pem
        assert sim.configuration["SecurityProfile"] == "2"
        assert profile_options(entry) == (2, True)
        assert "CP1" in security.pending_upgrades

    # The charger connects again as its new profile says: TLS, trusting our CA, with its password.
    async with connect_as_configured(central, "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: profile_options(entry) == (2, False), what="upgrade to 2 done")
        await hass.async_block_till_done()
        assert security.pending_upgrades == {}
        event = hass.states.get(EVENT)
        assert event.attributes["event_type"] == "profile_changed"
        assert event.attributes["result"] == "upgraded"
        assert (event.attributes["from_profile"], event.attributes["to_profile"]) == (1, 2)

        # 2 -> 3: the CSR round gives it a client certificate of our CA first.
        await logged_in(central, "CP1")
        assert await upgrade(hass, "CP1", 3) == {"status": "waiting"}
        assert wallet.certificate_pem is not None
        info = CertificateInfo.of(wallet.certificate_pem)
        assert info.subject_cn == "CP1"
        assert ca.issued(wallet.certificate_pem)
        assert sim.configuration["SecurityProfile"] == "3"

    async with connect_as_configured(central, "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: profile_options(entry) == (3, False), what="upgrade to 3 done")
        connection = central.charger("CP1").connection_security
        assert connection is not None
        assert connection.profile == 3
        assert connection.certificate_cn == "CP1"

    # Nothing to do twice.
    with pytest.raises(ServiceValidationError, match="already on security profile 3"):
        await upgrade(hass, "CP1", 3)


async def test_upgrade_rolls_back_when_the_charger_does_not_return(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upgrade_module, "UPGRADE_TIMEOUT_S", 1.0)
    entry, wallet = await accepted_charger(onboard)
    central = central_of(server_entry)
    async with upgrading(hass, central, wallet, tmp_path):
        # One at a time.
        with pytest.raises(ServiceValidationError) as running:
            await upgrade(hass, "CP1", 3)
        assert running.value.translation_key == "upgrade_running"

    # It falls back to its old way (plain ws): let in while the upgrade runs, reported.
    wallet.profile = 1
    async with connect_as_configured(central, "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await hass.async_block_till_done()
        assert hass.states.get(EVENT).attributes["event_type"] == "downgraded"
        await wait_for(lambda: profile_options(entry) == (1, False), what="rollback")
        await hass.async_block_till_done()

    issue = issue_registry.async_get_issue(DOMAIN, "security_upgrade_failed_CP1")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["previous"] == "1"
    assert issue.translation_placeholders["url"] == (f"wss://127.0.0.1:{central.tls_port}/CP1")
    event = hass.states.get(EVENT)
    assert event.attributes["event_type"] == "profile_changed"
    assert event.attributes["result"] == "rolled_back"
    security: ServerSecurity = server_entry.runtime_data.security
    assert security.pending_upgrades == {}

    # The next attempt clears the notice.
    async with upgrading(hass, central, wallet, tmp_path):
        assert issue_registry.async_get_issue(DOMAIN, "security_upgrade_failed_CP1") is None


async def test_no_upgrade_repair_for_a_charger_deleted_meanwhile(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deleted while its upgrade was watched: the watch ran out and raised "security upgrade
    failed" for a charger that no longer exists (nothing cleared it until a restart)."""
    monkeypatch.setattr(upgrade_module, "UPGRADE_TIMEOUT_S", 1.0)
    entry, wallet = await accepted_charger(onboard)
    central = central_of(server_entry)
    async with upgrading(hass, central, wallet, tmp_path):
        pass
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    security: ServerSecurity = server_entry.runtime_data.security
    await wait_for(lambda: security.pending_upgrades == {}, what="the watch ended")
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, "security_upgrade_failed_CP1") is None


async def test_upgrade_resumes_after_restart(
    hass: HomeAssistant, server_entry: MockConfigEntry, onboard: Onboard, tmp_path: Path
) -> None:
    entry, wallet = await accepted_charger(onboard)
    upgrades: SecurityUpgrades = server_entry.runtime_data.upgrades
    await wait_for(lambda: central_of(server_entry).session("CP1") is None, what="offline")
    with pytest.raises(ServiceValidationError) as err:
        await upgrades.async_upgrade(entry, 2)
    assert err.value.translation_key == "charger_not_connected"
    async with connect_as_configured(central_of(server_entry), "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await logged_in(central_of(server_entry), "CP1")
        # This one wants a reboot for the new profile: it gets a soft reset.
        sim.statuses["ChangeConfiguration"] = "RebootRequired"
        await upgrade(hass, "CP1", 2)
        assert sim.commands("Reset") == [{"type": "Soft"}]

    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    security: ServerSecurity = server_entry.runtime_data.security
    assert "CP1" in security.pending_upgrades  # watched again
    async with connect_as_configured(central_of(server_entry), "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: profile_options(entry) == (2, False), what="upgrade done")
    assert security.pending_upgrades == {}


async def test_upgrade_resumed_after_its_deadline_waits_for_the_charger(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    server_entry: MockConfigEntry,
    onboard: Onboard,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Home Assistant was down past the upgrade's deadline (the charger could not come back
    meanwhile): resumed, the watch gives it a whole timeout again; it was rolled back at once
    (a repair, the old profile) although the charger came back on the new one right after."""
    entry, wallet = await accepted_charger(onboard)
    central = central_of(server_entry)
    async with upgrading(hass, central, wallet, tmp_path):
        pass
    await async_unload_all(hass)
    stored = hass_storage[f"{DOMAIN}.{server_entry.entry_id}.security"]["data"]
    past = (dt_util.utcnow() - timedelta(minutes=30)).isoformat()
    for record in stored["upgrades"].values():
        record["deadline"] = past
    assert await hass.config_entries.async_setup(server_entry.entry_id)
    await hass.async_block_till_done()
    assert "CP1" in server_entry.runtime_data.security.pending_upgrades  # not rolled back
    async with connect_as_configured(central_of(server_entry), "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: profile_options(entry) == (2, False), what="upgrade done")
    assert issue_registry.async_get_issue(DOMAIN, "security_upgrade_failed_CP1") is None


async def test_refused_before_anything_changes(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry, wallet = await accepted_charger(onboard)
    central = central_of(server_entry)
    security: ServerSecurity = server_entry.runtime_data.security

    # Not logged in with its password: no upgrade.
    async with connect_as_configured(central, "CP1", Wallet(password=None), tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        with pytest.raises(ServiceValidationError) as err:
            await upgrade(hass, "CP1", 2)
        assert err.value.translation_key == "not_authenticated"

    async with connect_as_configured(central, "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await logged_in(central, "CP1")
        with pytest.raises(ServiceValidationError) as err:
            await upgrade(hass, "CP1", 1)
        assert err.value.translation_key == "already_on_profile"

        # The charger refuses the new profile: the server side goes back at once.
        sim.statuses["ChangeConfiguration"] = "Rejected"
        with pytest.raises(HomeAssistantError, match="Rejected"):
            await upgrade(hass, "CP1", 2)
        assert profile_options(entry) == (1, False)
        assert security.pending_upgrades == {}
        sim.statuses.clear()

        # Straight from 1 to 3: its CSR would come over plain ws://, where our CA signs nothing.
        with pytest.raises(ServiceValidationError, match="Move it to profile 2 first") as err:
            await upgrade(hass, "CP1", 3)
        assert err.value.translation_key == "certificate_needs_tls"
        assert sim.commands("ExtendedTriggerMessage") == []
        assert profile_options(entry) == (1, False)

    # From profile 2 (over TLS) the CSR round runs; when it fails, nothing changes.
    await on_profile_2(hass, entry, wallet, security)
    async with connect_as_configured(central, "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await logged_in(central, "CP1")
        # A CSR with another charger's name is refused by our CA.
        wallet.csr_cn = "CP2"
        with pytest.raises(HomeAssistantError) as failed:
            await upgrade(hass, "CP1", 3)
        assert failed.value.translation_key == "certificate_refused"
        assert profile_options(entry) == (2, False)

        # No CSR at all.
        monkeypatch.setattr(upgrade_module, "CERTIFICATE_TIMEOUT_S", 0.2)
        wallet.csr_cn = None
        wallet.send_csr = False
        with pytest.raises(HomeAssistantError) as failed:
            await upgrade(hass, "CP1", 3)
        assert failed.value.translation_key == "certificate_timeout"
        assert wallet.certificate_pem is None
        assert profile_options(entry) == (2, False)


async def on_profile_2(
    hass: HomeAssistant, entry: MockConfigEntry, wallet: Wallet, security: ServerSecurity
) -> None:
    """CP1 moved to profile 2 (TLS and its password) before: the charger and its options."""
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_SECURITY_PROFILE: 2}
    )
    await hass.async_block_till_done()
    assert security.ca is not None
    wallet.root_pem = security.ca.certificate_pem
    wallet.profile = 2


async def test_downgrade_needs_permission(
    hass: HomeAssistant, server_entry: MockConfigEntry, onboard: Onboard, tmp_path: Path
) -> None:
    entry, wallet = await accepted_charger(onboard)
    central = central_of(server_entry)
    await on_profile_2(hass, entry, wallet, server_entry.runtime_data.security)
    async with connect_as_configured(central, "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await logged_in(central, "CP1")
        with pytest.raises(ServiceValidationError) as err:
            await upgrade(hass, "CP1", 1)
        assert err.value.translation_key == "downgrade_not_allowed"

        hass.config_entries.async_update_entry(
            entry, options={**entry.options, CONF_ALLOW_SECURITY_DOWNGRADE: True}
        )
        await hass.async_block_till_done()
        await upgrade(hass, "CP1", 1)
        assert sim.configuration["SecurityProfile"] == "1"
    async with connect_as_configured(central, "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: profile_options(entry) == (1, True), what="moved down")


@pytest.mark.parametrize("server_options", [{CONF_RESPONSE_TIMEOUT: 3}])
async def test_no_upgrade_without_tls(
    hass: HomeAssistant, server_entry: MockConfigEntry, onboard: Onboard, tmp_path: Path
) -> None:
    _entry, wallet = await accepted_charger(onboard)
    async with connect_as_configured(central_of(server_entry), "CP1", wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await logged_in(central_of(server_entry), "CP1")
        with pytest.raises(ServiceValidationError) as err:
            await upgrade(hass, "CP1", 2)
        assert err.value.translation_key == "tls_not_enabled"


# --- OCPP 2.x: a network profile instead of a setting ---------------------------------------------
class FakeSession:
    """Records the 2.x commands of the switch (the A05 steps; the adapters have their own
    tests)."""

    def __init__(self, priority: str | None) -> None:
        self.priority = priority
        self.calls: list[tuple[Any, ...]] = []

    async def get_configuration(self, keys: list[str]) -> dict[str, Any]:
        self.calls.append(("get", *keys))
        found = {} if self.priority is None else {keys[0]: {"value": self.priority}}
        return {"configuration": found, "unknown": []}

    async def set_network_profile(self, slot: int, url: str, security_profile: int) -> None:
        self.calls.append(("network_profile", slot, url, security_profile))

    async def set_configuration(self, key: str, value: str) -> str:
        self.calls.append(("set", key, value))
        return "Accepted"

    async def reset(self, *, hard: bool = False) -> None:
        self.calls.append(("reset", hard))


@pytest.mark.parametrize(
    ("priority", "slot", "order"), [("1,0", 2, "2,1,0"), (None, 1, "1"), ("", 1, "1")]
)
async def test_switch_v2(priority: str | None, slot: int, order: str) -> None:
    session = FakeSession(priority)
    await async_switch_v2(session, 3, "wss://ha:9443/")  # type: ignore[arg-type]
    key = "OCPPCommCtrlr.NetworkConfigurationPriority"
    assert session.calls == [
        ("get", key),
        ("network_profile", slot, "wss://ha:9443/", 3),
        ("set", key, order),
        ("reset", False),
    ]


async def test_2x_chargers_switch_by_network_profile(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    upgrades: SecurityUpgrades = server_entry.runtime_data.upgrades
    session = FakeSession("1")
    charger = Charger(charger_id="ST1", ocpp_version="ocpp2.0.1")
    await upgrades._async_switch(charger, session, 2, "wss://ha:9443/")  # type: ignore[arg-type]
    assert ("network_profile", 2, "wss://ha:9443/", 2) in session.calls
    assert server_entry.state is ConfigEntryState.LOADED
