"""Home Assistant side of the core's host protocols: who may connect, passwords, id tags, storage.

One :class:`HassChargerDirectory` and one :class:`HassStateStore` exist per server config entry. The
directory answers the core's questions from config entries (the single source of truth the user
edits in the UI), so accepting, ignoring, deleting or re-configuring a charger takes effect without
restarting the server.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_INTEGRATION_DISCOVERY,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import discovery_flow
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import (
    AUTH_FAILURE_REPAIR_THRESHOLD,
    AUTO_ACCEPT_PER_DAY,
    CONF_ACCEPT_ANY_ID_TAG,
    CONF_ACCEPTED_AUTOMATICALLY,
    CONF_ALLOW_NEW_CHARGERS,
    CONF_ALLOW_SECURITY_DOWNGRADE,
    CONF_AUTO_ACCEPT,
    CONF_BASE_STACK_LEVEL,
    CONF_CHARGER_ID,
    CONF_ENTRY_TYPE,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_ID_TAGS,
    CONF_INSTALLATION_MAX,
    CONF_LIVE_LIMIT_DURATION,
    CONF_LIVE_STACK_LEVEL,
    CONF_LOG_FRAMES,
    CONF_METER_INTERVAL,
    CONF_MIN_CURRENT,
    CONF_MODEL,
    CONF_OCPP_VERSIONS,
    CONF_PASSWORD,
    CONF_PAUSE_STRATEGY,
    CONF_PHASES,
    CONF_PING_INTERVAL,
    CONF_PING_TIMEOUT,
    CONF_PORT,
    CONF_PROFILE_PURPOSE,
    CONF_RATE_UNIT,
    CONF_REMOTE_START_ID_TAG,
    CONF_RESPONSE_TIMEOUT,
    CONF_SAFE_CURRENT,
    CONF_SECURITY_PROFILE,
    CONF_SERIAL,
    CONF_SERVER_ENTRY_ID,
    CONF_SINGLE_PHASE_LINE,
    CONF_SMART_CHARGING,
    CONF_TLS_ENABLED,
    CONF_TLS_PORT,
    CONF_VENDOR,
    DEFAULT_CHARGER_SETTINGS,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HOST,
    DEFAULT_OCPP_VERSIONS,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_TLS_PORT,
    DOMAIN,
    ENTRY_TYPE_CHARGER,
    ISSUE_AUTH_FAILED,
    ISSUE_PASSWORD_IGNORED,
    LOGGER,
    STORAGE_SAVE_DELAY_S,
    STORAGE_VERSION,
    repair_issue_id,
)
from .core.directory import Admission
from .core.ems.options import VOLTAGE
from .core.guard import ReportWindows
from .core.model import ChargerInfo
from .core.persistence import state_from_dict, state_to_dict
from .core.server import CentralSystem
from .core.settings import (
    ChargerSettings,
    PauseStrategy,
    ProfilePurpose,
    RateUnitPreference,
    SecurityProfile,
    ServerSettings,
    SmartChargingMode,
    id_tag_key,
)
from .save_scheduler import SaveScheduler

_DAY_S = 24 * 3600.0
_WAITING_LOG_WINDOW_S = 3600.0
_WAITING_LOG_KEYS = 256


def is_charger_entry(entry: ConfigEntry) -> bool:
    """Charger entries and server entries share the domain; the data tells them apart."""
    return entry.data.get(CONF_ENTRY_TYPE) == ENTRY_TYPE_CHARGER


def server_unique_id(port: int) -> str:
    """A server entry's unique id. Charger entries share the domain's unique ids: no charger may
    ever take one of this form (:func:`is_server_unique_id`), or it would pass for that server's
    entry, or keep a server from being added on that port."""
    return f"port_{port}"


def is_server_unique_id(value: str) -> bool:
    return re.fullmatch(r"port_[0-9]+", value) is not None


def server_settings(entry: ConfigEntry) -> ServerSettings:
    """The core server settings of a server entry (data: where to listen; options: tuning)."""
    options = entry.options
    ping_interval = options.get(CONF_PING_INTERVAL, DEFAULT_PING_INTERVAL)
    ping_timeout = options.get(CONF_PING_TIMEOUT, DEFAULT_PING_TIMEOUT)
    return ServerSettings(
        host=entry.data.get(CONF_HOST, DEFAULT_HOST),
        port=int(entry.data.get(CONF_PORT, DEFAULT_PORT)),
        # 0 switches websocket pings off (some chargers answer pings badly; Heartbeat still runs).
        ping_interval_s=float(ping_interval) if ping_interval else None,
        ping_timeout_s=float(ping_timeout) if ping_timeout else None,
        heartbeat_interval_s=int(options.get(CONF_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL)),
        response_timeout_s=float(options.get(CONF_RESPONSE_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT)),
        allow_new_chargers=bool(options.get(CONF_ALLOW_NEW_CHARGERS, True)),
        log_frames=bool(options.get(CONF_LOG_FRAMES, False)),
        ocpp_versions=tuple(options.get(CONF_OCPP_VERSIONS) or DEFAULT_OCPP_VERSIONS),
        # The wss:// listener (security profiles 2 and 3), when switched on.
        tls_port=int(options.get(CONF_TLS_PORT, DEFAULT_TLS_PORT))
        if options.get(CONF_TLS_ENABLED)
        else None,
    )


def charger_settings(
    entry: ConfigEntry | None, server_options: Mapping[str, Any]
) -> ChargerSettings:
    """The settings of a charger entry (defaults for an unknown charger) on the server whose
    options are ``server_options``.

    Chargers have no voltage setting of their own: every charger converts A <-> W with its
    server's site voltage (the energy manager's nominal voltage option, 230 V by default, read
    whether the energy manager is enabled or not), the voltage the energy manager computes with.
    """
    voltage = VOLTAGE.read(server_options)
    if entry is None:
        return ChargerSettings(nominal_voltage_v=voltage)
    options = entry.options
    default = DEFAULT_CHARGER_SETTINGS
    return ChargerSettings(
        nominal_voltage_v=voltage,
        installation_max_a=float(options.get(CONF_INSTALLATION_MAX, default.installation_max_a)),
        safe_current_a=float(options.get(CONF_SAFE_CURRENT, default.safe_current_a)),
        min_current_a=float(options.get(CONF_MIN_CURRENT, default.min_current_a)),
        base_stack_level=int(options.get(CONF_BASE_STACK_LEVEL, default.base_stack_level)),
        live_stack_level=int(options.get(CONF_LIVE_STACK_LEVEL, default.live_stack_level)),
        live_profile_purpose=ProfilePurpose(
            options.get(CONF_PROFILE_PURPOSE, default.live_profile_purpose)
        ),
        rate_unit=RateUnitPreference(options.get(CONF_RATE_UNIT, default.rate_unit)),
        pause_strategy=PauseStrategy(options.get(CONF_PAUSE_STRATEGY, default.pause_strategy)),
        smart_charging=SmartChargingMode(options.get(CONF_SMART_CHARGING, default.smart_charging)),
        meter_interval_s=int(options.get(CONF_METER_INTERVAL, default.meter_interval_s)),
        phases=int(options.get(CONF_PHASES, default.phases)),
        single_phase_line=int(options.get(CONF_SINGLE_PHASE_LINE, default.single_phase_line)),
        live_limit_duration_s=int(
            options.get(CONF_LIVE_LIMIT_DURATION, default.live_limit_duration_s)
        ),
        security_profile=SecurityProfile(
            int(options.get(CONF_SECURITY_PROFILE, default.security_profile))
        ),
        allow_security_downgrade=bool(
            options.get(CONF_ALLOW_SECURITY_DOWNGRADE, default.allow_security_downgrade)
        ),
        remote_start_id_tag=str(options.get(CONF_REMOTE_START_ID_TAG, default.remote_start_id_tag)),
    )


# Versions below this are the parts of a list sent in several messages (see local_list).
LIST_VERSION_ROOM = 0x10000


def _id_tag_entries(entry: ConfigEntry) -> dict[str, tuple[str, str | None]]:
    """The id tag list as entered: ``TAG`` or ``TAG = Friendly name``, by :func:`id_tag_key`
    (OCPP id tokens are case-insensitive), without blanks or duplicates, in the order entered."""
    seen: dict[str, tuple[str, str | None]] = {}
    for raw in entry.options.get(CONF_ID_TAGS, []):
        tag, _, name = str(raw).partition("=")
        tag = tag.strip()
        if tag and id_tag_key(tag) not in seen:
            seen[id_tag_key(tag)] = (tag, name.strip() or None)
    return seen


def id_tags(entry: ConfigEntry) -> list[str]:
    """The id tags the user allows (without their names: those never reach a charger)."""
    return [tag for tag, _name in _id_tag_entries(entry).values()]


def id_tag_name(entry: ConfigEntry, id_tag: str | None) -> str | None:
    """The friendly name the user gave ``id_tag`` in the server's id tag list (None: none)."""
    if id_tag is None:
        return None
    found = _id_tag_entries(entry).get(id_tag_key(id_tag))
    return None if found is None else found[1]


