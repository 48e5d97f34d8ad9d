"""Red team 11a on 1.6: 436ac19 (a session ending while its register's rise is held for our
clock is owed that rise: meter_held_end; a rise while our clock reads behind the connector's
restored register is dated by the charger's own stamps: meter._since_base). Our host comes up
45 min behind after a restart (the plain case: test_redteam10e_stop_in_clock_hold); each test
was run at 436ac19 and at 436ac19^: its docstring or reason gives both (Was: 436ac19^).

Gains pinned: a station clock hours or years ahead (1,980 -> 3,780 Wh, the lifetime 21,980 ->
23,780), any queue shape, the cost, two connectors, a station that sets its clock by ours.
Regressions: a station clock set back, then a meter reset and one high outlier after NTP (4,140
-> 31,800 Wh for 6,300; fixed since: 6,120); a station claiming 6 days ahead after the restart
with a +10 kWh queue (1,980 -> 13,780 Wh, beyond the 7,616 our clocks allow; fixed since: 1,980);
a second session started in the hold with our host more than an hour behind (540 -> 2,340 Wh
for 540; fixed since: 540, and the old gap of one started in the hold with its stamp kept with
it). Old gaps (strict xfails, the same at 436ac19^) with their numbers. One the fuzz found
with our clock right is fixed since: a station clock set 2 h forward let one outlier count
(52,700 Wh for 2,700).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.meter_time import max_energy_wh, max_power_w
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.persistence import charger_from_dict
from custom_components.ocpp_ems.core.settings import ChargerSettings, ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import energy16, h16, harness_with
from .test_meter_clock_hold_end import HALF_AN_HOUR, _idle, _updated, stopped_then_idle
from .test_meter_host_clock_behind_restart import (
    BEGIN_WH,
    HOST_BEHIND,
    PER_MINUTE_WH,
    QueueChange,
    Restart,
    Station,
    ntp_sets_our_clock,
    restarted_behind,
    stopped_within_the_hold,
)
from .test_time_hostile import BUILD_DATE, our_clock
from .test_v201_reboot_mark import _stored
from .v16_harness import Harness, SimCharger

__all__ = ["h16"]

# 10 minutes before the restart, 10 queued, 1 live before the stop.
TRUTH_WH = 21 * PER_MINUTE_WH
# What our clocks allow the session once NTP set ours: its 10 minutes counted before the
# restart, then at most the default charger's power from the stored register to the stop.
BOUND_BY_OUR_CLOCKS_WH = 10 * PER_MINUTE_WH + max_energy_wh(max_power_w(ChargerSettings()), 11 * 60)
THREE_HOURS = timedelta(hours=3)
ELEVEN_YEARS = timedelta(days=11 * 365)  # a station clock in 2037
SIX_DAYS = timedelta(days=6)  # within meter_time.MAX_PAST_SESSION_AGE: its stamps explain 4 MWh
OUTLIER_WH = 50_000


def _session_wh(h: Harness, connector_id: int = 1) -> float:
    return h.charger.connector(connector_id).last_session_energy_wh


# --- gains ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ntp", [True, False], ids=["ntp", "no_ntp"])
@pytest.mark.parametrize("error", [THREE_HOURS, ELEVEN_YEARS], ids=["ahead_3h", "year_2037"])
async def test_a_station_clock_far_ahead_is_held_and_owed_like_a_right_one(
    h16: Harness,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    error: timedelta,
    ntp: bool,
) -> None:
    """Was (436ac19^): 1,980 Wh, the lifetime 21,980 Wh (the queue's 1,800 Wh cut as a jump for
    both). Now 3,780 / 23,780 Wh, the truth, one SESSION_UPDATED."""
    second, station = await stopped_then_idle(
        h16, directory, server_settings, Restart(station_error=error), ntp=ntp
    )
    assert _session_wh(second) == pytest.approx(TRUTH_WH)
    assert _updated(second) == [pytest.approx(TRUTH_WH)]
    assert second.charger.lifetime_energy.total_wh == pytest.approx(station.wh)


def _every_10_s(queue: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The queue's 10 minutes read every 10 s (the same register line)."""
    first_wh, first_stamp = queue[0]
    start = datetime.fromisoformat(first_stamp) - timedelta(minutes=1)
    per_step = PER_MINUTE_WH / 6
    begin = first_wh - PER_MINUTE_WH
    return [
        (round(begin + step * per_step), (start + timedelta(seconds=10 * step)).isoformat())
        for step in range(1, 61)
    ]


