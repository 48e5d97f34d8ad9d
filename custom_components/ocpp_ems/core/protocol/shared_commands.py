"""Outgoing commands with the same payload in 1.6 (with its security extension) and 2.x:
DataTransfer, and the security commands InstallCertificate, DeleteCertificate, GetLog, the signed
firmware update, the trigger of a new certificate signing request; and where a limit profile goes
(:meth:`SharedCommands.write_limit`: the connector-0 fallback of one-outlet chargers). Both
versions' commands mixins build on :class:`SharedCommands`; what differs is a class constant (the
CSMS root's certificate type, the action that triggers a CSR, the action of a signed firmware
update).

A charger without the messages (a 1.6 charger without the security extension answers a CALLERROR
NotImplemented / NotSupported, a trigger it lacks is answered NotImplemented) raises
:class:`~..errors.CommandNotSupportedError`; any other status than the accepted ones
:class:`~..errors.CommandRejectedError` (with the 2.x ``statusInfo`` reason code).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from custom_components.ocpp_ems.core.charger_state import RESERVATION_CANCELLED, ChargerState
from custom_components.ocpp_ems.core.errors import (
    CommandNotSupportedError,
    CommandRejectedError,
    InvalidCommandError,
)
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.reservations import Reservation
from custom_components.ocpp_ems.core.session import (
    CertificateHashData,
    ChargerSession,
    LimitRequest,
    SessionContext,
    SignedFirmware,
    next_request_id,
)
from custom_components.ocpp_ems.core.timeutil import format_timestamp

from .common import expect_status, without_none
from .rpc import Payload

# CALLERROR codes of a charger that does not know or handle an action (every version).
_NOT_IMPLEMENTED = frozenset({"NotImplemented", "NotSupported"})
# GetLog / firmware updates: AcceptedCanceled = accepted, an earlier one was cancelled for it.
_ACCEPTED_CANCELED = ("Accepted", "AcceptedCanceled")

_LOGGER = logging.getLogger(__name__)


class SharedCommands(ChargerSession):
    """The commands every version sends alike (see the module docstring)."""

    charger: Charger
    context: SessionContext
    state: ChargerState

    # InstallCertificate's type of our CA (1.6 CentralSystemRootCertificate, 2.x CSMSRoot...).
    CSMS_ROOT_TYPE: ClassVar[str]
    # (action, requestedMessage) that makes the charger send a certificate signing request.
    CLIENT_CERTIFICATE_TRIGGER: ClassVar[tuple[str, str]]
    # The action of a signed firmware update (1.6 SignedUpdateFirmware, 2.x UpdateFirmware).
    SIGNED_FIRMWARE_ACTION: ClassVar[str]
    # Learned on this connection: the charger takes charger-wide TxDefault profiles only on its
    # one outlet (see write_limit).
    _defaults_on_outlet: bool = False

    @abstractmethod
    async def call(self, action: str, payload: Payload) -> Payload:
        """Send one CALL; return the charger's result payload."""

    async def security_call(
        self, action: str, payload: Payload, accepted: Sequence[str] = ("Accepted",)
    ) -> Payload:
        """One CALL whose answer must have an ``accepted`` status (see the module docstring)."""
        try:
            result = await self.call(action, payload)
        except CommandRejectedError as err:
            if err.status in _NOT_IMPLEMENTED:
                raise CommandNotSupportedError(
                    action, f"the charger answered {err.status}"
                ) from None
            raise
        if result.get("status") == "NotImplemented":
            raise CommandNotSupportedError(action, "the charger does not implement it")
        expect_status(action, result, accepted)
        return result

    async def data_transfer(
        self, vendor_id: str, message_id: str | None, data: str | None
    ) -> dict[str, Any]:
        """A vendor's message; the charger's status and data (its meaning is the vendor's)."""
        result = await self.call(
            "DataTransfer",
            without_none({"vendorId": vendor_id, "messageId": message_id, "data": data}),
        )
        return {"status": result["status"], "data": result.get("data")}

    # --- reservations ----------------------------------------------------------------------------
    async def reserve_now(
        self, connector_id: int, id_tag: str, expiry: datetime, reservation_id: int
    ) -> None:
        await self._send_reserve_now(connector_id, id_tag, expiry, reservation_id)
        self.state.record_reservation_made(
            Reservation(reservation_id, connector_id, id_tag, expiry.astimezone(UTC))
        )

    async def cancel_reservation(self, reservation_id: int) -> None:
        await self._send_cancel_reservation(reservation_id)
        self.state.record_reservation_status(reservation_id, RESERVATION_CANCELLED)

    @abstractmethod
    async def _send_reserve_now(
        self, connector_id: int, id_tag: str, expiry: datetime, reservation_id: int
    ) -> None:
        """ReserveNow in the version's words; raises unless the charger accepted it."""

    @abstractmethod
    async def _send_cancel_reservation(self, reservation_id: int) -> None:
        """CancelReservation in the version's words; raises unless the charger accepted it."""

    # --- smart charging --------------------------------------------------------------------------
    async def write_limit(
        self, request: LimitRequest, target: int, write: Callable[[int], Awaitable[None]]
    ) -> None:
        """Set ``request``'s profile with ``write`` on connector (1.6) / EVSE (2.x) ``target``.

        A charger-wide (``target`` 0) TxDefault profile that a one-outlet charger refuses
        (firmware that knows no "whole charger") goes to its outlet, the same thing there; learned
        for the connection, so later ones go to the outlet straight away."""
        outlet = self._only_outlet() if target == 0 and request.purpose != "charger_max" else None
        if outlet is not None and self._defaults_on_outlet:
            await write(outlet)
            return
        try:
            await write(target)
        except CommandRejectedError as refused:
            if outlet is None:
                raise
            await write(outlet)
            self._defaults_on_outlet = True
            _LOGGER.info(
                "%s: refuses TxDefault profiles for the whole charger (%s); writing them to %s",
                self.charger.charger_id,
                refused.status,
                outlet,
            )

    def _only_outlet(self) -> int | None:
        """The outlet of a one-outlet charger (None: several, where 0 means all of them)."""
        outlets = self.charger.outlet_ids
        return outlets[0] if len(outlets) == 1 else None

    # --- certificates ----------------------------------------------------------------------------
    async def install_root_certificate(self, pem: str | None = None) -> None:
        if pem is None:
            service = self.context.certificates
            pem = None if service is None else service.root_certificate_pem()
            if pem is None:
                raise InvalidCommandError(
                    "InstallCertificate", "no certificate authority is set up"
                )
        await self.security_call(
            "InstallCertificate", {"certificateType": self.CSMS_ROOT_TYPE, "certificate": pem}
        )

    async def delete_certificate(self, hash_data: CertificateHashData) -> None:
        await self.security_call("DeleteCertificate", {"certificateHashData": hash_data.payload()})

    async def request_new_client_certificate(self) -> None:
        action, message = self.CLIENT_CERTIFICATE_TRIGGER
        await self.security_call(action, {"requestedMessage": message})

    # --- firmware / logs -------------------------------------------------------------------------
    async def signed_update_firmware(
        self,
        firmware: SignedFirmware,
        *,
        retries: int | None = None,
        retry_interval_s: int | None = None,
    ) -> None:
        await self.send_firmware(
            self.SIGNED_FIRMWARE_ACTION,
            {
                "location": firmware.location,
                "retrieveDateTime": format_timestamp(firmware.retrieve_date),
                "installDateTime": (
                    None
                    if firmware.install_date is None
                    else format_timestamp(firmware.install_date)
                ),
                "signingCertificate": firmware.signing_certificate,
                "signature": firmware.signature,
            },
            retries=retries,
            retry_interval_s=retry_interval_s,
        )

    async def send_firmware(
        self,
        action: str,
        firmware: Payload,
        *,
        retries: int | None = None,
        retry_interval_s: int | None = None,
    ) -> None:
        """A firmware update with a request id (1.6 SignedUpdateFirmware, 2.x UpdateFirmware):
        ``firmware`` is its FirmwareType (None fields are left out)."""
        await self.security_call(
            action,
            without_none(
                {
                    "requestId": next_request_id(),
                    "firmware": without_none(firmware),
                    "retries": retries,
                    "retryInterval": retry_interval_s,
                }
            ),
            _ACCEPTED_CANCELED,
        )

    async def get_log(
        self,
        log_type: str,
        location: str,
        *,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        retries: int | None = None,
        retry_interval_s: int | None = None,
    ) -> str | None:
        log = without_none(
            {
                "remoteLocation": location,
                "oldestTimestamp": None if oldest is None else format_timestamp(oldest),
                "latestTimestamp": None if latest is None else format_timestamp(latest),
            }
        )
        result = await self.security_call(
            "GetLog",
            without_none(
                {
                    "logType": log_type,
                    "requestId": next_request_id(),
                    "log": log,
                    "retries": retries,
                    "retryInterval": retry_interval_s,
                }
            ),
            _ACCEPTED_CANCELED,
        )
        file_name: str | None = result.get("filename")
        return file_name
