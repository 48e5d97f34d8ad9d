"""Every action end to end against a simulated charger, plus bad input and charger refusals."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import probatio
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Context, HomeAssistant, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    MockUser,
    async_fire_time_changed,
)

from custom_components.ocpp_ems.const import CONF_RESPONSE_TIMEOUT, DOMAIN
from custom_components.ocpp_ems.core import reservation_clock
from custom_components.ocpp_ems.core.current_control import LIVE_PROFILE_ID
from custom_components.ocpp_ems.core.errors import OcppEmsError
from custom_components.ocpp_ems.dashboard import SERVICE_GET_DASHBOARD
from custom_components.ocpp_ems.entity import charger_errors
from custom_components.ocpp_ems.services import SERVICES
from custom_components.ocpp_ems.site_actions import SERVICE_SET_CHEAP_GRID_PRICE

from .helpers.charger import SimCharger, wait_for
from .helpers.ems import async_set_charger_options
from .helpers.fixtures import Onboard, Target
from .helpers.versions import VERSIONS_2X, OnboardAny, Side2x


async def call(
    hass: HomeAssistant, service: str, target: Target | str, response: bool = False, **data: Any
) -> Any:
    """Call ``service`` on the target's device (or the device with this id)."""
    device_id = target if isinstance(target, str) else target.device_id
    return await hass.services.async_call(
        DOMAIN,
        service,
        {"device_id": device_id, **data},
        blocking=True,
        return_response=response,
    )


async def assert_rejected(
    hass: HomeAssistant, target: Target | str, service: str, action: str, status: str, **data: Any
) -> None:
    """The action fails with the charger's answer ``status`` to ``action``, translated."""
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, service, target, **data)
    assert err.value.translation_key == "command_rejected"
    assert err.value.translation_placeholders == {
        "charger_id": "CP1",
        "action": action,
        "status": status,
    }


def live_limit(sim: SimCharger) -> float:
    schedule = sim.profiles[LIVE_PROFILE_ID]["charging_schedule"]
    return float(schedule["charging_schedule_period"][0]["limit"])


async def test_services_registered(hass: HomeAssistant, server_entry: MockConfigEntry) -> None:
    # get_dashboard and set_cheap_grid_price are registered beside them (they target a server,
    # not a charger).
    registered = set(hass.services.async_services_for_domain(DOMAIN))
    assert registered == {*SERVICES, SERVICE_GET_DASHBOARD, SERVICE_SET_CHEAP_GRID_PRICE}


# --- current control -------------------------------------------------------------------------
async def test_set_current_limit(hass: HomeAssistant, target: Target) -> None:
    await call(hass, "set_current_limit", target, current=10.04)
    assert live_limit(target.sim) == 10.0
    assert hass.states.get("number.acme_wallbox_1_current_limit").state == "10.0"
    assert hass.states.get("sensor.acme_wallbox_1_active_limit").state == "10.0"

    await call(hass, "set_current_limit", target, current=12, duration=600)
    schedule = target.sim.profiles[LIVE_PROFILE_ID]["charging_schedule"]
    assert float(schedule["charging_schedule_period"][0]["limit"]) == 12.0


async def test_set_current_limit_for_a_while_returns_to_the_previous_limit(
    hass: HomeAssistant, target: Target
) -> None:
    """A limit with a duration used to be removed when it ended: 16 A, then 10 A for 1 s, ended
    at the installation maximum (32 A) instead of the promised previous limit."""
    await call(hass, "set_current_limit", target, current=16)
    await call(hass, "set_current_limit", target, current=10, duration=1)
    await call(hass, "set_current_limit", target, current=8, duration=1)  # in a row: still 16 A
    assert live_limit(target.sim) == 8.0
    model = target.entry.runtime_data.coordinator.charger
    await wait_for(lambda: model.limit.expires_at is None, seconds=15, what="expiry")
    await hass.async_block_till_done()
    assert model.limit.requested_a == 16.0
    await wait_for(lambda: live_limit(target.sim) == 16.0, seconds=10, what="previous limit")
    assert hass.states.get("number.acme_wallbox_1_current_limit").state == "16.0"


@pytest.mark.parametrize("current", [3, 40])
async def test_set_current_limit_out_of_range(
    hass: HomeAssistant, target: Target, current: float
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "set_current_limit", target, current=current)
    assert err.value.translation_key == "current_out_of_range"
    assert err.value.translation_placeholders == {
        "current": str(float(current)),
        "min": "6.0",
        "max": "32.0",
    }


