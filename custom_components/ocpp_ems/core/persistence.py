"""What of the charger model survives a restart, as plain JSON-able dicts.

Only state that cannot be re-learned from the charger is kept: open transactions (a
StopTransaction or MeterValues may arrive for them after the restart; a 2.x one with the mark of a
BootNotification since its newest message, which tells it may be lost in a reboot), each connector's last ended
transaction and the charger's recently ended ones (to recognise a replayed start or end: a charger
resends its queue after a reconnect, and a 2.x station may use an id again after a reboot),
session and lifetime energy, each connector's last register (the base of its next value, never
shown as a reading), the one it gave before the charger's clock went back (what it sends
again from before then is history) and the stamp of its register's last reset (what it sends
again from the life before counts nothing for the new one), whether a 2.x station showed it
numbers its transactions per EVSE, when it last booted and which transactions began live since
(a restart of Home Assistant is no boot of the station), whether Basic auth was provisioned
(offered / committed), the last limit the user asked for and who controls it (the energy
manager, manual, nobody), the reservations the charger accepted (it keeps them), the energy
prices seen (a queue sent after the restart is costed at those of when it was drawn).
Connector status, meter readings and connectivity are re-reported by the charger and deliberately
not restored (stale values would be shown as current). Only chargers the user accepted are stored
(see :meth:`~.server.CentralSystem.stored_state`).
The format is versioned; bump :data:`FORMAT_VERSION` and migrate in :func:`charger_from_dict`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from .meter_time import by_our_clock_now, reception, too_far_ahead
from .model import (
    MAX_PROBLEMS,
    RECENTLY_ENDED,
    Capabilities,
    Charger,
    ChargerInfo,
    ChargingRateUnit,
    Connector,
    ControlledBy,
    DeviceProblem,
    EnergyCounter,
    FixedProfile,
    LimitState,
    MeterState,
    RegisterPoint,
    Transaction,
    plausible_connector_count,
    plausible_connector_id,
)
from .reservations import ReservationBook
from .tariff import PriceHistory
from .timeutil import utcnow

FORMAT_VERSION = 1
# What reading a damaged stored value raises.
_DAMAGE = (KeyError, TypeError, ValueError, AttributeError, OverflowError)

_LOGGER = logging.getLogger(__name__)


class UnsupportedFormatError(ValueError):
    """Stored data written by a newer (or unknown) version of this integration."""


def charger_to_dict(charger: Charger) -> dict[str, Any]:
    caps = charger.capabilities
    return {
        "version": FORMAT_VERSION,
        "charger_id": charger.charger_id,
        "ocpp_version": charger.ocpp_version,
        "info": asdict(charger.info),
        "capabilities": {
            "supported_profiles": sorted(caps.supported_profiles),
            # Under a new key: the old one held 0 for "not reported" (re-learned at the next boot).
            "max_stack_level_reported": caps.max_stack_level,
            "rate_units": sorted(unit.value for unit in caps.rate_units),
            "max_schedule_periods": caps.max_schedule_periods,
            "max_profiles_installed": caps.max_profiles_installed,
            "phase_switching": caps.phase_switching,
            "local_auth_list_max": caps.local_auth_list_max,
            "number_of_connectors": caps.number_of_connectors,
        },
        "configuration": dict(charger.configuration),
        "connectors": {
            str(connector_id): {
                "transaction": (
                    connector.transaction.to_dict() if connector.transaction is not None else None
                ),
                "last_transaction": (
                    connector.last_transaction.to_dict()
                    if connector.last_transaction is not None
                    else None
                ),
                "last_session_energy_wh": connector.last_session_energy_wh,
                "register": _register_to_dict(connector),
                # What its register gave before the charger's clock went back (meter.count_from).
                "history_before_clock_back": _point_to_dict(
                    connector.meter._history_before_clock_back
                ),
                # The first value of its register's present life (meter._stamped_before_reset).
                "register_reset_stamp": _optional_iso(connector.meter._register_reset_stamp),
                # Its life before that reset, and a reading of it held (meter._hold_life_before).
                "life_before": _life_before_to_dict(connector.meter),
                "fault": connector.fault,
                "fault_stopped": connector.stopped_for_fault,
                # A 2.x station does not report its problems again after a reconnect.
                "problems": {
                    component: {"code": problem.code, "info": problem.info}
                    for component, problem in connector.problems.items()
                },
            }
            for connector_id, connector in sorted(charger.connectors.items())
        },
        "recently_ended": [transaction.to_dict() for transaction in charger.recently_ended],
        "numbers_per_evse": charger._numbers_per_evse,
        # The 2.x station's last boot (a restart of Home Assistant is none): by our clock only.
        "booted_at": _boot_time_to_iso(charger),
        "started_since_boot": {
            str(evse_id): transaction_id
            for evse_id, transaction_id in sorted(charger._started_since_boot.items())
        },
        "lifetime_energy": {
            "total_wh": charger.lifetime_energy.total_wh,
            "last_register_wh": charger.lifetime_energy.last_register_wh,
            "last_register_at": _optional_iso(charger.lifetime_energy.last_register_at),
            "outlets_ahead_wh": charger.lifetime_energy.outlets_ahead_wh,
        },
        "auth_provisioned": charger.auth_provisioned,
        "auth_committed": charger.auth_committed,
        "auth_unused_logins": charger.auth_unused_logins,
        "rejected_measurands": sorted(charger.rejected_measurands),
        "reservations": charger.reservations.to_dict(),
        # The prices seen (a queue from while Home Assistant was down is costed by them).
        "energy_prices": charger.energy_prices.to_dict(utcnow()),
        "limit": {
            "requested_a": charger.limit.requested_a,
            "requested_phases": charger.limit.requested_phases,
            "paused": charger.limit.paused,
            # What the rarely written profiles hold: not rewritten (flash wear) after a restart.
            "charger_max": _fixed_profile_to_dict(charger.limit.charger_max),
            "base": _fixed_profile_to_dict(charger.limit.base),
            "fixed_written_at": _optional_iso(charger.limit.fixed_written_at),
            "controlled_by": str(charger.limit.controlled_by),
            "expires_at": _optional_iso(charger.limit.expires_at),
            "previous_a": charger.limit.previous_a,
            "previous_phases": charger.limit.previous_phases,
            "hand_back_to": charger.limit.hand_back_to,
            "user_a": charger.limit.user_a,
            "user_phases": charger.limit.user_phases,
        },
    }


def charger_from_dict(data: dict[str, Any]) -> Charger:
    """Rebuild a charger; raises UnsupportedFormatError / KeyError / ValueError when it cannot be
    told which charger this is. Each other part is read on its own: a damaged one (a hand edit, a
    flipped byte) takes its defaults and is logged; its energy, sessions and password state are
    worth more than any one setting."""
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise UnsupportedFormatError(f"unsupported charger state format {version!r}")
    charger_id = str(data["charger_id"])

    def part[T](name: str, read: Callable[[], T], default: T) -> T:
        try:
            return read()
        except _DAMAGE as err:
            _LOGGER.warning("%s: stored %s damaged, using defaults: %s", charger_id, name, err)
            return default

    charger = Charger(
        charger_id=charger_id,
        ocpp_version=part("OCPP version", lambda: _optional_str(data.get("ocpp_version")), None),
        info=part("info", lambda: _info_from_dict(data.get("info") or {}), ChargerInfo()),
        capabilities=part(
            "capabilities",
            lambda: _capabilities_from_dict(data.get("capabilities") or {}),
            Capabilities(),
        ),
        configuration=part(
            "configuration",
            lambda: {
                str(key): None if value is None else str(value)
                for key, value in (data.get("configuration") or {}).items()
            },
            {},
        ),
        lifetime_energy=part(
            "lifetime energy",
            lambda: _energy_from_dict(data.get("lifetime_energy") or {}),
            EnergyCounter(),
        ),
        limit=part("limit", lambda: _limit_from_dict(data.get("limit") or {}), LimitState()),
        # Stores written before the two-phase password have no "auth_committed": such a charger
        # counts as offered (not committed) and commits at its next login with the password.
        auth_provisioned=bool(data.get("auth_provisioned", False)),
        auth_committed=bool(data.get("auth_committed", False)),
        auth_unused_logins=part("unused logins", lambda: int(data.get("auth_unused_logins", 0)), 0),
        rejected_measurands=part(
            "rejected measurands",
            lambda: frozenset(map(str, data.get("rejected_measurands", ()))),
            frozenset(),
        ),
    )
    connectors: dict[Any, Any] = part("connectors", lambda: dict(data.get("connectors") or {}), {})
    for key, stored in connectors.items():
        try:
            _restore_connector(charger, key, stored)
        except _DAMAGE as err:
            _LOGGER.warning("%s: stored connector %s damaged, dropped: %s", charger_id, key, err)
    charger.recently_ended = part(
        "recently ended transactions",
        lambda: _recently_ended(charger, list(data.get("recently_ended") or [])),
        [],
    )
    # A store written before reservations were kept has none (as before).
    charger.reservations = part(
        "reservations",
        lambda: ReservationBook.from_dict(data.get("reservations") or {}),
        ReservationBook(),
    )
    # A store written before prices were kept has none: the first price seen counts back.
    charger.energy_prices = part(
        "energy prices",
        lambda: PriceHistory.from_dict(data.get("energy_prices") or {}),
        PriceHistory(),
    )
    # The time since the stored form nobody saw the price: as the source's forecast gave it.
    charger.energy_prices.fill_unseen(utcnow())
    charger._numbers_per_evse = data.get("numbers_per_evse") is True
    # A store written before these were kept has none: no boot known (as before they were).
    charger._booted_at = part("boot time", lambda: _booted_at(data.get("booted_at")), None)
    charger._started_since_boot = part(
        "transactions started since the boot",
        lambda: {
            int(evse_id): str(transaction_id)
            for evse_id, transaction_id in dict(data.get("started_since_boot") or {}).items()
        },
        {},
    )
    return charger


def _boot_time_to_iso(charger: Charger) -> str | None:
    """The 2.x station's last boot by our clock as it is now, moved by the steps our clock took
    since (the monotonic clock that tells them starts again with our host): restored, it is
    moved no more."""
    booted = charger._booted_at
    return None if booted is None else by_our_clock_now(booted, reception(None)).isoformat()


def _booted_at(value: Any) -> tuple[datetime, float | None] | None:
    """A stored boot time: by our clock, the monotonic one unknown (a restart of Home Assistant
    may be a restart of its host, which starts that clock again)."""
    at = _aware(value)
    return None if at is None else (at, None)


def _restore_connector(charger: Charger, key: Any, stored: dict[str, Any]) -> None:
    if not plausible_connector_id(int(key)):
        # Named by the charger before such ids were refused (each would become entities).
        _LOGGER.warning("%s: stored connector %s dropped", charger.charger_id, key)
        return
    connector = charger.connector(int(key))
    connector.transaction = _transaction(charger.charger_id, stored.get("transaction"))
    connector.last_transaction = _transaction(charger.charger_id, stored.get("last_transaction"))
    connector.stored_register = _register_from_dict(stored.get("register"))
    connector.meter._history_before_clock_back = _history_from_dict(
        stored.get("history_before_clock_back")
    )
    connector.meter._register_reset_stamp = _reset_stamp_from_dict(
        stored.get("register_reset_stamp")
    )
    _restore_life_before(connector.meter, stored.get("life_before"))
    fault = stored.get("fault")
    connector.restored_fault = None if fault is None else str(fault)
    # (An older store kept only Faulted faults.)
    connector.restored_fault_stopped = stored.get("fault_stopped") is not False
    connector.problems = _problems_from_dict(stored.get("problems"))
    connector.last_session_energy_wh = float(stored.get("last_session_energy_wh") or 0.0)


def _recently_ended(charger: Charger, stored: list[Any]) -> list[Transaction]:
    """The recently ended transactions (newest last). One that is a connector's last is that
    connector's object again, as before the restart: a replay's late readings update it once."""
    lasts = {
        _identity(last): last
        for connector in charger.connectors.values()
        if (last := connector.last_transaction) is not None
    }
    restored = (_transaction(charger.charger_id, item) for item in stored[-RECENTLY_ENDED:])
    return [lasts.get(_identity(t), t) for t in restored if t is not None]


def _identity(transaction: Transaction) -> tuple[str, int, datetime]:
    """What tells a transaction apart from another of the same id (an id used again)."""
    return transaction.transaction_id, transaction.connector_id, transaction.started_at


def _transaction(charger_id: str, stored: Any) -> Transaction | None:
    """A stored transaction; a damaged one is dropped alone (the charger's lifetime energy and
    settings are worth more than it)."""
    if stored is None:
        return None
    try:
        return Transaction.from_dict(stored)
    except _DAMAGE as err:
        _LOGGER.warning("%s: ignoring a damaged stored transaction: %s", charger_id, err)
        return None


def _problems_from_dict(stored: Any) -> dict[str, DeviceProblem]:
    """A connector's stored problems; unreadable ones left out (an older store has none)."""
    problems: dict[str, DeviceProblem] = {}
    for component, problem in stored.items() if isinstance(stored, dict) else ():
        if isinstance(component, str) and isinstance(problem, dict):
            code, info = problem.get("code"), problem.get("info")
            problems[component] = DeviceProblem(
                code=code if isinstance(code, str) else None,
                info=info if isinstance(info, str) else None,
            )
    return dict(list(problems.items())[:MAX_PROBLEMS])


