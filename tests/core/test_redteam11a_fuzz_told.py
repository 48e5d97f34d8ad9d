"""Red team 11a: a seeded fuzz of the charger model (ChargerState) against 436ac19's change of
how registers are applied and told (RecordWatcher.watching_records, _tell; meter._since_base;
meter_held_end). A station of one or two connectors charges at random powers, read every 10 s
to 15 min, with one-off outliers (+-5 / 50 kWh), re-sent readings, meter replacements, clocks
3 h ahead, 2 h behind, in 2037, at a build date or 6 days ahead, sessions with and without a
meterStop, reconnects, and restarts of Home Assistant (stored, restored, the station's queue
sent, sometimes twice or reordered); ``behind``: our host's clock comes up 10 min to 3 h behind
after a restart, until NTP.

Measured with this generator at 436ac19 and at 436ac19^ (600 sequences each way): our clock
never behind: every session's energy and cost, the lifetime and the SESSION_ENDED / UPDATED
records identical in 600 of 600 (6 differ in how often listeners heard: late readings told once,
not twice). Our clock behind: 31 of 600 differ, 23 nearer the truth, 7 farther; the worst
(+44,358 Wh) is test_redteam11a_held_end_v16's station clock set back, reset and outlier.

Pinned here, both ways, for 200 and 120 sequences: what listeners were told last and what the
store was asked to keep last show every record as it ends up (an energy change never goes
untold or unsaved), each session costs its energy at the price, the lifetime never goes down.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from unittest.mock import patch

import pytest
from freezegun import freeze_time

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.meter_values import Reading
from custom_components.ocpp_ems.core.model import (
    Charger,
    ChargerEvent,
    ConnectorStatus,
    EventKind,
    Transaction,
)
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.session import SessionContext
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_rules import MINUTE, T0, energy, our_clock_a_day_later, start
from .test_meter_clock_hold_told_once import _state_told
from .test_time_hostile import BUILD_DATE, OurClock

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PRICE = 0.25
DEAR = 0.40
READ_EVERY_S = (10, 60, 60, 300, 900)
CAR_KW = (3.7, 7.4, 11.0, 22.0)
FIRST_REGISTERS_WH = (0.0, 1_000.0, 20_000.0, 123_456.0)
STATION_CLOCK_ERRORS = (
    timedelta(0),
    timedelta(hours=3),
    timedelta(hours=-2),
    timedelta(days=6),
)
OUR_CLOCK_STEPS_BACK = (timedelta(minutes=10), timedelta(minutes=45), timedelta(hours=3))

type Records = tuple[tuple[tuple[str, float, float | None], ...], float]


@dataclass
class Outlet:
    """One connector's meter at the station and its session there."""

    register_wh: float
    car_kw: float
    transaction_id: str | None = None


@dataclass
class Told:
    """What listeners last heard and what the store was last asked to keep, as records."""

    notified: Records | None = None
    saved: Records | None = None
    # Each ended session's energy as SESSION_ENDED, then SESSION_UPDATED, last told it.
    ended: dict[str, float] = field(default_factory=dict)


def _records(charger: Charger) -> Records:
    """Every session the charger knows (energy, cost) and the lifetime total."""
    known: dict[int, Transaction] = {id(t): t for t in charger.recently_ended}
    for connector in charger.connectors.values():
        for session in (connector.transaction, connector.last_transaction):
            if session is not None:
                known[id(session)] = session
    sessions = sorted(
        (t.transaction_id, round(t.energy_wh, 6), None if t.cost is None else round(t.cost, 9))
        for t in known.values()
    )
    return tuple(sessions), round(charger.lifetime_energy.total_wh, 6)


