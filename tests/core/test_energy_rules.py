"""Physically plausible energy (issue 6): every increment of lifetime or session energy is bounded
by the charger's maximum power x elapsed time; resets and jumps count only once confirmed; wrong
clocks never drop energy. Driven through ``ChargerState`` (what every adapter calls) and the pure
functions of ``meter.py``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.meter import apply_energy, apply_reading, energy_up_to_base
from custom_components.ocpp_ems.core.meter_time import (
    ENERGY_TOLERANCE_WH,
    MAX_CLOCK_AHEAD_S,
    MAX_PAST_SESSION_AGE,
    MAX_PHASE_VOLTAGE_V,
    POWER_SLACK,
    effective_time,
    max_power_w,
)
from custom_components.ocpp_ems.core.meter_values import Reading
from custom_components.ocpp_ems.core.model import (
    Charger,
    ChargerEvent,
    ConnectorStatus,
    EnergyCounter,
    EventKind,
    Transaction,
)
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.session import SessionContext
from custom_components.ocpp_ems.core.settings import ChargerSettings, ServerSettings

from .fakes import MemoryDirectory

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
# The default charger: 32 A on 3 phases.
POWER_W = max_power_w(ChargerSettings())
# Our clock for tests driven through ChargerState (it reads the time itself): a day after T0, so
# values stamped around T0 came late from the charger's queue, not from a wrong clock (their
# stamps then bound no energy: older than meter_time.MAX_PAST_SESSION_AGE when they came).
our_clock_a_day_later = pytest.mark.freeze_time(T0 + timedelta(days=1))


def make_state(charger: Charger | None = None) -> ChargerState:
    directory = MemoryDirectory()
    directory.admissions["c"] = Admission.ACCEPTED
    context = SessionContext(
        directory=directory,
        server_settings=ServerSettings(),
        admission=lambda: Admission.ACCEPTED,
        charger_settings=lambda: directory.settings("c"),
        request_save=lambda: None,
        on_booted=lambda: None,
    )
    return ChargerState(charger or Charger(charger_id="c"), context)


def energy(at: datetime, wh: float) -> Reading:
    return Reading(timestamp=at, energy_register_wh=wh)


def start(state: ChargerState, wh: float, at: datetime = T0, connector_id: int = 1) -> Transaction:
    return state.start_transaction(
        connector_id, "1", id_tag="TAG", started=at, meter_start_wh=wh, authorized=True
    )


def test_max_power_from_settings() -> None:
    assert POWER_W == 32 * 3 * MAX_PHASE_VOLTAGE_V * POWER_SLACK
    one_phase = ChargerSettings(installation_max_a=16, phases=1)
    assert max_power_w(one_phase) == 16 * 253 * 1.25


@our_clock_a_day_later
def test_huge_meter_stop_without_earlier_readings_is_not_counted() -> None:
    state = make_state()
    tx = start(state, 1000)
    state.end_transaction(
        "1", ended=T0 + timedelta(hours=2), reason="Local", meter_stop_wh=2**32 - 1
    )
    assert tx.energy_wh == 0
    assert state.charger.lifetime_energy.total_wh == 1000
    # The next plausible value continues from the last plausible one.
    state.record_meter(1, [energy(T0 + timedelta(hours=3), 1500)])
    assert state.charger.lifetime_energy.total_wh == 1500


def test_readings_of_another_connector_never_count_for_the_transaction(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = make_state()
    tx = start(state, 1000)
    state.record_meter(2, [energy(T0 + MINUTE, 1_000_000)], transaction_id="1")
    state.record_meter(0, [energy(T0 + MINUTE, 5_000_000)], transaction_id="1")
    state.record_meter(2, [energy(T0 + 2 * MINUTE, 1_000_010)], transaction_id="1")
    assert tx.energy_wh == 0
    # Applied to their own connectors' meters.
    assert state.charger.connector(2).meter.energy_register_wh == 1_000_010
    assert state.charger.connector(0).meter.energy_register_wh == 5_000_000
    state.record_meter(1, [energy(T0 + 3 * MINUTE, 1040)], transaction_id="1")
    assert tx.energy_wh == 40
    foreign = [r for r in caplog.records if "not counted for the transaction" in r.message]
    assert len(foreign) == 1


def test_warned_foreign_readings_are_forgotten_with_their_transactions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One warning per transaction, from a set that keeps open transactions only: a charger
    starting transaction after transaction does not grow it."""
    state = make_state()
    for n in range(50):
        at = T0 + n * MINUTE
        state.start_transaction(
            1, f"T{n}", id_tag="TAG", started=at, meter_start_wh=0, authorized=True
        )  # (replaces the one before)
        state.record_meter(2, [energy(at, 100 + n)], transaction_id=f"T{n}")
        state.record_meter(2, [energy(at + MINUTE / 2, 101 + n)], transaction_id=f"T{n}")
    foreign = [r for r in caplog.records if "not counted for the transaction" in r.message]
    assert len(foreign) == 50
    assert state._foreign_readings == {"T49"}  # the bound is the point


