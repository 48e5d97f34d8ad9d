"""Delayed saves with a bound on how late they come.

Home Assistant's ``Store.async_delay_save`` moves a pending write back with every call: under a
steady stream of changes (meter values every second, an energy-manager decision every few seconds)
it never writes, and a crash (kill -9, power cut) loses everything since Home Assistant started.
Here the first request arms the timer and later requests only replace what will be written, so
every change is on disk within ``delay`` seconds. A request may ask for a shorter delay (a session
that started or ended); that moves the write earlier, never later. A pending save is still written
on Home Assistant's final write (shutdown), as ``Store`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import CALLBACK_TYPE, Event, HassJob, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store


class SaveScheduler[T: (Mapping[str, Any] | Sequence[Any])]:
    """Writes the latest ``data_fn()`` of a ``Store`` at most ``delay`` seconds after a request."""

    def __init__(self, hass: HomeAssistant, store: Store[T], delay: float) -> None:
        self._hass = hass
        self._store = store
        self._delay = delay
        self._data_fn: Callable[[], T] | None = None
        self._due: float | None = None  # loop time of the armed write
        self._unsub_timer: CALLBACK_TYPE | None = None
        self._unsub_final_write: CALLBACK_TYPE | None = None
        self._job = HassJob(self._async_on_due, f"save {store.key}")

    @property
    def pending(self) -> bool:
        """Whether a requested save has not been written yet."""
        return self._data_fn is not None

    @callback
    def async_schedule(self, data_fn: Callable[[], T], delay: float | None = None) -> None:
        """Write ``data_fn()`` (called when writing) within ``delay`` seconds (default and upper
        bound: the scheduler's delay). An armed write is kept, or moved earlier; never later."""
        self._data_fn = data_fn
        wait = self._delay if delay is None else max(0.0, min(delay, self._delay))
        due = self._hass.loop.time() + wait
        if self._unsub_timer is None or self._due is None or due < self._due:
            self._cancel_timer()
            self._due = due
            self._unsub_timer = async_call_later(self._hass, wait, self._job)
        if self._unsub_final_write is None:
            self._unsub_final_write = self._hass.bus.async_listen_once(
                EVENT_HOMEASSISTANT_FINAL_WRITE, self._async_on_final_write
            )

    async def async_save(self, data: T) -> None:
        """Write ``data`` now; a pending delayed save is dropped (``data`` supersedes it)."""
        self.async_cancel()
        await self._store.async_save(data)

    @callback
    def async_cancel(self) -> None:
        """Forget a pending save: no timer or listener outlives the owner."""
        self._data_fn = None
        self._cancel_timer()
        if self._unsub_final_write is not None:
            self._unsub_final_write()
            self._unsub_final_write = None

    @callback
    def _cancel_timer(self) -> None:
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None
        self._due = None

    async def _async_on_due(self, _now: datetime) -> None:
        self._unsub_timer = None
        self._due = None
        await self._async_write()

    async def _async_on_final_write(self, _event: Event) -> None:
        self._unsub_final_write = None
        self._cancel_timer()
        await self._async_write()

    async def _async_write(self) -> None:
        data_fn, self._data_fn = self._data_fn, None
        if data_fn is None:
            return
        if self._unsub_timer is None and self._unsub_final_write is not None:
            # Nothing else pending: a request during the write arms everything again.
            self._unsub_final_write()
            self._unsub_final_write = None
        await self._store.async_save(data_fn())
