"""Incoming 1.6 actions, charger -> central system: one function per action.

Each handler translates the 1.6 payload (names, enums, units, int transaction ids) into one call on
:class:`~...charger_state.ChargerState` (where the version-agnostic rules live) and builds the 1.6
answer. :class:`Endpoint` at the bottom is the ``ocpp`` library's side: it routes each CALL here.

Library rules that shape this file (see ocpp-notes in the shared docs):
- never await a call inside an ``@on`` handler (the library handles CALLs inline: deadlock until
  the response timeout); follow-ups run in tasks started from ``@after`` hooks, after the answer;
- every handler returns its result dataclass (``None`` kills the library's receive loop);
- every handler accepts ``**kwargs`` (optional fields and future additions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ocpp import routing
from ocpp.v16 import ChargePoint as _OcppChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.meter import parse_meter_values
from custom_components.ocpp_ems.core.model import ChargerInfo, ConnectorStatus
from custom_components.ocpp_ems.core.protocol.frames import FrameGuard
from custom_components.ocpp_ems.core.protocol.rpc import WireLogger
from custom_components.ocpp_ems.core.timeutil import format_timestamp, parse_timestamp, utcnow

if TYPE_CHECKING:
    from .session import V16Session

# How long a Pending charger waits before booting again (it is also told so in the Pending answer).
PENDING_RETRY_S = 60

# 1.6 ChargePointStatus -> model status (anything else: UNKNOWN).
_STATUS = {
    "Available": ConnectorStatus.AVAILABLE,
    "Preparing": ConnectorStatus.PREPARING,
    "Charging": ConnectorStatus.CHARGING,
    "SuspendedEV": ConnectorStatus.SUSPENDED_EV,
    "SuspendedEVSE": ConnectorStatus.SUSPENDED_EVSE,
    "Finishing": ConnectorStatus.FINISHING,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
}
# Set by V16Session.call inside the task of one outgoing CALL: Endpoint._send appends the frame, so
# the caller can tell a payload the library refused to send from a charger's CallError.
OUTGOING_FRAMES: ContextVar[list[str] | None] = ContextVar("ocpp_ems_outgoing_frames", default=None)
# A StopTransaction without a reason: the spec's default.
_DEFAULT_STOP_REASON = "Local"
# The logger the library writes frames to (DEBUG) and bad input (WARNING once per kind).
WIRE_LOGGER = __name__.rpartition(".")[0] + ".wire"


def _id_tag_info(accepted: bool) -> dict[str, str]:
    return {"status": "Accepted" if accepted else "Invalid"}


# --- Core ----------------------------------------------------------------------------------------
def boot_notification(session: V16Session, **kwargs: Any) -> call_result.BootNotification:
    info = ChargerInfo(
        vendor=kwargs.get("charge_point_vendor"),
        model=kwargs.get("charge_point_model"),
        serial_number=kwargs.get("charge_point_serial_number")
        or kwargs.get("charge_box_serial_number"),
        firmware_version=kwargs.get("firmware_version"),
        iccid=kwargs.get("iccid"),
        meter_type=kwargs.get("meter_type"),
    )
    admission = session.state.record_boot(info)
    session.provisioning.on_boot(accepted=admission is Admission.ACCEPTED)
    interval = PENDING_RETRY_S
    if admission is Admission.ACCEPTED:
        status = "Accepted"
        interval = session.context.server_settings.heartbeat_interval_s
    elif admission is Admission.PENDING:
        status = "Pending"
    else:
        status = "Rejected"
    return call_result.BootNotification(
        current_time=format_timestamp(utcnow()), interval=interval, status=status
    )


def heartbeat(session: V16Session, **kwargs: Any) -> call_result.Heartbeat:
    now = session.state.record_heartbeat()
    return call_result.Heartbeat(current_time=format_timestamp(now))


def status_notification(
    session: V16Session,
    connector_id: int,
    error_code: str,
    status: str,
    timestamp: str | None = None,
    **kwargs: Any,
) -> call_result.StatusNotification:
    session.state.record_status(
        connector_id,
        _STATUS.get(status, ConnectorStatus.UNKNOWN),
        timestamp=None if timestamp is None else parse_timestamp(timestamp),
        error_code=None if error_code == "NoError" else error_code,
        vendor_error_code=kwargs.get("vendor_error_code"),
        info=kwargs.get("info"),
    )
    return call_result.StatusNotification()


def authorize(session: V16Session, id_tag: str, **kwargs: Any) -> call_result.Authorize:
    return call_result.Authorize(id_tag_info=_id_tag_info(session.state.authorize(id_tag)))


def start_transaction(
    session: V16Session,
    connector_id: int,
    id_tag: str,
    meter_start: int,
    timestamp: str,
    **kwargs: Any,
) -> call_result.StartTransaction:
    state = session.state
    started = parse_timestamp(timestamp)
    repeated = state.repeated_start(connector_id, id_tag, float(meter_start), started)
    if repeated is not None:
        # Our answer got lost and the charger asks again: the same transaction, the same id.
        accepted = state.authorize(id_tag, connector_id, events=False)
        return call_result.StartTransaction(
            transaction_id=int(repeated.transaction_id), id_tag_info=_id_tag_info(accepted)
        )
    accepted = state.authorize_start(id_tag, connector_id)
    transaction = state.start_transaction(
        connector_id,
        str(session.new_transaction_id()),
        id_tag=id_tag,
        started=started,
        meter_start_wh=float(meter_start),
        authorized=accepted,
    )
    return call_result.StartTransaction(
        transaction_id=int(transaction.transaction_id), id_tag_info=_id_tag_info(accepted)
    )


def stop_transaction(
    session: V16Session, meter_stop: int, timestamp: str, transaction_id: int, **kwargs: Any
) -> call_result.StopTransaction:
    session.state.end_transaction(
        str(transaction_id),
        ended=parse_timestamp(timestamp),
        reason=kwargs.get("reason") or _DEFAULT_STOP_REASON,
        meter_stop_wh=float(meter_stop),
        readings=parse_meter_values(kwargs.get("transaction_data")),
    )
    id_tag = kwargs.get("id_tag")
    accepted = None if id_tag is None else session.state.authorize(id_tag, events=False)
    return call_result.StopTransaction(
        id_tag_info=None if accepted is None else _id_tag_info(accepted)
    )


def meter_values(
    session: V16Session, connector_id: int, meter_value: list[Any], **kwargs: Any
) -> call_result.MeterValues:
    transaction_id = kwargs.get("transaction_id")
    session.state.record_meter(
        connector_id,
        parse_meter_values(meter_value),
        None if transaction_id is None else str(transaction_id),
    )
    return call_result.MeterValues()


def data_transfer(session: V16Session, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
    # Accepted: the data was received and handed to Home Assistant as an event (we implement no
    # vendor extension ourselves; automations decide what it means).
    session.state.record_data_transfer(vendor_id, kwargs.get("message_id"), kwargs.get("data"))
    return call_result.DataTransfer(status="Accepted")


# --- Firmware Management -------------------------------------------------------------------------
def firmware_status_notification(
    session: V16Session, status: str, **kwargs: Any
) -> call_result.FirmwareStatusNotification:
    session.state.record_firmware_status(status)
    return call_result.FirmwareStatusNotification()


def diagnostics_status_notification(
    session: V16Session, status: str, **kwargs: Any
) -> call_result.DiagnosticsStatusNotification:
    session.state.record_diagnostics_status(status)
    return call_result.DiagnosticsStatusNotification()


# --- routing -------------------------------------------------------------------------------------
_F = TypeVar("_F", bound=Callable[..., Any])


def _on(action: str) -> Callable[[_F], _F]:
    return cast(Callable[[_F], _F], routing.on(action))


def _after(action: str) -> Callable[[_F], _F]:
    return cast(Callable[[_F], _F], routing.after(action))


class Endpoint(_OcppChargePoint):  # type: ignore[misc]  # the ocpp package is untyped
    """The ``ocpp`` library side: receives frames and routes each CALL to its handler above."""

    def __init__(self, session: V16Session, connection: FrameGuard, timeout: float) -> None:
        charger_id = session.charger.charger_id
        super().__init__(
            charger_id,
            connection,
            response_timeout=timeout,
            logger=WireLogger(WIRE_LOGGER, charger_id),
        )
        self._session = session
        self._guard = connection

    async def _send(self, message: str) -> None:
        frames = OUTGOING_FRAMES.get()
        if frames is not None:
            frames.append(message)
        await super()._send(message)

    async def route_message(self, raw_msg: str) -> None:
        self._session.state.record_seen()
        try:
            await super().route_message(raw_msg)
        except ConnectionClosed:
            raise
        except Exception as err:
            # The library answers OCPPErrors and handler exceptions itself; anything else (its
            # own conversion code failing on an odd payload) would end its receive loop and
            # leave the CALL unanswered.
            await self._guard.answer_internal_error(err)

    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:  # noqa: ASYNC109 - the library's signature
        """The answer to our CALL ``unique_id``. The library's version re-queues and recurses on
        every other answer; the guard passes only answers to calls we wait for, and one that
        still does not match (it arrived after its call timed out) is dropped here."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                response = await asyncio.wait_for(self._response_queue.get(), remaining)
                if response.unique_id == unique_id:
                    return response
                self._guard.drop_stray(str(response.unique_id))
        finally:
            self._guard.forget(unique_id)

    @_on(Action.boot_notification)
    def _boot_notification(self, **kwargs: Any) -> Any:
        return boot_notification(self._session, **kwargs)

    @_after(Action.boot_notification)
    def _after_boot_notification(self, **kwargs: Any) -> None:
        self._session.provisioning.after_boot()

    @_on(Action.heartbeat)
    def _heartbeat(self, **kwargs: Any) -> Any:
        return heartbeat(self._session, **kwargs)

    @_on(Action.status_notification)
    def _status_notification(self, **kwargs: Any) -> Any:
        return status_notification(self._session, **kwargs)

    @_on(Action.authorize)
    def _authorize(self, **kwargs: Any) -> Any:
        return authorize(self._session, **kwargs)

    @_on(Action.start_transaction)
    def _start_transaction(self, **kwargs: Any) -> Any:
        return start_transaction(self._session, **kwargs)

    @_on(Action.stop_transaction)
    def _stop_transaction(self, **kwargs: Any) -> Any:
        return stop_transaction(self._session, **kwargs)

    @_on(Action.meter_values)
    def _meter_values(self, **kwargs: Any) -> Any:
        return meter_values(self._session, **kwargs)

    @_on(Action.data_transfer)
    def _data_transfer(self, **kwargs: Any) -> Any:
        return data_transfer(self._session, **kwargs)

    @_on(Action.firmware_status_notification)
    def _firmware_status_notification(self, **kwargs: Any) -> Any:
        return firmware_status_notification(self._session, **kwargs)

    @_on(Action.diagnostics_status_notification)
    def _diagnostics_status_notification(self, **kwargs: Any) -> Any:
        return diagnostics_status_notification(self._session, **kwargs)