def test_a_single_low_reading_adds_nothing() -> None:
    state = make_state()
    tx = start(state, 10_000)
    state.record_meter(1, [energy(T0 + MINUTE, 10_100)])
    state.record_meter(1, [energy(T0 + 2 * MINUTE, 9_600)])  # 500 Wh low, once
    assert state.charger.lifetime_energy.total_wh == 10_100
    state.record_meter(1, [energy(T0 + 3 * MINUTE, 10_200)])
    assert state.charger.lifetime_energy.total_wh == 10_200
    assert tx.energy_wh == 200


def test_a_single_high_reading_adds_nothing() -> None:
    state = make_state()
    tx = start(state, 10_000)
    state.record_meter(1, [energy(T0 + MINUTE, 10_100)])
    state.record_meter(1, [energy(T0 + 2 * MINUTE, 11_000)])  # 900 Wh high, once
    assert state.charger.lifetime_energy.total_wh == 10_100
    assert state.charger.connector(1).meter.energy_candidate is not None
    state.record_meter(1, [energy(T0 + 3 * MINUTE, 10_200)])
    assert state.charger.lifetime_energy.total_wh == 10_200
    assert tx.energy_wh == 200
    assert state.charger.connector(1).meter.energy_candidate is None


def test_a_confirmed_reset_counts_the_rise_after_it_once() -> None:
    state = make_state()
    tx = start(state, 10_000)
    state.record_meter(1, [energy(T0 + MINUTE, 10_100)])
    state.record_meter(1, [energy(T0 + 2 * MINUTE, 0)])  # reset: a candidate
    assert tx.energy_wh == 100
    state.record_meter(1, [energy(T0 + 3 * MINUTE, 50)])  # confirmed
    state.record_meter(1, [energy(T0 + 4 * MINUTE, 100)])
    assert tx.energy_wh == 200
    assert state.charger.lifetime_energy.total_wh == 10_200


@our_clock_a_day_later
def test_meter_start_below_the_register_is_a_reset_confirmed_by_the_session() -> None:
    """Chargers with per-session registers start every session at 0."""
    state = make_state()
    start(state, 7000)
    state.end_transaction("1", ended=T0 + MINUTE, reason="Local", meter_stop_wh=7200)
    tx = state.start_transaction(
        1, "2", id_tag="TAG", started=T0 + 2 * MINUTE, meter_start_wh=0, authorized=True
    )
    state.record_meter(1, [energy(T0 + 3 * MINUTE, 150)], transaction_id="2")
    assert tx.energy_wh == 150
    assert state.charger.lifetime_energy.total_wh == 7350


@our_clock_a_day_later
def test_a_plausible_jump_after_a_long_offline_time_counts() -> None:
    state = make_state()
    tx = start(state, 10_000)
    # 10 h offline, 30 kWh more: possible at 22 kW.
    state.end_transaction("1", ended=T0 + timedelta(hours=10), reason="Local", meter_stop_wh=40_000)
    assert tx.energy_wh == 30_000
    assert state.charger.lifetime_energy.total_wh == 40_000


def test_a_confirmed_implausible_jump_counts_only_after_the_jump() -> None:
    state = make_state()
    tx = start(state, 10_000)
    state.record_meter(1, [energy(T0 + MINUTE, 10_000_000)])
    state.record_meter(1, [energy(T0 + 2 * MINUTE, 10_000_050)])  # confirms the jump
    assert tx.energy_wh == 50
    assert state.charger.lifetime_energy.total_wh == 10_050


def test_clock_ahead_uses_our_time_and_following_readings_still_count() -> None:
    state = make_state()
    now = datetime.now(UTC)
    tx = start(state, 1000, at=now - 10 * MINUTE)
    state.record_meter(1, [energy(now + timedelta(minutes=59), 1100)])
    assert state.charger.clock_skew_s is not None
    assert state.charger.clock_skew_s > MAX_CLOCK_AHEAD_S
    assert tx.energy_wh == 100
    # The clock is right again: later readings and the stop are not "older" than the skewed one.
    state.record_meter(1, [energy(now + timedelta(seconds=5), 1150)])
    assert state.charger.clock_skew_s is None
    state.end_transaction(
        "1", ended=now + timedelta(seconds=10), reason="Local", meter_stop_wh=1200
    )
    assert tx.energy_wh == 200
    assert state.charger.lifetime_energy.total_wh == 1200


