"""Outgoing 1.6 actions (central system -> charger): every ChargerSession command.

:class:`V16Commands` builds each payload, sends it through :meth:`V16Commands.call` (implemented by
:class:`~.session.V16Session`: feature-profile check, error mapping, fail fast on close) and turns
the answer into a return value or a :class:`~...errors.CommandRejectedError`.

The security extension (OCPP 1.6 security whitepaper): the commands it shares with 2.x come from
:class:`~..shared_commands.SharedCommands`; GetInstalledCertificateIds (one certificate type
per CALL), the ``SecurityProfile`` key and ExtendedTriggerMessage (for LogStatusNotification and
SignChargePointCertificate, which TriggerMessage lacks) are 1.6's own. 1.6 has no network
profiles: a charger moves to TLS (profile 2 or 3) when it is given the ``wss://`` URL of the
central system in its own settings (no standard key) and ``SecurityProfile``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.errors import (
    CommandNotSupportedError,
    CommandRejectedError,
    InvalidCommandError,
)
from custom_components.ocpp_ems.core.model import Charger, ChargingRateUnit
from custom_components.ocpp_ems.core.protocol.common import (
    AVAILABILITY_OK,
    ID_TAG_MAX_LENGTH,
    availability,
    int_or_none,
    local_list_updates,
    names_a_secret,
)
from custom_components.ocpp_ems.core.protocol.common import without_none as _without_none
from custom_components.ocpp_ems.core.protocol.profiles import composite_schedule
from custom_components.ocpp_ems.core.protocol.rpc import Payload, expect
from custom_components.ocpp_ems.core.protocol.shared_commands import SharedCommands
from custom_components.ocpp_ems.core.session import (
    CSMS_ROOT_CERTIFICATE,
    MANUFACTURER_ROOT_CERTIFICATE,
    CertificateHashData,
    CompositeSchedule,
    InstalledCertificate,
    LimitRequest,
)
from custom_components.ocpp_ems.core.timeutil import format_timestamp

from .capabilities import CORE, FIRMWARE, LOCAL_AUTH, REMOTE_TRIGGER, RESERVATION, SMART_CHARGING
from .charging_profiles import PURPOSES, build_limit_profile
from .provisioning import SECURITY_PROFILE_KEY

_CONFIG_OK = ("Accepted", "RebootRequired")
# Certificate types: the version-agnostic (2.x) names -> 1.6's.
CERTIFICATE_TYPES = {
    CSMS_ROOT_CERTIFICATE: "CentralSystemRootCertificate",
    MANUFACTURER_ROOT_CERTIFICATE: "ManufacturerRootCertificate",
}
_CERTIFICATE_TYPE_NAMES = {v16: name for name, v16 in CERTIFICATE_TYPES.items()}
# Messages only ExtendedTriggerMessage (security extension) triggers; 2.x names are understood.
EXTENDED_TRIGGERS = {
    "LogStatusNotification": "LogStatusNotification",
    "SignChargePointCertificate": "SignChargePointCertificate",
    "SignChargingStationCertificate": "SignChargePointCertificate",
}
SECURITY_PROFILES = range(4)


class V16Commands(SharedCommands):
    """The outgoing half of the 1.6 adapter (mixed into :class:`~.session.V16Session`)."""

    CSMS_ROOT_TYPE = CERTIFICATE_TYPES[CSMS_ROOT_CERTIFICATE]
    CLIENT_CERTIFICATE_TRIGGER = ("ExtendedTriggerMessage", "SignChargePointCertificate")
    SIGNED_FIRMWARE_ACTION = "SignedUpdateFirmware"

    charger: Charger
    state: ChargerState

    @abstractmethod
    async def call(self, action: str, payload: Payload, profile: str = CORE) -> Payload:
        """Send one CALL of feature ``profile``; return the charger's result payload."""

    # --- core ------------------------------------------------------------------------------------
    async def reset(self, *, hard: bool = False) -> None:
        result = await self.call("Reset", {"type": "Hard" if hard else "Soft"})
        expect("Reset", result["status"])

    async def unlock(self, connector_id: int) -> None:
        result = await self.call("UnlockConnector", {"connectorId": connector_id})
        expect("UnlockConnector", result["status"], ("Unlocked",))

    async def remote_start(self, connector_id: int, id_tag: str) -> None:
        result = await self.call(
            "RemoteStartTransaction",
            _without_none({"idTag": id_tag, "connectorId": connector_id or None}),
        )
        expect("RemoteStartTransaction", result["status"])

    async def remote_stop(self, transaction_id: str) -> None:
        try:
            number = int(transaction_id)
        except ValueError:
            raise CommandRejectedError("RemoteStopTransaction", "UnknownTransaction") from None
        result = await self.call("RemoteStopTransaction", {"transactionId": number})
        expect("RemoteStopTransaction", result["status"])

    async def change_availability(self, connector_id: int | None, *, operative: bool) -> str:
        """Connector 0 (or None) is the whole charger."""
        result = await self.call(
            "ChangeAvailability",
            {"connectorId": connector_id or 0, "type": availability(operative)},
        )
        return expect("ChangeAvailability", result["status"], AVAILABILITY_OK)

    async def clear_cache(self) -> None:
        result = await self.call("ClearCache", {})
        expect("ClearCache", result["status"])

    async def get_configuration(self, keys: list[str] | None = None) -> dict[str, Any]:
        result = await self.call("GetConfiguration", {"key": keys} if keys else {})
        configuration: dict[str, Any] = {}
        for entry in result.get("configurationKey", []):
            key = entry["key"]
            value = entry.get("value")
            value = None if value is None or names_a_secret(key) else value
            configuration[key] = {"value": value, "readonly": entry["readonly"]}
        self.state.record_configuration(
            {key: entry["value"] for key, entry in configuration.items()}
        )
        return {"configuration": configuration, "unknown": list(result.get("unknownKey", []))}

    async def set_configuration(self, key: str, value: str) -> str:
        result = await self.call("ChangeConfiguration", {"key": key, "value": value})
        status = expect("ChangeConfiguration", result["status"], _CONFIG_OK)
        self.state.record_configuration({key: None if names_a_secret(key) else value})
        return status

    async def trigger_message(self, message: str, connector_id: int | None = None) -> None:
        """TriggerMessage; ExtendedTriggerMessage for the messages only it has."""
        extended = EXTENDED_TRIGGERS.get(message)
        if extended is not None:
            await self.security_call(
                "ExtendedTriggerMessage",
                _without_none({"requestedMessage": extended, "connectorId": connector_id}),
            )
            return
        result = await self.call(
            "TriggerMessage",
            _without_none({"requestedMessage": message, "connectorId": connector_id}),
            REMOTE_TRIGGER,
        )
        expect("TriggerMessage", result["status"])

    # --- firmware / diagnostics ------------------------------------------------------------------
    async def update_firmware(
        self, location: str, retrieve_date: datetime, retries: int | None = None
    ) -> None:
        await self.call(
            "UpdateFirmware",
            _without_none(
                {
                    "location": location,
                    "retrieveDate": format_timestamp(retrieve_date),
                    "retries": retries,
                }
            ),
            FIRMWARE,
        )

    async def request_diagnostics(self, location: str) -> str | None:
        result = await self.call("GetDiagnostics", {"location": location}, FIRMWARE)
        file_name: str | None = result.get("fileName")
        return file_name

    # --- security extension ----------------------------------------------------------------------
    async def get_installed_certificate_ids(
        self, types: Sequence[str] | None = None
    ) -> list[InstalledCertificate]:
        """One GetInstalledCertificateIds per type (1.6 asks for one at a time)."""
        installed: list[InstalledCertificate] = []
        for wanted in types or tuple(CERTIFICATE_TYPES):
            certificate_type = CERTIFICATE_TYPES.get(wanted, wanted)
            result = await self.security_call(
                "GetInstalledCertificateIds",
                {"certificateType": certificate_type},
                ("Accepted", "NotFound"),
            )
            name = _CERTIFICATE_TYPE_NAMES.get(certificate_type, certificate_type)
            installed.extend(
                InstalledCertificate(
                    certificate_type=name, hash_data=CertificateHashData.from_payload(item)
                )
                for item in result.get("certificateHashData", [])
            )
        return installed

    async def set_security_profile(self, profile: int) -> str:
        """``SecurityProfile`` (the charger refuses a lower one than it has, and one it lacks the
        prerequisites of: our CA as its root for 2, its client certificate for 3); accepted, it
        disconnects and connects again with the new profile."""
        if profile not in SECURITY_PROFILES:
            raise InvalidCommandError("ChangeConfiguration", f"no security profile {profile}")
        return await self.set_configuration(SECURITY_PROFILE_KEY, str(profile))

    async def set_network_profile(
        self,
        slot: int,
        url: str,
        security_profile: int,
        *,
        interface: str = "Wired0",
        message_timeout_s: int = 30,
    ) -> None:
        raise CommandNotSupportedError(
            "SetNetworkProfile",
            "OCPP 1.6 has no network profiles: set the SecurityProfile key, and the central "
            "system URL in the charger's own settings",
        )

    # --- local auth list / reservation -----------------------------------------------------------
    async def send_local_list(self, id_tags: list[str], version: int) -> None:
        for update in local_list_updates(
            self.charger.charger_id,
            id_tags,
            version,
            max_length=ID_TAG_MAX_LENGTH["1.6"],
            storage=self.charger.capabilities.local_auth_list_max,
            per_message=int_or_none(self.charger.configuration.get("SendLocalListMaxLength")),
        ):
            entries = [
                {"idTag": tag, "idTagInfo": {"status": "Accepted"}} for tag in update.id_tags
            ]
            result = await self.call(
                "SendLocalList",
                {
                    "listVersion": update.version,
                    "updateType": update.update_type,
                    "localAuthorizationList": entries,
                },
                LOCAL_AUTH,
            )
            expect("SendLocalList", result["status"])

    async def get_local_list_version(self) -> int:
        result = await self.call("GetLocalListVersion", {}, LOCAL_AUTH)
        version: int = result["listVersion"]
        return version

    async def _send_reserve_now(
        self, connector_id: int, id_tag: str, expiry: datetime, reservation_id: int
    ) -> None:
        result = await self.call(
            "ReserveNow",
            {
                "connectorId": connector_id,
                "expiryDate": format_timestamp(expiry),
                "idTag": id_tag,
                "reservationId": reservation_id,
            },
            RESERVATION,
        )
        expect("ReserveNow", result["status"])

    async def _send_cancel_reservation(self, reservation_id: int) -> None:
        result = await self.call(
            "CancelReservation", {"reservationId": reservation_id}, RESERVATION
        )
        expect("CancelReservation", result["status"])

    # --- smart charging --------------------------------------------------------------------------
    async def set_limit_profile(self, request: LimitRequest) -> None:
        profile = build_limit_profile(request)
        await self.write_limit(
            request,
            0 if request.purpose == "charger_max" else request.connector_id,
            lambda connector_id: self._set_profile(connector_id, profile),
        )

    async def set_raw_profile(self, connector_id: int, profile: dict[str, Any]) -> None:
        await self._set_profile(connector_id, profile)

    async def _set_profile(self, connector_id: int, profile: dict[str, Any]) -> None:
        result = await self.call(
            "SetChargingProfile",
            {"connectorId": connector_id, "csChargingProfiles": profile},
            SMART_CHARGING,
        )
        expect("SetChargingProfile", result["status"])

    async def clear_profiles(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> None:
        result = await self.call(
            "ClearChargingProfile",
            _without_none(
                {
                    "id": profile_id,
                    "connectorId": connector_id,
                    "chargingProfilePurpose": (
                        None if purpose is None else PURPOSES.get(purpose, purpose)
                    ),
                    "stackLevel": stack_level,
                }
            ),
            SMART_CHARGING,
        )
        expect("ClearChargingProfile", result["status"])

    async def get_composite_schedule(
        self, connector_id: int, duration_s: int, unit: ChargingRateUnit | None = None
    ) -> CompositeSchedule | None:
        result = await self.call(
            "GetCompositeSchedule",
            _without_none(
                {
                    "connectorId": connector_id,
                    "duration": duration_s,
                    "chargingRateUnit": None if unit is None else unit.value,
                }
            ),
            SMART_CHARGING,
        )
        expect("GetCompositeSchedule", result["status"])
        schedule = result.get("chargingSchedule")
        start = result.get("scheduleStart") or (schedule or {}).get("startSchedule")
        return composite_schedule(result.get("connectorId", connector_id), schedule, start)

    async def get_composite_limit(
        self, connector_id: int, duration_s: int = 60, unit: ChargingRateUnit | None = None
    ) -> float | None:
        schedule = await self.get_composite_schedule(connector_id, duration_s, unit)
        if schedule is None or (unit is not None and schedule.unit is not unit):
            return None  # none, or in the other unit: not comparable without assumptions
        first = schedule.first
        return None if first is None else first.limit
