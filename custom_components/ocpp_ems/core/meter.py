"""Readings -> :class:`~.model.MeterState`, energy counters and session energy.

Applies the readings :mod:`.meter_values` parsed (and a start's or stop's register) to the model:
real chargers send readings out of order, and energy registers that reset or jump; none of that
may corrupt the lifetime total or shrink a running session's energy. How much time and energy lie
between two register points is :mod:`.meter_time`'s.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import NamedTuple

from . import meter_life_before as life_before  # by module: it imports this one in turn
from .meter_lifetime import count_lifetime, sole_lifetime_source
from .meter_time import (
    ENERGY_TOLERANCE_WH,
    Reception,
    believable_stamp,
    by_our_clock_now,
    charger_time,
    effective_time,
    follow_clock,
    later_s,
    max_energy_wh,
    max_power_w,
    on_live_clock,
    own_stamp,
    received_of,
    reception,
    replaced_stamp,
    rise_allowance,
    stamp_by_our_clock,
    time_of,
    time_since,
    too_far_ahead,
)
from .meter_values import Reading
from .model import (
    Charger,
    Connector,
    ConnectorStatus,
    MeterState,
    PhaseValues,
    RegisterPoint,
    Transaction,
)
from .settings import ChargerSettings
from .timeutil import utcnow

_LOGGER = logging.getLogger(__name__)

# --- applying readings to the model -------------------------------------------------------------
#
# Energy is physically plausible or it is not counted (its bounds: :mod:`.meter_time`).

_DEFAULT_MAX_POWER_W = max_power_w(ChargerSettings())


def apply_reading(
    charger: Charger,
    connector_id: int,
    reading: Reading,
    transaction: Transaction | None,
    *,
    max_power: float | None = None,
    received: datetime | None = None,
    live: bool = False,
) -> bool:
    """Write ``reading`` into the connector (and its energy into the transaction). False when it
    changed nothing: replayed history (StopTransaction's transactionData) must not move state or
    energy back. ``received``: when we got it (default now); ``max_power``: see :func:`max_power_w`;
    ``live``: the charger sent it as taken now (a 2.x TransactionEvent not flagged offline), so
    in its register's present life whatever its stamp
    (:func:`~.meter_life_before.of_life_before`).
    """
    connector = charger.connector(connector_id)
    meter = connector.meter
    got = reception(received)
    at = got[0]
    apply_register = partial(
        _apply_register,
        charger,
        connector,
        reading,
        transaction,
        max_power=max_power,
        received=received,
    )
    applied = apply_register(live=live)
    live_offset = None if applied.taken_before else follow_clock(charger, reading.timestamp, at)
    if live_offset is not None and applied.base_wh is not None:
        # The base itself confirmed it: received live (unless across our answer: settled_s).
        meter._energy_live_offset_s = charger._live_clock.settled_s
    if applied.before_reset and on_live_clock(reading.timestamp, at, live_offset):
        # Taken now, so in the register's new life: the charger's clock went back since.
        applied = apply_register(live=True)
    changed, base_wh = applied.changed, applied.base_wh
    # A register the meter took for history (False although it has one), or a time before the
    # values shown: its power etc. are history too.
    register_history = reading.energy_register_wh is not None and not changed
    older = register_history or _before_shown(meter, reading, got, live_offset, base_wh)
    if (
        reading.signed is not None
        and transaction is not None
        and transaction.connector_id == connector_id
    ):
        _keep_signed(transaction, reading, late=older)
    if older:
        return changed  # older than what the connector shows: its power etc. are history
    if reading.power_w is not None:
        meter.power_w = reading.power_w
    if reading.current_a:
        meter.current_a = _phase_values(reading.current_a)
    if reading.voltage_v:
        meter.voltage_v = _phase_values(reading.voltage_v)
    if reading.offered_current_a is not None:
        meter.offered_current_a = reading.offered_current_a
    if reading.soc_percent is not None:
        meter.soc_percent = reading.soc_percent
    if reading.temperature_c is not None:
        meter.temperature_c = reading.temperature_c
    if reading.signed is not None:
        meter.signed_meter_value = reading.signed
    meter._previous_shown = _shown(meter)
    meter._shown_register_wh = base_wh
    when = time_of(reading.timestamp, at)
    meter.timestamp = when
    meter._charger_stamp = replaced_stamp(reading.timestamp, when)
    meter._received_at, meter._received_monotonic = got
    return True


def _before_shown(
    meter: MeterState,
    reading: Reading,
    got: tuple[datetime, float | None],
    live_offset: float | None,
    base_wh: float | None,
) -> bool:
    """Whether ``reading`` (received ``got``) was taken before the values the connector shows: the
    charger stamped it before them, as :func:`later_s` compares its own stamps (also those
    :func:`effective_time` replaced: one clock stamped them all), unless its register, the
    connector's base now (``base_wh``), proves it taken after them (:func:`_register_proves_after`:
    the first live reading after the charger's clock went back is shown at once). Stamped after
    the values shown before them (or none were), it is an offline queue flushed after a live
    reading. Stamped before both, it is live only as the charger's clock that went back (local
    time at the end of summer time, an NTP correction) and stays back: its own offset off our
    clock is the one its live readings confirmed with it (``live_offset``,
    :func:`~.meter_time.follow_live_clock`). Else it is a queue flushed after two or more live
    readings, whose values must not replace theirs."""
    shown = _shown(meter)
    if shown is None or later_s(*shown, reading.timestamp, got) >= 0.0:
        return False
    if _register_proves_after(meter, reading.timestamp, base_wh):
        return False
    previous = meter._previous_shown
    if previous is None or later_s(*previous, reading.timestamp, got) > 0.0:
        return True
    return not on_live_clock(reading.timestamp, got[0], live_offset)


def _register_proves_after(meter: MeterState, stamp: datetime, base_wh: float | None) -> bool:
    """Whether a reading stamped ``stamp`` whose register became the connector's base at
    ``base_wh`` (None: it had none, or an implausible one) was taken after the values shown,
    whatever its stamp: a register only counts up, so one that rose past the register read with
    them (:func:`_rose_past`) was read after it. Not across a reset of the register: a reading
    stamped up to its new life's first value may be one of its life before."""
    shown_wh = meter._shown_register_wh
    return (
        base_wh is not None
        and shown_wh is not None
        and _rose_past(base_wh, shown_wh)
        and not life_before.stamped_before_reset(meter, stamp)
    )


