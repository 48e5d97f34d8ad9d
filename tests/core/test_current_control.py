"""Current control end to end: CurrentController -> real V16Session -> websockets -> SimCharger,
which keeps the profiles and computes its composite schedule like a charger does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core import backoff, current_control
from custom_components.ocpp_ems.core.charger_state import FIXED_PROFILES_RECHECK
from custom_components.ocpp_ems.core.current_control import MAX_LIMIT_DURATION_S, CurrentController
from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandRejectedError,
    CommandTimeoutError,
)
from custom_components.ocpp_ems.core.limit_check import LimitCheck
from custom_components.ocpp_ems.core.model import (
    Charger,
    ChargingRateUnit,
    ControlledBy,
    EventKind,
    FixedProfile,
)
from custom_components.ocpp_ems.core.protocol.profiles import PROFILE_START_BACKDATE
from custom_components.ocpp_ems.core.settings import (
    ChargerSettings,
    PauseStrategy,
    ProfilePurpose,
    RateUnitPreference,
    ServerSettings,
)
from custom_components.ocpp_ems.core.timeutil import utcnow

from . import v201_harness
from .fakes import MemoryDirectory
from .strict_charger import StrictHarness, StrictSim, expiry
from .v16_harness import Harness, SimCharger, now_iso, running_harness, wait_for

BACKDATE_S = int(PROFILE_START_BACKDATE.total_seconds())  # profiles.py


@pytest.fixture(autouse=True)
def fast_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LimitCheck, "verify_delay_s", 0.05)
    monkeypatch.setattr(LimitCheck, "offered_grace_s", 0.0)


@pytest.fixture
async def strict(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    settings: ChargerSettings,
) -> AsyncIterator[Harness]:
    """Current control running for CP1, with a charger that keeps to the rules (StrictSim)."""
    async with running_harness(directory, server_settings, StrictHarness) as harness:
        yield harness


@pytest.fixture
def h(controlled: Harness) -> Harness:
    """This module's harness: current control running (conftest ``controlled``)."""
    return controlled


def profile_writes(sim: SimCharger) -> list[dict[str, Any]]:
    return [p["cs_charging_profiles"] for p in sim.actions("SetChargingProfile")]


def live_writes(sim: SimCharger) -> list[float]:
    return [
        float(p["charging_schedule"]["charging_schedule_period"][0]["limit"])
        for p in profile_writes(sim)
        if p["charging_profile_id"] in (3, 4)
    ]


def fixed_writes(sim: SimCharger) -> list[int]:
    """The ids of the fixed profiles written (installation maximum 1, safe current 2)."""
    return [w["charging_profile_id"] for w in profile_writes(sim) if w["charging_profile_id"] < 3]


async def attached(h: Harness, **kwargs: Any) -> SimCharger:
    sim = await h.charger_client(**kwargs)
    await wait_for(lambda: h.controller is not None and h.controller._refresh_task is not None)
    return sim


async def test_attach_installs_max_base_and_live(h: Harness) -> None:
    sim = await attached(h)
    writes = profile_writes(sim)
    assert [w["charging_profile_purpose"] for w in writes] == [
        "ChargePointMaxProfile",
        "TxDefaultProfile",
        "TxDefaultProfile",
    ]
    max_profile, base, live = writes
    assert max_profile["stack_level"] == 0
    assert float(max_profile["charging_schedule"]["charging_schedule_period"][0]["limit"]) == 32
    assert base["stack_level"] == 0
    assert "duration" not in base["charging_schedule"]
    assert float(base["charging_schedule"]["charging_schedule_period"][0]["limit"]) == 6
    assert live["stack_level"] == 1
    assert live["charging_schedule"]["duration"] == 900 + BACKDATE_S  # from the backdated start
    amps = ChargingRateUnit.AMPERE
    assert h.charger.limit.charger_max == FixedProfile(limit=32, unit=amps, stack_level=0)
    assert h.charger.limit.base == FixedProfile(limit=6, unit=amps, stack_level=0)
    await wait_for(lambda: h.charger.limit.applied_a == 32)  # verified via GetCompositeSchedule
    assert not h.charger.limit.mismatch


async def test_writes_only_on_change(h: Harness) -> None:
    sim = await attached(h)
    controller = h.get_controller()
    await controller.set_limit(16)
    await controller.set_limit(16)
    await controller.set_limit(16.04)  # same after rounding to the schema's 0.1 A
    assert live_writes(sim) == [32, 16]
    await controller.set_limit(10)
    await controller.set_limit(None)
    assert live_writes(sim) == [32, 16, 10, 32]
    assert h.charger.limit.requested_a is None


async def test_reconnect_does_not_rewrite_fixed_profiles(h: Harness) -> None:
    first = await attached(h)
    await h.get_controller().set_limit(12)
    await first._connection.close()
    await wait_for(lambda: h.get_controller()._session is None)
    second = await attached(h)
    writes = profile_writes(second)
    assert [w["charging_profile_id"] for w in writes] == [3]  # only the live limit
    assert live_writes(second) == [12]


@pytest.mark.parametrize(
    "booted_as",
    [{"charge_point_serial_number": "NEW-UNIT"}, {"firmware_version": "2.0"}],
    ids=["a replaced unit", "new firmware"],
)
async def test_another_unit_or_firmware_gets_the_fixed_profiles_again(
    h: Harness, booted_as: dict[str, str]
) -> None:
    """Profiles a replaced unit never had (or an update cleared) were never written again: had
    Home Assistant stopped, the charger would not have fallen back to the safe current."""
    unit = {"charge_point_serial_number": "S1", "firmware_version": "1.0"}

    async def booted(**described: str) -> SimCharger:
        sim = await h.charger_client(boot=False)
        await sim.boot(**described)
        await wait_for(lambda: len(live_writes(sim)) >= 1)
        return sim

    for described, fixed in ((unit, [1, 2]), (unit, []), (unit | booted_as, [1, 2])):
        sim = await booted(**described)
        assert fixed_writes(sim) == fixed
        await sim._connection.close()
        await wait_for(lambda: h.get_controller()._session is None)


