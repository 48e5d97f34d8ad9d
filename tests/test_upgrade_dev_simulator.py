"""What ``scripts/develop`` shows: the development simulator moved from profile 1 to 2, then to 3
(our CA signs its certificate request only over TLS), by the Home Assistant action behind the
charger options' "Upgrade security" (upgrade.py), and rolled back when
it cannot connect on the new profile (it falls back to the old one, as the 1.6 whitepaper and 2.0.1
B10 say). 1.6: SecurityProfile; 2.0.1 (``SIM_OCPP=2.0.1``): a network profile in a new slot, first in
NetworkConfigurationPriority, and a reset.

The server certificate carries no loopback address (as in ``scripts/develop``); the simulator trusts
only the CA it was given and does not check the host name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_ems import upgrade as upgrade_module
from custom_components.ocpp_ems.const import (
    CONF_RESPONSE_TIMEOUT,
    CONF_TLS_ENABLED,
    CONF_TLS_PORT,
)
from custom_components.ocpp_ems.core.security import CertificateInfo
from custom_components.ocpp_ems.core.settings import SecurityProfile
from custom_components.ocpp_ems.security import ServerSecurity
from scripts.charger_sim import make_station
from scripts.charger_sim.station import Station

from .core.test_dev_simulator import running, station_args
from .helpers.charger import wait_for
from .helpers.fixtures import accept_pending_charger, central_of
from .test_upgrade import logged_in, profile_options, upgrade

CHARGER_ID = "SIM-CHARGER-1"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {CONF_RESPONSE_TIMEOUT: 3, CONF_TLS_ENABLED: True, CONF_TLS_PORT: 0}


VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


def dev_station(
    server_entry: MockConfigEntry, tmp_path: Path, tls_url: str | None, version: str
) -> Station:
    central = central_of(server_entry)
    url = f"ws://127.0.0.1:{central.port}/{CHARGER_ID}"
    args = station_args(version, url, tmp_path / "s.json")
    if tls_url is not None or version == "1.6":
        args.tls_url = tls_url or f"wss://127.0.0.1:{central.tls_port}/{CHARGER_ID}"
    # else 2.x connects to the URL of the network profile it got.
    return make_station(args)


async def accepted(hass: HomeAssistant, server_entry: MockConfigEntry) -> MockConfigEntry:
    """The user accepts the simulator; it logs in with its password."""
    entry = await accept_pending_charger(hass, CHARGER_ID)
    await logged_in(central_of(server_entry), CHARGER_ID)
    return entry


@VERSIONS
async def test_dev_simulator_upgrades_from_1_to_2_to_3(
    hass: HomeAssistant, server_entry: MockConfigEntry, tmp_path: Path, version: str
) -> None:
    central = central_of(server_entry)
    security: ServerSecurity = server_entry.runtime_data.security
    assert security.ca is not None
    async with running(dev_station(server_entry, tmp_path, None, version)) as station:
        entry = await accepted(hass, server_entry)
        assert await upgrade(hass, CHARGER_ID, 2) == {"status": "waiting"}
        assert station.state.all_roots() == [security.ca.certificate_pem]
        await wait_for(lambda: profile_options(entry) == (2, False), what="upgrade to 2 done")
        await hass.async_block_till_done()
        seen = central.charger(CHARGER_ID).connection_security
        assert seen is not None
        assert seen.profile is SecurityProfile.TLS_BASIC_AUTH
        assert station.state.certificate_pem is None

        await logged_in(central, CHARGER_ID)
        assert await upgrade(hass, CHARGER_ID, 3) == {"status": "waiting"}
        certificate = station.state.certificate_pem
        assert certificate is not None
        assert security.ca.issued(certificate)

        await wait_for(lambda: profile_options(entry) == (3, False), what="upgrade to 3 done")
        await hass.async_block_till_done()
        seen = central.charger(CHARGER_ID).connection_security
        assert seen is not None
        assert seen.profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
        assert seen.certificate_cn == CHARGER_ID
        assert seen.certificate_fingerprint == CertificateInfo.of(certificate).fingerprint_sha256
        assert station.state.security_profile == 3
        assert security.pending_upgrades == {}
        if version != "1.6":
            # Slot 0 is where it started; each new one first (what the reset made it use).
            url = f"wss://127.0.0.1:{central.tls_port}/"
            assert station.state.network_profiles == {
                "1": {"url": url, "security_profile": 2},
                "2": {"url": url, "security_profile": 3},
            }
            assert station.state.network_priority == "2,1,0"


@VERSIONS
async def test_dev_simulator_rolls_back_when_tls_does_not_connect(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    version: str,
) -> None:
    monkeypatch.setattr(upgrade_module, "UPGRADE_TIMEOUT_S", 3.0)
    central = central_of(server_entry)
    # No TLS server there (the plain ws:// port): every TLS handshake of profile 2 fails.
    wrong = f"wss://127.0.0.1:{central.port}/{CHARGER_ID}"
    async with running(dev_station(server_entry, tmp_path, wrong, version)) as station:
        entry = await accepted(hass, server_entry)
        assert await upgrade(hass, CHARGER_ID, 2) == {"status": "waiting"}
        await wait_for(lambda: profile_options(entry) == (1, False), seconds=20, what="rollback")
        await wait_for(
            lambda: station.state.security_profile == 1 and station.booted.is_set(),
            what="the simulator back on profile 1",
        )
        await hass.async_block_till_done()
        seen = central.charger(CHARGER_ID).connection_security
        assert seen is not None
        assert seen.profile is SecurityProfile.BASIC_AUTH