async def test_zero_current_pauses_with_the_chargers_pause_strategy(
    hass: HomeAssistant, target: Target
) -> None:
    """set_current_limit 0 wrote a 0 A profile even to a charger paused by stop + start (which
    ends the session on a 0 A limit) instead of using its pause strategy like pause_charging."""
    await async_set_charger_options(hass, target.entry, pause_strategy="remote_stop_start")
    await wait_for(lambda: target.entry.runtime_data.central.session("CP1") is not None)
    await target.sim.status("Preparing")
    await target.sim.start_transaction()
    await target.sim.status("Charging")
    await hass.async_block_till_done()
    await call(hass, "set_current_limit", target, current=0)
    assert target.sim.commands("RemoteStopTransaction")
    assert target.sim.live_limit() != 0.0
    assert target.entry.runtime_data.coordinator.charger.limit.paused
    # A pause for a while would be a 0 A limit, which ends this charger's session: refused.
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "set_current_limit", target, current=0, duration=60)
    assert err.value.translation_key == "pause_with_duration"
    assert len(target.sim.commands("RemoteStopTransaction")) == 1


@pytest.mark.parametrize(
    ("service", "data"),
    [
        ("get_configuration", {}),
        ("set_configuration", {"key": "AuthorizationKey", "value": "00"}),
        ("reset", {"type": "hard"}),
        ("clear_cache", {}),
        ("update_firmware", {"url": "https://evil.example/fw.bin"}),
        ("request_diagnostics", {"url": "ftp://evil.example/"}),
        ("data_transfer", {"vendor_id": "ACME"}),
        ("upgrade_security", {"security_profile": 2}),
        ("clear_charging_profiles", {}),
        ("set_charging_profile", {"profile": {"chargingProfileId": 1, "chargingSchedule": {}}}),
    ],
)
async def test_maintenance_actions_need_an_admin(
    hass: HomeAssistant,
    target: Target,
    hass_read_only_user: MockUser,
    service: str,
    data: dict[str, Any],
) -> None:
    """Flashing firmware, rewriting the charger's configuration (its password), uploading its
    logs anywhere: any non-admin user (a wall tablet's account) could do it."""
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            service,
            {"device_id": target.device_id, **data},
            blocking=True,
            context=Context(user_id=hass_read_only_user.id),
            return_response=SERVICES[service].response is SupportsResponse.ONLY,
        )
    assert not target.sim.commands("Reset")


async def test_pause_and_resume(hass: HomeAssistant, target: Target) -> None:
    await call(hass, "set_current_limit", target, current=16)
    await call(hass, "pause_charging", target)
    assert live_limit(target.sim) == 0.0
    assert hass.states.get("switch.acme_wallbox_1_charging_enabled").state == "off"
    assert hass.states.get("sensor.acme_wallbox_1_active_limit").state == "0.0"
    await call(hass, "resume_charging", target)
    assert live_limit(target.sim) == 16.0
    assert hass.states.get("switch.acme_wallbox_1_charging_enabled").state == "on"


# --- transactions ------------------------------------------------------------------------------
async def test_start_charging(hass: HomeAssistant, target: Target) -> None:
    await call(hass, "start_charging", target)
    await call(hass, "start_charging", target, id_tag="CARD", connector_id=1)
    assert target.sim.commands("RemoteStartTransaction") == [
        {"id_tag": "HomeAssistant", "connector_id": 1},
        {"id_tag": "CARD", "connector_id": 1},
    ]


async def test_stop_charging(hass: HomeAssistant, target: Target) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "stop_charging", target)
    assert err.value.translation_key == "no_transaction"

    transaction_id = await target.sim.start_transaction("HomeAssistant")
    await call(hass, "stop_charging", target)
    assert target.sim.commands("RemoteStopTransaction") == [{"transaction_id": transaction_id}]

    with pytest.raises(ServiceValidationError):
        await call(hass, "stop_charging", target, connector_id=2)


# --- configuration and maintenance -------------------------------------------------------------
async def test_get_configuration(hass: HomeAssistant, target: Target) -> None:
    result = await call(
        hass,
        "get_configuration",
        target,
        response=True,
        keys=["HeartbeatInterval", "NoSuchKey"],
    )
    assert result == {
        "configuration": {"HeartbeatInterval": {"value": "300", "readonly": False}},
        "unknown": ["NoSuchKey"],
    }
    everything = await call(hass, "get_configuration", target, response=True)
    assert "SupportedFeatureProfiles" in everything["configuration"]


