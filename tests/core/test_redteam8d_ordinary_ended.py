"""Red team (8d): pins (pass here and at 7ddd7a6) of an ordinary 2.x station's live Ended
that carries the transaction's samples (TxEndedMeasurands). Since a28603c only its end reading
(context Transaction.End, else the newest) is applied live; the others as a queue's, with it
in one call, oldest first (charger_state.end_session). On EVSE 2 while EVSE 1 runs a session of its own: the
session's energy, the lifetime, the register it ended at, no power shown after the end, the
EVSE 1 session untouched, SESSION_ENDED once (no SESSION_UPDATED). Two regressions of a28603c
(both passed at 7ddd7a6), fixed since: an end sample stamped before the last periodic one lost
its SoC; an end sample without the register left a whole-charger meter's own use owed."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_ems.core.meter_values import ENERGY_REGISTER, POWER, SOC
from custom_components.ocpp_ems.core.model import EventKind

from .v16_harness import now_iso
from .v201_harness import V201Harness as Harness
from .v201_harness import sampled

BEGIN_WH = 10_000.0
STEP_WH = 120.0  # 7.2 kW over each minute
END_WH = BEGIN_WH + 2 * STEP_WH
CAR_W = 7200.0
OTHER_BEGIN_WH = 50_000.0
TOKEN = {"idToken": "TAG1", "type": "ISO14443"}
BEGIN, PERIODIC, END = "Transaction.Begin", "Sample.Periodic", "Transaction.End"


def entry(
    ago_s: float, context: str | None, wh: float | None = None, **more: float
) -> dict[str, Any]:
    """One meterValue ``ago_s`` before now: the register ``wh``, ``power`` (W), ``soc`` (%)."""
    samples = [] if wh is None else [sampled(wh, ENERGY_REGISTER, unit="Wh", context=context)]
    if "power" in more:
        samples.append(sampled(more["power"], POWER, unit="W", context=context))
    if "soc" in more:
        samples.append(sampled(more["soc"], SOC, unit="Percent", context=context))
    return {"timestamp": now_iso(-ago_s), "sampledValue": samples}


async def authorized_started(
    station: Any,
    transaction_id: str,
    evse: dict[str, Any],
    begin: list[dict[str, Any]] | None,
    **more: Any,
) -> None:
    """The transaction's Started by TOKEN, charging, carrying ``begin`` (its meter values)."""
    await station.tx_event(
        "Started",
        transaction_id,
        evse=evse,
        id_token=TOKEN,
        charging_state="Charging",
        meter_value=begin,
        **more,
    )


async def periodic_a_minute_in(
    station: Any, evse: dict[str, Any] | None = None, **sample: float
) -> None:
    """T's Updated a minute in: the register at BEGIN_WH + STEP_WH, ``power``/``soc`` as given."""
    await station.tx_event(
        "Updated",
        "T",
        evse=evse,
        trigger_reason="MeterValuePeriodic",
        meter_value=[entry(60, PERIODIC, BEGIN_WH + STEP_WH, **sample)],
        timestamp=now_iso(-60),
    )


async def ended_as_the_car_left(
    station: Any, samples: list[dict[str, Any]], transaction_id: str = "T", **more: Any
) -> None:
    """The transaction's Ended as the car unplugged, carrying ``samples``."""
    await station.tx_event(
        "Ended",
        transaction_id,
        trigger_reason="EVCommunicationLost",
        stopped_reason="EVDisconnected",
        meter_value=samples,
        **more,
    )


TX_ENDED_SAMPLES = {
    "begin_periodic_end": [
        entry(120, BEGIN, BEGIN_WH),
        entry(60, PERIODIC, BEGIN_WH + STEP_WH, power=CAR_W),
        entry(0, END, END_WH, power=CAR_W, soc=80),
    ],
    "end_first_in_the_list": [
        entry(0, END, END_WH, power=CAR_W, soc=80),
        entry(120, BEGIN, BEGIN_WH),
        entry(60, PERIODIC, BEGIN_WH + STEP_WH, power=CAR_W),
    ],
    "no_contexts": [
        entry(120, None, BEGIN_WH),
        entry(60, None, BEGIN_WH + STEP_WH, power=CAR_W),
        entry(0, None, END_WH, power=CAR_W, soc=80),
    ],
    # The end sample without the register: it came in a periodic entry of the same second.
    "end_sample_soc_and_power_only": [
        entry(120, BEGIN, BEGIN_WH),
        entry(0, PERIODIC, END_WH),
        entry(0, END, soc=80, power=CAR_W),
    ],
    # The end sample stamped a second before the last periodic one (read just before it).
    "end_sample_not_the_newest": [
        entry(120, BEGIN, BEGIN_WH),
        entry(0, PERIODIC, END_WH - 2, power=CAR_W),
        entry(1, END, END_WH, soc=80),
    ],
}


async def run_other_session(station: Any) -> None:
    begin = [entry(0, BEGIN, OTHER_BEGIN_WH, power=3000)]
    await authorized_started(station, "OTHER", {"id": 1, "connectorId": 1}, begin)


async def end_a_session(h2: Harness, samples: str, begin_sent: bool) -> None:
    """EVSE 1 runs OTHER; on EVSE 2, T is Started (``begin_sent``: with its register, then an
    Updated with SoC 79 %; else bare) and Ended with ``TX_ENDED_SAMPLES[samples]``."""
    station = await h2.charger_client(boot=True)
    await run_other_session(station)
    evse = {"id": 2, "connectorId": 1}
    started_with = [entry(120, BEGIN, BEGIN_WH, power=CAR_W)] if begin_sent else None
    await authorized_started(station, "T", evse, started_with, timestamp=now_iso(-120))
    if begin_sent:
        await periodic_a_minute_in(station, evse, power=CAR_W, soc=79)
    await ended_as_the_car_left(station, TX_ENDED_SAMPLES[samples], evse=evse)


