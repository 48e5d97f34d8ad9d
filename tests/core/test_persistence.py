"""Charger state <-> stored dict: round trip, tolerance of damaged data, format versioning."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import (
    Capabilities,
    Charger,
    ChargerInfo,
    ChargingRateUnit,
    ConnectorStatus,
    ControlledBy,
    EnergyCounter,
    FixedProfile,
    LimitState,
    Transaction,
)
from custom_components.ocpp_ems.core.persistence import (
    FORMAT_VERSION,
    UnsupportedFormatError,
    charger_from_dict,
    charger_to_dict,
    state_from_dict,
    state_to_dict,
)


def full_charger() -> Charger:
    charger = Charger(
        charger_id="CP 1",
        ocpp_version="ocpp1.6",
        info=ChargerInfo(vendor="ACME", model="Wall", serial_number="S1", firmware_version="1.2"),
        capabilities=Capabilities(
            supported_profiles=frozenset({"Core", "SmartCharging"}),
            max_stack_level=8,
            rate_units=frozenset({ChargingRateUnit.AMPERE, ChargingRateUnit.WATT}),
            max_schedule_periods=24,
            max_profiles_installed=10,
            phase_switching=True,
            local_auth_list_max=100,
            number_of_connectors=2,
        ),
        configuration={"HeartbeatInterval": "300", "AuthorizationKey": None},
        lifetime_energy=EnergyCounter(total_wh=123456.5, last_register_wh=99999.0),
        limit=LimitState(
            requested_a=13.5,
            requested_phases=1,
            paused=True,
            applied_a=13.5,
            charger_max=FixedProfile(limit=25.0, unit=ChargingRateUnit.AMPERE, stack_level=0),
            base=FixedProfile(limit=4140.0, unit=ChargingRateUnit.WATT, stack_level=2),
            fixed_written_at=datetime(2026, 2, 27, 8, 30, tzinfo=UTC),
            controlled_by=ControlledBy.ENERGY_MANAGER,
            expires_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
            previous_a=16.0,
            previous_phases=3,
            hand_back_to="solar",
            user_a=10.0,
            user_phases=1,
        ),
        auth_provisioned=True,
    )
    connector = charger.connector(1)
    connector.transaction = Transaction(
        transaction_id="tx-7",
        connector_id=1,
        id_tag="TAG1",
        started_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
        meter_start_wh=1000.0,
        meter_last_wh=4200.0,
    )
    connector.status = ConnectorStatus.CHARGING
    charger.connector(2).last_session_energy_wh = 777.0
    charger.connector(2).last_transaction = Transaction(
        transaction_id="tx-6",
        connector_id=2,
        id_tag="TAG1",
        started_at=datetime(2026, 3, 1, 7, 0, tzinfo=UTC),
        meter_start_wh=0.0,
        meter_last_wh=777.0,
    )
    charger.connected = True
    return charger


def test_round_trip_keeps_what_cannot_be_relearned() -> None:
    original = full_charger()
    stored = json.loads(json.dumps(charger_to_dict(original)))  # must be JSON-able
    assert stored["version"] == FORMAT_VERSION

    restored = charger_from_dict(stored)

    assert restored.charger_id == "CP 1"
    assert restored.ocpp_version == "ocpp1.6"
    assert restored.info == original.info
    assert restored.capabilities == original.capabilities
    assert restored.configuration == original.configuration
    assert restored.lifetime_energy == original.lifetime_energy
    assert restored.auth_provisioned
    assert restored.limit.requested_a == 13.5
    assert restored.limit.requested_phases == 1
    assert restored.limit.paused
    # What the fixed profiles were written with (else they are written again), and what a limit
    # given with a duration returns to.
    assert restored.limit.charger_max == original.limit.charger_max
    assert restored.limit.base == original.limit.base
    # ... and when the charger took them: a boot a day after writes them again.
    assert restored.limit.fixed_written_at == datetime(2026, 2, 27, 8, 30, tzinfo=UTC)
    assert (restored.limit.previous_a, restored.limit.previous_phases) == (16.0, 3)
    assert restored.limit.hand_back_to == "solar"
    # The user's own limit: a hand-back returns to it.
    assert (restored.limit.user_a, restored.limit.user_phases) == (10.0, 1)
    assert restored.limit.expires_at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)  # lifted then
    # Who controls it: a charger back before the energy manager is held at its safe current.
    assert restored.limit.controlled_by is ControlledBy.ENERGY_MANAGER
    tx = restored.find_transaction("tx-7")
    assert tx is not None
    assert tx.connector_id == 1
    assert tx.energy_wh == 3200.0
    assert tx.started_at == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert restored.connectors[1].session_energy_wh == 3200.0
    assert restored.connectors[2].session_energy_wh == 777.0
    # The last ended transaction, so a start or end the charger replays is recognised.
    last = restored.connectors[2].last_transaction
    assert last is not None
    assert last.transaction_id == "tx-6"
    assert last.started_at == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
    assert restored.connectors[1].last_transaction is None
    # Live state is re-reported by the charger, never restored stale.
    assert not restored.connected
    assert restored.connectors[1].status is ConnectorStatus.UNKNOWN
    assert restored.limit.applied_a is None


def test_each_connectors_register_is_kept_as_the_base_of_its_next_value() -> None:
    """A connector's register (its meter's, else the one restored) survives a restart as the
    base of its next value, never as a live reading; a damaged one is none."""
    charger = full_charger()
    at = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    charger.connector(1).meter.energy_register_wh = 4200.0
    charger.connector(1).meter.energy_timestamp = at
    restored = charger_from_dict(json.loads(json.dumps(charger_to_dict(charger))))
    point = restored.connectors[1].stored_register
    assert point is not None
    assert (point.register_wh, point.timestamp) == (4200.0, at)
    assert restored.connectors[1].meter.energy_register_wh is None
    assert restored.connectors[2].stored_register is None
    again = charger_from_dict(charger_to_dict(restored))  # not reported since: kept as it was
    kept = again.connectors[1].stored_register
    assert kept is not None
    assert (kept.register_wh, kept.timestamp) == (4200.0, at)  # restored anew: a new monotonic
    stored = charger_to_dict(charger)
    for damaged in (
        {"wh": "x"},
        {"wh": "inf"},
        {"at": "2026"},
        {"wh": 1, "at": "2026-03-01T09:00"},
        5,
    ):
        stored["connectors"]["1"]["register"] = damaged
        assert charger_from_dict(stored).connectors[1].stored_register is None


def test_a_stored_time_without_a_zone_is_utc() -> None:
    """A limit's end edited by hand without an offset: UTC (it broke the current control:
    naive and aware times cannot be compared)."""
    data = {
        "version": FORMAT_VERSION,
        "charger_id": "X",
        "limit": {"expires_at": "2026-12-03T10:00"},
    }
    assert charger_from_dict(data).limit.expires_at == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_a_fault_is_kept_until_the_first_status_after_the_restore() -> None:
    """The fault a connector was in is stored (not shown): its repeat after a restart is no
    new fault; a connector not reported since the restore keeps it for the next save."""
    charger = full_charger()
    charger.connector(1).status = ConnectorStatus.FAULTED
    charger.connector(1).error_code = "GroundFailure"
    charger.connector(2).status = ConnectorStatus.FAULTED  # no error code given
    restored = charger_from_dict(json.loads(json.dumps(charger_to_dict(charger))))
    assert restored.connectors[1].status is ConnectorStatus.UNKNOWN
    assert restored.connectors[1].restored_fault == "GroundFailure"
    assert restored.connectors[2].restored_fault == ""
    again = charger_from_dict(charger_to_dict(restored))
    assert again.connectors[1].restored_fault == "GroundFailure"
    again.connectors[1].status = ConnectorStatus.AVAILABLE
    again.connectors[1].error_code = None
    assert charger_from_dict(charger_to_dict(again)).connectors[1].restored_fault is None
    assert restored.connectors[1].restored_fault_stopped
    again.connectors[1].status = ConnectorStatus.CHARGING  # a 1.6 warning: stored too
    again.connectors[1].error_code = "HighTemperature"
    warned = charger_from_dict(charger_to_dict(again)).connectors[1]
    assert (warned.restored_fault, warned.restored_fault_stopped) == ("HighTemperature", False)


def test_minimal_dict_gives_defaults() -> None:
    restored = charger_from_dict({"version": FORMAT_VERSION, "charger_id": "X"})
    assert restored.capabilities == Capabilities()
    assert restored.lifetime_energy == EnergyCounter()
    assert restored.limit == LimitState()
    assert restored.connectors == {}
    assert not restored.auth_provisioned


def test_stored_connectors_beyond_the_bound_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    connectors = {str(cid): {"last_session_energy_wh": 1.0} for cid in (0, 1, 32, 33, 10**6, -1)}
    data = {"version": FORMAT_VERSION, "charger_id": "X", "connectors": connectors}
    assert sorted(charger_from_dict(data).connectors) == [0, 1, 32]
    assert "X: stored connector 1000000 dropped" in caplog.text


def test_unknown_controller_reads_as_nobody() -> None:
    data = {"version": FORMAT_VERSION, "charger_id": "X", "limit": {"controlled_by": "robot"}}
    assert charger_from_dict(data).limit.controlled_by is ControlledBy.NONE


def test_unknown_format_is_refused() -> None:
    with pytest.raises(UnsupportedFormatError):
        charger_from_dict({"version": 99, "charger_id": "X"})


def test_whole_state_round_trip_skips_damaged_entries(caplog: pytest.LogCaptureFixture) -> None:
    good = full_charger()
    data: dict[str, Any] = json.loads(json.dumps(state_to_dict({good.charger_id: good})))
    data["chargers"]["broken"] = {"version": FORMAT_VERSION}  # no charger_id
    data["chargers"]["bad-number"] = {
        "version": FORMAT_VERSION,
        "charger_id": "bad-number",
        "connectors": {"one": {}},
    }

    chargers = state_from_dict(data)

    # No id: dropped. A damaged part (a connector key): that part alone.
    assert list(chargers) == ["CP 1", "bad-number"]
    assert chargers["bad-number"].connectors == {}
    assert chargers["CP 1"].find_transaction("tx-7") is not None
    assert "broken" in caplog.text
    assert "bad-number: stored connector one damaged" in caplog.text


@pytest.mark.parametrize(
    ("part", "damage"),
    [
        ("limit", {"requested_a": "16,0"}),
        ("capabilities", {"rate_units": ["V"]}),
        ("info", ["not", "a", "table"]),
        ("configuration", "x"),
        ("auth_unused_logins", "many"),
        ("rejected_measurands", 5),
        ("lifetime_energy", {"total_wh": "lots"}),
    ],
)
def test_one_damaged_part_keeps_the_rest_of_the_charger(
    part: str, damage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """One unreadable value (a hand edit, a flipped byte) costs its own part, never the
    charger's energy, open session and password state."""
    original = full_charger()
    data = json.loads(json.dumps(charger_to_dict(original)))
    data[part] = damage
    restored = charger_from_dict(data)
    assert "stored" in caplog.text
    assert "damaged" in caplog.text
    assert restored.find_transaction("tx-7") is not None
    assert restored.auth_provisioned
    if part != "lifetime_energy":
        assert restored.lifetime_energy == original.lifetime_energy


