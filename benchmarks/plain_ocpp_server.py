"""A plain OCPP 1.6 central system, written the way the ``ocpp`` package's README shows it.

This is the yardstick of ``benchmarks/server_load.py --compare``: what "just use the ``ocpp``
library" costs per message and per charger. It is deliberately nothing more than the README's
pattern: ``websockets`` ``serve()`` with the ``ocpp1.6`` subprotocol, one
:class:`ocpp.v16.ChargePoint` subclass per connection, and one ``@on`` handler per action a
charger sends in a charging session. It accepts every charger and id tag, hands out incrementing
transaction ids, keeps no state and sends nothing of its own after boot (no configuration, no
charging profiles): every CPU cycle it spends is the library's parsing, validation and routing.

Two settings differ from the README, both to make the comparison fair rather than to make the
plain server faster or slower: per-message compression is off (``compression=None``, as in our
server; its zlib state would otherwise dominate memory per charger), and the keepalive ping
interval and timeout are whatever the caller passes (the benchmark passes our server's defaults, so
both servers send the same number of pings). The library's own defaults are kept otherwise
(schema validation in a thread, ``response_timeout`` 30 s).

Run it alone: ``.venv/bin/python benchmarks/plain_ocpp_server.py --port 9000``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ocpp import routing
from ocpp.v16 import ChargePoint, call_result, datatypes
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

_LOGGER = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 300
_transaction_ids = itertools.count(1)


def on[F: Callable[..., Any]](action: Action) -> Callable[[F], F]:
    """``ocpp.routing.on`` with a type (the ``ocpp`` package ships no type information)."""
    decorator: Callable[[F], F] = routing.on(action)
    return decorator


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _accepted() -> datatypes.IdTagInfo:
    return datatypes.IdTagInfo(status=AuthorizationStatus.accepted)


class PlainChargePoint(ChargePoint):  # type: ignore[misc]  # the ocpp package ships no types
    """One connected charger: a handler per action, every answer the simplest valid one."""

    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=_now(), interval=HEARTBEAT_INTERVAL_S, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kwargs: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    async def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **kwargs: Any
    ) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **kwargs: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=_accepted())

    @on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kwargs: Any
    ) -> call_result.StartTransaction:
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids), id_tag_info=_accepted()
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs: Any
    ) -> call_result.StopTransaction:
        return call_result.StopTransaction(id_tag_info=_accepted())

    @on(Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> call_result.MeterValues:
        return call_result.MeterValues()


class PlainCentralSystem:
    """The README's ``on_connect`` + ``serve()``, wrapped so a benchmark can start and stop it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9000,
        *,
        ping_interval_s: float | None = 20.0,
        ping_timeout_s: float | None = 20.0,
    ) -> None:
        self._host = host
        self._port = port
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._server: Server | None = None
        self.connections: set[ServerConnection] = set()

    async def on_connect(self, connection: ServerConnection) -> None:
        """For every charger that connects: a ChargePoint that listens until the socket closes."""
        if connection.subprotocol is None:
            _LOGGER.warning("no OCPP subprotocol requested; closing the connection")
            await connection.close()
            return
        assert connection.request is not None
        charge_point_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
        charge_point = PlainChargePoint(charge_point_id, connection)
        self.connections.add(connection)
        try:
            await charge_point.start()
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(connection)

    async def start(self) -> None:
        self._server = await serve(
            self.on_connect,
            self._host,
            self._port,
            subprotocols=[Subprotocol("ocpp1.6")],
            compression=None,
            ping_interval=self._ping_interval_s,
            ping_timeout=self._ping_timeout_s,
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


async def _main(host: str, port: int) -> None:
    central = PlainCentralSystem(host, port)
    await central.start()
    _LOGGER.warning("plain ocpp central system listening on ws://%s:%d/", host, central.port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_main(args.host, args.port))