def test_clock_ahead_in_a_status_does_not_block_later_statuses() -> None:
    state = make_state()
    now = datetime.now(UTC)
    assert state.record_status(1, ConnectorStatus.CHARGING, timestamp=now + timedelta(hours=1))
    assert state.charger.clock_skew_s is not None
    assert state.record_status(1, ConnectorStatus.FINISHING, timestamp=now + timedelta(seconds=1))
    assert state.charger.connector(1).status is ConnectorStatus.FINISHING
    assert state.charger.clock_skew_s is None


def test_effective_time() -> None:
    charger = Charger(charger_id="c")
    ahead = T0 + timedelta(seconds=MAX_CLOCK_AHEAD_S + 1)
    assert effective_time(charger, ahead, T0) == T0
    assert charger.clock_skew_s == MAX_CLOCK_AHEAD_S + 1
    assert effective_time(charger, ahead, T0) == T0  # warned once, still skewed
    within = T0 + timedelta(seconds=MAX_CLOCK_AHEAD_S)
    assert effective_time(charger, within, T0) == within
    assert charger.clock_skew_s is None


def test_reading_with_a_slow_clock_after_a_skewed_one_counts() -> None:
    """A charger clock slightly behind ours, right after a reading stamped with our time: our own
    elapsed time bounds the increment, nothing is dropped."""
    charger = Charger(charger_id="c")
    apply_reading(charger, 1, energy(T0, 1000), None, received=T0)
    apply_reading(charger, 1, energy(T0 + timedelta(hours=1), 1010), None, received=T0 + MINUTE)
    later = T0 + 2 * MINUTE
    assert apply_reading(
        charger, 1, energy(later - timedelta(seconds=30), 1400), None, received=later
    )
    assert charger.lifetime_energy.total_wh == 1400


def test_history_is_ignored() -> None:
    charger = Charger(charger_id="c")
    connector = charger.connector(1)
    assert apply_energy(charger, connector, 5000, None, T0, received=T0)
    assert not apply_energy(charger, connector, 4000, None, T0 - MINUTE, received=T0)
    assert charger.lifetime_energy.total_wh == 5000


def test_late_start_counts_up_to_the_base_bounded() -> None:
    charger = Charger(charger_id="c")
    connector = charger.connector(1)
    assert energy_up_to_base(charger, connector, 4000, T0, received=T0) == 0  # no base yet
    apply_energy(charger, connector, 5000, None, T0, received=T0)
    hour_ago = T0 - timedelta(hours=1)
    assert energy_up_to_base(charger, connector, 4000, hour_ago, received=T0) == 1000
    bounded = energy_up_to_base(charger, connector, 0, T0 - MINUTE, received=T0)
    assert bounded == pytest.approx(ENERGY_TOLERANCE_WH + POWER_W / 60)
    # Stamped at a wrong old date (long before it came): no time to bound the energy by.
    wrong_clock = T0 - MAX_PAST_SESSION_AGE - MINUTE
    assert energy_up_to_base(charger, connector, 0, wrong_clock, received=T0) == ENERGY_TOLERANCE_WH


@pytest.mark.parametrize(
    ("age", "counted_wh"), [(MAX_PAST_SESSION_AGE, 5000), (MAX_PAST_SESSION_AGE + MINUTE, 0)]
)
def test_a_base_stamped_long_before_it_came_gives_no_allowance(
    age: timedelta, counted_wh: float
) -> None:
    """A value stamped a week before we got it (an offline queue) bounds the next one by the
    charger's clock; stamped longer before (a clock restarted at an old date), by ours only."""
    charger = Charger(charger_id="c")
    connector = charger.connector(1)
    apply_energy(charger, connector, 1000, None, T0 - age, received=T0)
    apply_energy(charger, connector, 6000, None, T0, received=T0 + MINUTE)
    assert charger.lifetime_energy.total_wh == 1000 + counted_wh


def test_after_a_restart_the_stored_register_bounds_the_next_value() -> None:
    charger = Charger(
        charger_id="c",
        lifetime_energy=EnergyCounter(total_wh=5000, last_register_wh=5000, last_register_at=T0),
    )
    restored = charger_from_dict(charger_to_dict(charger))
    assert restored.lifetime_energy.last_register_at == T0
    connector = restored.connector(1)
    apply_energy(restored, connector, 2**32, None, T0 + MINUTE)  # implausible: not counted
    assert restored.lifetime_energy.total_wh == 5000
    apply_energy(restored, connector, 5100, None, T0 + 2 * MINUTE)
    assert restored.lifetime_energy.total_wh == 5100