def _shown(meter: MeterState) -> tuple[datetime, Reception] | None:
    """The charger's own stamp of the values shown, and when we got them (None: none shown)."""
    shown = shown_reading(meter)
    return None if shown is None else (shown.stamp or shown.time, shown.got)


def _sent_before_clock_went_back(
    meter: MeterState, timestamp: datetime, register_wh: float
) -> bool:
    """Whether ``register_wh`` (in Wh), stamped ``timestamp``, is one the connector's register
    gave before the charger's clock went back (:func:`count_from`), sent again (an offline queue
    kept through the reboot): below the register read then (not a coarser register's lag of it:
    the next session's first readings), and stamped up to then by the charger. Counted then;
    stamped after the base's time now, a rise of those would be taken for a register reset and
    counted again."""
    history = meter._history_before_clock_back
    return (
        history is not None
        and register_wh < history.register_wh
        and not _lags(register_wh, history.register_wh)
        and timestamp <= charger_time(history)
    )


# The steps a register counts in (Wh): whole kWh, 0.1 kWh, 0.01 kWh (else whole Wh or finer).
_REGISTER_STEPS_WH = (1000, 100, 10)


def _register_step_wh(register_wh: float) -> int:
    """The step of the register that gave ``register_wh``, as its value shows (5,400 Wh: 0.1 kWh).
    A finer register that happens to read a round value passes for a coarse one."""
    rounded = round(register_wh)
    return next((coarse for coarse in _REGISTER_STEPS_WH if rounded % coarse == 0), 1)


def _lags(register_wh: float, mark_wh: float) -> bool:
    """Whether ``register_wh`` lies below ``mark_wh`` by less than a step of the register that gave
    it (:func:`_register_step_wh`): the same energy, cut or rounded by a coarser register than the
    one that read ``mark_wh`` (a meterStart in Wh), never a reset."""
    return mark_wh - _register_step_wh(register_wh) < register_wh < mark_wh


def _rose_past(register_wh: float, mark_wh: float) -> bool:
    """Whether ``register_wh`` lies above ``mark_wh`` by a step of the register that gave it at
    least (:func:`_register_step_wh`): more energy, not the same rounded up by a coarser register
    (nor an unchanged one)."""
    return register_wh - mark_wh >= _register_step_wh(register_wh)


# A register value without a unit that is this many times below the base, while x 1000 it would
# be a plausible next value (from one kWh below the base: registers in whole kWh), is kWh: a
# 1.6 charger that leaves out ``unit="kWh"`` (its meterStart, in Wh by the spec, sets the base).
_UNITLESS_KWH_RATIO = 100.0
_KWH_WH = 1000.0


