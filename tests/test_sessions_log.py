"""The sessions log: ended sessions from Home Assistant's history, exported as CSV."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (  # type: ignore[import-untyped]
    async_wait_recording_done,
)

from custom_components.ocpp_ems.const import CONF_ID_TAGS, CONF_RESPONSE_TIMEOUT, DOMAIN
from custom_components.ocpp_ems.core.ems.options import SESSION_PRICE
from custom_components.ocpp_ems.sessions_log import COLUMNS

from .helpers.charger import SimCharger
from .helpers.fixtures import Onboard
from .helpers.platform import device_id, only_platforms


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_db_url: str, enable_custom_integrations: None) -> None:
    """The recorder's database is prepared before ``hass`` (conftest's own fixture of this name
    asks for ``hass`` first, too early for ``recorder_mock``)."""


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {CONF_RESPONSE_TIMEOUT: 3, CONF_ID_TAGS: ["TAG1 = Alice"], SESSION_PRICE.key: 0.5}


async def export(hass: HomeAssistant, entry: MockConfigEntry, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "export_sessions",
        {"device_id": device_id(hass, entry), **data},
        blocking=True,
        return_response=True,
    )


async def sessions(hass: HomeAssistant, sim: SimCharger, count: int) -> None:
    """``count`` sessions of 100 Wh each (Alice's), one after the other."""
    for _ in range(count):
        await sim.start_transaction("TAG1", started_ago_s=0)
        sim.meter_wh += 100
        await sim.stop_transaction()
        await hass.async_block_till_done()


async def test_export_sessions(recorder_mock: Any, hass: HomeAssistant, onboard: Onboard) -> None:
    media = hass.config.path("media")
    hass.config.media_dirs = {"local": media}
    hass.config.allowlist_external_dirs = {hass.config.path("www"), media}
    # The sensor platform follows the price (sessions are costed).
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard() as (sim, entry):
            await sessions(hass, sim, 3)
            await async_wait_recording_done(hass)

            result = await export(hass, entry, count=2)
            # In the media folder (logged-in users), never www (served to anyone): id tags.
            path = Path(media, "ocpp_ems", "sessions_CP1.csv")
            assert result == {"path": str(path), "sessions": 2}
            rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
            assert list(rows[0]) == list(COLUMNS)
            assert [row["user"] for row in rows] == ["Alice", "Alice"]
            assert [float(row["energy_wh"]) for row in rows] == [100.0, 100.0]
            assert [float(row["cost"]) for row in rows] == [0.05, 0.05]
            assert rows[0]["ended_at"] < rows[1]["ended_at"]  # oldest first

            # A path of the user's own, within the allowed folders; every session once.
            result = await export(hass, entry, path="www/logs/all.csv")
            assert result["sessions"] == 3
            assert Path(hass.config.path("www/logs/all.csv")).is_file()

            with pytest.raises(ServiceValidationError) as err:
                await export(hass, entry, path="/etc/sessions.csv")
            assert err.value.translation_key == "path_not_allowed"

            # A folder given for the file: a clear error, not a traceback in the log.
            with pytest.raises(HomeAssistantError) as failed:
                await export(hass, entry, path="www/logs")
            assert failed.value.translation_key == "export_failed"
            assert failed.value.translation_placeholders["path"] == hass.config.path("www/logs")


async def test_export_needs_the_recorder(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.EVENT):
        async with onboard() as (_sim, entry):
            with pytest.raises(ServiceValidationError) as err:
                await export(hass, entry)
            assert err.value.translation_key == "no_recorder"


def _ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


async def test_sessions_sent_newest_first_keep_their_own_energy(
    recorder_mock: Any, hass: HomeAssistant, onboard: Onboard, tmp_path: Path
) -> None:
    """Back from offline, a charger sent session B (5,000 -> 8,000 Wh) and then the older
    session A (1,000 -> 3,000 Wh): A took over as the connector's session and the log showed
    B's energy for it. The log shows A with 2,000 Wh and B with 3,000 Wh."""
    media = str(tmp_path)
    hass.config.media_dirs = {"local": media}
    hass.config.allowlist_external_dirs = {media}
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard() as (sim, entry):
            ids = {}
            for name, start_wh, stop_wh, started_ago in (
                ("b", 5000, 8000, 3600),
                ("a", 1000, 3000, 7200),
            ):
                start = await sim.call(
                    call.StartTransaction(
                        connector_id=1,
                        id_tag="TAG1",
                        meter_start=start_wh,
                        timestamp=_ago(started_ago),
                    )
                )
                ids[name] = str(start.transaction_id)
                await sim.call(
                    call.StopTransaction(
                        meter_stop=stop_wh,
                        timestamp=_ago(started_ago - 1800),
                        transaction_id=start.transaction_id,
                    )
                )
                await hass.async_block_till_done()
            await async_wait_recording_done(hass)
            result = await export(hass, entry, count=10)
    rows = list(csv.DictReader(Path(result["path"]).read_text("utf-8").splitlines()))
    energy = {row["transaction_id"]: float(row["energy_wh"]) for row in rows}
    assert energy == {ids["a"]: 2000.0, ids["b"]: 3000.0}
