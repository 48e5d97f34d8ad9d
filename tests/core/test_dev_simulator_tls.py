"""The development simulator (1.6) through the security upgrades the HA action runs (upgrade.py),
step by step against the real CentralSystem with its TLS listener and our CA: our root installed,
SecurityProfile 2 and the simulator back over TLS with its password; then, over that TLS
connection (our CA signs nothing over plain ws://), the CSR round (ExtendedTriggerMessage ->
SignCertificate -> CertificateSigned), SecurityProfile 3, and the simulator back with its client
certificate. And a new profile that does not get through: the simulator falls back to the
previous one (what the server's rollback counts on).

The server certificate names "localhost" only, as in ``scripts/develop`` (Home Assistant's host
names and LAN addresses, never the loopback address the simulator connects to): the simulator
checks the chain against the root it was given, not the host name.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from custom_components.ocpp_ems.core.protocol.certificates import AuthorityCertificates
from custom_components.ocpp_ems.core.security import (
    CertificateAuthority,
    CertificateInfo,
    build_server_context,
)
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.settings import SecurityProfile, ServerSettings
from scripts.charger_sim import make_station
from scripts.charger_sim.station import Station

from .fakes import MemoryDirectory
from .test_dev_simulator import onboard, running, sim_warnings, station_args, wait_until

CHARGER_ID = "SIM-CHARGER-1"


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create(key_bits=2048)


@pytest.fixture
async def central(
    socket_enabled: None, directory: MemoryDirectory, ca: CertificateAuthority
) -> AsyncIterator[CentralSystem]:
    """ws:// and wss:// listeners; our CA signs the chargers' CSRs."""
    credentials = ca.issue_server_certificates(["localhost"])
    central = CentralSystem(
        ServerSettings(host="127.0.0.1", port=0, tls_port=0),
        directory,
        tls=build_server_context(credentials, client_ca_pem=ca.certificate_pem),
        certificates=AuthorityCertificates(ca),
    )
    await central.start()
    yield central
    await central.stop()


@contextlib.asynccontextmanager
async def simulator(central: CentralSystem, tmp_path: Path, tls_url: str) -> AsyncIterator[Station]:
    args = station_args("1.6", f"ws://127.0.0.1:{central.port}/{CHARGER_ID}", tmp_path / "s.json")
    args.tls_url = tls_url
    async with running(make_station(args)) as station:
        yield station


async def provision_for_profile_2(
    central: CentralSystem, station: Station, ca: CertificateAuthority
) -> None:
    """What the upgrade to profile 2 does before the switch: our root."""
    session = central.session(CHARGER_ID)
    assert session is not None
    await session.install_root_certificate()
    assert station.state.all_roots() == [ca.certificate_pem]
    assert station.state.root_certificates.keys() == {"CentralSystemRootCertificate"}


async def provision_for_profile_3(
    central: CentralSystem, station: Station, ca: CertificateAuthority
) -> None:
    """What the upgrade to profile 3 does before the switch: the CSR round (over TLS)."""
    session = central.session(CHARGER_ID)
    assert session is not None
    await session.request_new_client_certificate()
    await wait_until(lambda: station.state.certificate_pem, "the client certificate")
    certificate = station.state.certificate_pem
    assert certificate is not None
    assert ca.issued(certificate)
    assert CertificateInfo.of(certificate).subject_cn == CHARGER_ID
    assert station.state.key_pem is not None
    assert station.state.pending_key_pem is None


async def switch(
    central: CentralSystem, directory: MemoryDirectory, station: Station, profile: int
) -> None:
    """The switch, as the upgrade makes it: the settings first (``profile``, downgrade allowed
    until it is back), then SecurityProfile; the simulator back and booted on ``profile``."""
    directory.set_security(CHARGER_ID, profile, allow_downgrade=True)
    session = central.session(CHARGER_ID)
    assert session is not None
    assert await session.set_security_profile(profile) == "Accepted"
    charger = central.charger(CHARGER_ID)

    def back() -> bool:
        seen = charger.connection_security
        return (
            seen is not None
            and seen.profile == profile
            and central.session(CHARGER_ID) is not session
            and station.state.previous_profile is None
            and station.booted.is_set()
        )

    await wait_until(back, f"the simulator back and booted on profile {profile}")
    directory.set_security(CHARGER_ID, profile)  # back: no lower profile let in any more


async def test_simulator_moves_from_profile_1_to_2_to_3(
    central: CentralSystem,
    directory: MemoryDirectory,
    ca: CertificateAuthority,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tls_url = f"wss://127.0.0.1:{central.tls_port}/{CHARGER_ID}"
    async with simulator(central, tmp_path, tls_url) as station:
        await onboard(central, directory, station)
        charger = central.charger(CHARGER_ID)
        security = charger.connection_security
        assert security is not None
        assert security.profile is SecurityProfile.BASIC_AUTH
        await provision_for_profile_2(central, station, ca)
        await switch(central, directory, station, 2)
        security = charger.connection_security
        assert security is not None
        assert security.basic_auth
        assert security.tls_version is not None

        await provision_for_profile_3(central, station, ca)
        await switch(central, directory, station, 3)
        assert station.last_boot_status == "Accepted"
        seen = charger.connection_security
        assert seen is not None
        assert seen.certificate_cn == CHARGER_ID
        assert not seen.basic_auth
        assert seen.certificate_fingerprint == (
            CertificateInfo.of(station.state.certificate_pem or "").fingerprint_sha256
        )
        assert station.state.security_profile == 3
        assert station.state.previous_profile is None
        assert station.state.config["SecurityProfile"][0] == "3"

    assert sim_warnings(caplog) == []
    # The state file keeps the profile and the certificates: a restart connects with them.
    again = make_station(station_args("1.6", station.url, tmp_path / "s.json"))
    assert again.state.security_profile == 3
    assert again.state.certificate_pem == station.state.certificate_pem
    assert again.state.all_roots() == [ca.certificate_pem]
    url, context, with_password = again.connection_target()
    assert url == f"wss://127.0.0.1:9443/{CHARGER_ID}"  # --tls-url's default
    assert context is not None
    assert not with_password


async def test_simulator_falls_back_when_the_new_profile_does_not_connect(
    central: CentralSystem,
    directory: MemoryDirectory,
    ca: CertificateAuthority,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A TLS URL where no TLS server listens (the plain ws:// port): every TLS handshake fails.
    tls_url = f"wss://127.0.0.1:{central.port}/{CHARGER_ID}"
    async with simulator(central, tmp_path, tls_url) as station:
        await onboard(central, directory, station)
        charger = central.charger(CHARGER_ID)
        await provision_for_profile_2(central, station, ca)
        directory.set_security(CHARGER_ID, 2, allow_downgrade=True)
        session = central.session(CHARGER_ID)
        assert session is not None
        assert await session.set_security_profile(2) == "Accepted"

        await wait_until(lambda: station.state.previous_profile == 1, "the switch to 2")

        def back_on_1() -> bool:
            seen = charger.connection_security
            return (
                station.state.security_profile == 1
                and seen is not None
                and seen.profile is SecurityProfile.BASIC_AUTH
                and station.booted.is_set()
                and central.session(CHARGER_ID) is not None
            )

        await wait_until(back_on_1, "the simulator back on profile 1")
        assert station.state.previous_profile is None
        assert station.state.config["SecurityProfile"][0] == "1"

    assert any("back to profile 1" in warning for warning in sim_warnings(caplog))