@pytest.mark.parametrize("samples", sorted(TX_ENDED_SAMPLES))
@pytest.mark.parametrize("begin_sent", [True, False], ids=["started_with_register", "bare"])
async def test_an_ended_with_the_transactions_samples(
    h2: Harness, samples: str, begin_sent: bool
) -> None:
    """``bare``: a station that sends readings only in its Ended (a Started without meter
    values, no Updated): the Begin sample in the Ended is the session's start."""
    await end_a_session(h2, samples, begin_sent)
    connector = h2.charger.connector(2)
    ended = connector.last_transaction
    assert connector.transaction is None
    assert ended is not None
    assert (ended.energy_wh, ended.meter_last_wh) == (END_WH - BEGIN_WH, END_WH)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(END_WH - BEGIN_WH + OTHER_BEGIN_WH)
    assert (connector.meter.power_w, connector.meter.energy_register_wh) == (0.0, END_WH)
    other = h2.charger.connector(1).transaction
    assert other is not None
    assert other.energy_wh == 0
    ends = (EventKind.SESSION_ENDED, EventKind.SESSION_UPDATED)
    assert [(e.kind, e.data["energy_wh"]) for e in h2.events if e.kind in ends] == [
        (EventKind.SESSION_ENDED, END_WH - BEGIN_WH)
    ]


@pytest.mark.parametrize("samples", sorted(TX_ENDED_SAMPLES))
async def test_the_end_samples_soc_is_shown_after_the_end(h2: Harness, samples: str) -> None:
    """The car's SoC at the end (in the Transaction.End sample) is what stays shown. Was 79 %
    for ``end_sample_not_the_newest`` (a28603c: the end sample, stamped 1 s before the last
    periodic one, applied after it and dropped as older); fixed: the Ended's readings are
    applied together, oldest first (charger_state.end_session)."""
    await end_a_session(h2, samples, begin_sent=True)
    assert h2.charger.connector(2).meter.soc_percent == 80


WHOLE_CHARGER_WH = 100_000.0
OWN_USE_WH = 300.0 - (END_WH - BEGIN_WH)  # EVSE 0 rose 300 Wh while the outlet took 240
NEXT_RISE_WH = 100.0
# What EVSE 0 reads after the session, and once the outlet's next session rose NEXT_RISE_WH.
WHOLE_CHARGER_USED_WH = WHOLE_CHARGER_WH + END_WH - BEGIN_WH + OWN_USE_WH
LIFETIME_AFTER_NEXT_RISE_WH = WHOLE_CHARGER_USED_WH + NEXT_RISE_WH
WHOLE_CHARGER_EVSE = {"id": 1, "connectorId": 1}


async def started_beside_a_whole_charger_meter(h2: Harness) -> Any:
    """A station with a whole-charger meter (EVSE 0): T on EVSE 1 from BEGIN_WH; EVSE 0 then
    reads WHOLE_CHARGER_USED_WH (60 Wh of its own use during T). The station."""
    station = await h2.charger_client(boot=True)
    whole = sampled(WHOLE_CHARGER_WH, ENERGY_REGISTER, unit="Wh")
    await station.meter_values(0, [whole], now_iso(-130))
    begin = [entry(120, BEGIN, BEGIN_WH)]
    await authorized_started(station, "T", WHOLE_CHARGER_EVSE, begin, timestamp=now_iso(-120))
    used = sampled(WHOLE_CHARGER_USED_WH, ENERGY_REGISTER, unit="Wh")
    await station.meter_values(0, [used], now_iso(-30))
    return station


async def next_session_rises(station: Any) -> None:
    """After T: U starts at END_WH and its outlet reads NEXT_RISE_WH more (before EVSE 0)."""
    await authorized_started(station, "U", WHOLE_CHARGER_EVSE, [entry(0, BEGIN, END_WH)])
    next_wh = END_WH + NEXT_RISE_WH
    await station.meter_values(1, [sampled(next_wh, ENERGY_REGISTER, unit="Wh")], now_iso())


@pytest.mark.parametrize(
    "end_has_register", [True, False], ids=["register_in_end_sample", "register_in_periodic_entry"]
)
async def test_the_whole_chargers_own_use_is_settled_at_the_end(
    h2: Harness, end_has_register: bool
) -> None:
    """A station with a whole-charger meter (EVSE 0): it counted 60 Wh of its own use during
    the session. The Ended's register comes in the end sample, or in a Sample.Periodic entry a
    second before an end sample with the SoC only. After the end, the outlet's next 100 Wh
    count before EVSE 0 reports them. Was 100,340 Wh for 100,400 in the periodic entry's case
    (a28603c: the end reported by the end sample's register alone, transaction_book.TransactionBook._close)."""
    station = await started_beside_a_whole_charger_meter(h2)
    register_at_end = END_WH if end_has_register else None
    samples = [entry(1, PERIODIC, END_WH), entry(0, END, register_at_end, soc=80)]
    await ended_as_the_car_left(station, samples, evse=WHOLE_CHARGER_EVSE)
    await next_session_rises(station)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(LIFETIME_AFTER_NEXT_RISE_WH)