def charger_placeholders(charger_id: str, entry: ConfigEntry | None) -> dict[str, str]:
    """A charger's repair placeholders: its name (its id until it has a device) and its id."""
    return {"charger": charger_id if entry is None else entry.title, "charger_id": charger_id}


class HassChargerDirectory:
    """The core's :class:`~.core.directory.ChargerDirectory`, answered from config entries."""

    def __init__(self, hass: HomeAssistant, server_entry: ConfigEntry) -> None:
        self._hass = hass
        self._server_entry = server_entry
        self._auth_failures: dict[str, int] = {}
        # Charger ids accepted automatically within the last day (monotonic time of the first).
        self._auto_accepted: dict[str, float] = {}
        self._auto_accept_refused_at = -_DAY_S  # the last warning that the day's share is used
        # A waiting charger boots again every minute (and a hostile one as often as its rate
        # limit lets it): its "waiting for approval" is logged at INFO once an hour.
        self._waiting_logged = ReportWindows(
            time.monotonic, window_s=_WAITING_LOG_WINDOW_S, max_keys=_WAITING_LOG_KEYS
        )
        # charger id (None: every unknown one) -> (its entry, the entry's options, the server's
        # options, the settings): read again only when one of them changed (options are
        # replaced, never changed in place).
        self._settings: dict[str | None, tuple[object, object, object, ChargerSettings]] = {}

    def charger_entry(self, charger_id: str) -> ConfigEntry | None:
        """The (possibly ignored) config entry of a charger, whichever server it belongs to."""
        if is_server_unique_id(charger_id):
            return None  # a server entry's unique id: never a charger's
        return self._hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, charger_id)

    # --- admission and credentials ----------
    def admission(self, charger_id: str) -> Admission:
        if is_server_unique_id(charger_id):
            return Admission.REJECTED  # no charger can ever have it (server_unique_id)
        entry = self.charger_entry(charger_id)
        if entry is None:
            if self._server_entry.options.get(CONF_ALLOW_NEW_CHARGERS, True):
                return Admission.PENDING
            return Admission.REJECTED
        if entry.source == SOURCE_IGNORE or entry.disabled_by is not None:
            # Ignored in the discovery dialog, deleted by the user (deletion leaves an ignored
            # entry behind), or disabled: the user does not want this charger here.
            return Admission.REJECTED
        if entry.data.get(CONF_SERVER_ENTRY_ID) != self._server_entry.entry_id:
            # Accepted on another port and now connecting here: the discovery flow moves the
            # entry over (and reloads it), until then it is treated like a new charger.
            return Admission.PENDING
        return Admission.ACCEPTED

    async def answers_elsewhere(self, charger_id: str) -> bool:
        entry = self.charger_entry(charger_id)
        server_entry_id = None if entry is None else entry.data.get(CONF_SERVER_ENTRY_ID)
        if server_entry_id is None or server_entry_id == self._server_entry.entry_id:
            return False
        server = self._hass.config_entries.async_get_entry(str(server_entry_id))
        if server is None or server.state is not ConfigEntryState.LOADED:
            return False
        central: CentralSystem = server.runtime_data.central
        return await central.answers_ping(charger_id)

    def password(self, charger_id: str) -> str | None:
        entry = self.charger_entry(charger_id)
        if entry is None or entry.source == SOURCE_IGNORE:
            return None
        password = entry.data.get(CONF_PASSWORD)
        return str(password) if password else None

    def settings(self, charger_id: str) -> ChargerSettings:
        """The charger's settings (asked on every limit the current control works out, and by
        entities on every change of the charger: read from the options once per change)."""
        entry = self.charger_entry(charger_id)
        if entry is not None and entry.source == SOURCE_IGNORE:
            entry = None
        entry_options = None if entry is None else entry.options
        server_options = self._server_entry.options
        # Unknown ids share one entry: any number of them (a handshake flood) costs nothing.
        key = charger_id if entry is not None else None
        cached = self._settings.get(key)
        if (
            cached is not None
            and cached[0] is entry
            and cached[1] is entry_options
            and cached[2] is server_options
        ):
            return cached[3]
        settings = charger_settings(entry, server_options)
        self._settings[key] = (entry, entry_options, server_options, settings)
        return settings

    # --- id tags ----------
    def authorize_id_tag(self, charger_id: str, id_tag: str) -> bool:
        if self._server_entry.options.get(CONF_ACCEPT_ANY_ID_TAG, False):
            return True
        # OCPP id tokens are case-insensitive.
        return id_tag_key(id_tag) in _id_tag_entries(self._server_entry)

    def local_list(self) -> tuple[int, list[str]]:
        tags = id_tags(self._server_entry)
        # A version derived from the content changes exactly when the list does, and survives
        # restarts without storing a counter. OCPP wants it > 0; it stays above LIST_VERSION_ROOM
        # so a list sent in several messages can count up to it (see local_list_updates).
        version = (
            zlib.crc32("\n".join(sorted(tags)).encode()) % (0x7FFFFFFF - LIST_VERSION_ROOM)
            + LIST_VERSION_ROOM
            + 1
        )
        return version, tags

    # --- callbacks ----------
    @callback
    def on_pending_charger(self, charger_id: str, info: ChargerInfo) -> None:
        boots = self._waiting_logged.report(charger_id)
        if boots:
            LOGGER.info(
                "New OCPP charger %s (%s %s) is waiting for approval (%d boots since this "
                "was last logged; at most once an hour)",
                charger_id,
                info.vendor,
                info.model,
                boots,
            )
        else:
            LOGGER.debug("Charger %s booted again, still waiting for approval", charger_id)
        discovery_flow.async_create_flow(
            self._hass,
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data={
                CONF_CHARGER_ID: charger_id,
                CONF_SERVER_ENTRY_ID: self._server_entry.entry_id,
                CONF_VENDOR: info.vendor or "",
                CONF_MODEL: info.model or "",
                CONF_SERIAL: info.serial_number or "",
                CONF_AUTO_ACCEPT: self._auto_accept(charger_id),
            },
        )

    def _auto_accept(self, charger_id: str) -> bool:
        """Whether the new charger is accepted without asking (the option, and the day's share
        of new ids not used up: :data:`AUTO_ACCEPT_PER_DAY`)."""
        if not self._server_entry.options.get(CONF_AUTO_ACCEPT, False):
            return False
        now = time.monotonic()
        # Granted in this run (the entry may still be in the making) ...
        self._auto_accepted = {
            cid: at for cid, at in self._auto_accepted.items() if now - at < _DAY_S
        }
        # ... and the entries it made, also before a restart.
        since = dt_util.utcnow() - timedelta(seconds=_DAY_S)
        taken = set(self._auto_accepted) | {
            entry.unique_id
            for entry in self._hass.config_entries.async_entries(DOMAIN)
            if entry.data.get(CONF_ACCEPTED_AUTOMATICALLY)
            and entry.data.get(CONF_SERVER_ENTRY_ID) == self._server_entry.entry_id
            and entry.created_at > since
        }
        if charger_id in taken or len(taken) < AUTO_ACCEPT_PER_DAY:
            self._auto_accepted.setdefault(charger_id, now)
            return True
        if now - self._auto_accept_refused_at >= _DAY_S:
            self._auto_accept_refused_at = now
            LOGGER.warning(
                "Charger %s waits for approval although new chargers are accepted "
                "automatically: %d new chargers were accepted that way within a day",
                charger_id,
                AUTO_ACCEPT_PER_DAY,
            )
        return False

    @callback
    def on_auth_failure(self, charger_id: str, remote: str) -> None:
        count = self._auth_failures.get(charger_id, 0) + 1
        self._auth_failures[charger_id] = count
        if count >= AUTH_FAILURE_REPAIR_THRESHOLD:
            if count == AUTH_FAILURE_REPAIR_THRESHOLD:
                LOGGER.warning(
                    "Charger %s (%s) failed authentication %d times in a row",
                    charger_id,
                    remote,
                    count,
                )
            # Fixable (repairs.py): show the password, provision it again, or no password. Raised
            # again by a later failure once a fix did not help (idempotent while it is open).
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                repair_issue_id(ISSUE_AUTH_FAILED, charger_id),
                is_fixable=True,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_AUTH_FAILED,
                translation_placeholders={"charger_id": charger_id, "remote": remote},
                data={CONF_CHARGER_ID: charger_id},
            )

    @callback
    def on_auth_success(self, charger_id: str) -> None:
        self._auth_failures.pop(charger_id, None)
        # Always: the count is a memory of this run, the issue outlives a reload of the server.
        ir.async_delete_issue(self._hass, DOMAIN, repair_issue_id(ISSUE_AUTH_FAILED, charger_id))
        # It uses its password now: whatever was said about ignoring it is resolved.
        ir.async_delete_issue(
            self._hass, DOMAIN, repair_issue_id(ISSUE_PASSWORD_IGNORED, charger_id)
        )

    @callback
    def on_password_ignored(self, charger_id: str) -> None:
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            repair_issue_id(ISSUE_PASSWORD_IGNORED, charger_id),
            is_fixable=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_PASSWORD_IGNORED,
            translation_placeholders={"charger_id": charger_id},
            data={CONF_CHARGER_ID: charger_id},
        )

    @callback
    def on_pending_forgotten(self, charger_id: str) -> None:
        """The server forgot a pending id: its approval question goes too."""
        flows = self._hass.config_entries.flow.async_progress_by_handler(
            DOMAIN, match_context={"unique_id": charger_id}
        )
        for flow in flows:
            if flow["context"].get("source") == SOURCE_INTEGRATION_DISCOVERY:
                self._hass.config_entries.flow.async_abort(flow["flow_id"])

    # --- helpers for the HA layer ----------
    def charger_entries(self) -> list[ConfigEntry]:
        """The accepted chargers of this server."""
        return [
            entry
            for entry in self._hass.config_entries.async_entries(DOMAIN, include_ignore=False)
            if is_charger_entry(entry)
            and entry.data.get(CONF_SERVER_ENTRY_ID) == self._server_entry.entry_id
        ]

    def auth_failures(self) -> dict[str, int]:
        return dict(self._auth_failures)