@pytest.mark.parametrize(
    ("taken_ago", "fixed"),
    [(FIXED_PROFILES_RECHECK, [1, 2]), (timedelta(hours=23), []), (timedelta(hours=-1), [1, 2])],
    ids=["a day after", "within a day", "a time ahead of ours"],
)
async def test_a_boot_a_day_after_the_fixed_profiles_writes_them_again(
    h: Harness, taken_ago: timedelta, fixed: list[int]
) -> None:
    """A factory reset keeps serial and firmware (and some firmware loses profiles at a reboot):
    the fixed profiles were never written again, so with Home Assistant stopped the charger would
    not have fallen back to the safe current. A boot a day after the charger took them writes
    them again; a boot within the day does not (a reboot loop must not wear its flash)."""
    first = await attached(h)
    limit = h.get_controller().charger.limit
    assert fixed_writes(first) == [1, 2]
    assert limit.fixed_written_at is not None
    await first._connection.close()
    await wait_for(lambda: h.get_controller()._session is None)
    limit.fixed_written_at = utcnow() - taken_ago

    second = await attached(h)
    assert fixed_writes(second) == fixed
    if fixed:
        assert abs(utcnow() - limit.fixed_written_at) < timedelta(minutes=1)


async def test_live_limit_is_refreshed(h: Harness, settings: ChargerSettings) -> None:
    settings.live_limit_duration_s = 2
    sim = await attached(h)
    await h.get_controller().set_limit(14)
    await wait_for(lambda: len(live_writes(sim)) >= 4, seconds=4)
    assert live_writes(sim)[1:4] == [14, 14, 14]


async def test_charger_falls_back_to_safe_current_when_control_stops(
    h: Harness, settings: ChargerSettings
) -> None:
    settings.live_limit_duration_s = 1
    sim = await attached(h)
    await h.get_controller().set_limit(20)
    assert sim.composite(1, "A") == 20
    await h.get_controller().close()  # Home Assistant stops: nobody refreshes
    await asyncio.sleep(1.2)
    assert sim.composite(1, "A") == 6


async def test_pause_zero_limit(h: Harness) -> None:
    sim = await attached(h)
    controller = h.get_controller()
    await controller.set_limit(16)
    await controller.pause()
    await controller.pause()
    assert h.charger.limit.paused
    await controller.set_limit(12)  # remembered, not applied while paused
    assert live_writes(sim)[-1] == 0
    await controller.resume()
    assert live_writes(sim)[-1] == 12
    assert not h.charger.limit.paused


async def test_pause_remote_stop_start(h: Harness, settings: ChargerSettings) -> None:
    settings.pause_strategy = PauseStrategy.REMOTE_STOP_START
    sim = await attached(h)
    tx = (await sim.start_tx()).transaction_id
    controller = h.get_controller()
    await controller.pause()
    assert sim.actions("RemoteStopTransaction") == [{"transaction_id": tx}]
    await sim.call(call.StopTransaction(meter_stop=2000, timestamp=now_iso(), transaction_id=tx))
    await controller.resume()
    assert sim.actions("RemoteStartTransaction") == [{"id_tag": "HomeAssistant", "connector_id": 1}]
    assert 0 not in live_writes(sim)
    # The charger authorizes our own tag even though it is in no tag list.
    assert (await sim.call(call.Authorize(id_tag="HomeAssistant"))).id_tag_info["status"] == (
        "Accepted"
    )