@pytest.mark.parametrize("data", [None, {}, {"version": 2, "chargers": {"a": {}}}])
def test_empty_or_future_state_loads_nothing(data: dict[str, Any] | None) -> None:
    assert state_from_dict(data) == {}


@pytest.mark.parametrize("data", [{"version": 1, "chargers": [{"charger_id": "a"}]}, ["a"]])
def test_a_document_without_a_table_of_chargers_loads_nothing(
    data: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Hand-edited, or written by something else: nothing loads, nothing raises (the server must
    start)."""
    assert state_from_dict(data) == {}
    assert "no table of chargers" in caplog.text


def test_a_damaged_transaction_is_dropped_alone(caplog: pytest.LogCaptureFixture) -> None:
    """A transaction that cannot be read (a register stored as null) costs only itself: the
    charger's lifetime total and settings survive."""
    good = full_charger()
    data: dict[str, Any] = json.loads(json.dumps(charger_to_dict(good)))
    data["connectors"]["1"]["transaction"]["meter_start_wh"] = None
    charger = charger_from_dict(data)
    assert charger.connectors[1].transaction is None
    assert charger.lifetime_energy.total_wh == good.lifetime_energy.total_wh
    assert "ignoring a damaged stored transaction" in caplog.text


@pytest.mark.parametrize(
    ("controlled_by", "user"),
    [("none", (12.0, 1)), ("manual", (12.0, 1)), ("energy_manager", (None, None))],
)
def test_an_older_versions_limit_is_the_users_own_unless_the_manager_held_it(
    controlled_by: str, user: tuple[float | None, int | None]
) -> None:
    """Stored before the user's own limit was kept: the request was the user's where the manager
    did not control the charger (the manager's otherwise: unknown, the installation maximum)."""
    limit = {"requested_a": 12.0, "requested_phases": 1, "controlled_by": controlled_by}
    data = {"version": FORMAT_VERSION, "charger_id": "X", "limit": limit}
    restored = charger_from_dict(data).limit
    assert (restored.user_a, restored.user_phases) == user
    assert charger_from_dict(data | {"limit": limit | {"user_a": None}}).limit.user_a is None


@pytest.mark.parametrize(("hand_back_to", "user"), [(None, (16.0, 3)), ("solar", (None, None))])
def test_an_older_versions_limit_for_a_while_is_not_the_users_own(
    hand_back_to: str | None, user: tuple[float | None, int | None]
) -> None:
    """The request of an older version's limit given for a while ends: the user's own is the one
    it returns to, unless that was the energy manager's (taken over from it)."""
    limit = {
        "requested_a": 10.0,
        "controlled_by": "manual",
        "expires_at": "2026-12-03T10:00:00+00:00",
        "previous_a": 16.0,
        "previous_phases": 3,
        "hand_back_to": hand_back_to,
    }
    data = {"version": FORMAT_VERSION, "charger_id": "X", "limit": limit}
    restored = charger_from_dict(data).limit
    assert (restored.user_a, restored.user_phases) == user