QUEUE_SHAPES: dict[str, Callable[[list[tuple[int, str]]], list[tuple[int, str]]]] = {
    "every_10_s": _every_10_s,
    "every_5_min": lambda q: q[4::5],
    "last_only": lambda q: q[-1:],
    "gap": lambda q: q[:3] + q[7:],
    "resent_twice": lambda q: q + q,
    "each_twice": lambda q: [r for r in q for _ in range(2)],
    "reversed": lambda q: q[::-1],
    "shuffled": lambda q: random.Random(7).sample(q, len(q)),
}


@pytest.mark.parametrize("shape", QUEUE_SHAPES.values(), ids=QUEUE_SHAPES.keys())
async def test_any_queue_shape_is_owed_once(
    h16: Harness,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    shape: Callable[[list[tuple[int, str]]], list[tuple[int, str]]],
) -> None:
    """Was (436ac19^): 1,800 to 2,040 Wh by shape. Now 3,780 Wh, one SESSION_UPDATED, the
    lifetime 23,780 Wh: re-sent, reordered or sparse readings count once."""

    def reshaped(station: Station) -> None:
        station.queue = shape(station.queue)

    second, station = await stopped_then_idle(
        h16, directory, server_settings, Restart(queued=reshaped)
    )
    assert _updated(second) == [pytest.approx(TRUTH_WH, abs=1)]
    assert _session_wh(second) == pytest.approx(TRUTH_WH, abs=1)
    assert second.charger.lifetime_energy.total_wh == pytest.approx(station.wh)


