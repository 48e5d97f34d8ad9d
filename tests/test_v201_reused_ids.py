"""A 2.x station that uses a transaction id again ("1" after the session "1" ended: a counter
that restarts after a reboot, or firmware that names its transactions after the EVSE).

The new session is a session of its own (its ``ended`` event, its row in the sessions log, its
energy in the lifetime total), and the frames of the old one sent again (the station never saw
our answers) count nothing twice and never touch the new one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (  # type: ignore[import-untyped]
    async_wait_recording_done,
)

from custom_components.ocpp_ems.const import CONF_ID_TAGS, CONF_RESPONSE_TIMEOUT, DOMAIN
from tests.core.test_v201_reused_id_clock_back import (
    REUSED_ID,
    SESSION_WH,
    send_frames,
    session_frames,
)

from .helpers.fixtures import central_of
from .helpers.platform import only_platforms
from .helpers.sessions import exported_rows
from .helpers.station201 import station_connection
from .helpers.versions import VERSIONS_2X, OnboardAny, Side2x


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_db_url: str, enable_custom_integrations: None) -> None:
    """The recorder's database is prepared before ``hass`` (as in test_sessions_log)."""


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {CONF_RESPONSE_TIMEOUT: 3, CONF_ID_TAGS: ["TAG1 = Alice"]}


# The second session's seqNos: the station counts on (3, 4, 5), or from 0 again (a reboot).
SEQ_NO_CONTINUES = 3
SEQ_NO_RESTARTS = 0


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("second_seq_no", [SEQ_NO_CONTINUES, SEQ_NO_RESTARTS])
@pytest.mark.parametrize("replay_while_second_runs", [False, True])
async def test_reused_transaction_id_is_a_second_session(
    recorder_mock: Any,
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    tmp_path: Path,
    version: str,
    second_seq_no: int,
    replay_while_second_runs: bool,
) -> None:
    """Session "1" (1,000 -> 2,000 Wh), then session "1" again (2,000 -> 3,000 Wh), and the
    first one's frames sent again (same seqNos and timestamps) after the second ended or
    while it runs: two ``ended`` events of 1,000 Wh each, nothing updated, two rows in the
    sessions log, the lifetime total counts both sessions once, the second ends at its own
    Ended (a replayed Ended of the first never ends it)."""
    await _two_sessions_of_one_id(
        hass,
        onboard_any,
        server_entry,
        tmp_path,
        version,
        second=session_frames(second_seq_no, 2000.0, started_min_ago=60),
        replay_while_second_runs=replay_while_second_runs,
    )


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("replay_while_second_runs", [False, True])
async def test_reused_transaction_id_after_the_station_clock_went_back(
    recorder_mock: Any,
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    tmp_path: Path,
    version: str,
    replay_while_second_runs: bool,
) -> None:
    """A station rebooted without a time source: its counters start again (id "1", seqNo 0) and
    its clock at an older time, so the new session is stamped before the old one began. Its
    register (at the old session's last value) says it is a new session, as
    ``ChargerState.session_after`` reads a 1.6 start after a clock set back; the old one's
    frames sent again are stamped after the new one began, and are still the old one's
    (tests/core/test_v201_reused_id_clock_back.py has the rules' corners)."""
    await _two_sessions_of_one_id(
        hass,
        onboard_any,
        server_entry,
        tmp_path,
        version,
        second=session_frames(SEQ_NO_RESTARTS, 2000.0, started_min_ago=240),
        replay_while_second_runs=replay_while_second_runs,
    )


async def _two_sessions_of_one_id(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    tmp_path: Path,
    version: str,
    *,
    second: list[dict[str, Any]],
    replay_while_second_runs: bool,
) -> None:
    """The first session, ``second``, and the first one's frames again (after ``second``, or
    while it runs): each session counted once, with its own energy."""
    _export_to(hass, tmp_path)
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard_any(version) as (side, entry):
            assert isinstance(side, Side2x)
            station = side.station
            charger = central_of(server_entry).charger(side.charger_id)
            seen, unsub = _track_session_events(hass, side.charger_id)
            first = session_frames(0, 1000.0, started_min_ago=120)
            await send_frames(station, first)
            await hass.async_block_till_done()
            lifetime_after_first = charger.lifetime_energy.total_wh
            if replay_while_second_runs:
                await send_frames(station, second[:2])
                await send_frames(station, first)
                await hass.async_block_till_done()
                running = charger.connector(1).transaction
                assert running is not None, "a replayed Ended of the first ended the second"
                await send_frames(station, second[2:])
            else:
                await send_frames(station, second)
                await send_frames(station, first)
            await hass.async_block_till_done()
            unsub()
            assert seen == [*ONE_SESSION, *ONE_SESSION]
            await _assert_two_sessions_of_their_own(
                hass, server_entry, entry, side.charger_id, lifetime_after_first
            )


