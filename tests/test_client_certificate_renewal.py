"""A charger that does not renew its expiring client certificate gets a repair issue (real hass,
real TLS, a real OCPP 1.6 charger with the security extension; the daily check runs by HA's time
travel, not sleeps). The daily check asks it for a new certificate from 30 days before the end;
from 7 days before, a charger that has not accepted one is reported, until it does.

The certificates' remaining days are chosen rather than waited for: the freezer would move the
event loop's clock too (websocket pings and call timeouts see a day pass and drop the charger)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.ocpp_ems.const import (
    CONF_SECURITY_PROFILE,
    DOMAIN,
    ISSUE_CLIENT_CERTIFICATE_RENEWAL,
    repair_issue_id,
)
from custom_components.ocpp_ems.core.security.renewal import (
    CLIENT_CERT_RENEWAL_OVERDUE_DAYS,
)
from custom_components.ocpp_ems.security import FIRST_CLIENT_CHECK_DELAY

from .core.pki import key_pem, make_csr
from .helpers.charger import wait_for
from .helpers.fixtures import Onboard, central_of
from .helpers.secure_charger import SecureSim, Wallet, connect_as_configured
from .test_security import TLS_OPTIONS, ca_of, set_charger_options


@pytest.fixture
def server_options() -> dict[str, Any]:
    return dict(TLS_OPTIONS)


@asynccontextmanager
async def profile_3_charger(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    tmp_path: Path,
    *,
    days_left: float,
    charger_id: str = "CP1",
) -> AsyncIterator[SecureSim]:
    """An accepted charger on profile 3, connected with a certificate of ours that ends in
    ``days_left`` days; it sends no certificate request unless the test lets it."""
    tmp_path.mkdir(exist_ok=True)
    async with onboard(charger_id) as (_sim, entry):
        pass
    await set_charger_options(hass, entry, **{CONF_SECURITY_PROFILE: 3})
    ca = ca_of(server_entry)
    csr, key = make_csr(charger_id)
    now = datetime.now(UTC)
    issued = ca.sign_csr(
        csr,
        charger_id,
        not_valid_before=now - timedelta(days=700),
        not_valid_after=now + timedelta(days=days_left),
    )
    wallet = Wallet(
        profile=3,
        root_pem=ca.certificate_pem,
        certificate_pem=issued.pem,
        key_pem=key_pem(key),
        send_csr=False,
    )
    central = central_of(server_entry)
    async with connect_as_configured(central, charger_id, wallet, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        security = central.charger(charger_id).connection_security
        assert security is not None
        assert security.certificate_serial == issued.info.serial_number
        yield sim


async def next_day(hass: HomeAssistant, days: int = 1) -> None:
    """The daily check runs (as ``days`` days after the start)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(days=days, seconds=days))
    await hass.async_block_till_done(wait_background_tasks=True)


def renewal_issue(
    issue_registry: ir.IssueRegistry, charger_id: str = "CP1"
) -> ir.IssueEntry | None:
    return issue_registry.async_get_issue(
        DOMAIN, repair_issue_id(ISSUE_CLIENT_CERTIFICATE_RENEWAL, charger_id)
    )