def apply_reading_energy(
    charger: Charger,
    connector: Connector,
    reading: Reading,
    transaction: Transaction | None,
    *,
    max_power: float | None = None,
    received: datetime | None = None,
) -> bool:
    """Feed the energy register of ``reading`` (if it has one) into :func:`apply_energy`, in the
    unit :func:`_register_wh` settles: every reading's register passes here, live or late (re-sent
    after its session ended). False when it had none or it was history."""
    return _apply_register(
        charger, connector, reading, transaction, max_power=max_power, received=received
    ).changed


class _RegisterApplied(NamedTuple):
    """What a reading's register did (:func:`_apply_register`)."""

    changed: bool  # it changed something (False: none, or history)
    taken_before: bool  # it shows the reading was taken before the connector's register
    base_wh: float | None  # the register (Wh) when it is the connector's base now
    # Not applied: it may be of the register's life before its reset
    # (:func:`~.meter_life_before.of_life_before`).
    before_reset: bool = False


def _apply_register(
    charger: Charger,
    connector: Connector,
    reading: Reading,
    transaction: Transaction | None,
    *,
    max_power: float | None,
    received: datetime | None,
    live: bool = False,
) -> _RegisterApplied:
    """:func:`apply_reading_energy`'s work: whether the register of ``reading`` changed anything,
    whether it shows the reading was taken before the connector's register (history below it, or
    given before the charger's clock went back: :func:`_sent_before_clock_went_back`), and the
    register in Wh when it became the connector's base (taken, not a candidate). A reading taken
    before shows the charger's clock as it was, not as it is: only the others note a clock ahead
    (:func:`effective_time`). History at the register (unchanged, stamped before it: a charger's
    clock that went back while no energy flowed) may be either. ``live``: the reading was taken
    in the register's present life (sent as taken now, or on the charger's live clock)."""
    register_wh = _register_wh(
        charger, connector, reading, transaction, max_power=max_power, received=received
    )
    if register_wh is None:
        return _RegisterApplied(changed=False, taken_before=False, base_wh=None)
    if _sent_before_clock_went_back(connector.meter, reading.timestamp, register_wh):
        return _RegisterApplied(changed=False, taken_before=True, base_wh=None)
    base = _base(charger, connector, transaction)
    point = _point(charger, register_wh, reading.timestamp, received)
    if not live and life_before.of_life_before(connector.meter, base, point):
        life_before.hold_life_before(connector.meter, point, _own(connector, transaction))
        return _RegisterApplied(changed=False, taken_before=False, base_wh=None, before_reset=True)
    changed = _apply_point(charger, connector, point, transaction, max_power=max_power)
    taken_before = not changed and base is not None and register_wh < base.register_wh
    if not taken_before:
        assert point.received_at is not None
        effective_time(charger, reading.timestamp, point.received_at)
    taken = changed and connector.meter.energy_candidate is None
    return _RegisterApplied(changed, taken_before, register_wh if taken else None)


def _own(connector: Connector, transaction: Transaction | None) -> Transaction | None:
    """``transaction`` when it is ``connector``'s: another connector's register (connector 0:
    the whole charger) is never that transaction's energy."""
    if transaction is not None and transaction.connector_id != connector.connector_id:
        return None
    return transaction


def _register_wh(
    charger: Charger,
    connector: Connector,
    reading: Reading,
    transaction: Transaction | None,
    *,
    max_power: float | None,
    received: datetime | None,
) -> float | None:
    """The energy register of ``reading`` in Wh: as parsed, or read as kWh when it was sent
    without a unit and only kWh makes it a plausible next value (else a 10 kWh session counted as
    10 Wh, the rest taken for a register reset; a Wh register that happens to fit gains no more
    than any plausible value may). Logged once per charger (``Charger.first_warning``)."""
    value = reading.energy_register_wh
    if value is None or not reading.energy_unit_missing:
        return value
    base = _base(charger, connector, transaction)
    if base is None or value * _UNITLESS_KWH_RATIO > base.register_wh:
        return value
    point = _point(charger, value, reading.timestamp, received)  # no clock state moves
    power = _DEFAULT_MAX_POWER_W if max_power is None else max_power
    allowance = rise_allowance(
        power,
        connector.meter.energy_slack_wh,
        base,
        point,
        live_offset_s=charger._live_clock.confirmed_s,
    )
    as_wh = value * _KWH_WH
    if not base.register_wh - _KWH_WH <= as_wh <= base.register_wh + allowance:
        return value  # a real reset, or no fit: the usual rules judge it
    if charger.first_warning("unitless kWh register"):
        _LOGGER.warning(
            "%s: energy register %s sent without a unit is %.0f Wh only as kWh (last %.0f Wh); "
            "reading it as kWh. Configure the charger to send unit kWh or Wh",
            charger.charger_id,
            value,
            as_wh,
            base.register_wh,
        )
    # A coarse register lags the base (a meterStart in Wh) by up to a step, a whole kWh at most:
    # no rise yet, never a reset.
    return base.register_wh if _lags(as_wh, base.register_wh) else as_wh