# What the session event entity shows of one session of SESSION_WH: its start, its end.
ONE_SESSION = [("started", None), ("ended", SESSION_WH)]


def _export_to(hass: HomeAssistant, tmp_path: Path) -> None:
    """Let the sessions log be exported into ``tmp_path``."""
    media = str(tmp_path)
    hass.config.media_dirs = {"local": media}
    hass.config.allowlist_external_dirs = {media}


def _track_session_events(
    hass: HomeAssistant, charger_id: str
) -> tuple[list[tuple[str, float | None]], Callable[[], None]]:
    """The session events shown from now on (type, energy), and how to stop tracking them. The
    entity coming back after a restart (available again, its last event restored) is none."""
    session_entity = er.async_get(hass).async_get_entity_id(
        Platform.EVENT, DOMAIN, f"{charger_id}_session"
    )
    assert session_entity is not None
    seen: list[tuple[str, float | None]] = []

    @callback
    def on_session(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if new is not None and (old is None or old.state != STATE_UNAVAILABLE):
            seen.append((new.attributes["event_type"], new.attributes.get("energy_wh")))

    return seen, async_track_state_change_event(hass, [session_entity], on_session)


async def _assert_two_sessions_of_their_own(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    entry: MockConfigEntry,
    charger_id: str,
    lifetime_after_first: float,
) -> None:
    """The second session shows its own energy, the lifetime total counts it once, and the
    sessions log has both sessions of SESSION_WH."""
    session_energy = er.async_get(hass).async_get_entity_id(
        Platform.SENSOR, DOMAIN, f"{charger_id}_session_energy"
    )
    assert session_energy is not None
    session_energy_state = hass.states.get(session_energy)
    assert session_energy_state is not None
    assert float(session_energy_state.state) == SESSION_WH / 1000
    charger = central_of(server_entry).charger(charger_id)
    assert charger.lifetime_energy.total_wh == pytest.approx(lifetime_after_first + SESSION_WH)
    await async_wait_recording_done(hass)
    rows = await exported_rows(hass, entry)
    assert [(row["transaction_id"], float(row["energy_wh"])) for row in rows] == [
        (REUSED_ID, SESSION_WH),
        (REUSED_ID, SESSION_WH),
    ]


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("restart_before_second", [True, False])
async def test_reused_transaction_id_replayed_after_a_restart(
    recorder_mock: Any,
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    tmp_path: Path,
    version: str,
    restart_before_second: bool,
) -> None:
    """Session "1" ends, Home Assistant restarts (before session "1" starts again, or after it
    ended too), and the station, reconnected, sends the first session's frames again (its queue
    after the reconnect): the second session keeps its own energy (the replayed Started never
    moves its start back to the first one's), nothing is counted twice."""
    _export_to(hass, tmp_path)
    first = session_frames(0, 1000.0, started_min_ago=120)
    second = session_frames(SEQ_NO_CONTINUES, 2000.0, started_min_ago=60)
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard_any(version) as (side, entry):
            assert isinstance(side, Side2x)
            await send_frames(side.station, first)
            await hass.async_block_till_done()
            charger_id = side.charger_id
            lifetime = central_of(server_entry).charger(charger_id).lifetime_energy
            lifetime_after_first = lifetime.total_wh
            if not restart_before_second:
                await send_frames(side.station, second)
            password = side.provisioned_password()
        assert await hass.config_entries.async_reload(server_entry.entry_id)
        await hass.async_block_till_done()
        seen, unsub = _track_session_events(hass, charger_id)
        port = central_of(server_entry).port
        async with station_connection(
            port, charger_id, version=version, password=password
        ) as station:
            if restart_before_second:
                await send_frames(station, second)
            await send_frames(station, first)
            await hass.async_block_till_done()
            unsub()
        assert seen == (ONE_SESSION if restart_before_second else [])
        await _assert_two_sessions_of_their_own(
            hass, server_entry, entry, charger_id, lifetime_after_first
        )
    # The connector's last session and the newest recently ended one: one object, as before the
    # restart (restored once, updated once).
    restored = central_of(server_entry).charger(charger_id)
    assert restored.recently_ended[-1] is restored.connector(1).last_transaction