async def test_a_refused_remote_start_leaves_the_charger_paused(
    h: Harness, settings: ChargerSettings
) -> None:
    """Remote stop / start: the charger refuses the remote start of a resume. The charger was
    recorded as charging again (Charging enabled on) though its session stays stopped; the
    resume fails, so the pause stays, and the next resume starts the same connector."""
    settings.pause_strategy = PauseStrategy.REMOTE_STOP_START
    sim = await attached(h)
    tx = (await sim.start_tx()).transaction_id
    controller = h.get_controller()
    await controller.pause()
    await sim.call(call.StopTransaction(meter_stop=2000, timestamp=now_iso(), transaction_id=tx))
    sim.status_override["RemoteStartTransaction"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await controller.resume()
    assert h.charger.limit.paused
    assert not controller.charging_allowed
    del sim.status_override["RemoteStartTransaction"]
    await controller.resume()
    assert not h.charger.limit.paused
    assert sim.actions("RemoteStartTransaction")[-1] == {
        "id_tag": "HomeAssistant",
        "connector_id": 1,
    }


async def test_refused_pause_and_limit_are_not_kept(h: Harness, settings: ChargerSettings) -> None:
    """A pause or limit the charger refuses is undone: what is shown is what the charger holds,
    and the refused value is not written later behind the user's back."""
    sim = await attached(h)
    controller = h.get_controller()
    await controller.set_limit(12, duration_s=1)
    sim.status_override["SetChargingProfile"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await controller.set_limit(8, duration_s=3600)
    with pytest.raises(CommandRejectedError):
        await controller.pause()  # a 0 A profile
    assert (h.charger.limit.requested_a, h.charger.limit.paused) == (12, False)
    del sim.status_override["SetChargingProfile"]
    written = len(live_writes(sim))
    # The accepted limit's own expiry still lifts it (the refused one's did not replace it).
    await wait_for(lambda: h.charger.limit.requested_a is None, seconds=3)
    await wait_for(lambda: len(live_writes(sim)) > written)
    assert live_writes(sim)[written:] == [32.0]

    settings.pause_strategy = PauseStrategy.REMOTE_STOP_START
    await sim.start_tx()
    sim.status_override["RemoteStopTransaction"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await controller.pause()
    assert not h.charger.limit.paused  # nothing stopped: still charging


async def test_watt_only_charger(h: Harness) -> None:
    def power_only(sim: SimCharger) -> None:
        sim.config["ChargingScheduleAllowedChargingRateUnit"] = "Power"

    sim = await attached(h, setup=power_only)
    await h.get_controller().set_limit(16)
    last = profile_writes(sim)[-1]["charging_schedule"]
    assert last["charging_rate_unit"] == "W"
    assert last["charging_schedule_period"][0]["limit"] == 16 * 230 * 3
    first = profile_writes(sim)[0]["charging_schedule"]
    assert first["charging_schedule_period"][0]["limit"] == 32 * 230 * 3
    await wait_for(lambda: h.charger.limit.applied_a == 16)
    # The car draws on one phase only: the W limit follows, so no phase exceeds 16 A.
    await sim.status(1, "Charging")
    await sim.meter(1, [{"value": "15.8", "measurand": "Current.Import", "phase": "L1"}])
    await wait_for(
        lambda: profile_writes(sim)[-1]["charging_schedule"]["charging_schedule_period"][0]["limit"]
        == 16 * 230
    )


async def test_a_watt_only_charger_that_cannot_switch_phases_gets_watts_for_its_draw(
    h: Harness,
) -> None:
    """1 phase asked of a W-only charger that cannot switch: it still charges on 3, and the
    W limit for 1 phase gave the car a third of the current asked for."""

    def power_only(sim: SimCharger) -> None:
        sim.config["ChargingScheduleAllowedChargingRateUnit"] = "Power"
        sim.config["ConnectorSwitch3to1PhaseSupported"] = "false"

    sim = await attached(h, setup=power_only)
    await h.get_controller().set_limit(16, phases=1)
    period = profile_writes(sim)[-1]["charging_schedule"]["charging_schedule_period"][0]
    assert period["limit"] == 16 * 230 * 3
    assert "number_phases" not in period


async def test_prefer_watt_setting(h: Harness, settings: ChargerSettings) -> None:
    settings.rate_unit = RateUnitPreference.WATT
    sim = await attached(h)
    assert profile_writes(sim)[-1]["charging_schedule"]["charging_rate_unit"] == "W"


async def test_mismatch_from_composite_schedule(h: Harness) -> None:
    sim = await attached(h)
    await wait_for(lambda: h.charger.limit.applied_a == 32)
    sim.composite_override = 9  # accepted but not applied (Pulsar stays at 9 A)
    await h.get_controller().set_limit(16)
    await wait_for(lambda: h.charger.limit.mismatch)
    event = next(e for e in h.events if e.kind is EventKind.LIMIT_MISMATCH)
    assert event.data == {"expected_a": 16.0, "applied_a": 9.0, "source": "composite"}
    sim.composite_override = None
    await h.get_controller().set_limit(12)
    await wait_for(lambda: not h.charger.limit.mismatch)
    assert h.kinds().count("limit_mismatch") == 1


async def test_mismatch_from_current_offered(h: Harness) -> None:
    sim = await attached(h)
    sim.status_override["GetCompositeSchedule"] = "Rejected"  # cannot verify that way
    await h.get_controller().set_limit(16)
    await sim.status(1, "Charging")
    await sim.meter(1, [{"value": "16", "measurand": "Current.Offered"}])
    assert not h.charger.limit.mismatch
    await sim.meter(1, [{"value": "20", "measurand": "Current.Offered"}])
    limit = h.charger.limit
    assert limit.mismatch
    assert limit.applied_a == 20
    assert "limit_mismatch" in h.kinds()


async def test_tx_profile_during_transaction(h: Harness, settings: ChargerSettings) -> None:
    settings.live_profile_purpose = ProfilePurpose.TX
    sim = await attached(h)
    tx = (await sim.start_tx()).transaction_id
    await wait_for(lambda: profile_writes(sim)[-1]["charging_profile_purpose"] == "TxProfile")
    live = profile_writes(sim)[-1]
    assert live["transaction_id"] == tx
    assert live["charging_profile_id"] == 4
    await sim.call(call.StopTransaction(meter_stop=1500, timestamp=now_iso(), transaction_id=tx))
    await wait_for(
        lambda: profile_writes(sim)[-1]["charging_profile_purpose"] == "TxDefaultProfile"
    )


async def test_transaction_change_during_a_write_is_not_lost(
    h: Harness, settings: ChargerSettings
) -> None:
    """A session that ends while the Tx profile for its start is still being written must still
    move the live limit back to the default profile (not wait for the next refresh)."""
    settings.live_profile_purpose = ProfilePurpose.TX
    sim = await attached(h)
    sim.delay["SetChargingProfile"] = 0.3
    tx = (await sim.start_tx()).transaction_id
    await sim.call(call.StopTransaction(meter_stop=1500, timestamp=now_iso(), transaction_id=tx))
    await wait_for(
        lambda: profile_writes(sim)[-1]["charging_profile_purpose"] == "TxDefaultProfile"
    )


async def test_single_stack_level_has_no_duration(h: Harness, settings: ChargerSettings) -> None:
    settings.live_stack_level = 0
    sim = await attached(h)
    purposes = [w["charging_profile_id"] for w in profile_writes(sim)]
    assert purposes == [1, 3]  # no base profile: it would be replaced by the live one
    assert "duration" not in profile_writes(sim)[-1]["charging_schedule"]


async def test_stack_level_clamped_to_charger_maximum(
    h: Harness, settings: ChargerSettings
) -> None:
    settings.live_stack_level = 20
    sim = await attached(h)
    assert profile_writes(sim)[-1]["stack_level"] == 8


async def test_no_smart_charging(h: Harness, settings: ChargerSettings) -> None:
    settings.pause_strategy = PauseStrategy.ZERO_LIMIT

    def core_only(sim: SimCharger) -> None:
        sim.config["SupportedFeatureProfiles"] = "Core,RemoteTrigger"

    sim = await h.charger_client(setup=core_only)
    await wait_for(lambda: h.controller is not None and h.controller._session is not None)
    controller = h.get_controller()
    await controller.set_limit(10)
    assert not profile_writes(sim)
    tx = (await sim.start_tx()).transaction_id
    await controller.pause()  # falls back to stopping the transaction
    assert sim.actions("RemoteStopTransaction") == [{"transaction_id": tx}]


async def test_limit_with_duration_is_lifted(h: Harness) -> None:
    sim = await attached(h)
    await h.get_controller().set_limit(10, duration_s=1)
    assert live_writes(sim)[-1] == 10
    await wait_for(lambda: live_writes(sim)[-1] == 32, seconds=3)
    assert h.charger.limit.requested_a is None


async def test_a_limit_duration_beyond_a_week_is_refused_before_anything_is_written(
    h: Harness,
) -> None:
    sim = await attached(h)
    written = len(live_writes(sim))
    for duration_s in (0, MAX_LIMIT_DURATION_S + 1, 10**12):
        with pytest.raises(ValueError, match="duration"):
            await h.get_controller().set_limit(10, duration_s=duration_s)
    assert len(live_writes(sim)) == written
    assert h.charger.limit.requested_a is None


async def test_phases_and_clamping(h: Harness) -> None:
    sim = await attached(h)
    controller = h.get_controller()
    await controller.set_limit(16, phases=1)
    period = profile_writes(sim)[-1]["charging_schedule"]["charging_schedule_period"][0]
    assert period["number_phases"] == 1
    await controller.set_limit(100)
    assert h.charger.limit.requested_a == 32
    await controller.set_limit(3)
    assert h.charger.limit.requested_a == 6
    await controller.set_limit(0)
    assert live_writes(sim)[-1] == 0
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="invalid"):
            await controller.set_limit(bad)
    with pytest.raises(ValueError, match="phases"):
        await controller.set_limit(10, phases=5)


async def test_without_phase_switching_phases_are_not_sent(h: Harness) -> None:
    def no_switch(sim: SimCharger) -> None:
        sim.config["ConnectorSwitch3to1PhaseSupported"] = "false"

    sim = await attached(h, setup=no_switch)
    await h.get_controller().set_limit(16, phases=1)
    period = profile_writes(sim)[-1]["charging_schedule"]["charging_schedule_period"][0]
    assert "number_phases" not in period


async def test_rejected_profiles(h: Harness) -> None:
    def reject(sim: SimCharger) -> None:
        sim.status_override["SetChargingProfile"] = "Rejected"

    await attached(h, setup=reject)
    assert h.charger.limit.charger_max is None  # retried on the next attach
    with pytest.raises(CommandRejectedError):
        await h.get_controller().set_limit(10)
    # Refused, so not kept: the user was told, and it must not reach the charger later.
    assert h.charger.limit.requested_a is None


async def test_detached_controller() -> None:
    charger = Charger(charger_id="X")
    saves: list[int] = []
    controller = CurrentController(charger, ChargerSettings, lambda: saves.append(1))
    await controller.set_limit(10)
    assert charger.limit.requested_a == 10
    assert saves
    await controller.pause()  # zero-limit pause is remembered for the next attach
    assert charger.limit.paused
    charger.limit.paused = False
    settings = ChargerSettings(pause_strategy=PauseStrategy.REMOTE_STOP_START)
    controller = CurrentController(charger, lambda: settings, lambda: None)
    with pytest.raises(ChargerNotConnectedError):
        await controller.pause()
    # Offline, a resume that needs a remote start leaves it paused (not shown as charging).
    charger.limit.paused = True
    with pytest.raises(ChargerNotConnectedError):
        await controller.resume()
    assert charger.limit.paused
    await controller.close()
    await controller.close()


async def test_a_preferred_unit_the_charger_does_not_take_and_new_duration_replaces_old(
    h: Harness, settings: ChargerSettings
) -> None:
    """A preferred A on a charger that takes only W: written in W (never a unit it refuses)."""
    settings.rate_unit = RateUnitPreference.AMPERE

    def power_only(sim: SimCharger) -> None:
        sim.config["ChargingScheduleAllowedChargingRateUnit"] = "Power"

    sim = await attached(h, setup=power_only)
    controller = h.get_controller()
    assert profile_writes(sim)[-1]["charging_schedule"]["charging_rate_unit"] == "W"
    await controller.set_limit(10, duration_s=1)
    await controller.set_limit(12, duration_s=60)  # replaces the first expiry
    await asyncio.sleep(1.2)
    assert h.charger.limit.requested_a == 12


async def test_refresh_failure_is_retried(h: Harness, settings: ChargerSettings) -> None:
    settings.live_limit_duration_s = 2
    sim = await attached(h)
    sim.status_override["SetChargingProfile"] = "Rejected"
    writes = len(sim.actions("SetChargingProfile"))
    await wait_for(lambda: len(sim.actions("SetChargingProfile")) > writes, seconds=3)
    sim.status_override.clear()
    await wait_for(lambda: len(sim.actions("SetChargingProfile")) > writes + 1, seconds=3)


async def test_expiry_failure_is_logged(h: Harness) -> None:
    sim = await attached(h)
    await h.get_controller().set_limit(10, duration_s=1)
    sim.status_override["SetChargingProfile"] = "Rejected"
    await wait_for(lambda: h.charger.limit.requested_a is None, seconds=3)
    await wait_for(lambda: live_writes(sim)[-1] == 32)  # tried, and rejected
    assert sim.profiles[3]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 10


async def test_verification_failure_and_other_unit(h: Harness) -> None:
    sim = await attached(h)
    await wait_for(lambda: h.charger.limit.applied_a == 32)
    sim.status_override["GetCompositeSchedule"] = "Rejected"
    count = len(sim.actions("GetCompositeSchedule"))
    await h.get_controller().set_limit(20)
    await wait_for(lambda: len(sim.actions("GetCompositeSchedule")) > count)
    sim.status_override.clear()
    sim.composite_unit = "W"  # answers in another unit: cannot compare, nothing reported
    count = len(sim.actions("GetCompositeSchedule"))
    await h.get_controller().set_limit(18)
    await wait_for(lambda: len(sim.actions("GetCompositeSchedule")) > count)
    await asyncio.sleep(0.05)
    assert h.charger.limit.applied_a == 32
    assert not h.charger.limit.mismatch


async def test_failed_reapply_backs_off(h: Harness, settings: ChargerSettings) -> None:
    settings.live_profile_purpose = ProfilePurpose.TX
    sim = await attached(h)
    sim.status_override["SetChargingProfile"] = "Rejected"
    await sim.start_tx()
    await wait_for(lambda: h.get_controller()._retry_after > 0)
    writes = len(sim.actions("SetChargingProfile"))
    await sim.start_tx(connector_id=2)  # within the back-off: no new attempt
    await asyncio.sleep(0.05)
    assert len(sim.actions("SetChargingProfile")) == writes


async def test_refresh_stops_when_session_is_gone(h: Harness, settings: ChargerSettings) -> None:
    settings.live_limit_duration_s = 2
    h.attach_controller = False
    await h.charger_client()
    controller = CurrentController(h.charger, lambda: settings, h.request_save)
    await controller.attach(h.session)
    refresh = controller._refresh_task
    assert refresh is not None
    await h.session.close()  # without detach: the refresh notices by itself
    await asyncio.wait_for(refresh, timeout=3)
    await controller.close()


async def test_attach_to_closed_session(h: Harness) -> None:
    h.attach_controller = False
    await h.charger_client()
    await h.session.close()
    controller = CurrentController(h.charger, ChargerSettings, h.request_save)
    await controller.attach(h.session)
    assert controller._refresh_task is None
    await controller.close()


async def test_current_offered_has_a_grace_period(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LimitCheck, "offered_grace_s", 100.0)
    sim = await attached(h)
    await h.get_controller().set_limit(16)
    await sim.status(1, "Charging")
    await sim.meter(1, [{"value": "32", "measurand": "Current.Offered"}])  # not applied yet
    assert not h.charger.limit.mismatch


# --- who controls the limit ------------------------------------------------------------------------
async def test_reconnect_under_the_energy_manager_is_held_at_the_safe_current(h: Harness) -> None:
    controller = h.get_controller()
    controller.set_controlled_by(ControlledBy.ENERGY_MANAGER)
    # A charger the energy manager had at 16 A (or none: the 32 A maximum) comes (back) online:
    # the safe current until the manager's first decision for this connection.
    await controller.set_limit(16)
    controller.detach()
    sim = await attached(h)
    assert live_writes(sim) == [6]
    assert controller.effective_limit_a == 6
    await controller.set_limit(16)  # the decision
    assert live_writes(sim) == [6, 16]
    # A decision made before the charger booted (while it was connecting) counts too.
    await sim._connection.close()
    await wait_for(lambda: controller._session is None)
    await controller.set_limit(12)
    second = await attached(h)
    assert live_writes(second) == [12]


async def test_hold_ends_when_the_energy_manager_lets_go(h: Harness) -> None:
    controller = h.get_controller()
    controller.set_controlled_by(ControlledBy.ENERGY_MANAGER)
    controller.set_controlled_by(ControlledBy.ENERGY_MANAGER)  # unchanged: nothing happens
    saves = h.saves
    sim = await attached(h)
    assert live_writes(sim) == [6]
    assert h.saves > saves
    # Switched off (or taken over): the limit is the user's again, written at once.
    controller.set_controlled_by(ControlledBy.NONE)
    assert controller.controlled_by is ControlledBy.NONE
    await wait_for(lambda: live_writes(sim) == [6, 32])
    # Manual: never held.
    controller.set_controlled_by(ControlledBy.MANUAL)
    controller.detach()
    second = await attached(h)
    assert live_writes(second) == [32]


async def test_resume_lifts_a_zero_limit(h: Harness) -> None:
    sim = await attached(h)
    controller = h.get_controller()
    await controller.set_limit(0)
    assert not controller.charging_allowed
    assert not controller.paused
    assert controller.limit_a == 0
    await controller.resume()
    assert h.charger.limit.requested_a is None
    assert controller.charging_allowed
    assert live_writes(sim)[-2:] == [0, 32]
    await controller.pause()
    assert not controller.charging_allowed
    assert controller.effective_limit_a == 0
    assert controller.limit_a == 32


def held(sim: SimCharger, profile_id: int) -> float:
    """The limit the charger holds in profile ``profile_id``."""
    profile = sim.profiles[profile_id]
    return float(profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"])


def two_connectors(sim: SimCharger) -> None:
    sim.config["NumberOfConnectors"] = "2"


async def test_partly_refused_write_is_undone_but_the_accepted_part_stays(
    h: Harness, settings: ChargerSettings
) -> None:
    """Tx purpose, two outlets, one transaction: a limit change writes the Tx profile (accepted)
    and then the TxDefault one (refused). The request is undone to 16 A, but the charger keeps the
    accepted 32 A Tx profile on connector 1, and nothing ever writes 16 A back (until a refresh):
    what is shown (16 A) is not what the charger holds."""
    settings.live_profile_purpose = ProfilePurpose.TX
    sim = await attached(h, setup=two_connectors)
    await sim.start_tx(connector_id=1)
    await wait_for(lambda: 4 in sim.profiles)
    controller = h.get_controller()
    await controller.set_limit(16)
    assert held(sim, 4) == 16

    original = sim._record

    def refuse_tx_default(action: str, payload: dict[str, Any]) -> str:
        status = original(action, payload)
        if (
            action == "SetChargingProfile"
            and payload["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"
        ):
            return "Rejected"
        return status

    sim._record = refuse_tx_default  # type: ignore[method-assign]
    with pytest.raises(CommandRejectedError):
        await controller.set_limit(32)
    assert h.charger.limit.requested_a == 16  # undone
    sim._record = original  # type: ignore[method-assign]
    await controller.set_limit(16)  # "only real changes reach the charger"
    await asyncio.sleep(0.1)
    # The charger is brought back to the 16 A we show (or the request stays at 32 A).
    assert held(sim, 4) == h.charger.limit.requested_a


async def test_old_expiry_during_a_new_limit_write_does_not_drop_the_new_limit(
    h: Harness,
) -> None:
    """set_limit(10, 1 s), then set_limit(20) (no duration) while the charger is slow to answer:
    the old expiry is kept until the new write is answered (it could be refused), but it must not
    lift the user's new 20 A limit when it falls due during that write."""
    sim = await attached(h)
    controller = h.get_controller()
    await controller.set_limit(10, duration_s=1)
    await asyncio.sleep(0.5)
    sim.delay["SetChargingProfile"] = 1.0
    await controller.set_limit(20)  # answered at ~1.5 s; the old expiry fires at 1.0 s
    del sim.delay["SetChargingProfile"]
    await asyncio.sleep(0.3)
    assert h.charger.limit.requested_a == 20
    assert live_writes(sim)[-1] == 20


async def test_two_refused_concurrent_limits_do_not_leave_the_first_shown(
    h: Harness,
) -> None:
    """Two set_limit calls at once (user + energy manager), both refused: the charger still holds
    16 A, but the second is undone to the first's refused value (its 'before'), which is then
    shown as requested and written at the next forced write."""
    sim = await attached(h)
    controller = h.get_controller()
    await controller.set_limit(16)
    sim.status_override["SetChargingProfile"] = "Rejected"
    sim.delay["SetChargingProfile"] = 0.2
    results = await asyncio.gather(
        controller.set_limit(10), controller.set_limit(12), return_exceptions=True
    )
    assert all(isinstance(r, CommandRejectedError) for r in results)
    assert held(sim, 3) == 16
    assert h.charger.limit.requested_a == 16


async def test_v16_tx_purpose_two_transactions_pause_reaches_both_connectors(
    h: Harness, settings: ChargerSettings
) -> None:
    """1.6 with the Tx purpose and two connectors both charging: pausing writes a 0 A Tx profile
    per transaction at the SAME stack level. Under OCPP 1.6 (3.13.2, as the SimCharger keeps
    them) a profile with the same stackLevel/purpose replaces the existing one on the Charge
    Point, so connector 2's profile removes connector 1's; and as Tx profiles 'cover every
    outlet' the TxDefault live profile is not written either: connector 1 keeps its old 32 A."""
    settings.live_profile_purpose = ProfilePurpose.TX
    sim = await attached(h, setup=two_connectors)
    await sim.start_tx(connector_id=1)
    await sim.start_tx(connector_id=2)
    await wait_for(lambda: 104 in sim.profiles)
    await h.get_controller().pause()
    tx_levels = {
        pid: held(sim, pid)
        for pid, p in sim.profiles.items()
        if p["chargingProfilePurpose"] in ("TxProfile", "TxDefaultProfile") and pid != 2
    }
    # Connector 1 must be held at 0 A by some live profile: its own Tx profile or the TxDefault.
    assert tx_levels.get(4) == 0 or tx_levels.get(3) == 0, tx_levels


async def test_cancelled_limit_write_is_written_again_when_the_limit_goes_back(h: Harness) -> None:
    """A set_limit(16) is cancelled (the caller's task: a service call or the energy manager's
    write stopped) after its SetChargingProfile went out; the charger answers and holds 16 A. The
    controller keeps believing the charger holds the old 32 A, so set_limit(None) (32 A) right
    after is taken for unchanged and never written: the charger stays at 16 A while 32 A is
    shown. What may have been written is written again (as for a failed write)."""
    sim = await h.charger_client()
    await wait_for(lambda: h.controller is not None and h.controller._refresh_task is not None)
    controller = h.get_controller()
    await wait_for(lambda: 3 in sim.profiles)
    sim.delay["SetChargingProfile"] = 0.3
    task = asyncio.ensure_future(controller.set_limit(16))
    await asyncio.sleep(0.1)  # the profile is on its way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.4)  # the charger took it
    del sim.delay["SetChargingProfile"]
    profile: Any = sim.profiles[3]
    assert float(profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]) == 16
    await controller.set_limit(None)
    await asyncio.sleep(0.1)
    profile = sim.profiles[3]
    assert float(profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]) == 32


# --- fixed profiles, stack levels, refreshes -------------------------------------------------------
async def test_profiles_cleared_behind_our_back_are_restored_at_once(h: Harness) -> None:
    """A ClearChargingProfile without filter (the clear_charging_profiles action) removed our live
    and safe-fallback profiles unnoticed: the charger held no limit until the next refresh, and
    the fixed profiles were never written again. restore_profiles writes all of them at once; one
    that cannot be written then is unknown, so the next attach writes it."""
    sim = await attached(h)
    controller = h.get_controller()
    await controller.set_limit(20)
    await h.session.clear_profiles()
    assert sim.profiles == {}
    await controller.restore_profiles()
    assert sorted(sim.profiles) == [1, 2, 3]
    assert sim.composite(1, "A") == 20

    await h.session.clear_profiles()
    sim.status_override["SetChargingProfile"] = "Rejected"
    await controller.restore_profiles()  # refused: logged, not raised
    assert (h.charger.limit.charger_max, h.charger.limit.base) == (None, None)
    await sim._connection.close()
    await wait_for(lambda: controller._session is None)
    again = await attached(h)
    assert sorted(again.profiles) == [1, 2, 3]


async def test_changed_stack_levels_move_the_base_profile(
    strict: Harness, settings: ChargerSettings
) -> None:
    """The base profile was rewritten only when the safe current changed, not its stack level:
    back from levels 2/3 to 0/1, a charger that keeps its profiles in flash kept the base at 2,
    above the live limit at 1, and stayed at the safe current for good."""
    settings.base_stack_level, settings.live_stack_level = 2, 3
    first = await attached(strict)
    await strict.get_controller().set_limit(20)
    await first._connection.close()
    await wait_for(lambda: strict.get_controller()._session is None)
    settings.base_stack_level, settings.live_stack_level = 0, 1

    def keep_flash(sim: SimCharger) -> None:
        sim.profiles = dict(first.profiles)

    second = await attached(strict, setup=keep_flash)
    assert second.profiles[2]["stackLevel"] == 0
    assert second.composite(1, "A") == 20


async def test_charger_with_max_stack_level_0_gets_limits(strict: Harness) -> None:
    """ChargeProfileMaxStackLevel=0 (ABB Terra AC & co.) read as "not reported": profiles went
    out at level 1 and the charger refused every limit."""

    def level_0_only(sim: SimCharger) -> None:
        sim.config["ChargeProfileMaxStackLevel"] = "0"

    sim = await attached(strict, setup=level_0_only)
    assert strict.charger.capabilities.max_stack_level == 0
    assert {p["stackLevel"] for _, p in sim.arrivals} == {0}
    await strict.get_controller().set_limit(16)
    assert sim.composite(1, "A") == 16


async def test_live_limit_applies_on_a_charger_whose_clock_is_behind(strict: Harness) -> None:
    """The schedule started a minute before our now: a charger whose clock is 5 minutes behind
    saw every new live profile start 4 minutes in its future and held its safe base meanwhile,
    after every change and every refresh (a pause to 0 A was no pause then)."""
    sim = await attached(strict)
    assert isinstance(sim, StrictSim)
    sim.clock_offset = -timedelta(minutes=5)
    await strict.get_controller().set_limit(20)
    assert sim.composite(1, "A") == 20
    await strict.get_controller().set_limit(0)
    assert sim.composite(1, "A") == 0


@pytest.mark.parametrize("version", v201_harness.VERSIONS)
async def test_v2x_station_with_profile_stack_level_0_gets_limits(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    settings: ChargerSettings,
    version: str,
) -> None:
    """The same with SmartChargingCtrlr.ProfileStackLevel = 0 on 2.0.1 / 2.1."""
    async with v201_harness.running_harness(directory, server_settings, version) as h:

        def level_0_only(station: Any) -> None:
            key = ("SmartChargingCtrlr", None, None, "ProfileStackLevel", "Actual")
            station.device_model[key] = "0"

            def answer(payload: dict[str, Any]) -> dict[str, Any]:
                if payload["chargingProfile"]["stackLevel"] > 0:
                    return {"status": "Rejected"}
                return station._answer_SetChargingProfile(payload)

            station.answers["SetChargingProfile"] = answer

        station = await attached(h, setup=level_0_only)
        sent = {p["chargingProfile"]["stackLevel"] for p in station.actions("SetChargingProfile")}
        assert sent == {0}
        await h.get_controller().set_limit(16)
        assert station.composite(1) == (16, "A")


@pytest.mark.parametrize("version", v201_harness.VERSIONS)
async def test_v2x_station_refusing_defaults_on_evse_0_gets_them_on_its_evse(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    settings: ChargerSettings,
    version: str,
) -> None:
    """A one-EVSE station that takes a TxDefaultProfile only on its EVSE (evseId 0 refused,
    firmware that knows no "whole station"; its ChargingStationMaxProfile on 0 is taken): the
    safe base and the live limit never reached it, it charged at its own maximum."""
    async with v201_harness.running_harness(directory, server_settings, version) as h:

        def refuse_evse_0_defaults(station: Any) -> None:
            def answer(payload: dict[str, Any]) -> dict[str, Any]:
                purpose = payload["chargingProfile"]["chargingProfilePurpose"]
                if payload["evseId"] == 0 and purpose == "TxDefaultProfile":
                    return {"status": "Rejected"}
                return station._answer_SetChargingProfile(payload)

            station.answers["SetChargingProfile"] = answer

        station = await attached(h, setup=refuse_evse_0_defaults)
        assert {p["id"]: p["evseId"] for p in station.profiles.values()} == {1: 0, 2: 1, 3: 1}
        await h.get_controller().set_limit(16)
        await h.get_controller().set_limit(10)
        assert station.composite(1) == (10, "A")
        # Learned once: later writes go to the EVSE straight away (no refusal per write).
        refused = [
            p
            for p in station.actions("SetChargingProfile")
            if p["evseId"] == 0
            and p["chargingProfile"]["chargingProfilePurpose"] != ("ChargingStationMaxProfile")
        ]
        assert len(refused) == 1


async def test_refused_max_profile_does_not_block_base_and_live(strict: Harness) -> None:
    """Max, base and live were written in one go at attach: a charger refusing the
    ChargePointMaxProfile got neither the safe base nor the live limit, at every reconnect."""
    strict.charger.limit.requested_a = 10

    def refuse_max(sim: SimCharger) -> None:
        assert isinstance(sim, StrictSim)
        sim.reject_purposes.add("ChargePointMaxProfile")

    sim = await attached(strict, setup=refuse_max)
    assert sorted(sim.profiles) == [2, 3]
    assert sim.composite(1, "A") == 10
    assert strict.charger.limit.charger_max is None  # tried again at the next attach


async def test_one_timed_out_refresh_does_not_let_the_live_limit_lapse(
    strict: Harness, settings: ChargerSettings, server_settings: ServerSettings
) -> None:
    """A failed refresh was retried a whole refresh period after the failure, past the live
    profile's expiry: the charger fell back to its safe base although the link was fine again.
    Scaled down: live duration 8 s, response timeout 2 s, the refresh lost (not applied)."""
    server_settings.response_timeout_s = 2.0
    settings.live_limit_duration_s = 8
    sim = await attached(strict)
    await strict.get_controller().set_limit(20)
    written = len(sim.arrivals)
    last_live = sim.arrivals[-1][1]
    assert last_live["chargingProfileId"] == 3
    sim.swallow, sim.swallow_s = 1, 2.5
    await wait_for(lambda: len(sim.arrivals) >= written + 2, seconds=20)
    expires = expiry(last_live)
    assert expires is not None
    assert sim.arrivals[written + 1][0] < expires


async def test_refresh_loop_does_not_spin_when_nothing_is_written(
    h: Harness,
    settings: ChargerSettings,
    directory: MemoryDirectory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A charger that reconnects without smart charging (firmware / SupportedFeatureProfiles
    changed) after a live write more than a refresh period ago: nothing is written, the last
    write stayed old, and the refresh loop slept 0 s over and over: a busy loop on Home
    Assistant's event loop."""
    settings.live_limit_duration_s = 2  # refresh period <= 1 s
    first = await attached(h)
    await h.get_controller().set_limit(20)
    await first._connection.close()
    await wait_for(lambda: h.get_controller()._session is None)
    await asyncio.sleep(1.2)  # the last write is now older than a refresh period

    def core_only(sim: SimCharger) -> None:
        sim.config["SupportedFeatureProfiles"] = "Core,RemoteTrigger"

    await h.charger_client(setup=core_only)
    await wait_for(lambda: h.controller is not None and h.controller._refresh_task is not None)
    calls = 0
    real = directory.settings

    def counting(charger_id: str) -> ChargerSettings:
        nonlocal calls
        calls += 1
        return real(charger_id)

    monkeypatch.setattr(directory, "settings", counting)
    await asyncio.sleep(0.3)
    # A sleeping refresh loop reads the settings a few times at most; a spinning one thousands.
    assert calls < 200, f"refresh loop spinning: {calls} settings reads in 0.3 s"


async def test_a_phase_change_keeps_a_limit_for_a_while(h: Harness) -> None:
    """The 1p/3p select sets the same limit on other phases: during a limit given for a while
    that made it permanent (its end, what it returns to and the hand-back were dropped)."""
    await attached(h)
    control = h.get_controller()
    await control.set_limit(16)
    await control.set_limit(10, duration_s=600, hand_back_to="solar")
    expires_at = h.charger.limit.expires_at
    await control.set_limit(control.charger.limit.requested_a, phases=1)
    assert h.charger.limit.requested_phases == 1
    assert h.charger.limit.expires_at == expires_at
    assert (h.charger.limit.previous_a, h.charger.limit.hand_back_to) == (16, "solar")


def refresh_retries(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The waits before each retry of a failed refresh, as logged (s)."""
    return [
        float(r.args[1])  # type: ignore[index, arg-type]
        for r in caplog.records
        if r.name == current_control.__name__ and "refreshing" in r.msg
    ]


def control_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == current_control.__name__ and r.levelno >= logging.WARNING
    ]


async def test_a_charger_refusing_every_limit_is_told_once_and_asked_less_and_less(
    h: Harness,
    settings: ChargerSettings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A charger that refuses every limit write (a Schneider with "EM controlled by external
    system" off) got a WARNING and a rewrite every 30 s, forever. Scaled down: a refresh retry
    after 0.1 s, backed off to at most 1.6 s (10 min in real life)."""
    monkeypatch.setattr(current_control, "REFRESH_RETRY_S", 0.1)
    monkeypatch.setattr(backoff, "REFUSED_RETRY_MAX_S", 1.6)
    settings.live_limit_duration_s = 2
    sim = await attached(h)
    controller = h.get_controller()
    caplog.set_level(logging.DEBUG, logger=current_control.__name__)
    sim.status_override["SetChargingProfile"] = "Rejected"
    calls = len(sim.actions("SetChargingProfile"))
    await wait_for(lambda: len(refresh_retries(caplog)) >= 7, seconds=15)
    assert refresh_retries(caplog)[:7] == [0.1, 0.2, 0.4, 0.8, 1.6, 1.6, 1.6]
    # One refresh per retry (a refused TxDefault goes to connector 0, then to the outlet).
    assert 2 * 7 <= len(sim.actions("SetChargingProfile")) - calls <= 2 * 8
    (warning,) = control_warnings(caplog)
    assert "EM controlled by external system" in warning  # what the user can do
    # Shown: the charger does not hold the limit we keep for it.
    assert h.charger.limit.mismatch

    # A change (the user, the energy manager) is tried at once, and the back-off starts anew.
    calls = len(sim.actions("SetChargingProfile"))
    with pytest.raises(CommandRejectedError):
        await controller.set_limit(12)
    assert len(sim.actions("SetChargingProfile")) > calls
    retried = len(refresh_retries(caplog))
    await wait_for(lambda: len(refresh_retries(caplog)) >= retried + 2, seconds=5)
    assert refresh_retries(caplog)[retried : retried + 2] == [0.1, 0.2]
    assert len(control_warnings(caplog)) == 1

    # Taken again: no back-off, nothing shown; the next refusal is told again.
    sim.status_override.clear()
    await wait_for(lambda: controller._live is not None and not h.charger.limit.mismatch)
    retried = len(refresh_retries(caplog))
    sim.status_override["SetChargingProfile"] = "Rejected"
    await wait_for(lambda: len(refresh_retries(caplog)) >= retried + 2, seconds=5)
    assert refresh_retries(caplog)[retried : retried + 2] == [0.1, 0.2]
    assert len(control_warnings(caplog)) == 2


async def test_a_limit_taken_while_refusals_back_off_is_refreshed_in_time(
    strict: Harness, settings: ChargerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the charger refuses, the refresh sleeps longer and longer (up to 10 min). A limit
    it takes meanwhile (its setting turned on again, a new limit set) must be refreshed before
    its live profile runs out, not once that sleep ends: the charger fell back to its safe base.
    Scaled down: live duration 2 s, refused refreshes retried after 3 s."""
    monkeypatch.setattr(current_control, "REFRESH_RETRY_S", 3.0)
    settings.live_limit_duration_s = 2
    sim = await attached(strict)
    assert isinstance(sim, StrictSim)
    controller = strict.get_controller()
    sim.reject_purposes.add("TxDefaultProfile")
    await wait_for(lambda: (controller._refused_retry_s or 0.0) >= 3.0, seconds=10)
    sim.reject_purposes.clear()
    await controller.set_limit(12)
    taken = sim.arrivals[-1][1]
    written = len(sim.arrivals)
    await wait_for(lambda: len(sim.arrivals) > written, seconds=10)
    expires = expiry(taken)
    assert expires is not None
    assert sim.arrivals[written][0] < expires


async def test_a_change_left_unanswered_is_put_right_at_the_refresh_retry(
    h: Harness, server_settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A raise the charger answered too late (it took it after our response timeout): the
    request goes back to 12 A, as the entities show, but the charger held 20 A until the next
    refresh, minutes later (the README's known gap). Now what is requested goes out again at
    the refresh's retry (REFRESH_RETRY_S, 0.3 s here)."""
    server_settings.response_timeout_s = 0.3
    monkeypatch.setattr(current_control, "REFRESH_RETRY_S", 0.3)
    sim = await attached(h)
    control = h.get_controller()
    await control.set_limit(12)
    sim.delay["SetChargingProfile"] = 0.6
    with pytest.raises(CommandTimeoutError):
        await control.set_limit(20)
    assert control.charger.limit.requested_a == 12
    await wait_for(lambda: 20 in live_writes(sim))  # taken after all, late (a retry may follow)
    sim.delay.clear()
    # (A retry sent while the charger still answered late may time out too: the next one lands.)
    await wait_for(lambda: live_writes(sim)[-1:] == [12] and not control._unanswered, seconds=5)
