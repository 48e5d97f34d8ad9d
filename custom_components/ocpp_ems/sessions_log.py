"""The sessions log: a charger's ended sessions as a CSV file (action ``export_sessions``).

The log is Home Assistant's own history: every ended session is a state of the connector's session
event entity, with all its facts as attributes (``session_facts.py``), kept by the recorder for its
retention period. When a session's facts change after its end (readings the charger sent after
it), an ``updated`` state of the same entity carries them: the newest state of a session is its
record. The export reads the newest sessions from there and writes them, one row each, to a file
in a directory Home Assistant allows: by default its local media folder (seen in *Media* by those
logged in; never ``www``, which is served to anyone at ``/local/``: the file holds the users' id
tags), or any of ``allowlist_external_dirs``.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance

from .const import DOMAIN
from .coordinator import ChargerConfigEntry

# The columns, in order: a session's facts (session_facts.SessionFacts.as_dict).
COLUMNS = (
    "transaction_id",
    "connector_id",
    "id_tag",
    "user",
    "started_at",
    "ended_at",
    "duration_s",
    "energy_wh",
    "cost",
    "currency",
    "stop_reason",
    "energy_solar_wh",
    "energy_battery_wh",
    "energy_grid_wh",
)

# The session event types that carry a session's record: at its end, then corrected after it.
_RECORDS = frozenset({"ended", "updated"})


def default_path(hass: HomeAssistant, charger_id: str) -> str:
    """``<local media folder>/ocpp_ems/sessions_<charger>.csv`` (``media/`` in the config
    directory where none is configured)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in charger_id)
    media = hass.config.media_dirs.get("local") or next(
        iter(hass.config.media_dirs.values()), hass.config.path("media")
    )
    return str(Path(media) / DOMAIN / f"sessions_{safe}.csv")


async def async_export_sessions(
    hass: HomeAssistant, entry: ChargerConfigEntry, path: str | None, count: int
) -> dict[str, Any]:
    """Write the newest ``count`` ended sessions (oldest first) to ``path`` (relative: in the
    config directory); return where and how many."""
    if "recorder" not in hass.config.components:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_recorder")
    target = Path(
        hass.config.path(path) if path else default_path(hass, entry.runtime_data.charger_id)
    )
    if not hass.config.is_allowed_path(str(target)):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="path_not_allowed",
            translation_placeholders={"path": str(target)},
        )
    sessions = await _async_ended_sessions(hass, entry, count)
    try:
        await hass.async_add_executor_job(_write_csv, target, sessions)
    except OSError as err:  # a folder, no permission, a full disk ...
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="export_failed",
            translation_placeholders={"path": str(target), "error": err.strerror or str(err)},
        ) from err
    return {"path": str(target), "sessions": len(sessions)}


async def _async_ended_sessions(
    hass: HomeAssistant, entry: ChargerConfigEntry, count: int
) -> list[dict[str, Any]]:
    """The newest ``count`` ended sessions of every connector, oldest first."""
    from homeassistant.components.recorder import history

    registry = er.async_get(hass)
    entity_ids = [
        entity.entity_id
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id)
        if entity.domain == Platform.EVENT and entity.translation_key == "session"
    ]
    # By session, its newest state (an update after its end replaces its ended one): an event
    # entity also shows its last event again when it comes back (available again, restored
    # after a restart), which is no new session. A session is its id and its start: ids repeat
    # (a 2.x station's counter starts again; 1.6 ids are our clock's seconds, and that clock can
    # go back), and a repeated id must not take an older session's place.
    sessions: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    start = datetime.fromtimestamp(0, UTC)
    for entity_id in entity_ids:
        found = await get_instance(hass).async_add_executor_job(
            history.state_changes_during_period, hass, start, None, entity_id
        )
        for session in _ended(found.get(entity_id, [])):
            key = session["connector_id"], session["transaction_id"], session["started_at"]
            sessions[key] = session
    ordered = sorted(sessions.values(), key=lambda session: str(session["ended_at"]))
    return ordered[-count:]


def _ended(states: list[State]) -> list[dict[str, Any]]:
    return [
        {column: state.attributes.get(column) for column in COLUMNS}
        for state in states
        if state.attributes.get("event_type") in _RECORDS
    ]


def _write_csv(target: Path, sessions: list[dict[str, Any]]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(sessions)
