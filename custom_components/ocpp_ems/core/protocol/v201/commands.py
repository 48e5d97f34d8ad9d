"""Outgoing 2.x actions (CSMS -> charging station): every ChargerSession command."""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Any

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.errors import CommandNotSupportedError
from custom_components.ocpp_ems.core.model import Charger, ChargingRateUnit
from custom_components.ocpp_ems.core.protocol.rpc import Payload
from custom_components.ocpp_ems.core.session import ChargerSession, LimitRequest


class V201Commands(ChargerSession):
    """The outgoing half of the 2.x adapter (mixed into :class:`~.session.V201Session`)."""

    charger: Charger
    state: ChargerState

    @abstractmethod
    async def call(self, action: str, payload: Payload) -> Payload:
        """Send one CALL; return the charging station's result payload."""

    # SKELETON: every command below is to be implemented (issue 9).
    async def reset(self, *, hard: bool = False) -> None:
        raise CommandNotSupportedError("Reset")

    async def unlock(self, connector_id: int) -> None:
        raise CommandNotSupportedError("UnlockConnector")

    async def remote_start(self, connector_id: int, id_tag: str) -> None:
        raise CommandNotSupportedError("RequestStartTransaction")

    async def remote_stop(self, transaction_id: str) -> None:
        raise CommandNotSupportedError("RequestStopTransaction")

    async def get_configuration(self, keys: list[str] | None = None) -> dict[str, Any]:
        raise CommandNotSupportedError("GetVariables")

    async def set_configuration(self, key: str, value: str) -> str:
        raise CommandNotSupportedError("SetVariables")

    async def trigger_message(self, message: str, connector_id: int | None = None) -> None:
        raise CommandNotSupportedError("TriggerMessage")

    async def data_transfer(
        self, vendor_id: str, message_id: str | None, data: str | None
    ) -> dict[str, Any]:
        raise CommandNotSupportedError("DataTransfer")

    async def update_firmware(
        self, location: str, retrieve_date: datetime, retries: int | None = None
    ) -> None:
        raise CommandNotSupportedError("UpdateFirmware")

    async def request_diagnostics(self, location: str) -> str | None:
        raise CommandNotSupportedError("GetLog")

    async def send_local_list(self, id_tags: list[str], version: int) -> None:
        raise CommandNotSupportedError("SendLocalList")

    async def get_local_list_version(self) -> int:
        raise CommandNotSupportedError("GetLocalListVersion")

    async def reserve_now(
        self, connector_id: int, id_tag: str, expiry: datetime, reservation_id: int
    ) -> None:
        raise CommandNotSupportedError("ReserveNow")

    async def cancel_reservation(self, reservation_id: int) -> None:
        raise CommandNotSupportedError("CancelReservation")

    async def set_limit_profile(self, request: LimitRequest) -> None:
        raise CommandNotSupportedError("SetChargingProfile")

    async def set_raw_profile(self, connector_id: int, profile: dict[str, Any]) -> None:
        raise CommandNotSupportedError("SetChargingProfile")

    async def clear_profiles(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> None:
        raise CommandNotSupportedError("ClearChargingProfile")

    async def get_composite_limit(
        self, connector_id: int, duration_s: int = 60, unit: ChargingRateUnit | None = None
    ) -> float | None:
        raise CommandNotSupportedError("GetCompositeSchedule")
