"""Outgoing 2.x actions (CSMS -> charging station): every ChargerSession command, and what 2.x adds.

:class:`V201Commands` builds each payload, sends it through :meth:`V201Commands.call` (implemented
by :class:`~.session.V201Session`: schema check, error mapping, fail fast on close) and turns the
answer into a return value or a :class:`~...errors.CommandRejectedError` (whose status carries the
station's ``statusInfo.reasonCode`` where it gave one).

The model's connector id is the EVSE id; the connector inside an EVSE comes from the device model
(:meth:`~.device_model.DeviceModel.connector_of`). Configuration keys name device-model variables
(see :mod:`.device_model`). Features the station's device model says it lacks are refused locally
(:class:`~...errors.CommandNotSupportedError`), like the feature profiles of 1.6.

Beyond :class:`~...session.ChargerSession`: :meth:`V201Commands.get_variables` /
:meth:`V201Commands.set_variable`, :meth:`V201Commands.set_network_priority`. Reset maps hard ->
``Immediate``, soft -> ``OnIdle``.

Security (part A): the commands 2.x shares with 1.6's security extension come from
:class:`~..shared_commands.SharedCommands`. ``SecurityCtrlr.SecurityProfile`` is read-only in
2.x: a station changes its security profile by connecting with another network connection
profile, OCPP 2.0.1 use case A05 "Upgrade Charging Station Security Profile":

1. prerequisites: our CA installed as its CSMS root certificate
   (:meth:`~...session.ChargerSession.install_root_certificate`; profiles 2 and 3) and, for
   profile 3, its client certificate (:meth:`~...session.ChargerSession.
   request_new_client_certificate`, then the SignCertificate round of :mod:`..certificates`);
2. SetNetworkProfile into a free configuration slot: the ``wss://`` URL of our TLS listener and
   the new profile (:meth:`V201Commands.set_network_profile`; the station refuses it when a
   prerequisite is missing);
3. ``OCPPCommCtrlr.NetworkConfigurationPriority``: the new slot first, the current one after it as
   the fallback (:meth:`V201Commands.set_network_priority`);
4. a reset (OnIdle): the station connects through the new profile; if that fails it falls back to
   the next slot of the priority list. Once connected with the higher profile it no longer
   connects with a lower one.

Steps 2 to 4 are single commands here; running them in order, watching the station come back on
the new profile (the handshake records how it connected) and rolling back belong to the upgrade
action of the host.
"""

from __future__ import annotations

import asyncio
import logging
import re
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.errors import (
    CommandNotSupportedError,
    CommandRejectedError,
    InvalidCommandError,
)
from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import Charger, ChargingRateUnit
from custom_components.ocpp_ems.core.protocol.common import (
    AVAILABILITY_OK,
    ID_TAG_MAX_LENGTH,
    LOCAL_AUTH,
    RESERVATION,
    SMART_CHARGING,
    availability,
    expect_status,
    local_list_updates,
    offers,
    without_none,
)
from custom_components.ocpp_ems.core.protocol.profiles import composite_schedule
from custom_components.ocpp_ems.core.protocol.rpc import Payload
from custom_components.ocpp_ems.core.protocol.shared_commands import SharedCommands
from custom_components.ocpp_ems.core.session import (
    CSMS_ROOT_CERTIFICATE,
    DIAGNOSTICS_LOG,
    CertificateHashData,
    CompositeSchedule,
    InstalledCertificate,
    LimitRequest,
    SessionContext,
    next_request_id,
)
from custom_components.ocpp_ems.core.timeutil import format_timestamp

from .charging_profiles import (
    PURPOSE_ALIASES,
    StationLimits,
    build_limit_profile,
    composite_limit,
    dynamic_shape,
    target_evse,
)
from .device_model import (
    NETWORK_CONFIGURATION_PRIORITY,
    SECURITY_PROFILE,
    DeviceModel,
    VariableId,
    var,
)

if TYPE_CHECKING:
    from .provisioning import Provisioning