async def test_a_register_in_kwh_steps_is_owed_up_to_its_stop(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """The queue reads whole kWh (the stop in Wh). Was (436ac19^): 2,000 Wh. Now 3,780 Wh."""
    queue_in_kwh: list[tuple[int, str]] = []

    def sent_in_kwh_below(station: Station) -> None:
        queue_in_kwh[:], station.queue = station.queue, []

    restart = Restart(queued=sent_in_kwh_below)
    async with restarted_behind(h16, directory, server_settings, restart) as (station, second, sim):
        for wh, stamp in queue_in_kwh:
            kwh = energy16(wh // 1000, unit="kWh")
            await sim.meter(1, [kwh], station.transaction_id, stamp)
        await station.charge(sim, 1)
        await station.stop(sim)
        ntp_sets_our_clock(station)
        await _idle(sim, station, station.wh, minutes=HALF_AN_HOUR)
    assert _session_wh(second) == pytest.approx(TRUTH_WH)


async def test_the_owed_rise_is_costed_at_the_price(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """At 0.30 a kWh the whole session costs 3.78 kWh x 0.30 (was, 436ac19^: 1,980 Wh costed)."""
    price = 0.30
    h16.charger.energy_price = price

    def restored_at_the_price(stored: dict[str, object]) -> Charger:
        restored = charger_from_dict(stored)
        restored.energy_price = price  # Home Assistant sets it again at its start
        return restored

    second, _ = await stopped_then_idle(
        h16, directory, server_settings, Restart(restore=restored_at_the_price)
    )
    session = second.charger.connector(1).last_transaction
    assert session is not None
    assert session.energy_wh == pytest.approx(TRUTH_WH)
    assert session.cost == pytest.approx(TRUTH_WH / 1000 * price)


CONNECTOR_2_BEGIN_WH = 50_000
CONNECTOR_2_PER_MINUTE_WH = 120


async def _minute_of_both(
    sim: SimCharger, station: Station, other_id: int, minute: int, *, charging: bool = True
) -> None:
    """A minute passes: connector 1 reads (charging, else idle without its transaction) and
    connector 2 (its own meter, charging) reads with the same stamp."""
    if charging:
        wh, stamp = station.next_minute()
    else:
        station.clock.tick(60)
        wh, stamp = station.wh, station.stamp()
    transaction_id = station.transaction_id if charging else None
    await sim.meter(1, [energy16(wh)], transaction_id, stamp)
    other_wh = CONNECTOR_2_BEGIN_WH + minute * CONNECTOR_2_PER_MINUTE_WH
    await sim.meter(2, [energy16(other_wh)], other_id, stamp)


async def test_two_connectors_one_ending_in_the_hold_one_charging_on(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Connector 1 stops in the hold; connector 2 (its own meter, 120 Wh a minute) charges 40
    minutes more across NTP. Was (436ac19^): connector 1 1,980 Wh. Now 3,780 Wh, one
    SESSION_UPDATED (connector 1's); connector 2 exact (7,320 Wh) before and after."""
    with our_clock() as clock:
        station = Station(clock)
        first = await h16.charger_client(boot=False)
        started = await first.start_tx(meter=BEGIN_WH, timestamp=station.stamp())
        other = await first.start_tx(
            connector_id=2, meter=CONNECTOR_2_BEGIN_WH, timestamp=station.stamp()
        )
        station.transaction_id, other_id = started.transaction_id, other.transaction_id
        for minute in range(1, 11):
            await _minute_of_both(first, station, other_id, minute)
        stored = _stored(h16)
        queue = [(station.next_minute(), minute) for minute in range(11, 21)]
        clock.step(-HOST_BEHIND)
        station.lead = HOST_BEHIND
        async with harness_with(
            charger_from_dict(stored), directory, server_settings, type(h16)
        ) as second:
            sim = await second.charger_client(boot=False)
            for (wh, stamp), minute in queue:
                other_wh = CONNECTOR_2_BEGIN_WH + minute * CONNECTOR_2_PER_MINUTE_WH
                await station.send(sim, wh, stamp)
                await sim.meter(2, [energy16(other_wh)], other_id, stamp)
            await _minute_of_both(sim, station, other_id, 21)
            await station.stop(sim)
            for minute in range(22, 62):
                if minute == 42:
                    ntp_sets_our_clock(station)
                await _minute_of_both(sim, station, other_id, minute, charging=False)
            other_wh = CONNECTOR_2_BEGIN_WH + 61 * CONNECTOR_2_PER_MINUTE_WH
            await sim.call(
                call.StopTransaction(
                    meter_stop=other_wh, timestamp=station.stamp(), transaction_id=other_id
                )
            )
    assert _session_wh(second) == pytest.approx(TRUTH_WH)
    assert _session_wh(second, 2) == pytest.approx(61 * CONNECTOR_2_PER_MINUTE_WH)
    assert _updated(second) == [pytest.approx(TRUTH_WH)]


async def test_a_station_that_sets_its_clock_by_ours_loses_nothing(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """After the queue the station sets its clock by our Heartbeat answer (45 min behind): its
    stamps go back while it charges 5 minutes more. Was (436ac19^): 2,880 Wh of 4,500 (the
    queue's rise cut as a jump). Now 4,500 Wh (its readings stamped before the base are taken
    once plausible)."""
    async with restarted_behind(h16, directory, server_settings) as (station, second, sim):
        station.lead = timedelta(0)
        await station.charge(sim, 5)
        await station.stop(sim)
    assert _session_wh(second) == pytest.approx(station.wh - BEGIN_WH)


async def _an_outlier_then_its_register(sim: SimCharger, station: Station) -> None:
    """A minute passes; one reading 50 kWh high, then the register as charged."""
    station.clock.tick(60)
    station.wh += PER_MINUTE_WH
    await station.send(sim, station.wh + OUTLIER_WH, station.stamp())
    await station.send(sim, station.wh, station.stamp())


async def _station_clock_set_back(
    h16: Harness,
    directory: MemoryDirectory,
    settings: ServerSettings,
    *,
    reset: bool,
    outlier: bool,
) -> tuple[Harness, float]:
    """The station's clock runs 3 h ahead; after the restart (our clock 45 min behind) and its
    queue it is set right (its stamps go back 3 h) while it charges; maybe its meter is replaced
    (a reset to 0); NTP sets our clock; maybe one reading 50 kWh high. The session's truth."""
    restart = Restart(station_error=THREE_HOURS)
    async with restarted_behind(h16, directory, settings, restart) as (station, second, sim):
        await station.charge(sim, 2)
        station.lead = HOST_BEHIND  # the station's clock is right from now on
        await station.charge(sim, 3)
        before_reset_wh = station.wh - BEGIN_WH
        if reset:
            station.wh = 0
            await station.charge(sim, 3)
        ntp_sets_our_clock(station)
        await station.charge(sim, 3)
        if outlier:
            await _an_outlier_then_its_register(sim, station)
        await station.charge(sim, 3)
        await station.stop(sim)
    truth_wh = before_reset_wh + station.wh if reset else station.wh - BEGIN_WH
    return second, truth_wh


@pytest.mark.parametrize("outlier", [False, True], ids=["plain", "one_outlier_after_ntp"])
async def test_a_station_clock_set_back_after_the_restart_loses_nothing(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings, outlier: bool
) -> None:
    """Was (436ac19^): 3,600 / 3,780 Wh of 5,580 / 5,760. Now the truth."""
    second, truth_wh = await _station_clock_set_back(
        h16, directory, server_settings, reset=False, outlier=outlier
    )
    assert _session_wh(second) == pytest.approx(truth_wh)


async def test_a_station_clock_set_back_then_a_reset_and_an_outlier_count_no_phantom(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """The meter is replaced (a reset to 0) 5 minutes after the station's clock went back; after
    NTP one reading is 50 kWh high. Truth 6,300 Wh (the reset's first minute is lost: 6,120).
    Was (436ac19^): 4,140 Wh; at 436ac19: 31,800 Wh (27,660 Wh of the outlier): the rise after
    the clock went back was taken as history by the charger's stamps (meter._apply_point now
    takes a plausible rise our clocks got after the base as the newest reading)."""
    second, truth_wh = await _station_clock_set_back(
        h16, directory, server_settings, reset=True, outlier=True
    )
    assert _session_wh(second) == pytest.approx(truth_wh - PER_MINUTE_WH)
    assert second.charger.lifetime_energy.total_wh <= BEGIN_WH + truth_wh


def _last_reading_claims(station: Station, claim_wh: int, stamp_lead: timedelta) -> None:
    """The queue's last reading (stamped ``stamp_lead`` later) claims ``claim_wh`` more than the
    station charged; the stop and the idle register repeat it."""
    last_wh, last_stamp = station.queue[-1]
    claimed_at = datetime.fromisoformat(last_stamp) + stamp_lead
    station.queue[-1] = (last_wh + claim_wh, claimed_at.isoformat())
    station.wh += claim_wh


async def _claim_in_the_hold_then_an_hour_idle(
    h16: Harness, directory: MemoryDirectory, settings: ServerSettings, queued: QueueChange
) -> tuple[Harness, Station]:
    return await stopped_then_idle(
        h16, directory, settings, Restart(queued=queued), idle_minutes=60
    )


async def _six_days_ahead_with_a_claim(
    h16: Harness, directory: MemoryDirectory, settings: ServerSettings, claim_wh: int
) -> tuple[Harness, Station]:
    """After the restart every stamp of the station claims 6 days more (within what a clock
    may be believed); its queue's last reading claims ``claim_wh`` more than it charged; NTP
    after the stop."""

    def six_days_ahead(station: Station) -> None:
        station.queue = [
            (wh, (datetime.fromisoformat(stamp) + SIX_DAYS).isoformat())
            for wh, stamp in station.queue
        ]
        _last_reading_claims(station, claim_wh, timedelta(0))
        station.lead += SIX_DAYS

    return await _claim_in_the_hold_then_an_hour_idle(h16, directory, settings, six_days_ahead)


async def test_a_station_six_days_ahead_is_owed_its_true_rise(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Was (436ac19^): 1,980 Wh, the lifetime 21,980. Now 3,780 / 23,780 Wh."""
    second, station = await _six_days_ahead_with_a_claim(h16, directory, server_settings, 0)
    assert _session_wh(second) == pytest.approx(TRUTH_WH)
    assert second.charger.lifetime_energy.total_wh == pytest.approx(station.wh)


async def test_a_claim_in_the_hold_is_never_owed_beyond_what_our_clocks_allow(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """The queue claims 10 kWh more than charged. Was (436ac19^): 1,980 / 21,980 Wh (the queue
    history); at 436ac19: 13,780 / 33,780 Wh (meter_held_end.credit_held_end bounded the owed
    rise by the allowance up to the latest reading: idle time after the end and the NTP step
    paid for the claim). Fixed by meter.held_rise_too_fast: once NTP set our clock, the held
    rise must fit the time from the restored register to when we read it (1,980 / 21,980 Wh:
    the claim confirmed as a jump)."""
    second, _ = await _six_days_ahead_with_a_claim(h16, directory, server_settings, 10_000)
    assert _session_wh(second) <= BOUND_BY_OUR_CLOCKS_WH
    assert second.charger.lifetime_energy.total_wh <= BEGIN_WH + BOUND_BY_OUR_CLOCKS_WH


@pytest.mark.parametrize("claim_wh", [10_000, 30_000])
@pytest.mark.parametrize("stamp_lead", [timedelta(0), SIX_DAYS], ids=["stamped_right", "6_days"])
async def test_one_reading_claiming_more_than_our_clocks_allow_is_never_owed(
    h16: Harness,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    claim_wh: int,
    stamp_lead: timedelta,
) -> None:
    """The queue's last reading alone claims 10 or 30 kWh more (stamped right or 6 days ahead),
    the stop repeats it. The session keeps 2,160 Wh (its tolerance), the same at 436ac19^."""
    second, _ = await _claim_in_the_hold_then_an_hour_idle(
        h16,
        directory,
        server_settings,
        lambda station: _last_reading_claims(station, claim_wh, stamp_lead),
    )
    assert _session_wh(second) <= BOUND_BY_OUR_CLOCKS_WH
    assert _updated(second) == []


async def _two_sessions_in_the_hold(
    h16: Harness, directory: MemoryDirectory, settings: ServerSettings, behind: timedelta
) -> tuple[float, float]:
    """Our host comes up ``behind``; the first session stops a minute after the queue, a second
    one starts at its stop register, charges 3 minutes (540 Wh) and stops, all in the hold; NTP;
    the station idles. The two sessions' energy."""

    def our_host_behind(station: Station) -> None:
        station.clock.step(HOST_BEHIND - behind)
        station.lead = behind

    restart = Restart(queued=our_host_behind)
    async with stopped_within_the_hold(h16, directory, settings, restart) as (station, second, sim):
        station.clock.tick(10)
        started = await sim.start_tx(meter=station.wh, timestamp=station.stamp())
        station.transaction_id = started.transaction_id
        await station.charge(sim, 3)
        await station.stop(sim)
        station.clock.step(behind)
        station.lead = timedelta(0)
        await _idle(sim, station, station.wh, minutes=HALF_AN_HOUR)
    ended = [t.energy_wh for t in second.charger.recently_ended]
    return ended[0], ended[1]


async def test_a_session_started_in_the_hold_is_never_owed_the_one_before(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Our host 90 minutes behind. Was (436ac19^): 1,980 / 540 Wh (the lifetime 1,800 Wh
    short); at 436ac19: 1,980 / 2,340 Wh (SESSION_ENDED 0, then SESSION_UPDATED 2,340): its
    StartTransaction, stamped > 1 h ahead of our clock, was dated by our clock
    (timeutil.MAX_FUTURE), which meter._since_base compared with the base's charger stamp: a
    late start counted from the register below its own meterStart. Fixed by the start register
    dated by the charger's own stamp (TransactionBook.start_transaction's meter_start_stamp) and
    a session started in the held rise owed its own part of it (meter_held_end.held_end): 3,780 /
    540 Wh."""
    _, second_wh = await _two_sessions_in_the_hold(
        h16, directory, server_settings, timedelta(minutes=90)
    )
    assert second_wh == pytest.approx(3 * PER_MINUTE_WH)


async def test_a_session_started_and_ended_in_the_hold_is_owed_its_own_rise(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Our host 45 minutes behind (its StartTransaction's stamp kept). Was (436ac19 and
    436ac19^): 3,780 / 0 Wh (its own rise, held, never owed to it: meter_held_end.held_end
    wanted its last counted point at the base). Fixed by a session started in the held rise
    owed its own part of it (meter_held_end.held_end, each ended session kept:
    RecordWatcher._held_ends): 3,780 / 540 Wh."""
    first_wh, second_wh = await _two_sessions_in_the_hold(
        h16, directory, server_settings, HOST_BEHIND
    )
    assert (first_wh, second_wh) == (pytest.approx(TRUTH_WH), pytest.approx(3 * PER_MINUTE_WH))


# --- old gaps ------------------------------------------------------------------------------------
def _at_the_build_date() -> timedelta:
    return datetime.fromisoformat(BUILD_DATE) - datetime.now(UTC)


@pytest.mark.parametrize(
    "station_error",
    [
        pytest.param(
            lambda: timedelta(minutes=-30),
            id="behind_by_less_than_our_step_back",
            marks=pytest.mark.xfail(
                strict=True,
                reason="old gap: observed 2,410 Wh (lifetime 22,410) for 3,780; 436ac19^ the "
                "same. A station 30 min behind stamps the stored register only 5 min ahead of "
                "our clock 45 min behind: no hold (meter_time.MAX_CLOCK_AHEAD_S), the queue's rise "
                "is cut as a jump",
            ),
        ),
        pytest.param(
            _at_the_build_date,
            id="at_its_build_date",
            marks=pytest.mark.xfail(
                strict=True,
                reason="old gap: observed 2,410 Wh (lifetime 22,410) for 3,780; 436ac19^ the "
                "same. A station clock at its 2021 build date: no stamp to believe, nothing "
                "held, the queue cut as a jump",
            ),
        ),
    ],
)
async def test_a_station_clock_behind_ours_is_held(
    h16: Harness,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    station_error: Callable[[], timedelta],
) -> None:
    second, _ = await stopped_then_idle(
        h16, directory, server_settings, Restart(station_error=station_error())
    )
    assert _session_wh(second) == pytest.approx(TRUTH_WH)


@pytest.mark.xfail(
    strict=True,
    reason="old gap: observed 3,490 Wh (lifetime 23,490) for 3,780; 436ac19^ the same. NTP steps "
    "our clock in the middle of the queue of a station 3 h ahead: 290 Wh cut",
)
async def test_ntp_in_the_middle_of_the_queue_of_a_station_ahead_loses_nothing(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    after_ntp: list[tuple[int, str]] = []

    def first_half_queued(station: Station) -> None:
        after_ntp[:], station.queue = station.queue[5:], station.queue[:5]

    restart = Restart(station_error=THREE_HOURS, queued=first_half_queued)
    async with restarted_behind(h16, directory, server_settings, restart) as (station, second, sim):
        ntp_sets_our_clock(station)
        for reading in after_ntp:
            await station.send(sim, *reading)
        await station.charge(sim, 1)
        await station.stop(sim)
    assert _session_wh(second) == pytest.approx(TRUTH_WH)


@pytest.mark.xfail(
    strict=True,
    reason="old gap: observed 1,980 Wh (lifetime 21,980) for 3,780 (23,780 Wh flowed); "
    "436ac19^ the same. A meter replaced after the stop (a reset) settles the owed rise as "
    "nothing (meter_held_end.credit_held_end), and the lifetime never takes it either",
)
async def test_a_meter_replaced_before_the_credit_keeps_the_owed_rise(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    async with stopped_within_the_hold(h16, directory, server_settings) as (station, second, sim):
        await _idle(sim, station, 0, minutes=2)
        ntp_sets_our_clock(station)
        await _idle(sim, station, 0, minutes=30)
    assert _session_wh(second) == pytest.approx(TRUTH_WH)
    assert second.charger.lifetime_energy.total_wh == pytest.approx(BEGIN_WH + TRUTH_WH)


@pytest.mark.xfail(
    strict=True,
    reason="old gap (named by 436ac19): observed 1,980 Wh for 3,780 (the lifetime right); "
    "436ac19^ the same. The owed rise is kept per connection (RecordWatcher._held_ends): a "
    "reconnect before our clocks take it forgets it",
)
async def test_a_reconnect_before_the_credit_keeps_the_owed_rise(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    async with stopped_within_the_hold(h16, directory, server_settings) as (station, second, _):
        sim = await second.charger_client(boot=False)
        ntp_sets_our_clock(station)
        await _idle(sim, station, station.wh, minutes=30)
    assert _session_wh(second) == pytest.approx(TRUTH_WH)


@pytest.mark.xfail(
    strict=True,
    reason="old gap: observed 1,980 Wh and the lifetime 21,980 for 3,780 / 23,780; 436ac19^ the "
    "same. A second restart of Home Assistant before our clocks took the held rise (our clock "
    "still behind) loses it for the session and the lifetime alike",
)
async def test_a_second_restart_before_the_credit_keeps_the_held_rise(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    async with stopped_within_the_hold(h16, directory, server_settings) as (station, second, _):
        restored = charger_from_dict(_stored(second))
        async with harness_with(restored, directory, server_settings, type(h16)) as third:
            sim = await third.charger_client(boot=False)
            await _idle(sim, station, station.wh, minutes=5)
            ntp_sets_our_clock(station)
            await _idle(sim, station, station.wh, minutes=30)
    assert third.charger.lifetime_energy.total_wh == pytest.approx(station.wh)
    assert _session_wh(third) == pytest.approx(TRUTH_WH)


async def test_a_station_clock_set_forward_makes_no_allowance_for_an_outlier(
    h16: Harness,
) -> None:
    """Our clock right throughout, no restart. Was: 52,700 Wh for 2,700 (the 2 h the stamps span
    once the station's clock is set right were allowance; meter_time._charger_elapsed_s bounds the
    time from a base received live by the time we waited)."""
    with our_clock() as clock:
        station = Station(clock, lead=timedelta(hours=-2))
        sim = await h16.charger_client(boot=False)
        started = await sim.start_tx(meter=BEGIN_WH, timestamp=station.stamp())
        station.transaction_id = started.transaction_id
        await station.charge(sim, 10)
        station.lead = timedelta(0)
        await _an_outlier_then_its_register(sim, station)
        await station.charge(sim, 4)
        await station.stop(sim)
    assert _session_wh(h16) == pytest.approx(station.wh - BEGIN_WH)