def test_transaction_energy_and_authorization_survive_a_restart() -> None:
    charger = Charger(charger_id="c")
    charger.connector(1).transaction = Transaction(
        transaction_id="9",
        connector_id=1,
        id_tag="X",
        started_at=T0,
        meter_start_wh=1000,
        meter_last_wh=1500,
        credited_wh=300,
        authorized=False,
    )
    tx = charger_from_dict(charger_to_dict(charger)).connector(1).transaction
    assert tx is not None
    assert tx.energy_wh == 300
    assert not tx.authorized
    legacy = tx.to_dict()
    del legacy["energy_wh"], legacy["authorized"]
    old = Transaction.from_dict(legacy)
    assert old.energy_wh == 500
    assert old.authorized


# --- the property: whatever the register says, energy is plausible and never decreases ----------

_STEP = st.tuples(
    st.floats(min_value=0, max_value=7200, allow_nan=False),  # seconds since the last reading
    st.one_of(
        st.floats(min_value=0, max_value=30, allow_nan=False),  # a normal rise (Wh per second)
        st.floats(min_value=-1e6, max_value=1e9, allow_nan=False),  # anything (absolute value)
    ),
    st.booleans(),  # whether the second element is a rate or an absolute register value
    st.sampled_from([1, 1, 1, 2, 0]),  # connector the reading is for
)


@settings(max_examples=300, deadline=None)
@given(first=st.floats(min_value=0, max_value=1e7), steps=st.lists(_STEP, max_size=40))
def test_energy_is_plausible_and_never_decreases(
    first: float, steps: list[tuple[float, float, bool, int]]
) -> None:
    charger = Charger(charger_id="c")
    connector = charger.connector(1)
    tx = Transaction(
        transaction_id="1",
        connector_id=1,
        id_tag=None,
        started_at=T0,
        meter_start_wh=first,
        meter_last_wh=first,
        credited_wh=0.0,
    )
    connector.transaction = tx
    apply_energy(charger, connector, first, None, T0, received=T0)
    seeded = charger.lifetime_energy.total_wh
    at, register = T0, first
    lifetime, session = seeded, 0.0
    for gap, value, is_rate, connector_id in steps:
        at += timedelta(seconds=gap)
        register = register + value * gap if is_rate else value
        reading = Reading(timestamp=at, energy_register_wh=register)
        apply_reading(charger, connector_id, reading, tx, max_power=POWER_W, received=at)
        elapsed_h = (at - T0).total_seconds() / 3600
        bound = POWER_W * elapsed_h + ENERGY_TOLERANCE_WH + 1e-6
        assert charger.lifetime_energy.total_wh >= lifetime
        assert tx.energy_wh >= session
        lifetime, session = charger.lifetime_energy.total_wh, tx.energy_wh
        assert session <= bound
        # Connectors 0 and 2 have their own meters: the lifetime adds at most each one's bound.
        assert lifetime - seeded <= 3 * bound