async def test_set_configuration(hass: HomeAssistant, target: Target) -> None:
    result = await call(
        hass, "set_configuration", target, response=True, key="HeartbeatInterval", value="120"
    )
    assert result == {"status": "Accepted"}
    assert target.sim.configuration["HeartbeatInterval"] == "120"

    target.sim.statuses["ChangeConfiguration"] = "Rejected"
    await assert_rejected(
        hass,
        target,
        "set_configuration",
        "ChangeConfiguration",
        "Rejected",
        key="HeartbeatInterval",
        value="1",
    )


async def test_trigger_message(hass: HomeAssistant, target: Target) -> None:
    await call(hass, "trigger_message", target, message="Heartbeat")
    await wait_for(lambda: target.entry.runtime_data.coordinator.charger.last_heartbeat)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.acme_wallbox_1_last_heartbeat").state not in (
        "unknown",
        "unavailable",
    )
    await call(hass, "trigger_message", target, message="StatusNotification", connector_id=1)
    assert target.sim.commands("TriggerMessage")[-1] == {
        "requested_message": "StatusNotification",
        "connector_id": 1,
    }
    with pytest.raises(probatio.Invalid):
        await call(hass, "trigger_message", target, message="Nonsense")


async def test_reset(hass: HomeAssistant, target: Target) -> None:
    await call(hass, "reset", target)
    await call(hass, "reset", target, type="hard")
    assert target.sim.commands("Reset") == [{"type": "Soft"}, {"type": "Hard"}]


async def test_unlock(hass: HomeAssistant, target: Target) -> None:
    await call(hass, "unlock", target)
    assert target.sim.commands("UnlockConnector") == [{"connector_id": 1}]
    target.sim.statuses["UnlockConnector"] = "UnlockFailed"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "unlock", target, connector_id=1)
    assert err.value.translation_placeholders is not None
    assert err.value.translation_placeholders["status"] == "UnlockFailed"


async def test_whole_numbers_given_as_floats_are_accepted(
    hass: HomeAssistant, target: Target
) -> None:
    """A connector id templated from an input_number renders as 1.0: connector_id and
    stack_level refused it ("expected int") where profile_id and reservation_id coerce."""
    await call(hass, "unlock", target, connector_id=1.0)
    assert target.sim.commands("UnlockConnector") == [{"connector_id": 1}]
    await call(hass, "clear_charging_profiles", target, connector_id="1", stack_level=2.0)
    assert target.sim.commands("ClearChargingProfile")[-1] == {"connector_id": 1, "stack_level": 2}
    with pytest.raises(probatio.Invalid):
        await call(hass, "unlock", target, connector_id=1.5)


async def test_change_availability(hass: HomeAssistant, target: Target) -> None:
    result = await call(hass, "change_availability", target, response=True, operative=False)
    assert result == {"status": "Accepted"}
    await call(hass, "change_availability", target, operative=True, connector_id=1)
    assert target.sim.commands("ChangeAvailability") == [
        {"connector_id": 0, "type": "Inoperative"},  # no connector: the whole charger
        {"connector_id": 1, "type": "Operative"},
    ]
    # A session runs: the charger changes once it has ended.
    target.sim.statuses["ChangeAvailability"] = "Scheduled"
    result = await call(hass, "change_availability", target, response=True, operative=False)
    assert result == {"status": "Scheduled"}

    target.sim.statuses["ChangeAvailability"] = "Rejected"
    await assert_rejected(
        hass, target, "change_availability", "ChangeAvailability", "Rejected", operative=False
    )
    with pytest.raises(probatio.Invalid):
        await call(hass, "change_availability", target)  # operative is required


async def test_clear_cache(hass: HomeAssistant, target: Target) -> None:
    await call(hass, "clear_cache", target)
    assert target.sim.commands("ClearCache") == [{}]
    target.sim.statuses["ClearCache"] = "Rejected"
    await assert_rejected(hass, target, "clear_cache", "ClearCache", "Rejected")