class HassStateStore:
    """The core's :class:`~.core.directory.StateStore`, backed by a Home Assistant ``Store``."""

    def __init__(self, hass: HomeAssistant, server_entry_id: str) -> None:
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{server_entry_id}"
        )
        # Bounded: under continuous meter values every change is on disk within the delay (a
        # kill -9 loses at most that much); HA's final write (shutdown) flushes a pending save.
        self._saver = SaveScheduler(hass, self._store, STORAGE_SAVE_DELAY_S)

    async def async_load(self) -> dict[str, Any] | None:
        return await self._store.async_load()

    def schedule_save(
        self, data_fn: Callable[[], dict[str, Any]], delay: float | None = None
    ) -> None:
        """Write ``data_fn()`` within ``delay`` (default and bound: ``STORAGE_SAVE_DELAY_S``)."""
        self._saver.async_schedule(data_fn, delay)

    async def async_save(self, data: dict[str, Any]) -> None:
        # Cancels a pending delayed save, so no timer outlives an unloaded entry.
        await self._saver.async_save(data)

    async def async_forget_charger(self, charger_id: str) -> None:
        """Drop one charger from the stored state of a server that is not running (a running
        one forgets it itself: ``CentralSystem.forget_charger``), or it comes back with it."""
        chargers = state_from_dict(await self._store.async_load())
        if chargers.pop(charger_id, None) is not None:
            await self.async_save(state_to_dict(chargers))

    async def async_remove(self) -> None:
        self._saver.async_cancel()
        await self._store.async_remove()