@our_clock_a_day_later
def test_connector_zero_readings_take_over_the_lifetime(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    state = make_state()
    start(state, 1000)
    state.record_meter(0, [energy(T0 + MINUTE, 50_000)])
    state.record_meter(1, [energy(T0 + 2 * MINUTE, 1100)])
    state.record_meter(0, [energy(T0 + 3 * MINUTE, 50_300)])
    assert state.charger.lifetime_energy.total_wh == 1300


def _session_with_readings(state: ChargerState) -> list[Reading]:
    state.record_meter(1, [energy(T0, 1000)])
    start(state, 1000)
    history = [energy(T0 + 5 * (i + 1) * MINUTE, 1000 + 100 * (i + 1)) for i in range(10)]
    for reading in history:
        state.record_meter(1, [reading], transaction_id="1")
    return history


@our_clock_a_day_later
def test_readings_replayed_after_a_restart_are_not_counted_again() -> None:
    """Review finding: after a restart the base was the start time, so the session's own readings
    (StopTransaction's transactionData, re-sent MeterValues) looked like a reset and counted again."""
    before = make_state()
    history = _session_with_readings(before)
    assert before.charger.lifetime_energy.total_wh == 2000
    restored = make_state(charger_from_dict(charger_to_dict(before.charger)))
    restored.record_meter(1, history[-3:], transaction_id="1")
    tx = restored.end_transaction(
        "1", ended=T0 + timedelta(hours=1), reason="Local", meter_stop_wh=2000, readings=history
    )
    assert tx is not None
    assert tx.energy_wh == 1000
    assert restored.charger.lifetime_energy.total_wh == 2000


def test_idle_hours_give_no_allowance_to_one_bogus_jump() -> None:
    """Review finding: an unchanged register kept its first time, so after a night of idle
    readings one outlier counted up to max power x 12 h."""
    state = make_state()
    for i in range(49):
        state.record_meter(1, [energy(T0 + 15 * i * MINUTE, 50_000)])
    late = T0 + timedelta(hours=12, minutes=15)
    state.record_meter(1, [energy(late, 350_000)])
    assert state.charger.lifetime_energy.total_wh == 50_000
    tx = state.start_transaction(
        1, "2", id_tag="TAG", started=late + MINUTE, meter_start_wh=50_000, authorized=True
    )
    state.record_meter(1, [energy(late + 2 * MINUTE, 350_000)], transaction_id="2")
    assert tx.energy_wh == 0
    state.record_meter(1, [energy(late + 3 * MINUTE, 50_010)], transaction_id="2")
    assert tx.energy_wh == 10


@our_clock_a_day_later
def test_coarse_register_while_charging_still_counts_its_steps() -> None:
    """While charging, an unchanged register keeps its first time: a 1 kWh step after 10 minutes of
    unchanged readings is energy, not an outlier."""
    state = make_state()
    tx = start(state, 10_000)
    state.record_status(1, ConnectorStatus.CHARGING, timestamp=T0)
    for i in range(1, 10):
        state.record_meter(1, [energy(T0 + i * MINUTE, 10_000)], transaction_id="1")
    state.record_meter(1, [energy(T0 + 10 * MINUTE, 11_000)], transaction_id="1")
    assert tx.energy_wh == 1000


@our_clock_a_day_later
def test_ended_transactions_keep_their_end_across_a_restart() -> None:
    state = make_state()
    _session_with_readings(state)
    state.end_transaction("1", ended=T0 + timedelta(hours=1), reason="EVDisconnected")
    restored = charger_from_dict(charger_to_dict(state.charger))
    last = restored.connector(1).last_transaction
    assert last is not None
    assert last.ended_at == T0 + timedelta(hours=1)
    assert last.stop_reason == "EVDisconnected"
    assert last.meter_last_at == T0 + 50 * MINUTE


@our_clock_a_day_later
def test_late_readings_update_the_ended_sessions_record() -> None:
    """An end before the last readings (2.x: Ended before the Updated; 1.6: a StopTransaction
    with a meterStop of 0, then the MeterValues): SESSION_ENDED gave 100 Wh, the readings sent
    after it make 900 Wh. SESSION_UPDATED gives the session's facts as they are now (the
    sessions log's record of it); no second SESSION_ENDED. Readings that add nothing to the
    session (after its end, or replayed) fire nothing."""
    state = make_state()
    state.charger.energy_price = 0.30
    events: list[ChargerEvent] = []
    state.charger.add_listener(lambda event: events.append(event) if event else None)
    tx = start(state, 1000)
    state.record_meter(1, [energy(T0 + MINUTE, 1100)], transaction_id="1")
    ended = T0 + 10 * MINUTE
    state.end_transaction("1", ended=ended, reason="Local", meter_stop_wh=0)
    assert [e.data["energy_wh"] for e in events if e.kind is EventKind.SESSION_ENDED] == [100]

    state.record_meter(1, [energy(T0 + 9 * MINUTE, 1900)], transaction_id="1")
    assert tx.energy_wh == 900
    assert state.charger.connector(1).session_energy_wh == 900
    updated = [e for e in events if e.kind is EventKind.SESSION_UPDATED]
    assert len(updated) == 1
    assert updated[0].connector_id == 1
    assert updated[0].data == {
        "transaction_id": "1",
        "id_tag": "TAG",
        "energy_wh": 900,
        "reason": "Local",
        "started_at": T0.isoformat(),
        "ended_at": ended.isoformat(),
        "duration_s": 600,
        "cost": pytest.approx(0.27),
    }
    # Energy after the end is the charger's only; a replayed reading counts once.
    state.record_meter(1, [energy(T0 + 11 * MINUTE, 2000)], transaction_id="1")
    state.record_meter(1, [energy(T0 + 9 * MINUTE, 1900)], transaction_id="1")
    assert state.charger.lifetime_energy.total_wh == 2000
    assert tx.energy_wh == 900
    kinds = [e.kind for e in events]
    assert (kinds.count(EventKind.SESSION_ENDED), kinds.count(EventKind.SESSION_UPDATED)) == (1, 1)