async def test_update_firmware(hass: HomeAssistant, target: Target) -> None:
    await call(
        hass,
        "update_firmware",
        target,
        url="https://example.com/fw.bin",
        retrieve_date="2030-01-02T03:04:05+00:00",
        retries=2,
    )
    await call(hass, "update_firmware", target, url="https://example.com/fw2.bin")
    first, second = target.sim.commands("UpdateFirmware")
    assert first["location"] == "https://example.com/fw.bin"
    assert first["retrieve_date"].startswith("2030-01-02T03:04:05")
    assert first["retries"] == 2
    assert second["location"] == "https://example.com/fw2.bin"
    with pytest.raises(probatio.Invalid):
        await call(hass, "update_firmware", target, url="not a url")
    # Signed firmware (security extension): the signature and its certificate go together.
    await call(
        hass,
        "update_firmware",
        target,
        url="https://example.com/fw3.bin",
        signing_certificate="-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----",
        signature="c2lnbmF0dXJl",
    )
    (signed,) = target.sim.commands("SignedUpdateFirmware")
    assert signed["firmware"]["location"] == "https://example.com/fw3.bin"
    assert signed["firmware"]["signature"] == "c2lnbmF0dXJl"
    assert signed["firmware"]["signing_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    with pytest.raises(probatio.Invalid):
        await call(hass, "update_firmware", target, url="https://x.invalid/f", signature="c2ln")


async def test_request_diagnostics(hass: HomeAssistant, target: Target) -> None:
    result = await call(
        hass, "request_diagnostics", target, response=True, url="ftp://example.com/upload/"
    )
    assert result == {"file_name": "diagnostics.zip"}
    assert target.sim.commands("GetDiagnostics") == [{"location": "ftp://example.com/upload/"}]
    # The security log (security extension GetLog).
    result = await call(
        hass,
        "request_diagnostics",
        target,
        response=True,
        url="ftp://example.com/upload/",
        log_type="security",
    )
    assert result == {"file_name": "security.log"}
    (log,) = target.sim.commands("GetLog")
    assert log["log_type"] == "SecurityLog"
    assert log["log"]["remote_location"] == "ftp://example.com/upload/"


# --- reservations ------------------------------------------------------------------------------
async def test_reserve_and_cancel(hass: HomeAssistant, target: Target) -> None:
    expiry = dt_util.utcnow().replace(microsecond=0) + timedelta(hours=1)
    first = await call(
        hass, "reserve_now", target, response=True, id_tag="CARD", expiry=expiry.isoformat()
    )
    # A naive time is Home Assistant's local time.
    local = datetime(2099, 1, 2, 3, 4, 5)
    second = await call(
        hass, "reserve_now", target, response=True, id_tag="CARD", expiry=str(local), connector_id=1
    )
    assert first["reservation_id"] != second["reservation_id"]
    sent = target.sim.commands("ReserveNow")
    assert [(r["connector_id"], r["id_tag"], r["reservation_id"]) for r in sent] == [
        (1, "CARD", first["reservation_id"]),  # the charger's only connector
        (1, "CARD", second["reservation_id"]),
    ]
    assert dt_util.parse_datetime(sent[0]["expiry_date"]) == expiry
    zone = dt_util.get_default_time_zone()
    assert dt_util.parse_datetime(sent[1]["expiry_date"]) == local.replace(tzinfo=zone)

    await call(hass, "cancel_reservation", target, reservation_id=first["reservation_id"])
    assert target.sim.commands("CancelReservation") == [{"reservation_id": first["reservation_id"]}]


RESERVED_UNTIL = "sensor.acme_wallbox_1_reserved_until"
RESERVATION_EVENT = "event.acme_wallbox_1_reservation"


async def test_reserved_until_moves_on_at_each_expiry(
    hass: HomeAssistant, target: Target, freezer: FrozenDateTimeFactory
) -> None:
    """A 1.6 charger reports no expiry: the sensor shows the next reservation when one ends by
    our clock, then none; a refused reservation is never shown."""
    now = dt_util.utcnow().replace(microsecond=0)
    for minutes in (2, 1):
        expiry = (now + timedelta(minutes=minutes)).isoformat()
        await call(hass, "reserve_now", target, id_tag=f"CARD{minutes}", expiry=expiry)
    target.sim.statuses["ReserveNow"] = "Occupied"
    with pytest.raises(HomeAssistantError):
        await call(hass, "reserve_now", target, id_tag="CARD3", expiry=now + timedelta(seconds=30))
    shown = hass.states.get(RESERVED_UNTIL)
    assert shown is not None
    assert dt_util.parse_datetime(shown.state) == now + timedelta(minutes=1)
    assert [r["id_tag"] for r in shown.attributes["reservations"]] == ["CARD1", "CARD2"]
    for minutes, left in ((1, ["CARD2"]), (2, [])):
        freezer.move_to(now + timedelta(minutes=minutes, seconds=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
        shown = hass.states.get(RESERVED_UNTIL)
        assert shown is not None
        assert [r["id_tag"] for r in shown.attributes["reservations"]] == left
    assert shown.state == "unknown"


async def test_a_reservation_ending_at_its_expiry_fires_its_end(
    hass: HomeAssistant, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1.6 charger reports no reservation's end: at its expiry the reservation event's "ended"
    comes by Home Assistant's clock, as a 2.x station's report gives it (before: none, and an
    automation on the end of a reservation never ran for a 1.6 charger)."""
    monkeypatch.setattr(reservation_clock, "START_DELAY", timedelta(0))  # (the server just began)
    expiry = dt_util.utcnow() + timedelta(seconds=1)
    reserved = await call(
        hass, "reserve_now", target, response=True, id_tag="CARD", expiry=expiry.isoformat()
    )
    assert reserved is not None

    def ended() -> dict[str, Any] | None:
        state = hass.states.get(RESERVATION_EVENT)
        assert state is not None
        return dict(state.attributes) if state.attributes.get("event_type") == "ended" else None

    await wait_for(lambda: ended() is not None, seconds=5, what="the reservation's end")
    facts = ended()
    assert facts is not None
    assert (facts["reservation_id"], facts["status"]) == (reserved["reservation_id"], "Expired")
    assert dt_util.utcnow() >= expiry


async def test_reservation_refused(hass: HomeAssistant, target: Target) -> None:
    target.sim.statuses["ReserveNow"] = "Occupied"
    expiry = "2099-01-01T00:00:00+00:00"
    await assert_rejected(
        hass, target, "reserve_now", "ReserveNow", "Occupied", id_tag="CARD", expiry=expiry
    )
    target.sim.statuses["CancelReservation"] = "Rejected"  # no such reservation
    await assert_rejected(
        hass, target, "cancel_reservation", "CancelReservation", "Rejected", reservation_id=5
    )

    sent = len(target.sim.commands("ReserveNow"))
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "reserve_now", target, id_tag="CARD", expiry="2001-01-01T00:00:00+00:00")
    assert err.value.translation_key == "expiry_in_past"
    assert err.value.translation_placeholders == {"expiry": "2001-01-01T00:00:00+00:00"}
    assert len(target.sim.commands("ReserveNow")) == sent
    with pytest.raises(probatio.Invalid):
        await call(hass, "cancel_reservation", target, reservation_id=-1)


# --- smart charging and vendor extensions ------------------------------------------------------
async def test_clear_charging_profiles(hass: HomeAssistant, target: Target) -> None:
    await call(
        hass,
        "clear_charging_profiles",
        target,
        profile_id=3,
        connector_id=0,
        purpose="tx_default",
        stack_level=1,
    )
    assert target.sim.commands("ClearChargingProfile") == [
        {
            "id": 3,
            "connector_id": 0,
            "charging_profile_purpose": "TxDefaultProfile",
            "stack_level": 1,
        }
    ]
    await call(hass, "clear_charging_profiles", target)
    assert len(target.sim.commands("ClearChargingProfile")) == 2
    assert sorted(target.sim.profiles) == [1, 2, LIVE_PROFILE_ID]  # ours, written again


async def test_clearing_profiles_restores_our_limit_at_once(
    hass: HomeAssistant, target: Target
) -> None:
    """Clearing every profile removed Home Assistant's own live limit and safe fallback as well:
    the number and the sensor said 10 A while the charger held no limit at all, until the next
    refresh (minutes later); the fallback was never written again."""
    await call(hass, "set_current_limit", target, current=10)
    await call(hass, "clear_charging_profiles", target)
    assert live_limit(target.sim) == 10.0
    assert sorted(target.sim.profiles) == [1, 2, LIVE_PROFILE_ID]
    assert hass.states.get("sensor.acme_wallbox_1_active_limit").state == "10.0"
    # A raw profile with our live profile's id replaces it: ours is written again at once.
    raw = RAW_PROFILE | {"chargingProfileId": LIVE_PROFILE_ID, "stackLevel": 1}
    await call(hass, "set_charging_profile", target, profile=raw)
    assert live_limit(target.sim) == 10.0


RAW_PROFILE: dict[str, Any] = {
    "chargingProfileId": 99,
    "stackLevel": 5,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}],
    },
}


async def test_set_charging_profile(hass: HomeAssistant, target: Target) -> None:
    await call(hass, "set_charging_profile", target, connector_id=1, profile=RAW_PROFILE)
    assert target.sim.profiles[99]["stack_level"] == 5
    raw = [
        c
        for c in target.sim.commands("SetChargingProfile")
        if c["cs_charging_profiles"]["charging_profile_id"] == 99
    ]
    assert raw[-1]["connector_id"] == 1

    # Passes our checks but not the OCPP schema: bad input, never sent to the charger.
    sent = len(target.sim.commands("SetChargingProfile"))
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            "set_charging_profile",
            target,
            profile={"chargingProfileId": 1, "chargingSchedule": {"chargingRateUnit": "A"}},
        )
    assert err.value.translation_key == "invalid_command"
    assert (err.value.translation_placeholders or {})["action"] == "SetChargingProfile"
    assert len(target.sim.commands("SetChargingProfile")) == sent

    with pytest.raises(probatio.Invalid, match="chargingSchedule"):
        await call(hass, "set_charging_profile", target, profile={"chargingProfileId": 1})
    with pytest.raises(probatio.Invalid, match="mapping"):
        await call(hass, "set_charging_profile", target, profile="nope")


async def test_data_transfer(hass: HomeAssistant, target: Target) -> None:
    result = await call(
        hass,
        "data_transfer",
        target,
        response=True,
        vendor_id="com.example",
        message_id="ping",
        data="hello",
    )
    assert result == {"status": "Accepted", "data": "pong"}
    assert target.sim.commands("DataTransfer") == [
        {"vendor_id": "com.example", "message_id": "ping", "data": "hello"}
    ]


# --- the same actions on OCPP 2.x (the core tests check every payload field) -------------------
@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_availability_cache_and_reservations_2x(
    hass: HomeAssistant, onboard_any: OnboardAny, device_registry: dr.DeviceRegistry, version: str
) -> None:
    async with onboard_any(version) as (charger, entry):
        assert isinstance(charger, Side2x)
        station = charger.station
        device = device_registry.async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
        assert device is not None

        result = await call(hass, "change_availability", device.id, response=True, operative=False)
        assert result == {"status": "Accepted"}
        station.status_override["ChangeAvailability"] = "Scheduled"
        result = await call(
            hass, "change_availability", device.id, response=True, operative=True, connector_id=1
        )
        assert result == {"status": "Scheduled"}
        assert station.actions("ChangeAvailability") == [
            {"operationalStatus": "Inoperative"},  # no EVSE: the whole station
            {"operationalStatus": "Operative", "evse": {"id": 1}},
        ]
        del station.status_override["ChangeAvailability"]
        station.answers["ChangeAvailability"] = {
            "status": "Rejected",
            "statusInfo": {"reasonCode": "UnknownEvse"},
        }
        await assert_rejected(
            hass,
            device.id,
            "change_availability",
            "ChangeAvailability",
            "Rejected: UnknownEvse",  # with the station's reason code
            operative=False,
            connector_id=1,
        )
        # An EVSE the station does not have is the caller's mistake: never sent.
        sent = len(station.actions("ChangeAvailability"))
        for action, data in (
            ("change_availability", {"operative": True}),
            ("unlock", {}),
            ("start_charging", {}),
            ("reserve_now", {"id_tag": "CARD", "expiry": "2099-01-01T00:00:00+00:00"}),
        ):
            with pytest.raises(ServiceValidationError) as err:
                await call(hass, action, device.id, connector_id=2, **data)
            assert err.value.translation_key == "unknown_connector"
            assert err.value.translation_placeholders == {"charger_id": "CP1", "connector_id": "2"}
        assert len(station.actions("ChangeAvailability")) == sent
        assert not station.actions("UnlockConnector")

        await call(hass, "clear_cache", device.id)
        assert station.actions("ClearCache") == [{}]

        reserved = await call(
            hass,
            "reserve_now",
            device.id,
            response=True,
            id_tag="04A2B3C4D5E6F7",
            expiry="2099-01-01T00:00:00+00:00",
        )
        (reservation,) = station.actions("ReserveNow")
        assert reservation["id"] == reserved["reservation_id"]
        assert reservation["evseId"] == 1  # the station's only EVSE
        assert reservation["idToken"] == {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"}
        await call(hass, "cancel_reservation", device.id, reservation_id=reserved["reservation_id"])
        assert station.actions("CancelReservation") == [
            {"reservationId": reserved["reservation_id"]}
        ]
        station.status_override["CancelReservation"] = "Rejected"
        await assert_rejected(
            hass, device.id, "cancel_reservation", "CancelReservation", "Rejected", reservation_id=1
        )

        # Offline: refused, translated, as on 1.6.
        await station._connection.close()
        await wait_for(lambda: not entry.runtime_data.coordinator.charger.connected)
        for service in ("change_availability", "clear_cache"):
            with pytest.raises(HomeAssistantError) as err:
                await call(hass, service, device.id, **CHARGER_ACTIONS[service])
            assert err.value.translation_key == "charger_not_connected"


# --- failures ----------------------------------------------------------------------------------
@pytest.mark.parametrize("server_options", [{CONF_RESPONSE_TIMEOUT: 1}])
async def test_timeout(hass: HomeAssistant, target: Target) -> None:
    target.sim.silent.update({"Reset", "ChangeAvailability"})
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "reset", target)
    assert err.value.translation_key == "command_timeout"
    assert err.value.translation_placeholders == {"charger_id": "CP1", "action": "Reset"}
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "change_availability", target, operative=False)
    assert err.value.translation_placeholders == {
        "charger_id": "CP1",
        "action": "ChangeAvailability",
    }


async def test_not_supported(
    hass: HomeAssistant, onboard: Onboard, device_registry: dr.DeviceRegistry
) -> None:
    configuration = {"SupportedFeatureProfiles": "Core,SmartCharging,RemoteTrigger"}
    async with onboard("CP2", configuration=configuration) as (sim, entry):
        device = device_registry.async_get_device_by_identifier((DOMAIN, "CP2"), entry.entry_id)
        assert device is not None
        with pytest.raises(HomeAssistantError) as err:
            await hass.services.async_call(
                DOMAIN,
                "request_diagnostics",
                {"device_id": device.id, "url": "ftp://example.com/"},
                blocking=True,
            )
        assert err.value.translation_key == "command_not_supported"
        # No Reservation feature profile: refused before anything is sent.
        with pytest.raises(HomeAssistantError) as err:
            await hass.services.async_call(
                DOMAIN,
                "reserve_now",
                {"device_id": device.id, "id_tag": "CARD", "expiry": "2099-01-01T00:00:00Z"},
                blocking=True,
            )
        assert err.value.translation_key == "command_not_supported"
        assert err.value.translation_placeholders == {"charger_id": "CP2", "action": "ReserveNow"}
        assert sim.commands("ReserveNow") == []


# Valid data for every action that commands the charger.
CHARGER_ACTIONS: dict[str, dict[str, Any]] = {
    "set_current_limit": {"current": 10},
    "pause_charging": {},
    "resume_charging": {},
    "start_charging": {},
    "stop_charging": {},
    "get_configuration": {},
    "set_configuration": {"key": "HeartbeatInterval", "value": "60"},
    "trigger_message": {"message": "Heartbeat"},
    "reset": {},
    "unlock": {},
    "change_availability": {"operative": False},
    "clear_cache": {},
    "update_firmware": {"url": "https://example.com/fw.bin"},
    "request_diagnostics": {"url": "ftp://example.com/"},
    "reserve_now": {"id_tag": "CARD", "expiry": "2099-01-01T00:00:00+00:00"},
    "cancel_reservation": {"reservation_id": 1},
    "clear_charging_profiles": {},
    "set_charging_profile": {"profile": RAW_PROFILE},
    "get_composite_schedule": {},
    "data_transfer": {"vendor_id": "com.example"},
    "upgrade_security": {"security_profile": 2},
}


async def test_composite_schedule_of_a_charger_without_profiles(
    hass: HomeAssistant, target: Target
) -> None:
    """A charger that holds no profile (a factory reset) answers Accepted without a schedule:
    the action says so with no periods and no limit."""
    target.sim.profiles.clear()
    result = await call(hass, "get_composite_schedule", target, response=True)
    assert result == {
        "connector_id": 1,
        "unit": None,
        "start": None,
        "duration": None,
        "limit": None,
        "periods": [],
    }


async def test_charger_offline(hass: HomeAssistant, target: Target) -> None:
    """Every action that commands the charger refuses an offline one, translated; nothing is
    remembered for later (the energy manager's actions are settings: they work offline)."""
    assert set(CHARGER_ACTIONS) == {name for name, spec in SERVICES.items() if spec.online}
    await target.sim._connection.close()
    charger = target.entry.runtime_data.coordinator.charger
    await wait_for(lambda: not charger.connected)
    for service, data in CHARGER_ACTIONS.items():
        response = SERVICES[service].response is SupportsResponse.ONLY
        with pytest.raises(HomeAssistantError) as err:
            await call(hass, service, target, response=response, **data)
        assert err.value.translation_key == "charger_not_connected", service
        assert err.value.translation_placeholders == {"charger_id": "CP1"}
    assert charger.limit.requested_a is None
    assert not charger.limit.paused


async def test_invalid_device(
    hass: HomeAssistant, target: Target, device_registry: dr.DeviceRegistry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "reset", {"device_id": "nope"}, blocking=True)
    assert err.value.translation_key == "invalid_device"

    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    device = device_registry.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}
    )
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "reset", {"device_id": device.id}, blocking=True)
    assert err.value.translation_key == "invalid_device"

    await hass.config_entries.async_unload(target.entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "reset", target)
    assert err.value.translation_key == "charger_not_loaded"


async def second_connector_device(
    hass: HomeAssistant, sim: SimCharger, entry: MockConfigEntry, registry: dr.DeviceRegistry
) -> dr.DeviceEntry:
    """The device of a dual charger's second connector (it appears with its first status)."""
    await sim.status("Available", connector_id=2)
    await hass.async_block_till_done()
    connector = registry.async_get_child_device_by_identifier((DOMAIN, "DUO_2"), entry.entry_id)
    assert connector is not None
    return connector


async def test_connector_device_targets_its_connector(
    hass: HomeAssistant, onboard: Onboard, device_registry: dr.DeviceRegistry
) -> None:
    """Actions aimed at a connector device of a dual charger act on that connector."""
    async with onboard("DUO", configuration={"NumberOfConnectors": "2"}) as (sim, entry):
        connector = await second_connector_device(hass, sim, entry, device_registry)
        for service in ("unlock", "start_charging"):
            await hass.services.async_call(
                DOMAIN, service, {"device_id": connector.id}, blocking=True
            )
        assert sim.commands("UnlockConnector") == [{"connector_id": 2}]
        assert sim.commands("RemoteStartTransaction") == [
            {"id_tag": "HomeAssistant", "connector_id": 2}
        ]
        # A reservation for the charger: any connector (0); for the connector device: that one.
        charger = device_registry.async_get_device_by_identifier((DOMAIN, "DUO"), entry.entry_id)
        assert charger is not None
        for device in (charger, connector):
            data = {"device_id": device.id, "id_tag": "CARD", "expiry": "2099-01-01T00:00:00Z"}
            await hass.services.async_call(DOMAIN, "reserve_now", data, blocking=True)
            await hass.services.async_call(
                DOMAIN,
                "change_availability",
                {"device_id": device.id, "operative": False},
                blocking=True,
            )
        assert [r["connector_id"] for r in sim.commands("ReserveNow")] == [0, 2]
        assert [r["connector_id"] for r in sim.commands("ChangeAvailability")] == [0, 2]
        # Each outlet's sensor shows its own reservations and the charger-wide one.
        registry = er.async_get(hass)
        for unique_id, shown in (("DUO_reserved_until", [0]), ("DUO_2_reserved_until", [0, 2])):
            entity_id = registry.async_get_entity_id("sensor", DOMAIN, unique_id)
            assert entity_id is not None
            state = hass.states.get(entity_id)
            assert state is not None
            assert [r["connector_id"] for r in state.attributes["reservations"]] == shown


async def test_profile_actions_on_a_connector_device_target_that_connector(
    hass: HomeAssistant, onboard: Onboard, device_registry: dr.DeviceRegistry
) -> None:
    """set_charging_profile and clear_charging_profiles ignored the connector device (the
    profile went to the whole charger, the clear hit every connector) and sent a connector the
    charger does not have."""
    async with onboard("DUO", configuration={"NumberOfConnectors": "2"}) as (sim, entry):
        connector = await second_connector_device(hass, sim, entry, device_registry)
        await call(hass, "set_charging_profile", connector.id, profile=RAW_PROFILE)
        raw = [
            c
            for c in sim.commands("SetChargingProfile")
            if c["cs_charging_profiles"]["charging_profile_id"] == 99
        ]
        assert [c["connector_id"] for c in raw] == [2]
        await call(hass, "clear_charging_profiles", connector.id, purpose="tx_default")
        await call(hass, "clear_charging_profiles", connector.id, connector_id=0)
        assert [c.get("connector_id") for c in sim.commands("ClearChargingProfile")] == [2, 0]
        with pytest.raises(ServiceValidationError) as err:
            await call(
                hass, "set_charging_profile", connector.id, connector_id=7, profile=RAW_PROFILE
            )
        assert err.value.translation_key == "unknown_connector"
        assert len([c for c in sim.commands("SetChargingProfile") if c["connector_id"] == 7]) == 0
        # The composite schedule: the connector's, or the whole charger's when asked for 0.
        for data in ({}, {"connector_id": 0}):
            result = await call(hass, "get_composite_schedule", connector.id, response=True, **data)
            assert result["connector_id"] == data.get("connector_id", 2)
        asked = sim.commands("GetCompositeSchedule")  # also the limit checks, for 60 s
        assert [c["connector_id"] for c in asked if c["duration"] == 3600] == [2, 0]


def test_unexpected_core_error_is_translated() -> None:
    with pytest.raises(HomeAssistantError) as err, charger_errors("CP1"):
        raise OcppEmsError("something new")
    assert err.value.translation_key == "command_failed"
    assert err.value.translation_placeholders == {"charger_id": "CP1", "error": "something new"}