def _keep_signed(transaction: Transaction, reading: Reading, *, late: bool) -> None:
    """Signed data of the session: its first, and its latest (by the charger's context; a
    ``late`` reading, older than the connector's newest, is not the latest unless it ends the
    session)."""
    if transaction.signed_start is None or reading.context == "Transaction.Begin":
        transaction.signed_start = reading.signed
    if reading.context == "Transaction.End" or (
        reading.context != "Transaction.Begin" and not (late and transaction.signed_end is not None)
    ):
        transaction.signed_end = reading.signed


def _phase_values(values: dict[str, float]) -> PhaseValues:
    phases = PhaseValues()
    for key, value in values.items():
        phases.set(key, value)
    return phases


def apply_energy(
    charger: Charger,
    connector: Connector,
    register_wh: float,
    transaction: Transaction | None,
    timestamp: datetime | None = None,
    *,
    max_power: float | None = None,
    received: datetime | None = None,
) -> bool:
    """Feed one energy register value of ``connector`` (a reading, a start, a stop) into the
    lifetime counter and ``transaction``. Returns False when it was history (ignored).

    The rules (version-agnostic; every increment of lifetime or session energy passes them):

    - A value is *plausible* when it rose from the connector's last plausible value by no more
      than ``max_power`` x the time between them, plus what is left of
      :data:`ENERGY_TOLERANCE_WH`. Plausible values count.
    - Anything else (lower: a reset or a low outlier; higher: a jump or a high outlier) counts
      nothing and becomes the connector's *candidate*. When the next value is plausible from the
      candidate, the reset / jump is confirmed: the step itself is not energy, the rise after it
      counts (bounded like any increment) and the value becomes the new base. A single outlier is
      forgotten once a plausible value follows.
    - While our clock reads behind the connector's restored register (it went back over a
      restart), a rise is dated by the charger's own stamps (:func:`_since_base`), and one the
      charger's own clock explains is held, never confirmed as a jump: the base keeps its time
      until our clocks cover the rise (:func:`held_for_our_clock`); a session that ends
      meanwhile is owed it (:mod:`.meter_held_end`), one started inside it only the rise above
      its own start register (:func:`_below_start`). Once our clock, set right, dates when the
      held register was read, its rise must fit the time since the restored register
      (:func:`held_rise_too_fast`), else it is a jump to confirm.
    - An unchanged value keeps the base's time: the bound grows while a register in coarse steps
      waits for its next step.
    - A value equal to a reading held as maybe the register's life before, register and stamp
      (a stop the charger sends late after the reset with that life's values), is that reading
      sent again (:func:`~.meter_life_before.is_held`): ignored, neither a rise nor an end that
      settles the hold.
    - A value older than the base (:func:`time_since`: our own clock set back is no age) is
      history (a replay) unless plausible from the base: ignored, never a candidate (after a
      confirmed reset, the register's replayed previous life would otherwise confirm itself as a
      jump and count again).
    - Timestamps too far ahead are clock skew (:func:`effective_time`); elapsed time is the
      largest of the charger's and our own clocks, so a wrong clock never drops energy; the
      charger's counts from a :func:`believable_stamp` time only, so a wrong clock never makes an
      allowance either.
    - Only the transaction's own connector credits it; the lifetime counts the whole-charger meter
      (connector 0) when there is one, else the outlets.
    """
    point = _received_point(charger, register_wh, timestamp, received)
    return _apply_point(charger, connector, point, transaction, max_power=max_power)