_LOGGER = logging.getLogger(__name__)

# 1.6 TriggerMessage names -> 2.x (the HA action offers the 1.6 list).
TRIGGER_ALIASES = {
    "DiagnosticsStatusNotification": "LogStatusNotification",
    "StartTransaction": "TransactionEvent",
    "StopTransaction": "TransactionEvent",
    "SignChargePointCertificate": "SignChargingStationCertificate",
}
# GetVariables per CALL when the station does not say (DeviceDataCtrlr.ItemsPerMessage).
DEFAULT_ITEMS_PER_MESSAGE = 8
# 2.1 dynamic profiles: a live profile is updated in place (UpdateDynamicSchedule) while less than
# this fraction of its window has passed, else written anew, which renews its duration (the
# fail-safe): current control refreshes after 3/8 of the window at the earliest, so every refresh
# renews it, and an update never leaves less than 3/4 of the window.
DYNAMIC_RENEW_FRACTION = 0.25
DYNAMIC_VERSIONS = frozenset({"2.1"})
_SET_OK = ("Accepted", "RebootRequired")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$")


@dataclass(frozen=True, kw_only=True)
class _DynamicProfile:
    """A 2.1 dynamic profile we set: where, of which shape, and when to write it anew."""

    evse_id: int
    shape: dict[str, Any]
    renew_at: float  # event-loop time


def id_token(tag: str, *, central: bool = False) -> dict[str, str]:
    """A 2.x IdTokenType for a tag we only know as text.

    Our own tags (remote start) are ``Central``. Otherwise the type is read from the tag's form: a
    card UID in hex (4, 7 or 10 bytes: ISO14443; 8 bytes: ISO15693), a MAC address
    (MacAddress), else ``Central`` (an id the CSMS made up: a user's tag in Home Assistant)."""
    if central:
        kind = "Central"
    elif _MAC.match(tag):
        kind = "MacAddress"
    elif _HEX.match(tag) and len(tag) in (8, 14, 20):
        kind = "ISO14443"
    elif _HEX.match(tag) and len(tag) == 16:
        kind = "ISO15693"
    else:
        kind = "Central"
    return {"idToken": tag, "type": kind}


