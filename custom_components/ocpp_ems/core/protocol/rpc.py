"""OCPP-J plumbing every version's adapter shares: outgoing calls, background tasks, wire logging.

- :class:`SessionTasks` sends CALLs through the ``ocpp`` library and turns its outcomes into our
  errors (:mod:`..errors`); on close it fails every pending call at once (the library would wait
  out its response timeout) and cancels the session's background tasks.
- :class:`WireLogger` is the logger handed to the library: frames at DEBUG (Home Assistant logs
  stay quiet at INFO), secrets redacted, a charger's bad input logged once per kind.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from ocpp.exceptions import OCPPError
from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandRejectedError,
    CommandTimeoutError,
)

# Secret values inside frames: 1.6 ChangeConfiguration / GetConfiguration of AuthorizationKey
# (either field order). A 2.0.1 adapter adds its BasicAuthPassword variable here.
_SECRET_IN_FRAME = (
    re.compile(r'("AuthorizationKey"[^{}]*?"value"\s*:\s*")[^"]*'),
    re.compile(r'("value"\s*:\s*")[^"]*("[^{}]*?"AuthorizationKey")'),
)


# The library's warning for every CALLERROR answer to one of our calls.
_CALL_ERROR_RECEIVED = "Received a CALLError: %s'"


def redact(text: str) -> str:
    """A frame with secret configuration values replaced by ``***`` (safe to log)."""
    for pattern in _SECRET_IN_FRAME:
        text = pattern.sub(
            lambda m: m.group(1) + "***" + (m.group(2) if m.lastindex == 2 else ""), text
        )
    return text


class WireLogger(logging.LoggerAdapter[logging.Logger]):
    """The logger handed to the ``ocpp`` library (one per session).

    The library logs every frame at INFO (moved to DEBUG here; the AuthorizationKey kept out) and
    every rejected CALL with a traceback. A charger's bad input is logged once per kind at warning
    level, without a traceback (it is not our bug), and at debug level afterwards; our own
    exceptions keep theirs.
    """

    def __init__(self, name: str, charger_id: str) -> None:
        super().__init__(logging.getLogger(name))
        self._charger_id = charger_id
        self._seen: set[tuple[object, str]] = set()

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if level == logging.INFO or msg == _CALL_ERROR_RECEIVED:
            # "send ..." / "receive message ...": one line per frame. A CALLERROR answer is
            # raised to the caller as CommandRejectedError, which decides how loud it is.
            level = logging.DEBUG
        if level >= logging.WARNING:
            error = sys.exc_info()[1]
            if isinstance(error, OCPPError):
                kwargs.pop("exc_info", None)
                kind = (msg, type(error).__name__)
                level = logging.DEBUG if kind in self._seen else logging.WARNING
                self._seen.add(kind)
                args = (*args, error)
                msg = f"{msg}: %s"
        if self.isEnabledFor(level):
            clean = tuple(redact(a) if isinstance(a, str) else a for a in args)
            self.logger.log(level, msg, *clean, **kwargs)


class SessionTasks:
    """Everything one session runs concurrently: CALLs awaiting an answer and background tasks."""

    def __init__(self, charger_id: str) -> None:
        self._charger_id = charger_id
        self._pending_calls: set[asyncio.Task[Any]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Fail every pending call now and stop the background tasks."""
        self._closed = True
        for task in [*self._pending_calls, *self._tasks]:
            task.cancel()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(
            coro, name=f"ocpp_ems {self._charger_id} {name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def call(self, action: str, send: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Run ``send()`` (the library's ``call(payload, suppress=False)``) and return the result;
        raise our errors instead of the library's, and fail fast once the session is closed."""
        if self._closed:
            raise ChargerNotConnectedError(self._charger_id)
        task: asyncio.Task[Any] = asyncio.ensure_future(send())
        self._pending_calls.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            # Cancelled by close() (not by our caller): the charger went away.
            if self.closed and current is not None and current.cancelling() == 0:
                raise ChargerNotConnectedError(self._charger_id) from None
            raise
        except TimeoutError:
            raise CommandTimeoutError(action) from None
        except OCPPError as err:
            raise CommandRejectedError(action, str(err.code)) from err
        except ConnectionClosed:
            raise ChargerNotConnectedError(self._charger_id) from None
        except Exception as err:  # e.g. a CALLERROR with a code outside the spec
            raise CommandRejectedError(action, type(err).__name__) from err
        finally:
            self._pending_calls.discard(task)


def expect(action: str, status: Any, accepted: tuple[str, ...] = ("Accepted",)) -> str:
    """The answer's status as text; :class:`CommandRejectedError` unless it is ``accepted``."""
    text = str(status)
    if text not in accepted:
        raise CommandRejectedError(action, text)
    return text