def _apply_point(
    charger: Charger,
    connector: Connector,
    point: RegisterPoint,
    transaction: Transaction | None,
    *,
    max_power: float | None,
) -> bool:
    """:func:`apply_energy`'s rules for ``point`` (noting nothing of the charger's clock)."""
    register_wh = point.register_wh
    power = _DEFAULT_MAX_POWER_W if max_power is None else max_power
    transaction = _own(connector, transaction)
    meter = connector.meter
    if life_before.is_held(meter, point):
        return False
    base = _base(charger, connector, transaction)
    if base is None:
        # The first value ever: the base from now on (the lifetime starts at the register).
        _take(charger, connector, transaction, point, credit=0.0, slack=None, newer=True, base=None)
        return True
    by_our_clock = time_since(base, point)
    since = _since_base(connector, base, point, by_our_clock)
    older = since is not None and since < 0.0
    newer = since is None or since > 0.0
    if older and register_wh <= base.register_wh:
        return False
    rise = register_wh - base.register_wh
    if rise == 0.0 and meter.energy_register_wh is not None:
        # Unchanged. While energy may flow the base keeps the time it was first seen (a register
        # in coarse steps may have risen by up to one step meanwhile); otherwise the base moves
        # on, so that idle hours never become an allowance for one bogus jump. A pending outlier
        # is forgotten.
        meter.energy_candidate = None
        if not _energy_may_flow(connector) and newer:
            _move_base_time(meter, point)
            meter.energy_slack_wh = None
        if newer:
            life_before.prove_life_before(charger, connector, point, transaction, power)
        return True
    allowance = rise_allowance(
        power, meter.energy_slack_wh, base, point, live_offset_s=charger._live_clock.confirmed_s
    )
    if 0.0 <= rise <= allowance and not _held_candidate_too_fast(connector, base, point, power):
        # A rise our clocks got after the base is the newest reading, whatever the charger's
        # stamps say (its clock set back while ours was behind: kept as history, the base stayed
        # stamped hours ahead, a new life's readings were dropped and an outlier counted).
        newer = newer or by_our_clock is None or by_our_clock > 0.0
        _take(
            charger,
            connector,
            transaction,
            point,
            credit=rise,
            slack=allowance,
            newer=newer,
            base=base,
        )
        if newer:
            life_before.prove_life_before(charger, connector, point, transaction, power)
        return True
    if older:
        # From before the base and not plausible from it: the register's previous life replayed
        # after a reset (re-sent readings, transactionData), never a jump to confirm.
        return False
    candidate = meter.energy_candidate
    if candidate is not None and not held_for_our_clock(connector, base, point, power):
        from_candidate = rise_allowance(power, None, candidate, point)
        if 0.0 <= register_wh - candidate.register_wh <= from_candidate:
            # Confirmed: the register really was reset / jumped. The step is not energy; the
            # rise after it is, bounded like any other.
            credit = min(register_wh - candidate.register_wh, allowance)
            if candidate.register_wh < base.register_wh:  # a reset: a new life from there
                meter._register_reset_stamp = life_before.reset_stamp(candidate)
                life_before.remember_life_before(meter, base, transaction)
            _LOGGER.info(
                "%s: energy register of connector %s went from %.0f to %.0f Wh (confirmed); "
                "counted %.0f Wh",
                charger.charger_id,
                connector.connector_id,
                base.register_wh,
                register_wh,
                credit,
            )
            _take(
                charger,
                connector,
                transaction,
                point,
                credit=credit,
                slack=allowance,
                newer=newer,
                base=base,
            )
            return True
    _LOGGER.debug(
        "%s: implausible energy register %.0f Wh on connector %s (last %.0f Wh); not counted "
        "unless the next reading confirms it",
        charger.charger_id,
        register_wh,
        connector.connector_id,
        base.register_wh,
    )
    meter.energy_candidate = point
    return True


def _held_candidate_too_fast(
    connector: Connector, base: RegisterPoint, point: RegisterPoint, power_w: float
) -> bool:
    """Whether ``point`` reads at least the connector's candidate, a rise held for our clock that
    our clock, set right since, dates too soon after the restored register
    (:func:`held_rise_too_fast`): a jump to confirm, whatever time passed since."""
    candidate = connector.meter.energy_candidate
    return (
        candidate is not None
        and candidate.register_wh <= point.register_wh
        and held_rise_too_fast(connector, base, candidate, point, power_w)
    )


def _since_base(
    connector: Connector, base: RegisterPoint, point: RegisterPoint, since: float | None
) -> float | None:
    """``since``, :func:`time_since` ``base`` of ``point``; for a rise while our clock reads
    behind the connector's restored register (:func:`_restored_ahead_of_our_clock`: it went back
    over a restart, so the times we got readings show none since), by the charger's own stamps:
    its clock ran on. A jump is then a candidate, confirmed or held (:func:`held_for_our_clock`),
    never history that our monotonic clock makes plausible later (10 kWh counted for 0)."""
    if (
        since is None
        or point.register_wh <= base.register_wh
        or _restored_ahead_of_our_clock(connector, point) is None
    ):
        return since
    return (charger_time(point) - charger_time(base)).total_seconds()


def held_for_our_clock(
    connector: Connector, base: RegisterPoint, point: RegisterPoint, power_w: float
) -> bool:
    """Whether ``point``'s rise beyond the allowance from ``base`` is held, not confirmed as a
    jump (which would count the allowance alone): our clock went back since the connector's
    register was stored (:func:`_restored_ahead_of_our_clock`: a host without a real-time clock,
    up before NTP set it) and the charger's own clock explains the rise since then
    (:func:`_charger_clock_explains`). The base keeps its time, so the usual rule takes the rise
    once our clocks cover it: our monotonic clock since the restore, or ours once set right."""
    restored = _restored_ahead_of_our_clock(connector, point)
    return (
        restored is not None
        and restored.register_wh <= base.register_wh < point.register_wh  # a rise, no reset
        and _charger_clock_explains(power_w, restored, point)
    )


