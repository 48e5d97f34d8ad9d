"""The OCPP 1.6J wallbox: Core, Smart Charging, Remote Trigger, Firmware Management, Local Auth
List Management and Reservation, and the 1.6 security whitepaper: Basic auth (AuthorizationKey +
SecurityProfile 1), the certificate messages of the security extension (InstallCertificate,
ExtendedTriggerMessage SignChargePointCertificate -> SignCertificate -> CertificateSigned,
GetInstalledCertificateIds, DeleteCertificate) and SecurityProfile 2 and 3 (TLS, with the client
certificate on 3)."""

from __future__ import annotations

import logging
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result

from .model import (
    CONNECTOR,
    FIRMWARE,
    METER_TYPE,
    MODEL,
    PHASES,
    SERIAL,
    VENDOR,
    VOLTAGE,
    Installed,
    Purpose,
    Sample,
    data_transfer_answer,
    iso,
    parse_time,
    profile_from_schedule,
)
from .security import hash_data, install_root, new_csr, take_certificate
from .station import Station

_LOGGER = logging.getLogger("simulate_charger")

_PURPOSES = {
    "ChargePointMaxProfile": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}
_PURPOSE_NAMES = {purpose: name for name, purpose in _PURPOSES.items()}


class SimChargePoint16(ChargePoint):  # type: ignore[misc]
    """OCPP handlers: answer at once, run follow-up calls as tasks (never await call() in @on)."""

    def __init__(self, charger_id: str, connection: Any, sim: Station16) -> None:
        super().__init__(charger_id, connection, response_timeout=30)
        self.sim = sim

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None, **kwargs: Any) -> Any:
        config = self.sim.state.config
        wanted = key or list(config)
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "value": config[k][0], "readonly": config[k][1]}
                for k in wanted
                if k in config
            ],
            unknown_key=[k for k in wanted if k not in config] or None,
        )

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **kwargs: Any) -> Any:
        state = self.sim.state
        if key == "AuthorizationKey":
            state.authorization_key = value
            _LOGGER.info("Received a new AuthorizationKey (%d characters)", len(value))
            if state.security_profile in (1, 2):
                # A new password while using one (the server sends no SecurityProfile then).
                self.sim.adopt_password(self.sim.password_of_key())
            return call_result.ChangeConfiguration(status="Accepted")
        if key not in state.config:
            return call_result.ChangeConfiguration(status="NotSupported")
        if state.config[key][1]:
            return call_result.ChangeConfiguration(status="Rejected")
        if key == "SecurityProfile":
            status = self.sim.change_security_profile(value)
            if status == "Accepted":
                state.config[key][0] = value
            return call_result.ChangeConfiguration(status=status)
        state.config[key][0] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str, **kwargs: Any) -> Any:
        installed = install_root(self.sim.state, certificate_type, certificate)
        return call_result.InstallCertificate(status="Accepted" if installed else "Rejected")

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type: str, **kwargs: Any) -> Any:
        installed = self.sim.state.root_certificates.get(certificate_type) or []
        if not installed:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data=[hash_data(pem) for pem in installed]
        )

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data: dict[str, str], **kwargs: Any) -> Any:
        state = self.sim.state
        wanted = {k: str(v).lower() for k, v in certificate_hash_data.items()}
        for certificate_type, installed in state.root_certificates.items():
            for pem in installed:
                if {k: v.lower() for k, v in hash_data(pem).items()} == wanted:
                    if state.security_profile >= 2 and len(state.all_roots()) == 1:
                        # The last root it trusts: TLS would not connect any more.
                        return call_result.DeleteCertificate(status="Failed")
                    installed.remove(pem)
                    state.save()
                    _LOGGER.info("Deleted a %s", certificate_type)
                    return call_result.DeleteCertificate(status="Accepted")
        return call_result.DeleteCertificate(status="NotFound")

    @on("ExtendedTriggerMessage")
    def on_extended_trigger_message(self, requested_message: str, **kwargs: Any) -> Any:
        if requested_message == "SignChargePointCertificate":
            self.sim.later(self.sim.sign_certificate())
        else:
            self.sim.later(self.sim.triggered(requested_message))
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain: str, **kwargs: Any) -> Any:
        taken = take_certificate(self.sim.state, certificate_chain)
        return call_result.CertificateSigned(status="Accepted" if taken else "Rejected")

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **kwargs: Any
    ) -> Any:
        raw = cs_charging_profiles
        purpose = _PURPOSES[raw["charging_profile_purpose"]]
        if purpose is Purpose.STATION_MAX and connector_id != 0:
            return call_result.SetChargingProfile(status="Rejected")
        if purpose is Purpose.TX and self.sim.state.transaction_id is None:
            return call_result.SetChargingProfile(status="Rejected")
        profile = profile_from_schedule(
            profile_id=raw["charging_profile_id"],
            purpose=purpose,
            stack_level=raw["stack_level"],
            kind=raw["charging_profile_kind"],
            schedule=raw["charging_schedule"],
            profile=raw,
            transaction_id=raw.get("transaction_id"),
        )
        self.sim.state.install(connector_id, profile)
        _LOGGER.info(
            "Charging profile %s (%s, stack %s): offered current now %.1f A",
            profile.profile_id,
            raw["charging_profile_purpose"],
            profile.stack_level,
            self.sim.state.offered_a(),
        )
        self.sim.spawn(self.sim.limit_changed())
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        state = self.sim.state
        before = len(state.profiles)
        wanted_purpose = kwargs.get("charging_profile_purpose")

        def matches(entry: Installed) -> bool:
            p = entry.profile
            return (
                kwargs.get("id") in (None, p.profile_id)
                and kwargs.get("connector_id") in (None, entry.target)
                and wanted_purpose in (None, _PURPOSE_NAMES[p.purpose])
                and kwargs.get("stack_level") in (None, p.stack_level)
            )

        state.profiles = [e for e in state.profiles if not matches(e)]
        self.sim.spawn(self.sim.limit_changed())
        status = "Accepted" if len(state.profiles) < before else "Unknown"
        return call_result.ClearChargingProfile(status=status)

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **kwargs: Any
    ) -> Any:
        unit = charging_rate_unit or "A"
        periods = [
            {"start_period": offset, "limit": round(a * VOLTAGE * PHASES) if unit == "W" else a}
            for offset, a in self.sim.state.composite(connector_id, duration)
        ]
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=iso(),
            charging_schedule={
                "duration": duration,
                "start_schedule": iso(),
                "charging_rate_unit": unit,
                "charging_schedule_period": periods,
            },
        )

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **kwargs: Any
    ) -> Any:
        self.sim.later(self.sim.triggered(requested_message))
        return call_result.TriggerMessage(status="Accepted")

    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag: str, **kwargs: Any) -> Any:
        if self.sim.state.transaction_id is not None or not self.sim.state.operative:
            return call_result.RemoteStartTransaction(status="Rejected")
        self.sim.spawn(self.sim.start_transaction(id_tag))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int, **kwargs: Any) -> Any:
        if transaction_id != self.sim.state.transaction_id:
            return call_result.RemoteStopTransaction(status="Rejected")
        self.sim.spawn(self.sim.stop_transaction("Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str, **kwargs: Any) -> Any:
        self.sim.spawn(self.sim.reboot("HardReset" if type == "Hard" else "SoftReset"))
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    def on_unlock(self, connector_id: int, **kwargs: Any) -> Any:
        if connector_id != CONNECTOR:
            return call_result.UnlockConnector(status="NotSupported")
        if self.sim.state.transaction_id is not None:
            return call_result.UnlockConnector(status="UnlockFailed")
        self.sim.spawn(self.sim.unplug())
        return call_result.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str, **kwargs: Any) -> Any:
        if connector_id not in (0, CONNECTOR):
            return call_result.ChangeAvailability(status="Rejected")
        status = self.sim.change_availability(type == "Operative")
        return call_result.ChangeAvailability(status=status)

    @on("ClearCache")
    def on_clear_cache(self, **kwargs: Any) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        status, data = data_transfer_answer(vendor_id)
        return call_result.DataTransfer(status=status, data=data)

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **kwargs: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=self.sim.state.local_list_version)

    @on("SendLocalList")
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        entries = {
            item["id_tag"]: (item.get("id_tag_info") or {}).get("status")
            for item in local_authorization_list or []
        }
        status = self.sim.update_local_list(list_version, update_type == "Full", entries)
        return call_result.SendLocalList(status=status)

    @on("ReserveNow")
    def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        **kwargs: Any,
    ) -> Any:
        if connector_id not in (0, CONNECTOR):
            return call_result.ReserveNow(status="Rejected")
        status = self.sim.reserve(reservation_id, id_tag, parse_time(expiry_date))
        return call_result.ReserveNow(status=status)

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, **kwargs: Any) -> Any:
        accepted = self.sim.cancel_reservation(reservation_id)
        return call_result.CancelReservation(status="Accepted" if accepted else "Rejected")

    @on("UpdateFirmware")
    def on_update_firmware(self, **kwargs: Any) -> Any:
        return call_result.UpdateFirmware()

    @after("UpdateFirmware")
    async def after_update_firmware(self, **kwargs: Any) -> None:
        self.sim.spawn(self.sim.firmware_update())

    @on("GetDiagnostics")
    def on_get_diagnostics(self, **kwargs: Any) -> Any:
        self.sim.spawn(self.sim.log_upload())
        return call_result.GetDiagnostics(file_name="sim-diagnostics.log")