class V201Commands(SharedCommands):
    """The outgoing half of the 2.x adapter (mixed into :class:`~.session.V201Session`)."""

    CSMS_ROOT_TYPE = CSMS_ROOT_CERTIFICATE
    CLIENT_CERTIFICATE_TRIGGER = ("TriggerMessage", "SignChargingStationCertificate")
    SIGNED_FIRMWARE_ACTION = "UpdateFirmware"

    charger: Charger
    state: ChargerState
    context: SessionContext
    provisioning: Provisioning
    _device_model: DeviceModel | None = None
    _dynamic_profiles: dict[int, _DynamicProfile] | None = None

    @abstractmethod
    async def call(self, action: str, payload: Payload) -> Payload:
        """Send one CALL; return the charging station's result payload."""

    # --- device model ----------------------------------------------------------------------------
    @property
    def device_model(self) -> DeviceModel:
        """What the station reported at its last boot (until then: the stored values)."""
        if self._device_model is None:
            self._device_model = DeviceModel.from_configuration(self.charger.configuration)
        return self._device_model

    def use_device_model(self, model: DeviceModel) -> None:
        """A device model read from the station: kept, and its values in the configuration."""
        self._device_model = model
        self.state.record_configuration(model.configuration())

    def _require(self, feature: str, action: str) -> None:
        """Refuse locally what the station's device model says it lacks (unknown: try)."""
        if not offers(feature, self.context.charger_settings(), self.charger.capabilities):
            raise CommandNotSupportedError(action)

    def _record_values(self, values: dict[VariableId, str | None]) -> None:
        if not values:
            return
        for variable_id, value in values.items():
            self.device_model.set_value(variable_id, value)
        self.state.record_configuration(
            {vid.key: None if vid.secret else value for vid, value in values.items()}
        )

    # --- core ------------------------------------------------------------------------------------
    async def reset(self, *, hard: bool = False) -> None:
        """Hard: ``Immediate`` (transactions are stopped); soft: ``OnIdle`` (once none runs)."""
        result = await self.call("Reset", {"type": "Immediate" if hard else "OnIdle"})
        expect_status("Reset", result, ("Accepted", "Scheduled"))

    async def unlock(self, connector_id: int) -> None:
        result = await self.call(
            "UnlockConnector",
            {"evseId": connector_id, "connectorId": self.device_model.connector_of(connector_id)},
        )
        expect_status("UnlockConnector", result, ("Unlocked",))

    async def remote_start(self, connector_id: int, id_tag: str) -> None:
        own = id_tag == self.context.charger_settings().remote_start_id_tag
        result = await self.call(
            "RequestStartTransaction",
            without_none(
                {
                    "idToken": id_token(id_tag, central=own),
                    "remoteStartId": next_request_id(),
                    "evseId": connector_id or None,
                }
            ),
        )
        expect_status("RequestStartTransaction", result)

    async def remote_stop(self, transaction_id: str) -> None:
        result = await self.call("RequestStopTransaction", {"transactionId": transaction_id})
        expect_status("RequestStopTransaction", result)

    async def change_availability(self, connector_id: int | None, *, operative: bool) -> str:
        """The connector id is the EVSE's (None or 0: the whole station)."""
        payload: Payload = {"operationalStatus": availability(operative)}
        if connector_id:
            payload["evse"] = {"id": connector_id}
        result = await self.call("ChangeAvailability", payload)
        return expect_status("ChangeAvailability", result, AVAILABILITY_OK)

    async def clear_cache(self) -> None:
        expect_status("ClearCache", await self.call("ClearCache", {}))

    # --- device model: configuration -------------------------------------------------------------
    async def get_variables(self, variables: Sequence[VariableId]) -> dict[VariableId, str | None]:
        """The Actual values of ``variables`` the station knows (GetVariables, in as many CALLs as
        its ``ItemsPerMessage[GetVariables]`` needs); unknown or refused ones are left out."""
        size = self.device_model.items_per_message("GetVariables") or DEFAULT_ITEMS_PER_MESSAGE
        values: dict[VariableId, str | None] = {}
        for start in range(0, len(variables), size):
            chunk = variables[start : start + size]
            result = await self.call(
                "GetVariables", {"getVariableData": [variable.payload() for variable in chunk]}
            )
            for item in result["getVariableResult"]:
                variable_id = VariableId.from_payload(item["component"], item["variable"])
                if item["attributeStatus"] == "Accepted" and variable_id in chunk:
                    values[variable_id] = item.get("attributeValue")
        self._record_values(values)
        return values

    async def set_variable(self, variable: VariableId, value: str) -> str:
        """Set one variable; "Accepted" or "RebootRequired", else CommandRejectedError."""
        result = await self.call(
            "SetVariables", {"setVariableData": [{"attributeValue": value, **variable.payload()}]}
        )
        answer = result["setVariableResult"][0]
        status = expect_status(
            "SetVariables",
            {"status": answer["attributeStatus"], "statusInfo": answer.get("attributeStatusInfo")},
            _SET_OK,
        )
        self._record_values({variable: value})
        return status

    async def get_configuration(self, keys: list[str] | None = None) -> dict[str, Any]:
        """Without keys: the whole device model, read afresh (GetBaseReport); with keys: those
        variables (GetVariables). Keys are device-model keys (see :mod:`.device_model`)."""
        if not keys:
            model = await self.provisioning.read_device_model()
            return {
                "configuration": {
                    vid.key: {
                        "value": None if vid.secret else info.value,
                        "readonly": info.readonly,
                    }
                    for vid, info in sorted(model.variables.items(), key=lambda item: item[0].key)
                },
                "unknown": [],
            }
        parsed = {key: VariableId.parse(key) for key in keys}
        wanted = list(dict.fromkeys(v for v in parsed.values() if v is not None))
        values = await self.get_variables(wanted) if wanted else {}
        configuration: dict[str, Any] = {}
        unknown: list[str] = []
        for key, variable_id in parsed.items():
            if variable_id is None or variable_id not in values:
                unknown.append(key)
                continue
            info = self.device_model.info(variable_id)
            configuration[key] = {
                "value": None if variable_id.secret else values[variable_id],
                "readonly": info is not None and info.readonly,
            }
        return {"configuration": configuration, "unknown": unknown}

    async def set_configuration(self, key: str, value: str) -> str:
        variable_id = VariableId.parse(key)
        if variable_id is None:
            raise InvalidCommandError("SetVariables", f"{key!r} names no device-model variable")
        return await self.set_variable(variable_id, value)

    async def trigger_message(self, message: str, connector_id: int | None = None) -> None:
        requested = TRIGGER_ALIASES.get(message, message)
        payload: Payload = {"requestedMessage": requested}
        if connector_id:
            payload["evse"] = {"id": connector_id}
            if requested == "StatusNotification":  # a status is a connector's (F06.FR.12)
                payload["evse"]["connectorId"] = self.device_model.connector_of(connector_id)
        expect_status("TriggerMessage", await self.call("TriggerMessage", payload))

    # --- firmware / logs -------------------------------------------------------------------------
    async def update_firmware(
        self, location: str, retrieve_date: datetime, retries: int | None = None
    ) -> None:
        await self.send_firmware(
            "UpdateFirmware",
            {"location": location, "retrieveDateTime": format_timestamp(retrieve_date)},
            retries=retries,
        )

    async def request_diagnostics(self, location: str) -> str | None:
        """GetLog (DiagnosticsLog) to ``location``; the file name the station announces."""
        return await self.get_log(DIAGNOSTICS_LOG, location)

    # --- security --------------------------------------------------------------------------------
    async def get_installed_certificate_ids(
        self, types: Sequence[str] | None = None
    ) -> list[InstalledCertificate]:
        result = await self.security_call(
            "GetInstalledCertificateIds",
            {"certificateType": list(types)} if types else {},
            ("Accepted", "NotFound"),
        )
        return [
            InstalledCertificate(
                certificate_type=item["certificateType"],
                hash_data=CertificateHashData.from_payload(item["certificateHashData"]),
                children=tuple(
                    CertificateHashData.from_payload(child)
                    for child in item.get("childCertificateHashData", [])
                ),
            )
            for item in result.get("certificateHashDataChain", [])
        ]

    async def set_security_profile(self, profile: int) -> str:
        """Only where the station lets us write ``SecurityCtrlr.SecurityProfile`` (2.x makes it
        read-only: the module docstring has the way 2.x changes the profile)."""
        info = self.device_model.info(SECURITY_PROFILE)
        if info is not None and info.readonly:
            raise CommandNotSupportedError(
                "SetVariables",
                "SecurityCtrlr.SecurityProfile is read-only in OCPP 2.x: the profile changes with "
                "a new network profile (SetNetworkProfile, NetworkConfigurationPriority, a reset; "
                "OCPP 2.0.1 A05)",
            )
        return await self.set_variable(SECURITY_PROFILE, str(profile))

    async def set_network_profile(
        self,
        slot: int,
        url: str,
        security_profile: int,
        *,
        interface: str = "Wired0",
        message_timeout_s: int = 30,
    ) -> None:
        """SetNetworkProfile (step 2 of A05, see the module docstring). ``url`` is the CSMS URL
        without the station's identity (the station appends it)."""
        connection = {
            # Required in 2.0.1 (whose only 2.x value is OCPP20); 2.1 takes the version from the
            # websocket handshake and leaves it out.
            "ocppVersion": "OCPP20" if self.ocpp_version == "2.0.1" else None,
            "ocppTransport": "JSON",
            "ocppCsmsUrl": url,
            "messageTimeout": message_timeout_s,
            "securityProfile": security_profile,
            "ocppInterface": interface,
        }
        result = await self.call(
            "SetNetworkProfile",
            {"configurationSlot": slot, "connectionData": without_none(connection)},
        )
        expect_status("SetNetworkProfile", result)

    async def set_network_priority(self, slots: Sequence[int]) -> str:
        """``OCPPCommCtrlr.NetworkConfigurationPriority``: the configuration slots in the order
        the station tries them (step 3 of A05); it takes effect at its next reset."""
        return await self.set_variable(
            NETWORK_CONFIGURATION_PRIORITY, ",".join(str(slot) for slot in slots)
        )

    # --- local auth list / reservation -----------------------------------------------------------
    async def send_local_list(self, id_tags: list[str], version: int) -> None:
        self._require(LOCAL_AUTH, "SendLocalList")
        for update in local_list_updates(
            self.charger.charger_id,
            id_tags,
            version,
            max_length=ID_TAG_MAX_LENGTH[self.ocpp_version],
            storage=self.charger.capabilities.local_auth_list_max,
            per_message=self.device_model.integer(var("LocalAuthListCtrlr", "ItemsPerMessage")),
        ):
            payload: Payload = {"versionNumber": update.version, "updateType": update.update_type}
            if update.id_tags:  # an empty list is sent without the (minItems 1) array
                payload["localAuthorizationList"] = [
                    {"idToken": id_token(tag), "idTokenInfo": {"status": "Accepted"}}
                    for tag in update.id_tags
                ]
            expect_status("SendLocalList", await self.call("SendLocalList", payload))

    async def get_local_list_version(self) -> int:
        self._require(LOCAL_AUTH, "GetLocalListVersion")
        result = await self.call("GetLocalListVersion", {})
        version: int = result["versionNumber"]
        return version

    async def _send_reserve_now(
        self, connector_id: int, id_tag: str, expiry: datetime, reservation_id: int
    ) -> None:
        self._require(RESERVATION, "ReserveNow")
        result = await self.call(
            "ReserveNow",
            without_none(
                {
                    "id": reservation_id,
                    "expiryDateTime": format_timestamp(expiry),
                    "idToken": id_token(id_tag),
                    "evseId": connector_id or None,
                }
            ),
        )
        expect_status("ReserveNow", result)

    async def _send_cancel_reservation(self, reservation_id: int) -> None:
        self._require(RESERVATION, "CancelReservation")
        result = await self.call("CancelReservation", {"reservationId": reservation_id})
        expect_status("CancelReservation", result)

    # --- smart charging --------------------------------------------------------------------------
    def station_limits(self, evse_id: int) -> StationLimits:
        """What the station takes in a profile for ``evse_id`` (from its device model)."""
        model = self.device_model
        return StationLimits(
            rules=LimitRules(self.context.charger_settings(), self.charger.capabilities),
            rate_units=model.rate_units(),
            phase_switching=self.charger.capabilities.phase_switching,
            supply_phases=model.supply_phases(evse_id),
        )

    async def set_limit_profile(self, request: LimitRequest) -> None:
        await self.write_limit(
            request, target_evse(request), lambda evse_id: self._set_limit_on(evse_id, request)
        )

    async def _set_limit_on(self, evse_id: int, request: LimitRequest) -> None:
        """``request``'s profile on EVSE ``evse_id`` (a 2.1 dynamic one updated in place while
        it may be)."""
        dynamic = self._dynamic_allowed(request)
        profile = build_limit_profile(
            request, self.station_limits(evse_id), kind="Dynamic" if dynamic else "Absolute"
        )
        if self._dynamic_profiles is None:
            self._dynamic_profiles = {}
        known = self._dynamic_profiles.pop(request.profile_id, None)
        if dynamic and known is not None and await self._update_dynamic(known, evse_id, profile):
            self._dynamic_profiles[request.profile_id] = known
            return
        await self._set_profile(evse_id, profile)
        if dynamic and request.duration_s is not None:
            renew_in = request.duration_s * DYNAMIC_RENEW_FRACTION
            self._dynamic_profiles[request.profile_id] = _DynamicProfile(
                evse_id=evse_id,
                shape=dynamic_shape(profile),
                renew_at=asyncio.get_running_loop().time() + renew_in,
            )

    def _dynamic_allowed(self, request: LimitRequest) -> bool:
        """2.1, a station that takes dynamic profiles, and a live limit (a limited duration from
        now, on a Tx or TxDefault profile)."""
        return (
            self.ocpp_version in DYNAMIC_VERSIONS
            and request.purpose != "charger_max"
            and request.duration_s is not None
            and request.start is None
            and self.device_model.dynamic_profiles()
        )

    async def _update_dynamic(
        self, known: _DynamicProfile, evse_id: int, profile: dict[str, Any]
    ) -> bool:
        """Change a dynamic profile's limit in place; False when it must be written anew (another
        shape, its window needs renewing, or the station refused the update)."""
        if (
            known.evse_id != evse_id
            or known.shape != dynamic_shape(profile)
            or asyncio.get_running_loop().time() >= known.renew_at
        ):
            return False
        limit = profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
        try:
            # A CallError (NotSupported ...) is refused like Rejected: the full profile goes.
            result = await self.call(
                "UpdateDynamicSchedule",
                {"chargingProfileId": profile["id"], "scheduleUpdate": {"limit": limit}},
            )
            expect_status("UpdateDynamicSchedule", result)
        except CommandRejectedError as err:
            _LOGGER.info("%s: %s; setting the profile anew", self.charger.charger_id, err)
            return False
        return True

    async def set_raw_profile(self, connector_id: int, profile: dict[str, Any]) -> None:
        """A user's own 2.x ``chargingProfile`` on EVSE ``connector_id`` (0: the station)."""
        await self._set_profile(connector_id, profile)

    async def _set_profile(self, evse_id: int, profile: dict[str, Any]) -> None:
        self._require(SMART_CHARGING, "SetChargingProfile")
        result = await self.call(
            "SetChargingProfile", {"evseId": evse_id, "chargingProfile": profile}
        )
        expect_status("SetChargingProfile", result)

    async def clear_profiles(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> None:
        """One profile by id, else those matching the criteria given (none: every profile)."""
        self._require(SMART_CHARGING, "ClearChargingProfile")
        if profile_id is not None:
            payload: Payload = {"chargingProfileId": profile_id}
        else:
            criteria = without_none(
                {
                    "evseId": connector_id,
                    "chargingProfilePurpose": (
                        None if purpose is None else PURPOSE_ALIASES.get(purpose, purpose)
                    ),
                    "stackLevel": stack_level,
                }
            )
            payload = {"chargingProfileCriteria": criteria} if criteria else {}
        expect_status("ClearChargingProfile", await self.call("ClearChargingProfile", payload))

    async def get_composite_schedule(
        self, connector_id: int, duration_s: int, unit: ChargingRateUnit | None = None
    ) -> CompositeSchedule | None:
        """A unit the station does not take is not asked for: it answers in its own."""
        self._require(SMART_CHARGING, "GetCompositeSchedule")
        request: Payload = {"evseId": connector_id, "duration": duration_s}
        if unit is not None:
            request["chargingRateUnit"] = self.station_limits(connector_id).unit_for(unit).value
        result = await self.call("GetCompositeSchedule", request)
        expect_status("GetCompositeSchedule", result)
        schedule = result.get("schedule")
        evse_id = connector_id if schedule is None else schedule.get("evseId", connector_id)
        start = None if schedule is None else schedule.get("scheduleStart")
        return composite_schedule(evse_id, schedule, start)

    async def get_composite_limit(
        self, connector_id: int, duration_s: int = 60, unit: ChargingRateUnit | None = None
    ) -> float | None:
        """The composite limit now, converted to ``unit`` where the station answered in the
        other (the same conversion as the profile's)."""
        schedule = await self.get_composite_schedule(connector_id, duration_s, unit)
        return composite_limit(schedule, unit, self.station_limits(connector_id))