def held_rise_too_fast(
    connector: Connector,
    base: RegisterPoint,
    held: RegisterPoint,
    now: RegisterPoint,
    power_w: float,
) -> bool:
    """Whether the rise to ``held`` (read while it was held for our clock:
    :func:`held_for_our_clock`) is more than the time from the connector's restored register to
    when we read it allows, by our clock as it is when ``now`` arrives: set right since (NTP), it
    dates that reading. The register gave that energy before we read it, so no time after (idle
    minutes, the step that set our clock right) explains it. False while our clock cannot date
    it (still behind the restored register: our clocks cover the rise as time passes)."""
    restored = connector.stored_register
    if (
        restored is None
        or restored.timestamp is None
        or held.received_at is None
        or now.received_at is None
        or not held_for_our_clock(connector, base, held, power_w)
    ):
        return False
    read_at = by_our_clock_now((held.received_at, held._received_monotonic), received_of(now))
    if too_far_ahead(restored.timestamp, read_at):
        return False
    elapsed_s = (read_at - restored.timestamp).total_seconds()
    return held.register_wh - restored.register_wh > max_energy_wh(power_w, elapsed_s)


def _restored_ahead_of_our_clock(
    connector: Connector, point: RegisterPoint
) -> RegisterPoint | None:
    """The connector's restored register when its time lies more than :data:`MAX_CLOCK_AHEAD_S`
    ahead of our clock as ``point`` arrived (None: not so). That time was at most as far ahead of
    our clock when stored (:func:`effective_time`): ours went back since, and no time it shows
    since the restore (elapsed by our monotonic clock only) measures what the charger did."""
    restored = connector.stored_register
    if restored is None or restored.timestamp is None or point.received_at is None:
        return None
    return restored if too_far_ahead(restored.timestamp, point.received_at) else None


def _charger_clock_explains(power_w: float, restored: RegisterPoint, point: RegisterPoint) -> bool:
    """Whether the register's rise from ``restored`` to ``point`` fits the time between them by
    the charger's own stamps, from a :func:`believable_stamp` restored time (no clock that jumped
    years ahead): a rise the usual rules would take, were our clock right."""
    restored_at, point_at = charger_time(restored), charger_time(point)
    if not believable_stamp(restored_at, point_at):
        return False
    elapsed_s = (point_at - restored_at).total_seconds()
    return point.register_wh - restored.register_wh <= max_energy_wh(power_w, elapsed_s)


def energy_up_to_base(
    charger: Charger,
    connector: Connector,
    register_wh: float,
    timestamp: datetime,
    *,
    max_power: float | None = None,
    received: datetime | None = None,
) -> float:
    """The energy from an older value (history to :func:`apply_energy`: a start that arrives after
    later readings) up to the connector's base, bounded like any increment."""
    meter = connector.meter
    if meter.energy_register_wh is None or meter.energy_timestamp is None:
        return 0.0
    received = received or utcnow()
    when = effective_time(charger, timestamp, received)
    power = _DEFAULT_MAX_POWER_W if max_power is None else max_power
    elapsed = 0.0
    if believable_stamp(when, received):
        elapsed = (meter.energy_timestamp - when).total_seconds()
    return max(0.0, min(meter.energy_register_wh - register_wh, max_energy_wh(power, elapsed)))


def register_base(charger: Charger, connector: Connector) -> RegisterPoint | None:
    """Where the connector's energy counts from now (None: no register value known yet)."""
    return _base(charger, connector, None)


def _base(
    charger: Charger, connector: Connector, transaction: Transaction | None
) -> RegisterPoint | None:
    """The connector's last plausible register value; after a restart (meter readings are not
    restored) the open transaction's or the stored one."""
    meter = connector.meter
    if (read := read_register(meter)) is not None:
        return read
    open_tx = transaction or connector.transaction
    if (
        open_tx is not None
        and open_tx.connector_id == connector.connector_id
        and not open_tx.start_pending
    ):
        # Its last value was read when stored (older versions: at its start at the latest), so
        # before the register stored with it was restored; the charger's own stamp is that
        # register's when it is the same reading.
        stored = connector.stored_register
        at = open_tx.meter_last_at or open_tx.started_at
        return RegisterPoint(
            register_wh=open_tx.meter_last_wh,
            timestamp=at,
            received_at=None,
            _received_monotonic=None if stored is None else stored._received_monotonic,
            charger_stamp=stored.charger_stamp if stored and stored.timestamp == at else None,
        )
    if connector.stored_register is not None:
        return connector.stored_register
    if any(c.stored_register is not None for c in charger.connectors.values()):
        return None  # the lifetime's last register may be another connector's (connector 0's)
    # Stored before connectors kept their register: the lifetime counter's, if it can be this one's.
    counter = charger.lifetime_energy
    restored = all(c.meter.energy_register_wh is None for c in charger.connectors.values())
    if (
        counter.last_register_wh is not None
        and restored
        and sole_lifetime_source(charger, connector)
    ):
        return RegisterPoint(
            register_wh=counter.last_register_wh,
            timestamp=counter.last_register_at,
            received_at=None,
        )
    return None