class Station16(Station):
    """The 1.6 messages of the wallbox."""

    version = "1.6"
    subprotocol = "ocpp1.6"
    boots_on_every_connection = True

    def make_charge_point(self, connection: Any) -> Any:
        return SimChargePoint16(self.charger_id, connection, self)

    def switch_to_basic_auth(self) -> None:
        _LOGGER.info("Security profile 1")
        self.adopt_password(self.password_of_key())

    def password_of_key(self) -> str:
        key = self.state.authorization_key or ""
        # Whitepaper: the AuthorizationKey is hex; the Basic-auth password is the decoded bytes.
        try:
            return bytes.fromhex(key).decode()
        except ValueError:
            return key

    def change_security_profile(self, value: str) -> str:
        """ChangeConfiguration SecurityProfile: Accepted (it reconnects with it) or Rejected (not
        higher than the one in use, or what it needs is missing: a password for 1 and 2, our root
        certificate for 2 and 3, a client certificate for 3)."""
        state = self.state
        try:
            profile = int(value)
        except ValueError:
            return "Rejected"
        if profile == 1:
            if not state.authorization_key or state.security_profile > 1:
                return "Rejected"
            state.security_profile = 1
            self.switch_to_basic_auth()
            return "Accepted"
        if profile not in (2, 3) or profile <= state.security_profile:
            return "Rejected"
        has_password = bool(state.password or state.authorization_key)
        if not state.all_roots() or (profile == 2 and not has_password):
            return "Rejected"
        if profile == 3 and not (state.certificate_pem and state.key_pem):
            return "Rejected"
        if state.authorization_key:
            # A new password with the new profile: one reconnect takes both.
            state.password = self.password_of_key()
            state.authorization_key = None
        _LOGGER.info("Security profile %d: reconnecting over TLS", profile)
        self.adopt_security_profile(profile)
        return "Accepted"

    def set_security_profile_setting(self, profile: int) -> None:
        self.state.config["SecurityProfile"][0] = str(profile)

    async def sign_certificate(self) -> None:
        """A new key and a CSR for it (CN: our id) in SignCertificate."""
        csr, key = new_csr(self.charger_id)
        self.state.pending_key_pem = key
        self.state.save()
        response = await self.send(call.SignCertificate(csr=csr))
        _LOGGER.info("SignCertificate: %s", response.status)

    async def send_boot(self, reason: str) -> tuple[str, int]:
        response = await self.send(
            call.BootNotification(
                charge_point_vendor=VENDOR,
                charge_point_model=MODEL,
                charge_point_serial_number=SERIAL,
                firmware_version=FIRMWARE,
                meter_type=METER_TYPE,
            )
        )
        return response.status, response.interval

    def heartbeat_interval(self) -> float:
        return float(self.state.config["HeartbeatInterval"][0])

    def set_heartbeat_interval(self, seconds: int) -> None:
        self.state.config["HeartbeatInterval"][0] = str(seconds)

    async def announce(self) -> None:
        await self._status_notification(0, "Available")
        await self._status_notification(CONNECTOR, self.state.status)

    async def send_status(self, status: str) -> None:
        await self._status_notification(CONNECTOR, status)

    async def _status_notification(self, connector_id: int, status: str) -> None:
        await self.send(
            call.StatusNotification(
                connector_id=connector_id, error_code="NoError", status=status, timestamp=iso()
            )
        )

    async def authorize(self, id_tag: str) -> bool:
        response = await self.send(call.Authorize(id_tag=id_tag))
        return bool(response.id_tag_info["status"] == "Accepted")

    async def begin_transaction(
        self, id_tag: str, meter_start: int, remote_start_id: int | None
    ) -> int | None:
        reservation = self.state.reservation
        response = await self.send(
            call.StartTransaction(
                connector_id=CONNECTOR,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=iso(),
                reservation_id=reservation[0] if reservation else None,
            )
        )
        if response.id_tag_info["status"] != "Accepted":
            _LOGGER.info("StartTransaction refused: %s", response.id_tag_info["status"])
            return None
        return int(response.transaction_id)

    async def end_transaction(self, transaction_id: Any, meter_stop: int, reason: str) -> None:
        await self.send(
            call.StopTransaction(
                transaction_id=transaction_id,
                meter_stop=meter_stop,
                timestamp=iso(),
                reason=reason,
                id_tag=self.id_tag,
            )
        )

    async def send_meter(self, samples: list[Sample], context: str) -> None:
        def sampled(sample: Sample) -> dict[str, str]:
            value = sample.value
            entry = {
                "value": str(round(value)) if sample.unit == "Wh" else f"{value:.1f}",
                "context": context,
                "measurand": sample.measurand,
                "unit": sample.unit,
                "location": sample.location,
            }
            if sample.phase:
                entry["phase"] = sample.phase
            return entry

        await self.send(
            call.MeterValues(
                connector_id=CONNECTOR,
                transaction_id=self.state.transaction_id,
                meter_value=[{"timestamp": iso(), "sampled_value": [sampled(s) for s in samples]}],
            )
        )

    async def send_heartbeat(self) -> None:
        await self.send(call.Heartbeat())

    async def send_firmware_status(self, status: str) -> None:
        await self.send(call.FirmwareStatusNotification(status=status))

    async def send_log_status(self, status: str) -> None:
        await self.send(call.DiagnosticsStatusNotification(status=status))

    async def triggered(self, message: str) -> None:
        if message == "BootNotification":
            if self.booted.is_set():
                await self.send(
                    call.BootNotification(
                        charge_point_vendor=VENDOR,
                        charge_point_model=MODEL,
                        charge_point_serial_number=SERIAL,
                        firmware_version=FIRMWARE,
                    )
                )
            else:
                self.boot_now.set()
        elif message == "Heartbeat":
            await self.send_heartbeat()
        elif message == "StatusNotification":
            await self.send_status(self.state.status)
        elif message == "MeterValues":
            await self.meter_values("Trigger")
        elif message == "FirmwareStatusNotification":
            await self.send_firmware_status("Idle")
        elif message == "DiagnosticsStatusNotification":
            await self.send_log_status("Idle")