def _register_to_dict(connector: Connector) -> dict[str, Any] | None:
    """The connector's register (what it reported, else what was restored; None: none)."""
    meter = connector.meter
    if meter.energy_register_wh is not None:
        at, stamp = meter.energy_timestamp, meter._energy_charger_stamp
        return _register_dict(meter.energy_register_wh, at, stamp)
    return _point_to_dict(connector.stored_register)


def _point_to_dict(point: RegisterPoint | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return _register_dict(point.register_wh, point.timestamp, point.charger_stamp)


def _register_dict(wh: float, at: datetime | None, stamp: datetime | None) -> dict[str, Any]:
    """A register's stored form; the charger's own stamp only when it is not ``at`` (older
    versions stored none: ``at`` is it)."""
    stored = {"wh": wh, "at": _optional_iso(at)}
    return stored if stamp is None else stored | {"stamp": stamp.isoformat()}


def _register_from_dict(data: Any) -> RegisterPoint | None:
    """A stored register; a damaged one is none (the next value starts afresh)."""
    if not isinstance(data, dict):
        return None
    try:
        register_wh = float(data["wh"])
        at = _register_time(data.get("at"))
        stamp = _register_time(data.get("stamp"))
    except (KeyError, TypeError, ValueError):
        return None
    if not math.isfinite(register_wh):
        return None
    # Received before this restore: the monotonic time since is time it surely had to rise in,
    # whatever our clock did while Home Assistant was down (its stamp may lie in our future).
    return RegisterPoint(
        register_wh=register_wh,
        timestamp=at,
        received_at=None,
        _received_monotonic=time.monotonic(),
        charger_stamp=stamp,
    )


def _register_time(value: Any) -> datetime | None:
    """A stored time of a register (None: none stored). Raises TypeError / ValueError when it is
    damaged: no ISO time, or one without its zone (every register time we store has one, and a
    guessed zone would move it against the charger's stamps)."""
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError(f"register time without a zone: {value!r}")
    return at


def _reset_stamp_from_dict(value: Any) -> datetime | None:
    """The stored stamp of the first value of a register's present life; a damaged one is none
    (nothing is taken for the life before the reset), and so is one too far ahead of our clock to
    have been kept (``meter._reset_stamp``: it would take every reading for the life before)."""
    try:
        stamp = _register_time(value)
    except (TypeError, ValueError):
        return None
    return None if stamp is not None and too_far_ahead(stamp, utcnow()) else stamp


def _history_from_dict(data: Any) -> RegisterPoint | None:
    """A stored register the charger gave before its clock went back; one without its time
    (damaged) is none: nothing is history by it."""
    point = _register_from_dict(data)
    return point if point is not None and point.timestamp is not None else None


def _life_before_to_dict(meter: MeterState) -> dict[str, Any] | None:
    """The life before the register's last reset (None: none known)."""
    if meter._life_before_end is None:
        return None
    session = meter._life_before_session
    return {
        "end": _point_to_dict(meter._life_before_end),
        "session": None if session is None else [session[0], session[1].isoformat()],
        "held": _point_to_dict(meter._life_before_held),
        "held_for_session": meter._held_for_session,
    }


def _restore_life_before(meter: MeterState, data: Any) -> None:
    """Restore :func:`_life_before_to_dict`'s form; a damaged one is none at all (nothing is
    held or counted for the life before, as before it was kept). Never raises."""
    if not isinstance(data, dict):
        return
    end = _history_from_dict(data.get("end"))
    held = data.get("held")
    held_point = None if held is None else _history_from_dict(held)
    held_for_session = data.get("held_for_session")
    try:
        session = _session_from_dict(data.get("session"))
    except (TypeError, ValueError):
        return
    if end is None or (held_point is None) != (held is None) or type(held_for_session) is not bool:
        return
    meter._life_before_end, meter._life_before_session = end, session
    meter._life_before_held, meter._held_for_session = held_point, held_for_session


def _session_from_dict(value: Any) -> tuple[str, datetime] | None:
    """A stored session key: [transaction id, start] (None: none). Raises TypeError /
    ValueError when it is damaged."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str):
        raise TypeError(f"damaged session: {value!r}")
    started_at = _register_time(value[1])
    if started_at is None:
        raise TypeError(f"session without its start: {value!r}")
    return value[0], started_at


def _info_from_dict(data: dict[str, Any]) -> ChargerInfo:
    fields = ChargerInfo.__dataclass_fields__
    known = {key: value for key, value in data.items() if key in fields}
    return ChargerInfo(
        **{key: None if value is None else str(value) for key, value in known.items()}
    )


def _capabilities_from_dict(data: dict[str, Any]) -> Capabilities:
    defaults = Capabilities()
    rate_units = data.get("rate_units")
    return Capabilities(
        supported_profiles=frozenset(str(p) for p in data.get("supported_profiles", ())),
        max_stack_level=_optional_int(
            data.get("max_stack_level_reported", defaults.max_stack_level)
        ),
        rate_units=(
            frozenset(ChargingRateUnit(unit) for unit in rate_units)
            if rate_units
            else defaults.rate_units
        ),
        max_schedule_periods=int(data.get("max_schedule_periods", defaults.max_schedule_periods)),
        max_profiles_installed=_optional_int(data.get("max_profiles_installed")),
        phase_switching=bool(data.get("phase_switching", False)),
        local_auth_list_max=_optional_int(data.get("local_auth_list_max")),
        number_of_connectors=plausible_connector_count(
            int(data.get("number_of_connectors", defaults.number_of_connectors))
        ),
    )


def _energy_from_dict(data: dict[str, Any]) -> EnergyCounter:
    return EnergyCounter(
        total_wh=float(data.get("total_wh") or 0.0),
        last_register_wh=_optional_float(data.get("last_register_wh")),
        last_register_at=(
            None
            if data.get("last_register_at") is None
            else datetime.fromisoformat(data["last_register_at"])
        ),
        outlets_ahead_wh=float(data.get("outlets_ahead_wh") or 0.0),
    )


def _limit_from_dict(data: dict[str, Any]) -> LimitState:
    limit = LimitState(
        requested_a=_optional_float(data.get("requested_a")),
        requested_phases=_optional_int(data.get("requested_phases")),
        paused=bool(data.get("paused", False)),
        # An older file's charger_max_a / base_a lack the stack level: unknown, written again.
        charger_max=_fixed_profile_from_dict(data.get("charger_max")),
        base=_fixed_profile_from_dict(data.get("base")),
        fixed_written_at=_aware(data.get("fixed_written_at")),
        controlled_by=_controlled_by(data.get("controlled_by")),
        expires_at=_aware(data.get("expires_at")),
        previous_a=_optional_float(data.get("previous_a")),
        previous_phases=_optional_int(data.get("previous_phases")),
        hand_back_to=_optional_str(data.get("hand_back_to")),
    )
    if "user_a" in data:
        limit.user_a = _optional_float(data.get("user_a"))
        limit.user_phases = _optional_int(data.get("user_phases"))
    else:
        limit.user_a, limit.user_phases = _older_users_limit(limit)
    return limit


def _older_users_limit(limit: LimitState) -> tuple[float | None, int | None]:
    """The user's own limit where an older version did not keep it: the limit without an end
    requested while the energy manager did not hold the charger (none where it did; the
    manager's store may still keep one: ``HandBacks.older_limit``)."""
    if limit.controlled_by is ControlledBy.ENERGY_MANAGER:
        return None, None
    if limit.expires_at is None:
        return limit.requested_a, limit.requested_phases
    if limit.hand_back_to is None:  # a limit for a while: the user's is the one it returns to
        return limit.previous_a, limit.previous_phases
    return None, None  # ... the manager's: taken over from it


def _fixed_profile_to_dict(profile: FixedProfile | None) -> dict[str, Any] | None:
    if profile is None:
        return None
    return {"limit": profile.limit, "unit": profile.unit.value, "stack_level": profile.stack_level}


def _fixed_profile_from_dict(data: Any) -> FixedProfile | None:
    """What a fixed profile was written with; unknown (None: written again) when unreadable,
    not a reason to drop the rest of the limit's state."""
    try:
        return FixedProfile(
            limit=float(data["limit"]),
            unit=ChargingRateUnit(data["unit"]),
            stack_level=int(data["stack_level"]),
        )
    except _DAMAGE:
        return None


def _controlled_by(value: Any) -> ControlledBy:
    """Unknown (an older file, or a value from a newer version): nobody, the safe reading."""
    try:
        return ControlledBy(value)
    except ValueError:
        return ControlledBy.NONE


def _optional_iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _aware(value: Any) -> datetime | None:
    """A stored time; one without a zone (a hand edit) is UTC, as every time we store."""
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def state_to_dict(chargers: dict[str, Charger]) -> dict[str, Any]:
    """The whole stored document: every charger keyed by id."""
    return {
        "version": FORMAT_VERSION,
        "chargers": {cid: charger_to_dict(charger) for cid, charger in sorted(chargers.items())},
    }


def state_from_dict(data: dict[str, Any] | None) -> dict[str, Charger]:
    """Chargers from a stored document. A damaged entry is skipped (and logged), never fatal: losing
    one charger's history beats a central system that cannot start."""
    if not data:
        return {}
    stored_chargers = data.get("chargers") if isinstance(data, dict) else None
    if not isinstance(stored_chargers, dict):
        _LOGGER.warning("Ignoring damaged stored charger state (no table of chargers)")
        return {}
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        _LOGGER.warning("Ignoring stored charger state of unknown format %r", data.get("version"))
        return {}
    chargers: dict[str, Charger] = {}
    for charger_id, stored in stored_chargers.items():
        try:
            charger = charger_from_dict(stored)
        except _DAMAGE as err:
            _LOGGER.warning("Ignoring damaged stored state of charger %s: %s", charger_id, err)
            continue
        chargers[charger.charger_id] = charger
    return chargers