async def test_a_charger_that_sends_no_request_gets_a_repair_until_it_renews(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    days_left = CLIENT_CERT_RENEWAL_OVERDUE_DAYS - 2
    async with profile_3_charger(hass, server_entry, onboard, tmp_path, days_left=days_left) as sim:
        for day in (1, 2):
            await next_day(hass, day)
            # Asked minutes after the start, then daily.
            asked = day + 1
            await wait_for(
                lambda asked=asked: len(sim.commands("ExtendedTriggerMessage")) == asked,
                what="the daily request",
            )
            assert sim.commands("ExtendedTriggerMessage")[-1] == {
                "requested_message": "SignChargePointCertificate"
            }
            issue = renewal_issue(issue_registry)
            assert issue is not None
            assert issue.translation_key == "client_certificate_renewal"
            assert issue.severity is ir.IssueSeverity.WARNING
            placeholders = issue.translation_placeholders or {}
            assert placeholders["charger_id"] == "CP1"
            assert placeholders["asked"] == str(asked)
            assert placeholders["refused"] == "-"

        # The charger takes the new certificate (on its own, or from the charger's web page):
        # the repair goes at once, without waiting for the next daily check.
        sim.wallet.send_csr = True
        await sim.sign_certificate()
        await wait_for(lambda: renewal_issue(issue_registry) is None, what="the repair to go")
        assert sim.wallet.certificate_pem is not None
        # ... and it is not asked again while it still uses the old one (until it reconnects).
        await next_day(hass, 3)
        assert len(sim.commands("ExtendedTriggerMessage")) == 3
        assert renewal_issue(issue_registry) is None


async def test_a_rejected_certificate_or_a_refused_request_keeps_the_repair(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """CP1 rejects the certificate we signed; CP2's request names someone else (the CA refuses
    it): neither is renewed, and CP2's repair says why. CP3, 10 days before its end, is asked
    but not reported yet."""
    async with (
        profile_3_charger(hass, server_entry, onboard, tmp_path / "1", days_left=5) as cp1,
        profile_3_charger(
            hass, server_entry, onboard, tmp_path / "2", days_left=6, charger_id="CP2"
        ) as cp2,
        profile_3_charger(
            hass, server_entry, onboard, tmp_path / "3", days_left=10, charger_id="CP3"
        ) as cp3,
    ):
        await next_day(hass)
        await wait_for(lambda: cp3.commands("ExtendedTriggerMessage"), what="CP3 asked")
        assert renewal_issue(issue_registry, "CP1") is not None
        assert renewal_issue(issue_registry, "CP2") is not None
        assert renewal_issue(issue_registry, "CP3") is None

        cp1.statuses["CertificateSigned"] = "Rejected"
        cp1.wallet.send_csr = True
        await cp1.sign_certificate()
        await wait_for(lambda: cp1.commands("CertificateSigned"), what="CertificateSigned")

        cp2.wallet.csr_cn = "SOMEONE-ELSE"
        await cp2.sign_certificate()
        await wait_for(
            lambda: (renewal_issue(issue_registry, "CP2").translation_placeholders or {})["refused"]
            != "-",
            what="the refusal in the repair",
        )
        await hass.async_block_till_done()
        issue = renewal_issue(issue_registry, "CP1")
        assert issue is not None
        assert (issue.translation_placeholders or {})["refused"] == "-"
        refused = (renewal_issue(issue_registry, "CP2").translation_placeholders or {})["refused"]
        assert "SOMEONE-ELSE" in refused


async def test_the_chargers_are_checked_minutes_after_the_start_not_a_day(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A Home Assistant restarted (or a server reloaded) more often than daily still asks an
    expiring charger and raises its repair: the first check runs minutes after the start."""
    async with profile_3_charger(hass, server_entry, onboard, tmp_path, days_left=5) as sim:
        assert renewal_issue(issue_registry) is None
        async_fire_time_changed(hass, dt_util.utcnow() + FIRST_CLIENT_CHECK_DELAY * 2)
        await hass.async_block_till_done(wait_background_tasks=True)
        await wait_for(lambda: sim.commands("ExtendedTriggerMessage"), what="the request")
        assert renewal_issue(issue_registry) is not None


async def test_the_renewal_repair_goes_once_renewed_also_after_a_reload(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The repair was raised before the server entry was reloaded (an options change): the new
    setup removes it once the charger comes back renewed."""
    async with profile_3_charger(hass, server_entry, onboard, tmp_path, days_left=5):
        await next_day(hass)
        assert renewal_issue(issue_registry) is not None
    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    ca = ca_of(server_entry)
    csr, key = make_csr("CP1")
    now = datetime.now(UTC)
    renewed = Wallet(
        profile=3,
        root_pem=ca.certificate_pem,
        certificate_pem=ca.sign_csr(
            csr, "CP1", not_valid_before=now, not_valid_after=now + timedelta(days=700)
        ).pem,
        key_pem=key_pem(key),
        send_csr=False,
    )
    async with connect_as_configured(central_of(server_entry), "CP1", renewed, tmp_path) as sim:
        assert await sim.boot() == "Accepted"
        await next_day(hass)
        assert renewal_issue(issue_registry) is None, "a stale renewal repair after a reload"