def read_register(meter: MeterState) -> RegisterPoint | None:
    """The connector's register as read since the model was built (None: not read yet)."""
    if meter.energy_register_wh is None:
        return None
    return RegisterPoint(
        register_wh=meter.energy_register_wh,
        timestamp=meter.energy_timestamp,
        received_at=meter.energy_received_at,
        _received_monotonic=meter._energy_received_monotonic,
        charger_stamp=meter._energy_charger_stamp,
        live_offset_s=meter._energy_live_offset_s,
    )


def _received_point(
    charger: Charger, register_wh: float, timestamp: datetime | None, received: datetime | None
) -> RegisterPoint:
    """:func:`_point`, the charger's clock ahead noted by its :func:`effective_time`."""
    point = _point(charger, register_wh, timestamp, received)
    assert point.received_at is not None
    effective_time(charger, charger_time(point), point.received_at)
    return point


def _point(
    charger: Charger, register_wh: float, timestamp: datetime | None, received: datetime | None
) -> RegisterPoint:
    """``register_wh`` stamped ``timestamp`` (None: not stamped), as of the time it stands for
    (:func:`time_of`), received as :func:`reception` says, with the charger's live clock offset
    settled by then (``LiveClockOffset.settled_s``)."""
    received_at, monotonic = reception(received)
    stamp = timestamp or received_at
    when = time_of(stamp, received_at)
    return RegisterPoint(
        register_wh=register_wh,
        timestamp=when,
        received_at=received_at,
        _received_monotonic=monotonic,
        charger_stamp=replaced_stamp(stamp, when),
        live_offset_s=charger._live_clock.settled_s,
    )


class Report(NamedTuple):
    """A status or reading as it is ordered against others (``status_order.taken_after``,
    :func:`_before_shown`)."""

    # The time it stands for (:func:`effective_time`).
    time: datetime
    # The charger's own stamp (None: it sent none): also one ``time`` replaced.
    stamp: datetime | None
    # When we got it.
    got: Reception


def shown_reading(meter: MeterState) -> Report | None:
    """The values ``meter`` shows (None: none yet); a reading always carries a stamp."""
    if meter.timestamp is None:
        return None
    stamp = own_stamp(meter._charger_stamp, meter.timestamp)
    return Report(meter.timestamp, stamp, (meter._received_at, meter._received_monotonic))


def _take(
    charger: Charger,
    connector: Connector,
    transaction: Transaction | None,
    point: RegisterPoint,
    *,
    credit: float,
    slack: float | None,
    newer: bool,
    base: RegisterPoint | None,
) -> None:
    """``point`` is the connector's new base; ``credit`` Wh count for the lifetime / session,
    from ``base`` (:func:`_base`; None: the first value, with no base at all to count from).
    ``newer``: it was taken after the base (:func:`time_since`): the base's time is its own from
    now on."""
    meter = connector.meter
    register_wh = point.register_wh
    fresh = base is None
    # When the credit was drawn: from the base's time on (a rise taken without a newer time of
    # its own, or the first value, is costed at the price of now).
    drawn = None
    if newer and base is not None:
        start, end = point_by_our_clock(charger, base), point_by_our_clock(charger, point)
        drawn = None if start is None or end is None else (start, end)
    base_wh, meter.energy_register_wh = meter.energy_register_wh, register_wh
    if newer or meter.energy_timestamp is None:
        _move_base_time(meter, point)
    else:
        _move_base_reception(meter, point)
    meter.energy_slack_wh = None if slack is None else min(slack - credit, ENERGY_TOLERANCE_WH)
    meter.energy_candidate = None
    count_lifetime(charger, connector, register_wh, credit, fresh=fresh)
    if transaction is not None:
        if transaction.start_pending:
            # Its start was unknown: it began where this credit began.
            transaction.start_pending = False
            transaction.meter_start_wh = register_wh - credit
        own_credit = credit - _below_start(transaction, base_wh, register_wh, credit)
        credit_session(charger, transaction, own_credit, drawn)
        transaction.meter_last_wh = register_wh
        transaction.meter_last_at = meter.energy_timestamp


