"""Connector 0 (the charger as a whole) as Home Assistant shows it, and id tags kept out of
diagnostics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ocpp_ems.const import CONF_ID_TAGS

from .helpers.charger import now_iso
from .helpers.fixtures import Onboard
from .helpers.platform import only_platforms

PREFIX = "binary_sensor.acme_wallbox_1"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_db_url: str, enable_custom_integrations: None) -> None:
    """As tests/test_sessions_log.py: the recorder's database before ``hass``."""


SECRET_TAG = "04A1B2C3D4"
# An OCMF record (Eichrecht / German calibration law signed meter data) as real chargers send it
# in a SignedData sample: its ID field is the id tag of the user who charged.
OCMF = (
    'OCMF|{"FV":"1.0","GI":"ACME","GS":"SN-0001","PG":"T1","IS":true,"IL":"VERIFIED",'
    '"IF":["RFID_PLAIN"],"IT":"ISO14443","ID":"'
    + SECRET_TAG
    + '","RD":[{"TM":"'
    + "2026-01-01T00:00:00,000+0000 S"
    + '","TX":"B","RV":1.0,"RI":"1-b:1.8.0","RU":"kWh","ST":"G"}]}|{"SA":"ECDSA-secp256r1-SHA256",'
    '"SD":"3045022100AB"}'
)


async def test_connector0_faulted_shows_a_problem(hass: HomeAssistant, onboard: Onboard) -> None:
    """1.6: a StatusNotification on connector 0 Faulted is the whole charger out of order (the
    charge point's main controller): the connector's fault binary sensor says so."""
    with only_platforms(Platform.BINARY_SENSOR):
        async with onboard() as (sim, _entry):
            await sim.status("Available", connector_id=1)
            await sim.status(
                "Faulted", connector_id=0, error_code="GroundFailure", vendor_error_code="E12"
            )
            await hass.async_block_till_done()
            problems = [
                s.state
                for s in hass.states.async_all("binary_sensor")
                if s.attributes.get("device_class") == "problem"
                and not s.entity_id.endswith("limit_mismatch")
            ]
            assert "on" in problems, problems


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {CONF_ID_TAGS: [SECRET_TAG]}


async def test_diagnostics_leak_id_tag_in_signed_meter_data(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    onboard: Onboard,
    server_entry: MockConfigEntry,
) -> None:
    """Diagnostics promise "every credential, private key and id tag redacted" (README: secrets
    are redacted). A charger with signed meter values (OCMF) names the id tag inside them."""
    async with onboard() as (sim, charger_entry):
        await sim.status("Charging")
        tx = await sim.start_transaction(SECRET_TAG)
        await sim.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": now_iso(),
                        "sampledValue": [
                            {"value": "2000", "measurand": "Energy.Active.Import.Register"},
                            {
                                "value": OCMF,
                                "format": "SignedData",
                                "measurand": "Energy.Active.Import.Register",
                                "context": "Sample.Periodic",
                            },
                        ],
                    }
                ],
            )
        )
        await hass.async_block_till_done()
        charger = await get_diagnostics_for_config_entry(hass, hass_client, charger_entry)
        text = json.dumps(charger)
        assert SECRET_TAG not in text
        assert (
            charger["charger"]["connectors"]["1"]["meter"]["signed_meter_value"] == "**REDACTED**"
        )


async def test_export_sessions_default_is_not_public(
    recorder_mock: Any, hass: HomeAssistant, onboard: Onboard
) -> None:
    """The sessions file holds the users' raw id tags (what diagnostics redact: they let someone
    else charge): by default never in www, which Home Assistant serves at /local/ without login,
    under a guessable name; in the media folder (logged-in users)."""
    media = hass.config.path("media")
    hass.config.media_dirs = {"local": media}
    hass.config.allowlist_external_dirs = {hass.config.path("www"), media}
    from homeassistant.helpers.recorder import get_instance  # noqa: F401
    from pytest_homeassistant_custom_component.components.recorder.common import (
        async_wait_recording_done,
    )

    from custom_components.ocpp_ems.const import DOMAIN

    from .helpers.platform import device_id

    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard() as (sim, entry):
            await sim.start_transaction(SECRET_TAG, started_ago_s=0)
            sim.meter_wh += 100
            await sim.stop_transaction()
            await hass.async_block_till_done()
            await async_wait_recording_done(hass)
            result = await hass.services.async_call(
                DOMAIN,
                "export_sessions",
                {"device_id": device_id(hass, entry)},
                blocking=True,
                return_response=True,
            )
            path = Path(result["path"])
            www = Path(hass.config.path("www"))
            public = www in path.parents
            content = path.read_text(encoding="utf-8")
            assert SECRET_TAG in content
            assert not public
            assert Path(media) in path.parents
