"""The sessions log: ended sessions from Home Assistant's history, exported as CSV."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
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
from tests.core.v201_harness import sampled

from .helpers.charger import SimCharger
from .helpers.fixtures import Onboard, async_unload_all, central_of
from .helpers.platform import only_platforms
from .helpers.sessions import export, exported_rows
from .helpers.versions import OCPP16, OCPP201, ChargerSide, OnboardAny, Side2x, Side16


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_db_url: str, enable_custom_integrations: None) -> None:
    """The recorder's database is prepared before ``hass`` (conftest's own fixture of this name
    asks for ``hass`` first, too early for ``recorder_mock``)."""


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {CONF_RESPONSE_TIMEOUT: 3, CONF_ID_TAGS: ["TAG1 = Alice"], SESSION_PRICE.key: 0.5}


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
            rows = await exported_rows(hass, entry)
    energy = {row["transaction_id"]: float(row["energy_wh"]) for row in rows}
    assert energy == {ids["a"]: 2000.0, ids["b"]: 3000.0}


async def _end_before_the_last_readings(charger: ChargerSide) -> None:
    """A session of 1,000 -> 1,900 Wh whose end arrives before its last readings: 1.6 a
    StopTransaction with a meterStop of 0 (a firmware quirk), then the MeterValues; 2.x an Ended
    without meter values, then the Updated (seqNo 1 after the Ended's 2)."""
    if isinstance(charger, Side16):
        sim = charger.sim
        transaction_id = await sim.start_transaction("TAG1", started_ago_s=600)
        await sim.call(
            call.StopTransaction(meter_stop=0, timestamp=_ago(60), transaction_id=transaction_id)
        )
        sim.transaction_id = transaction_id  # the readings name the ended transaction
        await sim.meter_values(energy_wh=1900, ago_s=61)
        sim.transaction_id = None
        return
    assert isinstance(charger, Side2x)
    station = charger.station
    transaction_id = await charger.start_session("TAG1", started_ago_s=600)
    await station.tx_event(
        "Ended", transaction_id, seq_no=2, stopped_reason="Local", timestamp=_ago(60)
    )
    await station.tx_event(
        "Updated",
        transaction_id,
        seq_no=1,
        trigger_reason="MeterValuePeriodic",
        timestamp=_ago(61),
        meter_value=[
            {
                "timestamp": _ago(61),
                "sampledValue": [sampled(1900, "Energy.Active.Import.Register", unit="Wh")],
            }
        ],
    )


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
async def test_readings_after_a_sessions_end_update_its_record(
    recorder_mock: Any,
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    tmp_path: Path,
    version: str,
) -> None:
    """The session ended with 0 Wh, then its last readings made it 900 Wh: the session event
    entity says so ("updated", never a second "ended"), and the sessions log and its CSV show
    the session once, with 900 Wh and their cost, also after a restart. The session sensors
    show the same."""
    media = str(tmp_path)
    hass.config.media_dirs = {"local": media}
    hass.config.allowlist_external_dirs = {media}
    registry = er.async_get(hass)

    def state(platform: Platform, key: str) -> Any:
        found = hass.states.get(registry.async_get_entity_id(platform, DOMAIN, f"CP1_{key}") or "")
        assert found is not None, key
        return found

    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard_any(version) as (charger, entry):
            seen: list[tuple[str, float | None]] = []

            @callback
            def on_session(event: Event[EventStateChangedData]) -> None:
                if (new := event.data["new_state"]) is not None:
                    seen.append((new.attributes["event_type"], new.attributes.get("energy_wh")))

            session_id = state(Platform.EVENT, "session").entity_id
            unsub = async_track_state_change_event(hass, [session_id], on_session)
            await _end_before_the_last_readings(charger)
            await hass.async_block_till_done()
            unsub()
            # One end (with what was known then), then its correction: no second "ended".
            assert seen == [("started", None), ("ended", 0.0), ("updated", 900.0)]
            session = state(Platform.EVENT, "session")
            assert session.attributes["event_type"] == "updated"
            assert session.attributes["energy_wh"] == 900.0
            assert session.attributes["cost"] == 0.45
            assert session.attributes["user"] == "Alice"
            assert state(Platform.SENSOR, "session_energy").state == "0.9"
            assert float(state(Platform.SENSOR, "session_cost").state) == 0.45
            await async_wait_recording_done(hass)
            rows = await exported_rows(hass, entry)
            assert [(float(r["energy_wh"]), float(r["cost"])) for r in rows] == [(900.0, 0.45)]
            assert rows[0]["user"] == "Alice"

        await async_unload_all(hass)
        assert await hass.config_entries.async_setup(server_entry.entry_id)
        await hass.async_block_till_done()
        await async_wait_recording_done(hass)
        rows = await exported_rows(hass, entry)
        assert [(float(r["energy_wh"]), float(r["cost"])) for r in rows] == [(900.0, 0.45)]
        # The charger's model (the session sensors' source once it is back) kept it too.
        last = central_of(server_entry).charger("CP1").connector(1).last_transaction
        assert last is not None
        assert (last.energy_wh, last.cost) == (900, pytest.approx(0.45))
