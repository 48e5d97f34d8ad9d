"""The OCPP 2.0.1 / 2.1 charging station: one EVSE with one connector, the device model of
:mod:`.device_model`, transactions as TransactionEvent Started / Updated / Ended (seqNo,
triggerReason, chargingState), Basic auth through ``SecurityCtrlr.BasicAuthPassword``.

Functional blocks (2.0.1 part 2): A (BasicAuthPassword), B (boot with Pending, GetBaseReport /
GetReport -> NotifyReport pages, Get/SetVariables, Reset), C (Authorize, ClearCache, local list),
E (transactions, GetTransactionStatus), F (RequestStart/StopTransaction, UnlockConnector,
TriggerMessage), G (StatusNotification, ChangeAvailability), H (ReserveNow, CancelReservation,
ReservationStatusUpdate), J (meter values inside and outside transactions), K (Set/Clear/Get
charging profiles, GetCompositeSchedule; 2.1: Dynamic profiles and UpdateDynamicSchedule),
L (UpdateFirmware), N (GetLog), P (DataTransfer); ISO 15118 charging needs with ``--iso15118``.

Security upgrade (A02-A05, B09, B10): InstallCertificate (the CSMS root), TriggerMessage
SignChargingStationCertificate -> SignCertificate (a new key and CSR) -> CertificateSigned (kept
when it is for that key), SetNetworkProfile (kept by configuration slot; slot 0 is ``--url``) and
``OCPPCommCtrlr.NetworkConfigurationPriority`` (RebootRequired). After a reset it connects with the
first slot of that order (profile 2: ``--tls-url`` or the profile's URL, trusting only the
installed roots, with its password; 3: with its client certificate); if that does not connect, it
falls back to the slot it came from (``Station.fallback_after`` failures).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from types import ModuleType
from typing import Any, ClassVar

import ocpp.v21
import ocpp.v201
from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp.routing import after, on

from .device_model import (
    BASIC_AUTH_PASSWORD_LENGTH,
    EVSE_ID,
    MEASURANDS,
    NETWORK_SLOTS,
    DeviceModel,
    Variable,
    build_device_model,
)
from .model import (
    BATTERY_WH,
    CAR_MAX_A,
    CONNECTOR,
    FIRMWARE,
    MIN_CURRENT_A,
    MODEL,
    PHASES,
    SERIAL,
    VENDOR,
    VOLTAGE,
    Installed,
    Period,
    Profile,
    Purpose,
    Sample,
    data_transfer_answer,
    iso,
    now,
    parse_time,
    profile_from_schedule,
)
from .security import install_root, new_csr, take_certificate
from .station import Station

_LOGGER = logging.getLogger("simulate_charger")

REPORT_PAGE = 10  # NotifyReport entries per message

_PURPOSES = {
    "ChargingStationMaxProfile": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}
_PURPOSE_NAMES = {purpose: name for name, purpose in _PURPOSES.items()}

# Connector state (1.6 words) -> 2.x connectorStatus, and the transaction's chargingState.
_CONNECTOR_STATUS = {
    "Available": "Available",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
_CHARGING_STATE = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "Available": "Idle",
}
# Why a transaction ended (1.6 words) -> (triggerReason, stoppedReason).
_END_REASONS = {
    "Remote": ("RemoteStop", "Remote"),
    "Local": ("StopAuthorized", "Local"),
    "SoftReset": ("ResetCommand", "ImmediateReset"),
    "HardReset": ("ResetCommand", "ImmediateReset"),
    "DeAuthorized": ("Deauthorized", "DeAuthorized"),
    "EVDisconnected": ("EVCommunicationLost", "EVDisconnected"),
    "PowerLoss": ("AbnormalCondition", "PowerLoss"),
}
_METER_TRIGGERS = {
    "Sample.Periodic": "MeterValuePeriodic",
    "Other": "ChargingRateChanged",
    "Trigger": "Trigger",
}


def connector_status(status: str) -> str:
    return _CONNECTOR_STATUS.get(status, "Occupied")


def charging_state(status: str) -> str:
    return _CHARGING_STATE.get(status, "EVConnected")


def camel_token(token: dict[str, Any]) -> dict[str, Any]:
    """An IdTokenType as the library hands it over (snake_case) -> as we send it."""
    return {"idToken": token["id_token"], "type": token["type"]}


class ProfileRefusedError(Exception):
    """A request the station refuses (status Rejected), with the reason code to tell."""

    def __init__(self, reason_code: str, info: str) -> None:
        super().__init__(info)
        self.reason_code = reason_code
        self.info = info


class _Handlers:
    """The CSMS -> station actions of 2.0.1 (and 2.1): answer at once, follow-ups as tasks."""

    sim: Station201

    @property
    def result(self) -> ModuleType:
        return self.sim.call_result

    @property
    def model(self) -> DeviceModel:
        return self.sim.model

    def _accept(self, action: str, status: str = "Accepted") -> str:
        """Note that ``action`` was accepted: its ``after`` hook (which the library runs whatever
        the answer) does its follow-up only then."""
        self.sim.accepted.add(action)
        return status

    def _was_accepted(self, action: str) -> bool:
        if action in self.sim.accepted:
            self.sim.accepted.discard(action)
            return True
        return False

    def _items_per_message(self, action: str, count: int) -> None:
        limit = int(self.model.value("DeviceDataCtrlr", "ItemsPerMessage", action))
        if count > limit:
            raise OccurrenceConstraintViolationError(
                description=f"{count} items, ItemsPerMessage[{action}] is {limit}"
            )

    # --- B: device model ------------------------------------------------------------------------
    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        self._items_per_message("GetVariables", len(get_variable_data))
        results = []
        for item in get_variable_data:
            attribute = item.get("attribute_type", "Actual")
            variable, status = self.model.find(item["component"], item["variable"])
            result: dict[str, Any] = {
                "attribute_type": attribute,
                "component": item["component"],
                "variable": item["variable"],
            }
            if variable is not None:
                if attribute != "Actual":
                    status = "NotSupportedAttributeType"
                elif variable.mutability == "WriteOnly":
                    status = "Rejected"
                elif variable.actual is not None:
                    result["attribute_value"] = variable.actual
            result["attribute_status"] = status
            results.append(result)
        return self.result.GetVariables(get_variable_result=results)

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        self._items_per_message("SetVariables", len(set_variable_data))
        # A password and the security profile may come in one request, in either order.
        password = next(
            (
                item["attribute_value"]
                for item in set_variable_data
                if item["component"]["name"] == "SecurityCtrlr"
                and item["variable"]["name"] == "BasicAuthPassword"
                and _password_ok(item["attribute_value"])
            ),
            None,
        )
        results = []
        new_password = None
        for item in set_variable_data:
            attribute = item.get("attribute_type", "Actual")
            variable, status = self.model.find(item["component"], item["variable"])
            value = item["attribute_value"]
            if variable is not None:
                if attribute != "Actual":
                    status = "NotSupportedAttributeType"
                elif variable.mutability == "ReadOnly" or not variable.check(value):
                    status = "Rejected"
                else:
                    status = self.sim.write_variable(variable, value, password)
                    if status == "Accepted" and variable.name == "BasicAuthPassword":
                        new_password = value
            if status != "Accepted":
                _LOGGER.info(
                    "SetVariables %s.%s = %r: %s",
                    item["component"]["name"],
                    item["variable"]["name"],
                    "***" if item["variable"]["name"] == "BasicAuthPassword" else value,
                    status,
                )
            results.append(
                {
                    "attribute_type": attribute,
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        if new_password is not None:
            _LOGGER.info("Received a new BasicAuthPassword (%d characters)", len(new_password))
            self.model.set("SecurityCtrlr", "SecurityProfile", "1")
            self.sim.state.security_profile = max(self.sim.state.security_profile, 1)
            self.sim.adopt_password(new_password)
        return self.result.SetVariables(set_variable_result=results)

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **kwargs: Any) -> Any:
        if self.sim.report_busy:
            return self.result.GetBaseReport(status="Rejected")
        return self.result.GetBaseReport(status=self._accept("GetBaseReport"))

    @after("GetBaseReport")
    def after_get_base_report(self, request_id: int, report_base: str, **kwargs: Any) -> None:
        if not self._was_accepted("GetBaseReport"):
            return
        variables = self.model.variables
        if report_base == "ConfigurationInventory":
            variables = [v for v in variables if v.mutability != "ReadOnly"]
        elif report_base == "SummaryInventory":
            variables = [v for v in variables if v.name == "AvailabilityState"]
        self.sim.spawn(self.sim.send_report(request_id, variables))

    @on("GetReport")
    def on_get_report(
        self,
        request_id: int,
        component_variable: list[dict[str, Any]] | None = None,
        component_criteria: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        self._items_per_message("GetReport", len(component_variable or []))
        if self.sim.report_busy:
            return self.result.GetReport(status="Rejected")
        selected = self._report_selection(component_variable, component_criteria)
        if not selected:
            return self.result.GetReport(status="EmptyResultSet")
        self.sim.pending_report = (request_id, selected)
        return self.result.GetReport(status="Accepted")

    @after("GetReport")
    def after_get_report(self, request_id: int, **kwargs: Any) -> None:
        pending, self.sim.pending_report = self.sim.pending_report, None
        if pending is not None and pending[0] == request_id:
            self.sim.spawn(self.sim.send_report(request_id, pending[1]))

    def _report_selection(
        self, wanted: list[dict[str, Any]] | None, criteria: list[str] | None
    ) -> list[Variable]:
        selected = []
        for variable in self.model.variables:
            if wanted and not any(_names(variable, item) for item in wanted):
                continue
            if criteria and not self._meets(variable, criteria):
                continue
            selected.append(variable)
        return selected

    def _meets(self, variable: Variable, criteria: list[str]) -> bool:
        def flag(name: str) -> bool:
            return any(
                v.component == variable.component
                and v.evse == variable.evse
                and v.name == name
                and v.actual == "true"
                for v in self.model.variables
            )

        return any(
            (criterion == "Active") or (criterion in ("Available", "Enabled") and flag(criterion))
            for criterion in criteria
        )

    # --- K: smart charging ----------------------------------------------------------------------
    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **kwargs: Any
    ) -> Any:
        try:
            target, profile = self.sim.check_profile(evse_id, charging_profile)
        except ProfileRefusedError as refused:
            _LOGGER.warning(
                "SetChargingProfile %s refused: %s", charging_profile.get("id"), refused.info
            )
            return self.result.SetChargingProfile(
                status="Rejected",
                status_info={"reason_code": refused.reason_code, "additional_info": refused.info},
            )
        self.sim.state.install(target, profile)
        _LOGGER.info(
            "Charging profile %s (%s, EVSE %s, stack %s, %s): offered current now %.1f A",
            profile.profile_id,
            charging_profile["charging_profile_purpose"],
            target,
            profile.stack_level,
            profile.unit,
            self.sim.state.offered_a(),
        )
        self.sim.spawn(self.sim.limit_changed())
        return self.result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        state = self.sim.state
        criteria = charging_profile_criteria or {}

        def matches(entry: Installed) -> bool:
            p = entry.profile
            if charging_profile_id is not None:
                return p.profile_id == charging_profile_id
            return (
                criteria.get("evse_id") in (None, entry.target)
                and criteria.get("charging_profile_purpose") in (None, _PURPOSE_NAMES[p.purpose])
                and criteria.get("stack_level") in (None, p.stack_level)
            )

        before = len(state.profiles)
        state.profiles = [e for e in state.profiles if not matches(e)]
        self.sim.spawn(self.sim.limit_changed())
        status = "Accepted" if len(state.profiles) < before else "Unknown"
        return self.result.ClearChargingProfile(status=status)

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **kwargs: Any
    ) -> Any:
        unit = charging_rate_unit or "A"
        if evse_id not in (0, EVSE_ID) or unit not in self.model.members(
            "SmartChargingCtrlr", "RateUnit"
        ):
            return self.result.GetCompositeSchedule(status="Rejected")
        periods = [
            {
                "start_period": offset,
                "limit": round(a * VOLTAGE * PHASES) if unit == "W" else a,
                "number_phases": PHASES,
            }
            for offset, a in self.sim.state.composite(evse_id, duration)
        ]
        return self.result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": iso(),
                "charging_rate_unit": unit,
                "charging_schedule_period": periods,
            },
        )

    @on("GetChargingProfiles")
    def on_get_charging_profiles(
        self,
        request_id: int,
        charging_profile: dict[str, Any],
        evse_id: int | None = None,
        **kwargs: Any,
    ) -> Any:
        selected = self.sim.select_profiles(evse_id, charging_profile)
        if not selected:
            return self.result.GetChargingProfiles(status="NoProfiles")
        self.sim.pending_profiles = (request_id, selected)
        return self.result.GetChargingProfiles(status="Accepted")

    @after("GetChargingProfiles")
    def after_get_charging_profiles(self, request_id: int, **kwargs: Any) -> None:
        pending, self.sim.pending_profiles = self.sim.pending_profiles, None
        if pending is not None and pending[0] == request_id:
            self.sim.spawn(self.sim.report_profiles(request_id, pending[1]))

    # --- E, F: transactions and remote control --------------------------------------------------
    @on("RequestStartTransaction")
    def on_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        state = self.sim.state
        if (
            evse_id not in (None, EVSE_ID)
            or state.transaction_id is not None
            or not state.operative
            or (charging_profile and charging_profile["charging_profile_purpose"] != "TxProfile")
        ):
            return self.result.RequestStartTransaction(status="Rejected")
        return self.result.RequestStartTransaction(status=self._accept("RequestStartTransaction"))

    @after("RequestStartTransaction")
    def after_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        charging_profile: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self._was_accepted("RequestStartTransaction"):
            self.sim.spawn(self.sim.remote_start(id_token, remote_start_id, charging_profile))

    @on("RequestStopTransaction")
    def on_request_stop_transaction(self, transaction_id: str, **kwargs: Any) -> Any:
        if transaction_id != self.sim.state.transaction_id:
            return self.result.RequestStopTransaction(status="Rejected")
        self.sim.spawn(self.sim.stop_transaction("Remote"))
        return self.result.RequestStopTransaction(status="Accepted")

    @on("GetTransactionStatus")
    def on_get_transaction_status(self, transaction_id: str | None = None, **kwargs: Any) -> Any:
        ongoing = None
        if transaction_id is not None:
            ongoing = transaction_id == self.sim.state.transaction_id
        return self.result.GetTransactionStatus(messages_in_queue=False, ongoing_indicator=ongoing)

    @on("UnlockConnector")
    def on_unlock_connector(self, evse_id: int, connector_id: int, **kwargs: Any) -> Any:
        if (evse_id, connector_id) != (EVSE_ID, CONNECTOR):
            return self.result.UnlockConnector(status="UnknownConnector")
        if self.sim.state.transaction_id is not None:
            return self.result.UnlockConnector(status="OngoingAuthorizedTransaction")
        self.sim.spawn(self.sim.unplug())
        return self.result.UnlockConnector(status="Unlocked")

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **kwargs: Any) -> Any:
        charging = self.sim.state.transaction_id is not None
        if evse_id not in (None, EVSE_ID) or (
            evse_id is not None and type == "OnIdle" and charging
        ):
            return self.result.Reset(status="Rejected")
        if type == "OnIdle" and charging:
            self.sim.reset_when_idle = True  # when the transaction ends
            return self.result.Reset(status="Scheduled")
        return self.result.Reset(status=self._accept("Reset"))

    @after("Reset")
    def after_reset(self, type: str, evse_id: int | None = None, **kwargs: Any) -> None:
        if not self._was_accepted("Reset"):
            return
        if evse_id is None:
            self.sim.spawn(self.sim.reboot("HardReset"))
        else:  # the EVSE only: its transaction ends, the station stays connected
            self.sim.spawn(self.sim.stop_transaction("HardReset"))

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        if evse and (evse["id"], evse.get("connector_id", CONNECTOR)) != (EVSE_ID, CONNECTOR):
            return self.result.TriggerMessage(status="Rejected")
        if requested_message not in self.sim.TRIGGERS:
            return self.result.TriggerMessage(status="NotImplemented")
        if (requested_message == "BootNotification" and self.sim.last_boot_accepted()) or (
            requested_message == "TransactionEvent" and self.sim.state.transaction_id is None
        ):
            return self.result.TriggerMessage(status="Rejected")
        return self.result.TriggerMessage(status=self._accept("TriggerMessage"))

    @after("TriggerMessage")
    def after_trigger_message(self, requested_message: str, **kwargs: Any) -> None:
        if self._was_accepted("TriggerMessage"):
            self.sim.spawn(self.sim.triggered(requested_message))

    # --- A, B09: certificates and network profiles -------------------------------------------------
    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str, **kwargs: Any) -> Any:
        installed = install_root(self.sim.state, certificate_type, certificate)
        return self.result.InstallCertificate(status="Accepted" if installed else "Rejected")

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain: str, **kwargs: Any) -> Any:
        taken = take_certificate(self.sim.state, certificate_chain)
        return self.result.CertificateSigned(status="Accepted" if taken else "Rejected")

    @on("SetNetworkProfile")
    def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **kwargs: Any
    ) -> Any:
        reason = self.sim.network_profile_problem(configuration_slot, connection_data)
        if reason is not None:
            _LOGGER.info("SetNetworkProfile slot %d: Rejected (%s)", configuration_slot, reason)
            return self.result.SetNetworkProfile(
                status="Rejected", status_info={"reason_code": reason}
            )
        self.sim.state.network_profiles[str(configuration_slot)] = {
            "url": connection_data["ocpp_csms_url"],
            "security_profile": connection_data["security_profile"],
        }
        self.sim.state.save()
        _LOGGER.info(
            "Network profile %d: %s, security profile %d",
            configuration_slot,
            connection_data["ocpp_csms_url"],
            connection_data["security_profile"],
        )
        return self.result.SetNetworkProfile(status="Accepted")

    # --- G: availability ------------------------------------------------------------------------
    @on("ChangeAvailability")
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        if evse and (evse["id"], evse.get("connector_id", CONNECTOR)) != (EVSE_ID, CONNECTOR):
            return self.result.ChangeAvailability(status="Rejected")
        status = self.sim.change_availability(operational_status == "Operative")
        return self.result.ChangeAvailability(status=status)

    # --- C, D: authorization --------------------------------------------------------------------
    @on("ClearCache")
    def on_clear_cache(self, **kwargs: Any) -> Any:
        enabled = self.model.value("AuthCacheCtrlr", "Enabled") == "true"
        return self.result.ClearCache(status="Accepted" if enabled else "Rejected")

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **kwargs: Any) -> Any:
        return self.result.GetLocalListVersion(version_number=self.sim.state.local_list_version)

    @on("SendLocalList")
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        entries = {
            item["id_token"]["id_token"]: (item.get("id_token_info") or {}).get("status")
            for item in local_authorization_list or []
        }
        limit = self.model.get("LocalAuthListCtrlr", "Entries").max_limit or 0
        if self.model.value("LocalAuthListCtrlr", "Enabled") != "true" or len(entries) > limit:
            return self.result.SendLocalList(status="Failed")
        status = self.sim.update_local_list(version_number, update_type == "Full", entries)
        return self.result.SendLocalList(status=status)

    # --- H: reservations ------------------------------------------------------------------------
    @on("ReserveNow")
    def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        connector_type: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if (
            self.model.value("ReservationCtrlr", "Enabled") != "true"
            or evse_id not in (None, EVSE_ID)
            or connector_type not in (None, "cType2")
        ):
            return self.result.ReserveNow(status="Rejected")
        status = self.sim.reserve(id, id_token["id_token"], parse_time(expiry_date_time))
        return self.result.ReserveNow(status=status)

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, **kwargs: Any) -> Any:
        accepted = self.sim.cancel_reservation(reservation_id)
        return self.result.CancelReservation(status="Accepted" if accepted else "Rejected")

    # --- L, N, P: firmware, logs, data transfer -------------------------------------------------
    @on("UpdateFirmware")
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **kwargs: Any) -> Any:
        return self.result.UpdateFirmware(status=self._accept("UpdateFirmware"))

    @after("UpdateFirmware")
    def after_update_firmware(self, request_id: int, **kwargs: Any) -> None:
        if self._was_accepted("UpdateFirmware"):
            self.sim.spawn(self.sim.firmware_update(request_id))

    @on("GetLog")
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, **kwargs: Any) -> Any:
        return self.result.GetLog(status=self._accept("GetLog"), filename="sim-diagnostics.log")

    @after("GetLog")
    def after_get_log(self, request_id: int, **kwargs: Any) -> None:
        if self._was_accepted("GetLog"):
            self.sim.spawn(self.sim.log_upload(request_id))

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        status, data = data_transfer_answer(vendor_id)
        return self.result.DataTransfer(status=status, data=data)


class SimChargePoint201(_Handlers, ocpp.v201.ChargePoint):  # type: ignore[misc]
    def __init__(self, charger_id: str, connection: Any, sim: Station201) -> None:
        self.sim = sim
        super().__init__(charger_id, connection, response_timeout=30)


class SimChargePoint21(_Handlers, ocpp.v21.ChargePoint):  # type: ignore[misc]
    def __init__(self, charger_id: str, connection: Any, sim: Station201) -> None:
        self.sim = sim
        super().__init__(charger_id, connection, response_timeout=30)

    @on("UpdateDynamicSchedule")
    def on_update_dynamic_schedule(
        self, charging_profile_id: int, schedule_update: dict[str, Any], **kwargs: Any
    ) -> Any:
        entry = next(
            (
                e
                for e in self.sim.state.profiles
                if e.profile.profile_id == charging_profile_id and e.profile.kind == "Dynamic"
            ),
            None,
        )
        if entry is None:
            return self.result.UpdateDynamicSchedule(status="Rejected")
        limit = schedule_update.get("limit")
        entry.profile.periods = [
            Period(
                0, None if limit is None else float(limit), entry.profile.periods[0].number_phases
            )
        ]
        _LOGGER.info(
            "Dynamic profile %s: limit %s %s", charging_profile_id, limit, entry.profile.unit
        )
        self.sim.spawn(self.sim.limit_changed())
        return self.result.UpdateDynamicSchedule(status="Accepted")


def _password_ok(value: str) -> bool:
    low, high = BASIC_AUTH_PASSWORD_LENGTH
    return low <= len(value) <= high


def _names(variable: Variable, item: dict[str, Any]) -> bool:
    """Whether a GetReport ``componentVariable`` entry names ``variable`` (a component without
    evse names all of its EVSEs; without a variable, all of its variables)."""
    component = item["component"]
    evse = component.get("evse")
    if variable.component != component["name"] or variable.component_instance != component.get(
        "instance"
    ):
        return False
    if evse and (
        variable.evse != evse["id"]
        or ("connector_id" in evse and variable.connector != evse["connector_id"])
    ):
        return False
    wanted = item.get("variable")
    return wanted is None or (
        variable.name == wanted["name"] and variable.instance == wanted.get("instance")
    )


class Station201(Station):
    """The 2.0.1 messages of the station."""

    version = "2.0.1"
    subprotocol = "ocpp2.0.1"
    boots_on_every_connection = False
    call: ClassVar[ModuleType] = ocpp.v201.call
    call_result: ClassVar[ModuleType] = ocpp.v201.call_result
    charge_point_class: ClassVar[type] = SimChargePoint201
    KINDS: ClassVar[tuple[str, ...]] = ("Absolute", "Recurring", "Relative")
    TRIGGERS: ClassVar[frozenset[str]] = frozenset(
        {
            "BootNotification",
            "Heartbeat",
            "StatusNotification",
            "MeterValues",
            "TransactionEvent",
            "FirmwareStatusNotification",
            "LogStatusNotification",
            "SignChargingStationCertificate",
        }
    )

    def __init__(self, args: Any) -> None:
        super().__init__(args)
        self.iso15118: bool = getattr(args, "iso15118", False)
        state = self.state
        self.model = build_device_model(
            charger_id=self.charger_id,
            version=self.version,
            interval_s=self.meter_interval,
            live={
                "availability": lambda: connector_status(state.status),
                "profiles": lambda: str(len(state.profiles)),
                "local_list": lambda: str(len(state.local_list)),
                "power": lambda: f"{VOLTAGE * PHASES * state.drawn_a:.0f}",
                "clock": iso,
            },
        )
        self.model.set("SecurityCtrlr", "SecurityProfile", str(state.security_profile))
        self.model.set("OCPPCommCtrlr", "NetworkConfigurationPriority", state.network_priority)
        # A --tls-url given wins over the network profile's URL (the simulator next to HA).
        self.tls_url_given = bool(getattr(args, "tls_url", None))
        self.id_token: dict[str, Any] = {"idToken": self.id_tag, "type": "ISO14443"}
        self.sent_connector_status: str | None = None
        self.sent_charging_state: str | None = None
        self.report_busy = False
        self.pending_report: tuple[int, list[Variable]] | None = None
        self.pending_profiles: tuple[int, list[Installed]] | None = None
        self.accepted: set[str] = set()  # actions accepted, whose follow-up is due
        self.event_lock = asyncio.Lock()

    def make_charge_point(self, connection: Any) -> Any:
        return self.charge_point_class(self.charger_id, connection, self)

    # --- device model -----------------------------------------------------------------------------
    def write_variable(self, variable: Variable, value: str, password: str | None) -> str:
        """Apply one checked SetVariables write; its attributeStatus."""
        if (variable.component, variable.name) == ("SecurityCtrlr", "BasicAuthPassword"):
            return "Accepted" if _password_ok(value) else "Rejected"
        if (variable.component, variable.name) == ("OCPPCommCtrlr", "NetworkConfigurationPriority"):
            slots = value.split(",")
            if any(slot != "0" and slot not in self.state.network_profiles for slot in slots):
                return "Rejected"  # only slots that hold a network profile
            variable.value = self.state.network_priority = value
            self.state.save()
            return "RebootRequired"  # the order counts from the next boot
        if (variable.component, variable.name) == ("SecurityCtrlr", "SecurityProfile"):
            wanted, current = int(value), int(variable.actual or 0)
            # Only upwards, and only to Basic auth: no TLS here.
            if (
                wanted < current
                or wanted > 1
                or (wanted == 1 and not (password or self.state.password))
            ):
                return "Rejected"
            self.state.security_profile = wanted
        variable.value = value
        return "Accepted"

    async def send_report(self, request_id: int, variables: list[Variable]) -> None:
        """NotifyReport pages (seqNo from 0, tbc on all but the last)."""
        self.report_busy = True
        try:
            generated_at = iso()
            entries = [v.report_entry() for v in variables]
            pages = [entries[i : i + REPORT_PAGE] for i in range(0, len(entries), REPORT_PAGE)]
            for seq_no, page in enumerate(pages):
                await self.send(
                    self.call.NotifyReport(
                        request_id=request_id,
                        generated_at=generated_at,
                        seq_no=seq_no,
                        report_data=page,
                        tbc=seq_no < len(pages) - 1,
                    )
                )
            _LOGGER.info(
                "Device model report %s: %d variables in %d messages",
                request_id,
                len(entries),
                len(pages),
            )
        finally:
            self.report_busy = False

    # --- smart charging ---------------------------------------------------------------------------
    def check_profile(self, evse_id: int, raw: dict[str, Any]) -> tuple[int, Profile]:
        """The target and profile of a SetChargingProfile the station takes (else
        ProfileRefusedError)."""
        purpose, kind = self._check_header(evse_id, raw)
        schedule = self._check_schedule(kind, raw)
        profile = profile_from_schedule(
            profile_id=raw["id"],
            purpose=purpose,
            stack_level=raw["stack_level"],
            kind=kind,
            schedule=schedule,
            profile=raw,
            transaction_id=raw.get("transaction_id"),
        )
        state = self.state
        if state.conflicting(evse_id, profile) is not None:
            raise ProfileRefusedError(
                "DuplicateProfile",
                f"another {raw['charging_profile_purpose']} at stack level "
                f"{profile.stack_level} on EVSE {evse_id}, validity overlapping",
            )
        known = any(e.profile.profile_id == profile.profile_id for e in state.profiles)
        capacity = self.model.get("SmartChargingCtrlr", "Entries", "ChargingProfiles").max_limit
        if not known and len(state.profiles) >= (capacity or 0):
            raise ProfileRefusedError("InvalidProfile", f"{capacity} profiles installed already")
        return evse_id, profile

    def _check_header(self, evse_id: int, raw: dict[str, Any]) -> tuple[Purpose, str]:
        """Purpose, kind, EVSE, transaction and stack level of a profile."""
        model = self.model
        if model.value("SmartChargingCtrlr", "Enabled") != "true":
            raise ProfileRefusedError("UnsupportedParam", "smart charging is disabled")
        purpose = _PURPOSES.get(raw["charging_profile_purpose"])
        if purpose is None:
            raise ProfileRefusedError(
                "UnsupportedParam", f"purpose {raw['charging_profile_purpose']}"
            )
        kind = raw["charging_profile_kind"]
        if kind not in self.KINDS:
            raise ProfileRefusedError("UnsupportedParam", f"kind {kind}")
        if evse_id not in (0, EVSE_ID):
            raise ProfileRefusedError("UnknownEvse", f"no EVSE {evse_id}")
        if purpose is Purpose.STATION_MAX and evse_id != 0:
            raise ProfileRefusedError("InvalidProfile", "ChargingStationMaxProfile on an EVSE")
        transaction_id = raw.get("transaction_id")
        if purpose is Purpose.TX:
            if evse_id == 0:
                raise ProfileRefusedError("InvalidProfile", "TxProfile on EVSE 0")
            if transaction_id is None or transaction_id != self.state.transaction_id:
                raise ProfileRefusedError(
                    "TxNotFound", f"transaction {transaction_id!r} is not running"
                )
        elif transaction_id is not None:
            raise ProfileRefusedError("InvalidProfile", "transactionId outside a TxProfile")
        max_stack = int(model.value("SmartChargingCtrlr", "ProfileStackLevel"))
        if not 0 <= raw["stack_level"] <= max_stack:
            raise ProfileRefusedError(
                "InvalidStackLevel", f"stack level {raw['stack_level']} > {max_stack}"
            )
        return purpose, kind

    def _check_schedule(self, kind: str, raw: dict[str, Any]) -> dict[str, Any]:
        """The one schedule of a profile, checked against what the station takes."""
        model = self.model
        schedules = raw["charging_schedule"]
        if len(schedules) != 1:
            raise ProfileRefusedError("InvalidSchedule", f"{len(schedules)} schedules")
        schedule: dict[str, Any] = schedules[0]
        periods = schedule["charging_schedule_period"]
        starts = [p["start_period"] for p in periods]
        if len(periods) > int(model.value("SmartChargingCtrlr", "PeriodsPerSchedule")):
            raise ProfileRefusedError("InvalidSchedule", f"{len(periods)} periods")
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ProfileRefusedError("InvalidSchedule", f"start periods {starts}")
        if kind == "Dynamic" and len(periods) != 1:
            raise ProfileRefusedError("InvalidSchedule", "a Dynamic profile has one period")
        unit = schedule["charging_rate_unit"]
        if unit not in model.members("SmartChargingCtrlr", "RateUnit"):
            raise ProfileRefusedError("UnsupportedRateUnit", f"unit {unit}")
        has_start = schedule.get("start_schedule") is not None
        if kind in ("Absolute", "Recurring") and not has_start:
            raise ProfileRefusedError("InvalidSchedule", f"{kind} without startSchedule")
        if kind == "Relative" and has_start:
            raise ProfileRefusedError("InvalidSchedule", "Relative with startSchedule")
        if kind == "Recurring" and raw.get("recurrency_kind") is None:
            raise ProfileRefusedError("InvalidSchedule", "Recurring without recurrencyKind")
        phase_choice = model.value("SmartChargingCtrlr", "ACPhaseSwitchingSupported") == "true"
        phase_switching = model.value("SmartChargingCtrlr", "Phases3to1") == "true"
        for period in periods:
            limit, phases = period.get("limit"), period.get("number_phases")
            if limit is not None and limit < 0:
                raise ProfileRefusedError("InvalidValue", f"negative limit {limit}")
            if period.get("phase_to_use") is not None and not phase_choice:
                raise ProfileRefusedError(
                    "UnsupportedParam", "phaseToUse (ACPhaseSwitchingSupported false)"
                )
            if phases not in (None, PHASES) and not phase_switching:
                raise ProfileRefusedError(
                    "UnsupportedParam", f"numberPhases {phases} (Phases3to1 false)"
                )
        return schedule

    def select_profiles(self, evse_id: int | None, criteria: dict[str, Any]) -> list[Installed]:
        """GetChargingProfiles: the installed profiles its criteria name (all set by the CSMS)."""
        sources = criteria.get("charging_limit_source")
        if sources and "CSO" not in sources:
            return []
        ids = criteria.get("charging_profile_id")
        return [
            entry
            for entry in self.state.profiles
            if (evse_id is None or entry.target == evse_id)
            and criteria.get("charging_profile_purpose")
            in (None, _PURPOSE_NAMES[entry.profile.purpose])
            and criteria.get("stack_level") in (None, entry.profile.stack_level)
            and (not ids or entry.profile.profile_id in ids)
        ]

    async def report_profiles(self, request_id: int, entries: list[Installed]) -> None:
        targets = sorted({entry.target for entry in entries})
        for index, target in enumerate(targets):
            await self.send(
                self.call.ReportChargingProfiles(
                    request_id=request_id,
                    charging_limit_source="CSO",
                    evse_id=target,
                    charging_profile=[e.profile.raw for e in entries if e.target == target],
                    tbc=index < len(targets) - 1,
                )
            )

    # --- the messages of the station behaviour ----------------------------------------------------
    async def send_boot(self, reason: str) -> tuple[str, int]:
        response = await self.send(
            self.call.BootNotification(
                charging_station={
                    "vendorName": VENDOR,
                    "model": MODEL,
                    "serialNumber": SERIAL,
                    "firmwareVersion": FIRMWARE,
                },
                reason=reason,
            )
        )
        return response.status, response.interval

    def heartbeat_interval(self) -> float:
        return float(self.model.value("OCPPCommCtrlr", "HeartbeatInterval"))

    def set_heartbeat_interval(self, seconds: int) -> None:
        self.model.set("OCPPCommCtrlr", "HeartbeatInterval", str(seconds))

    async def announce(self) -> None:
        await self._status_notification(connector_status(self.state.status))

    async def _status_notification(self, status: str) -> None:
        self.sent_connector_status = status
        await self.send(
            self.call.StatusNotification(
                timestamp=iso(),
                connector_status=status,
                evse_id=EVSE_ID,
                connector_id=CONNECTOR,
            )
        )

    async def send_status(self, status: str) -> None:
        if connector_status(status) != self.sent_connector_status:
            await self._status_notification(connector_status(status))
        if (
            self.state.transaction_id is not None
            and charging_state(status) != self.sent_charging_state
        ):
            await self.transaction_event("Updated", "ChargingStateChanged")

    async def authorize(self, id_tag: str) -> bool:
        self.id_token = {"idToken": id_tag, "type": "ISO14443"}
        response = await self.send(self.call.Authorize(id_token=self.id_token))
        return bool(response.id_token_info["status"] == "Accepted")

    async def transaction_event(
        self,
        event_type: str,
        trigger_reason: str,
        *,
        transaction_id: str | None = None,
        meter: list[dict[str, Any]] | None = None,
        stopped_reason: str | None = None,
        remote_start_id: int | None = None,
        **extra: Any,
    ) -> Any:
        """One TransactionEvent of the running (or ``transaction_id``) transaction; the next seqNo."""
        state = self.state
        info: dict[str, Any] = {
            "transactionId": transaction_id or state.transaction_id,
            "chargingState": "EVConnected"
            if event_type == "Ended"
            else charging_state(state.status),
        }
        if state.charging_s:
            info["timeSpentCharging"] = int(state.charging_s)
        if stopped_reason is not None:
            info["stoppedReason"] = stopped_reason
        if remote_start_id is not None:
            info["remoteStartId"] = remote_start_id
        # One event at a time, so that they leave in seqNo order.
        async with self.event_lock:
            seq_no = state.seq_no
            state.seq_no += 1
            self.sent_charging_state = info["chargingState"]
            return await self.send(
                self.call.TransactionEvent(
                    event_type=event_type,
                    timestamp=extra.pop("timestamp", None) or iso(),
                    trigger_reason=trigger_reason,
                    seq_no=seq_no,
                    transaction_info=info,
                    meter_value=meter or None,
                    **extra,
                )
            )

    def _meter_value(
        self, samples: list[Sample], context: str, measurands: list[str], at: str | None = None
    ) -> list[dict[str, Any]]:
        """A MeterValueType list of the samples whose measurands are configured (none: [])."""
        sampled = []
        for sample in samples:
            if sample.measurand not in measurands or sample.measurand not in MEASURANDS:
                continue
            entry: dict[str, Any] = {
                "value": round(sample.value) if sample.unit == "Wh" else round(sample.value, 1),
                "context": context,
                "measurand": sample.measurand,
                "location": sample.location,
                "unitOfMeasure": {"unit": sample.unit},
            }
            if sample.phase:
                entry["phase"] = sample.phase
            sampled.append(entry)
        return [{"timestamp": at or iso(), "sampledValue": sampled}] if sampled else []

    def _register(self, register_wh: int, context: str, measurands_of: str) -> list[dict[str, Any]]:
        samples = [Sample("Energy.Active.Import.Register", register_wh, "Wh")]
        return self._meter_value(
            samples, context, self.model.members("SampledDataCtrlr", measurands_of)
        )

    async def begin_transaction(
        self, id_tag: str, meter_start: int, remote_start_id: int | None
    ) -> str | None:
        state = self.state
        transaction_id = str(uuid.uuid4())
        state.transaction_id = transaction_id
        state.transaction_start = now()
        state.seq_no = 0
        state.status = state.wanted_status()
        reservation = state.reservation
        response = await self.transaction_event(
            "Started",
            "RemoteStart" if remote_start_id is not None else "Authorized",
            meter=self._register(meter_start, "Transaction.Begin", "TxStartedMeasurands"),
            remote_start_id=remote_start_id,
            id_token=self.id_token,
            evse={"id": EVSE_ID, "connectorId": CONNECTOR},
            number_of_phases_used=PHASES,
            reservation_id=reservation[0] if reservation else None,
        )
        token_info = response.id_token_info
        if token_info is not None and token_info["status"] != "Accepted":
            _LOGGER.info("Transaction %s refused: %s", transaction_id, token_info["status"])
            state.transaction_id = None
            state.transaction_start = None
            await self.transaction_event(
                "Ended",
                "Deauthorized",
                transaction_id=transaction_id,
                meter=self._register(meter_start, "Transaction.End", "TxEndedMeasurands"),
                stopped_reason="DeAuthorized",
            )
            state.status = "Preparing"
            return None
        if self.iso15118:
            self.spawn(self.charging_needs())
        return transaction_id

    async def end_transaction(self, transaction_id: Any, meter_stop: int, reason: str) -> None:
        trigger, stopped = _END_REASONS.get(reason, ("AbnormalCondition", "Other"))
        await self.transaction_event(
            "Ended",
            trigger,
            transaction_id=transaction_id,
            meter=self._register(meter_stop, "Transaction.End", "TxEndedMeasurands"),
            stopped_reason=stopped,
        )
        self.sent_charging_state = None

    async def after_boot(self) -> None:
        """A transaction the previous run left open (the simulator stopped while charging): it
        ended by power loss then, told now as an offline event."""
        stale, self.state.stale_transaction = self.state.stale_transaction, None
        if stale is None:
            return
        at = stale["at"] or iso()
        _LOGGER.info(
            "Ending transaction %s of the previous run (power loss)", stale["transaction_id"]
        )
        self.state.seq_no = stale["seq_no"]
        await self.transaction_event(
            "Ended",
            "AbnormalCondition",
            transaction_id=stale["transaction_id"],
            meter=self._meter_value(
                [Sample("Energy.Active.Import.Register", stale["register_wh"], "Wh")],
                "Transaction.End",
                ["Energy.Active.Import.Register"],
                at,
            ),
            stopped_reason="PowerLoss",
            offline=True,
            timestamp=at,
        )
        self.state.seq_no = 0
        self.state.save()

    async def send_meter(self, samples: list[Sample], context: str) -> None:
        state = self.state
        if state.transaction_id is None:
            # Outside a transaction: clock-aligned readings (J01).
            await self._meter_values_message(
                samples,
                "Sample.Clock" if context == "Sample.Periodic" else context,
                self.model.members("AlignedDataCtrlr", "Measurands"),
            )
            return
        wanted = state.wanted_status()
        trigger = _METER_TRIGGERS.get(context, "MeterValuePeriodic")
        if trigger == "MeterValuePeriodic" and charging_state(wanted) != self.sent_charging_state:
            trigger = "ChargingStateChanged"
        state.status = wanted
        await self.transaction_event(
            "Updated",
            trigger,
            meter=self._meter_value(
                samples, context, self.model.members("SampledDataCtrlr", "TxUpdatedMeasurands")
            ),
        )

    async def _meter_values_message(
        self, samples: list[Sample], context: str, measurands: list[str]
    ) -> None:
        meter = self._meter_value(samples, context, measurands)
        if meter:
            await self.send(self.call.MeterValues(evse_id=EVSE_ID, meter_value=meter))

    async def send_heartbeat(self) -> None:
        await self.send(self.call.Heartbeat())

    async def send_firmware_status(self, status: str) -> None:
        request_id = None if status == "Idle" else self.request_ids["firmware"]
        await self.send(self.call.FirmwareStatusNotification(status=status, request_id=request_id))

    async def send_log_status(self, status: str) -> None:
        request_id = None if status == "Idle" else self.request_ids["log"]
        await self.send(self.call.LogStatusNotification(status=status, request_id=request_id))

    async def reservation_ended(self, reservation_id: int, why: str) -> None:
        await self.send(
            self.call.ReservationStatusUpdate(
                reservation_id=reservation_id, reservation_update_status=why
            )
        )

    async def remote_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        charging_profile: dict[str, Any] | None,
    ) -> None:
        token = camel_token(id_token)
        remote_authorize = self.model.value("AuthCtrlr", "AuthorizeRemoteStart") == "true"
        if remote_authorize and not await self.authorize(token["idToken"]):
            return
        self.id_token = token
        await self.start_transaction(token["idToken"], remote_start_id)
        if charging_profile is not None and self.state.transaction_id is not None:
            raw = {**charging_profile, "transaction_id": self.state.transaction_id}
            try:
                target, profile = self.check_profile(EVSE_ID, raw)
            except ProfileRefusedError as refused:
                _LOGGER.warning("The remote start's charging profile: %s", refused.info)
            else:
                self.state.install(target, profile)
                await self.limit_changed()

    async def charging_needs(self) -> None:
        """ISO 15118: what the car needs (energy, departure time, its current range)."""
        needs = {
            "requestedEnergyTransfer": "AC_three_phase",
            "departureTime": iso(now() + timedelta(hours=8)),
            "acChargingParameters": {
                "energyAmount": round((100 - self.state.soc) / 100 * BATTERY_WH),
                "evMinCurrent": round(MIN_CURRENT_A),
                "evMaxCurrent": round(CAR_MAX_A),
                "evMaxVoltage": 400,
            },
        }
        response = await self.send(
            self.call.NotifyEVChargingNeeds(evse_id=EVSE_ID, charging_needs=needs)
        )
        _LOGGER.info("NotifyEVChargingNeeds: %s", response.status)

    # --- security upgrade (A02-A05, B09, B10) --------------------------------------------------------
    def network_profile_problem(self, slot: int, data: dict[str, Any]) -> str | None:
        """Why a SetNetworkProfile cannot be taken (a reasonCode), or None."""
        profile = data.get("security_profile")
        url = str(data.get("ocpp_csms_url", ""))
        problems = (
            (str(slot) not in NETWORK_SLOTS.split(",") or slot == 0, "InvalidSlot"),
            (data.get("ocpp_transport") != "JSON", "UnsupportedTransport"),
            (profile not in (1, 2, 3), "InvalidProfile"),
            (not url.startswith("wss://" if profile != 1 else "ws://"), "UrlProfileMismatch"),
            (profile in (2, 3) and not self.state.all_roots(), "NoCsmsRoot"),
            (profile == 3 and self.state.certificate_pem is None, "NoClientCertificate"),
        )
        return next((reason for problem, reason in problems if problem), None)

    async def reboot(self, stop_reason: str) -> None:
        self.use_first_network_profile()
        await super().reboot(stop_reason)

    def use_first_network_profile(self) -> None:
        """B10: after a reboot, the first slot of NetworkConfigurationPriority; the profile in use
        so far is the fallback until it connected."""
        first = self.state.network_priority.split(",")[0]
        network = self.state.network_profiles.get(first)
        if network is None:
            return
        if not self.tls_url_given:
            self.tls_url = f"{str(network['url']).rstrip('/')}/{self.charger_id}"
        profile = int(network["security_profile"])
        if profile != self.state.security_profile:
            _LOGGER.info("Reboot: network profile %s (security profile %d)", first, profile)
            self.switch_security_profile(profile)
            self.set_security_profile_setting(profile)

    def set_security_profile_setting(self, profile: int) -> None:
        self.model.set("SecurityCtrlr", "SecurityProfile", str(profile))

    async def sign_certificate(self) -> None:
        """A new key and a CSR for it (CN: our id) in SignCertificate."""
        csr, key = new_csr(self.charger_id)
        self.state.pending_key_pem = key
        self.state.save()
        response = await self.send(
            self.call.SignCertificate(csr=csr, certificate_type="ChargingStationCertificate")
        )
        _LOGGER.info("SignCertificate: %s", response.status)

    async def triggered(self, message: str) -> None:
        if message == "SignChargingStationCertificate":
            await self.sign_certificate()
        elif message == "BootNotification":
            self.boot_now.set()
        elif message == "Heartbeat":
            await self.send_heartbeat()
        elif message == "StatusNotification":
            await self._status_notification(connector_status(self.state.status))
        elif message == "MeterValues":
            self.integrate()
            await self._meter_values_message(
                self.state.samples(self.state.drawn_a),
                "Trigger",
                self.model.members(
                    "SampledDataCtrlr" if self.state.transaction_id else "AlignedDataCtrlr",
                    "TxUpdatedMeasurands" if self.state.transaction_id else "Measurands",
                ),
            )
        elif message == "TransactionEvent":
            await self.meter_values("Trigger")
        elif message == "FirmwareStatusNotification":
            await self.send_firmware_status(self.firmware_status)
        elif message == "LogStatusNotification":
            await self.send_log_status(self.log_status)


class Station21(Station201):
    """OCPP 2.1: the 2.0.1 station, plus Dynamic charging profiles (UpdateDynamicSchedule)."""

    version = "2.1"
    subprotocol = "ocpp2.1"
    call = ocpp.v21.call
    call_result = ocpp.v21.call_result
    charge_point_class = SimChargePoint21
    KINDS = ("Absolute", "Recurring", "Relative", "Dynamic")