@dataclass
class Fuzz:
    """A seeded station driving a charger model; ``behind``: our clock comes up behind."""

    rnd: random.Random
    clock: OurClock
    behind: bool
    charger: Charger = field(default_factory=lambda: Charger(charger_id="c"))
    told: Told = field(default_factory=Told)
    outlets: dict[int, Outlet] = field(default_factory=dict)
    station_error: timedelta = timedelta(0)
    our_error: timedelta = timedelta(0)
    stored: dict[str, object] | None = None  # Home Assistant is down (what it stored)
    # What the station queued while Home Assistant was down, in order (True: a reading).
    queue: list[tuple[Callable[[], object], bool]] = field(default_factory=list)
    sent: list[Callable[[], object]] = field(default_factory=list)
    started: int = 0
    lifetime_wh: float = 0.0
    # The price changes now and then between PRICE and DEAR (the tariff's next slot).
    price_changes: bool = False
    price: float = PRICE

    def __post_init__(self) -> None:
        self.state = self._connect()
        for connector_id in range(1, self.rnd.choice([1, 1, 2]) + 1):
            first_wh = self.rnd.choice(FIRST_REGISTERS_WH)
            self.outlets[connector_id] = Outlet(first_wh, self.rnd.choice(CAR_KW))
        self.read_every_s = self.rnd.choice(READ_EVERY_S)

    def _connect(self) -> ChargerState:
        directory = MemoryDirectory()
        self.charger.energy_price = self.price
        self.charger.add_listener(self._heard)
        context = SessionContext(
            directory=directory,
            server_settings=ServerSettings(),
            admission=lambda: Admission.ACCEPTED,
            charger_settings=lambda: directory.settings("c"),
            request_save=self._saved,
            on_booted=lambda: None,
        )
        return ChargerState(self.charger, context)

    def _heard(self, event: ChargerEvent | None) -> None:
        if event is None:
            self.told.notified = _records(self.charger)
        elif event.kind in (EventKind.SESSION_ENDED, EventKind.SESSION_UPDATED):
            self.told.ended[event.data["transaction_id"]] = event.data["energy_wh"]

    def _saved(self) -> None:
        self.told.saved = _records(self.charger)

    def _stamp(self) -> datetime:
        return datetime.now(UTC) - self.our_error + self.station_error

    # --- what the station does -------------------------------------------------------------------
    def minute_passes(self) -> None:
        seconds = self.read_every_s * self.rnd.choice([1, 1, 1, 0.5, 2])
        self.clock.tick(seconds)
        for connector_id, outlet in self.outlets.items():
            if outlet.transaction_id is not None:
                pace = self.rnd.choice([1, 1, 0.5, 0])
                outlet.register_wh += outlet.car_kw * 1000 * seconds / 3600 * pace
            self._session_news(connector_id, outlet)
            self._odd_reading(connector_id, outlet)
            tagged = outlet.transaction_id if self.rnd.random() < 0.9 else None
            self._read(connector_id, outlet.register_wh, tagged)
        self._site_news()
        if self.price_changes and self.rnd.random() < 0.1:
            self.price = DEAR if self.price == PRICE else PRICE
            if self.stored is None:  # Home Assistant is up to see it
                self.charger.energy_price = self.price

    def _session_news(self, connector_id: int, outlet: Outlet) -> None:
        if outlet.transaction_id is None and self.rnd.random() < 0.08:
            self.started += 1
            outlet.transaction_id = transaction_id = f"T{self.started}"
            started, start_wh = self._stamp(), round(outlet.register_wh)
            self._send(
                lambda: self.state.start_transaction(
                    connector_id,
                    transaction_id,
                    id_tag="TAG",
                    started=started,
                    meter_start_wh=start_wh,
                    authorized=True,
                )
            )
        elif outlet.transaction_id is not None and self.rnd.random() < 0.05:
            self.stop(outlet)

    def stop(self, outlet: Outlet) -> None:
        transaction_id, stop_wh = str(outlet.transaction_id), round(outlet.register_wh)
        with_stop = self.rnd.random() < 0.9
        ended = self._stamp()
        outlet.transaction_id = None
        self._send(
            lambda: self.state.end_transaction(
                transaction_id,
                ended=ended,
                reason="Local",
                meter_stop_wh=stop_wh if with_stop else None,
            )
        )

    def _odd_reading(self, connector_id: int, outlet: Outlet) -> None:
        odd = self.rnd.random()
        if odd < 0.03:
            step = self.rnd.choice([-1, 1]) * self.rnd.choice([5_000, 50_000])
            self._read(connector_id, max(0.0, outlet.register_wh + step), outlet.transaction_id)
        elif odd < 0.06 and self.sent and self.stored is None:
            self.rnd.choice(self.sent)()  # re-sent
        elif odd < 0.065:
            outlet.register_wh = 0.0  # the meter replaced

    def _site_news(self) -> None:
        news = self.rnd.random()
        if self.stored is None and news < 0.03:
            self.stored = json.loads(json.dumps(charger_to_dict(self.charger)))
        elif self.stored is not None and news < 0.25:
            self.restart()
        elif news < 0.28 and self.stored is None:
            self.state = self._connect()  # the station reconnects
        elif news < 0.30:
            self.station_error = self._station_clock()
        elif news < 0.33:
            self.ntp()

    def _station_clock(self) -> timedelta:
        true_now = datetime.now(UTC) - self.our_error
        wrong = self.rnd.choice([*STATION_CLOCK_ERRORS, "2037", "build_date"])
        if wrong == "2037":
            return datetime(2037, 1, 1, tzinfo=UTC) - true_now
        if wrong == "build_date":
            return datetime.fromisoformat(BUILD_DATE) - true_now
        assert isinstance(wrong, timedelta)
        return wrong

    # --- what Home Assistant gets ----------------------------------------------------------------
    def _read(self, connector_id: int, register_wh: float, transaction_id: str | None) -> None:
        reading = Reading(timestamp=self._stamp(), energy_register_wh=round(register_wh))
        apply = partial(self._apply, connector_id, reading, transaction_id)
        if self.stored is not None:
            self.queue.append((apply, True))
        else:
            apply()

    def _apply(self, connector_id: int, reading: Reading, transaction_id: str | None) -> None:
        self.state.record_meter(connector_id, [reading], transaction_id=transaction_id)
        self.sent.append(partial(self._apply, connector_id, reading, transaction_id))

    def _send(self, message: Callable[[], object]) -> None:
        """A start or a stop: now, or after the restart (queued in order with the readings)."""
        if self.stored is not None:
            self.queue.append((message, False))
        else:
            message()

    def restart(self) -> None:
        assert self.stored is not None
        self.charger = charger_from_dict(self.stored)
        self.stored = None
        self.state = self._connect()
        if self.behind and self.rnd.random() < 0.7:
            back = self.rnd.choice(OUR_CLOCK_STEPS_BACK)
            self.clock.step(-back)
            self.our_error -= back
        queue, self.queue = self.queue, []
        for send, _ in queue:
            send()
        if self.rnd.random() < 0.2:
            for send, reading in queue[: len(queue) // 2]:
                if reading:
                    send()  # sent again

    def ntp(self) -> None:
        self.clock.step(-self.our_error)
        self.our_error = timedelta(0)

    def lifetime_never_went_down(self) -> bool:
        total = self.charger.lifetime_energy.total_wh
        kept = total >= self.lifetime_wh - 1e-6
        self.lifetime_wh = total
        return kept


@contextmanager
def _our_frozen_clock(seed: int) -> Iterator[OurClock]:
    """Our clock, run by the fuzz alone (no real time passes: the same sequence every time)."""
    with freeze_time(START + timedelta(days=seed % 50), tick=False) as frozen:
        clock = OurClock(frozen, 1000.0)  # type: ignore[arg-type]
        with patch.object(time, "monotonic", clock.monotonic):
            yield clock


def _fuzzed(seed: int, *, behind: bool, price_changes: bool = False) -> Fuzz:
    """Sequence ``seed`` run to its end: the sessions still open stop, the station idles 30
    minutes (NTP sets our clock after 10, mostly)."""
    with _our_frozen_clock(seed) as clock:
        fuzz = Fuzz(random.Random(seed), clock, behind, price_changes=price_changes)
        for _ in range(fuzz.rnd.randint(30, 120)):
            fuzz.minute_passes()
            assert fuzz.lifetime_never_went_down(), f"seed {seed}"
        if fuzz.stored is not None:
            fuzz.restart()
        for outlet in fuzz.outlets.values():
            if outlet.transaction_id is not None:
                clock.tick(60)
                fuzz.stop(outlet)
        for minute in range(30):
            if minute == 10 and fuzz.rnd.random() < 0.7:
                fuzz.ntp()
            clock.tick(60)
            for connector_id, outlet in fuzz.outlets.items():
                fuzz._read(connector_id, outlet.register_wh, None)
            assert fuzz.lifetime_never_went_down(), f"seed {seed}"
        return fuzz


@pytest.mark.parametrize(
    ("behind", "sequences"), [(False, 200), (True, 120)], ids=["right", "behind"]
)
def test_every_record_change_is_told_and_kept_and_costed(behind: bool, sequences: int) -> None:
    """Both ways (436ac19 and 436ac19^): no sequence leaves a record changed untold or
    unsaved, nor an ended session's energy other than SESSION_ENDED / UPDATED last told it;
    cost = energy x price for every session (the price known throughout)."""
    for seed in range(sequences):
        fuzz = _fuzzed(seed, behind=behind)
        final = _records(fuzz.charger)
        assert (fuzz.told.notified, fuzz.told.saved) == (final, final), f"seed {seed}"
        for transaction_id, energy_wh, cost in final[0]:
            assert cost == pytest.approx(energy_wh / 1000 * PRICE), f"seed {seed} {transaction_id}"
        ended = {t.transaction_id: t.energy_wh for t in fuzz.charger.recently_ended}
        told = {tx: fuzz.told.ended.get(tx) for tx in ended}
        assert told == pytest.approx(ended), f"seed {seed}"


@pytest.mark.parametrize("behind", [False, True], ids=["right", "behind"])
def test_a_changing_price_costs_each_session_between_its_prices(behind: bool) -> None:
    """The same hostile sequences with the price changing now and then (also while Home
    Assistant is down): every session's cost lies between its energy at the lower and at the
    higher price, whatever the stamps and our clock did (costs by when the energy was drawn)."""
    for seed in range(120):
        fuzz = _fuzzed(seed, behind=behind, price_changes=True)
        for transaction_id, energy_wh, cost in _records(fuzz.charger)[0]:
            assert cost is not None, f"seed {seed} {transaction_id}"
            low, high = energy_wh / 1000 * PRICE, energy_wh / 1000 * DEAR
            assert low - 1e-9 <= cost <= high + 1e-9, f"seed {seed} {transaction_id}"


SEEN = T0 + timedelta(days=1) - 20 * MINUTE  # the running session's last reading


def _charging(state: ChargerState) -> None:
    start(state, 1000, at=SEEN - 10 * MINUTE)
    state.record_meter(1, [energy(SEEN, 1100)], transaction_id="1")


@our_clock_a_day_later
@pytest.mark.parametrize(
    "news",
    [
        Reading(timestamp=SEEN + 30 * MINUTE, power_w=7000),  # a clock 10 min ahead, alone
        Reading(timestamp=SEEN + MINUTE, power_w=7000),  # power, no register
    ],
    ids=["skew_alone", "no_register"],
)
def test_news_without_a_register_is_told_once_and_not_saved(news: Reading) -> None:
    """The same at 436ac19^: one notification, no save (nothing to keep)."""
    state, told = _state_told()
    _charging(state)
    told.notified, told.saves = 0, 0
    state.record_meter(1, [news], transaction_id="1")
    assert (told.notified, told.saves) == (1, 0)


@our_clock_a_day_later
def test_a_status_alone_is_told_once() -> None:
    state, told = _state_told()
    _charging(state)
    told.notified, told.saves = 0, 0
    state.record_status(1, ConnectorStatus.SUSPENDED_EV, timestamp=SEEN + MINUTE)
    assert (told.notified, told.saves) == (1, 0)