def point_by_our_clock(charger: Charger, point: RegisterPoint) -> datetime | None:
    """A register point's time by our clock, for its price: the charger's stamp by our clock
    (:func:`~.meter_time.stamp_by_our_clock`); a time already ours (it replaced the charger's
    stamp) as it is. None: no time."""
    if point.timestamp is None or point.charger_stamp is not None:
        return point.timestamp
    return stamp_by_our_clock(charger, point.timestamp)


def _below_start(
    transaction: Transaction, base_wh: float | None, register_wh: float, credit: float
) -> float:
    """The part of ``credit`` (the rise up to ``register_wh``) below ``transaction``'s last
    counted point where that lies above the connector's base (``base_wh``; None: none read): a
    session started inside a rise held for our clock counts from its own start register; the
    rise below it is the session's before (:mod:`.meter_held_end`). Nothing otherwise: a last
    point at the base (also before a reset) or above the register (a start register the
    readings never reach: not one to count from)."""
    last_wh = transaction.meter_last_wh
    if base_wh is None or not base_wh < last_wh <= register_wh:
        return 0.0
    return min(max(last_wh - (register_wh - credit), 0.0), credit)


def count_from(meter: MeterState, at: datetime) -> None:
    """The register counts from ``at`` (a start after the charger's clock went back:
    ``transaction_book``); an own stamp of the charger's kept for the earlier time goes with it.
    What it gave up to its value read before is history for good
    (:func:`_sent_before_clock_went_back`: the connector's, across connections and restarts).
    The values shown count from ``at`` by the charger's clock too (:func:`_before_shown`): the
    register proved the step back, so the session's first readings need no live clock to show."""
    meter._history_before_clock_back = read_register(meter)
    meter.energy_timestamp = at
    meter._energy_charger_stamp = None
    if meter.timestamp is not None:
        meter._charger_stamp = at


def _move_base_time(meter: MeterState, point: RegisterPoint) -> None:
    """The base counts from ``point``'s time, and from when we received it."""
    meter.energy_timestamp = point.timestamp
    meter._energy_charger_stamp = point.charger_stamp
    _move_base_reception(meter, point)
    _forget_history_passed(meter)


def _move_base_reception(meter: MeterState, point: RegisterPoint) -> None:
    """The base was received when ``point`` was, with the live clock offset confirmed then."""
    meter.energy_received_at = point.received_at
    meter._energy_received_monotonic = point._received_monotonic
    meter._energy_live_offset_s = point.live_offset_s


def _forget_history_passed(meter: MeterState) -> None:
    """Forget what the register gave before the charger's clock went back (:func:`count_from`;
    stored no more) once the base, at or above its register, is stamped after its time by the
    charger: a reading it would take for history lies below the base and before it by the
    charger's own stamps, history to :func:`apply_energy` itself."""
    history = meter._history_before_clock_back
    base = read_register(meter)
    if (
        history is not None
        and base is not None
        and base.register_wh >= history.register_wh
        and charger_time(base) > charger_time(history)
    ):
        meter._history_before_clock_back = None


def credit_session(
    charger: Charger,
    transaction: Transaction,
    credit_wh: float,
    span: tuple[datetime, datetime] | None = None,
) -> None:
    """Add ``credit_wh`` to the session's energy, costed at the prices of ``span`` (when it was
    drawn, by our clock; None: the price of now): every credit, whichever rule found it (a
    reading, a late start, a past session), is costed here."""
    transaction.credited_wh = transaction.energy_wh + credit_wh
    cost = charger.energy_prices.cost(credit_wh, span)
    if cost is not None:  # energy credited while no price is known costs nothing
        transaction.cost = (transaction.cost or 0.0) + cost


def _energy_may_flow(connector: Connector) -> bool:
    """Charging, or a session whose state is not known yet (just after a restart)."""
    status = connector.status
    if status is ConnectorStatus.CHARGING:
        return True
    return connector.transaction is not None and status is ConnectorStatus.UNKNOWN


def clear_flow(connector: Connector) -> bool:
    """No power flows now (a session ended, the charger rebooted, the connector is idle): many
    chargers stop reporting it then, so the last values would stay. True when that changed them."""
    meter = connector.meter
    before = (meter.power_w, meter.current_a)
    if meter.power_w is not None:
        meter.power_w = 0.0
    meter.current_a = _phase_values(dict.fromkeys(_present_phases(meter.current_a), 0.0))
    return (meter.power_w, meter.current_a) != before


def _present_phases(values: PhaseValues) -> list[str]:
    return [key for key in ("l1", "l2", "l3") if getattr(values, key) is not None]
