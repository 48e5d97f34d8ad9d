"""What the energy manager learned about the installation, kept across restarts.

The controller learns each charger's response times (``response.py``), the home battery's maximum
charging power (``measure.SiteMemory``) and, for a SoC plan, the car's last SoC with the session
energy then (``ChargerMemory.soc_seen``). Without a stored form a restart falls back to the
configured times and an unknown battery for minutes, and a SoC plan waits for the car's SoC sensor
(often unavailable for a while after a restart). They go into the driver's stored form
(``EmsDriver.dump`` / ``load``), each under its own versioned key: data of another version, and
anything unreadable or out of range, is skipped. Restored values are only a prior, replaced by
new observations as before.

A charger's response belongs to its hardware: it is dropped when the charger's vendor, model or
firmware (its boot notification) differs from the one it was learned on, and kept while the
charger is out of the controller (Manual, its entry reloaded), so handing it back does not start
from nothing. A car's SoC belongs to its session: it comes back only once the charger, connected
again, shows the same transaction going on (not a car that came while Home Assistant was down).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from custom_components.ocpp_ems.core.model import Charger, ChargerInfo
from custom_components.ocpp_ems.core.numbers import finite_number

from .charger_work import ChargerMemory
from .controller import EnergyManager
from .response import ChargerResponse

RESPONSE_KEY = "learned_response_v1"
SITE_KEY = "learned_site_v1"
SOC_KEY = "learned_soc_v1"

type Identity = tuple[str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class _SocSeen:
    """A car's last known SoC (%), the session energy then (Wh), and its session."""

    soc: float
    energy_wh: float
    session: tuple[str, ...]  # its transaction ids


class Learned:
    """The stored form of what one site's controller learned, and the chargers' hardware then."""

    def __init__(self, manager: EnergyManager) -> None:
        self._manager = manager
        # Responses of chargers not in the controller now (stored form): loaded, or taken out.
        self._parked: dict[str, dict[str, Any]] = {}
        self._identity: dict[str, Identity] = {}  # the hardware each response was learned on
        self._soc: dict[str, _SocSeen] = {}  # loaded, until the charger shows its session
        # Restored, and the session it belongs to: messages the charger queued while Home
        # Assistant was down may still end it (another car came meanwhile).
        self._resumed: dict[str, tuple[tuple[float, float], tuple[str, ...]]] = {}

    # --- the chargers ------------------------------------------------------------------------------
    def charger_in(self, charger_id: str) -> None:
        """The charger is in the controller: it gets back what was learned about it."""
        parked = self._parked.pop(charger_id, None)
        if parked is not None and (memory := self._manager.memory(charger_id)) is not None:
            memory.response.load(parked, self._manager.site.solar)

    def charger_out(self, charger_id: str) -> None:
        """The charger leaves the controller (which forgets it): keep what was learned."""
        if (memory := self._manager.memory(charger_id)) is not None:
            self._parked[charger_id] = memory.response.to_dict()

    def identify(self, charger_id: str, info: ChargerInfo) -> None:
        """The charger's hardware as it reports it now: other hardware than the learned
        response's (another charger under the same id, new firmware) makes it learn afresh."""
        identity = (info.vendor, info.model, info.firmware_version)
        if identity == (None, None, None):
            return  # not known yet (before its boot notification)
        if self._identity.setdefault(charger_id, identity) == identity:
            return
        self._identity[charger_id] = identity
        self._parked.pop(charger_id, None)
        if (memory := self._manager.memory(charger_id)) is not None:
            memory.response.forget()

    def resume_sessions(self, chargers: Mapping[str, Charger]) -> None:
        """Before a decision (``chargers``: those in the controller): a restored SoC goes back to
        the controller once its charger, connected, shows the session it was seen in."""
        for charger_id, model, memory in self._memories(chargers):
            if (resumed := self._resumed.get(charger_id)) is not None:
                if _session(model) != resumed[1]:
                    del self._resumed[charger_id]
                    if memory.soc_seen == resumed[0]:
                        memory.soc_seen = None  # another session: no longer that car's
                continue
            seen = self._soc.get(charger_id)
            if seen is None or not (model.connected and model.booted):
                continue
            del self._soc[charger_id]
            if _session(model) != seen.session:
                continue  # the session ended while Home Assistant was down
            memory.soc_seen = (seen.soc, seen.energy_wh)
            memory.was_plugged = True  # the same car: not a plug-in that forgets it
            self._resumed[charger_id] = (memory.soc_seen, seen.session)

    def summary(self, charger_ids: Iterable[str]) -> dict[str, Any]:
        """The learned values in use now (diagnostics)."""
        solar = self._manager.site.solar
        chargers: dict[str, Any] = {}
        for charger_id in sorted({*charger_ids, *self._parked}):
            response = ChargerResponse()
            if (memory := self._manager.memory(charger_id)) is not None:
                response = memory.response
            elif (parked := self._parked.get(charger_id)) is not None:
                response.load(parked, solar)
            chargers[charger_id] = response.summary(solar)
        site = self._manager.site_memory
        # The capacity only once learned (a battery's power and SoC seen over 10 points).
        capacity = {} if (wh := site.battery_capacity_wh) is None else {"battery_capacity_wh": wh}
        return {"battery_accept_w": site.battery_accept_w, **capacity, "chargers": chargers}

    def _memories(
        self, chargers: Mapping[str, Charger]
    ) -> list[tuple[str, Charger, ChargerMemory]]:
        return [
            (charger_id, model, memory)
            for charger_id, model in chargers.items()
            if (memory := self._manager.memory(charger_id)) is not None
        ]

    # --- stored form -------------------------------------------------------------------------------
    def dump(self, chargers: Mapping[str, Charger]) -> dict[str, Any]:
        """The stored form (``chargers``: those in the controller now); nothing learned yet, no
        key."""
        responses = dict(self._parked)
        socs = {cid: _stored_soc(seen) for cid, seen in self._soc.items()}
        for charger_id, model, memory in self._memories(chargers):
            responses[charger_id] = memory.response.to_dict()
            if memory.soc_seen is not None and (session := _session(model)):
                socs[charger_id] = _stored_soc(_SocSeen(*memory.soc_seen, session))
        stored: dict[str, Any] = {}
        if learned := {
            charger_id: {**form, "identity": _stored_identity(self._identity.get(charger_id))}
            for charger_id, form in responses.items()
            if form["changes"] or form["starts"]
        }:
            stored[RESPONSE_KEY] = learned
        if self._manager.site_memory.learned():
            stored[SITE_KEY] = self._manager.site_memory.to_dict()
        if socs:
            stored[SOC_KEY] = socs
        return stored

    def load(self, data: Mapping[str, Any], charger_ids: Iterable[str]) -> None:
        """Back from :meth:`dump`'s form (``charger_ids``: the chargers in the controller now)."""
        if isinstance(site := data.get(SITE_KEY), Mapping):
            self._manager.site_memory.load(site)
        if isinstance(socs := data.get(SOC_KEY), Mapping):
            for charger_id, stored in socs.items():
                if (seen := _soc(stored)) is not None:
                    self._soc[str(charger_id)] = seen
        responses = data.get(RESPONSE_KEY)
        if not isinstance(responses, Mapping):
            return
        solar = self._manager.site.solar
        for charger_id, stored in responses.items():
            if not isinstance(stored, Mapping):
                continue
            cid, identity = str(charger_id), _identity(stored.get("identity"))
            known = self._identity.get(cid)  # the hardware connected now, if it said already
            if identity is not None and known is not None and identity != known:
                continue  # learned on other hardware
            response = ChargerResponse()
            response.load(stored, solar)  # checked and clamped now: only good data is parked
            self._parked[cid] = response.to_dict()
            if identity is not None:
                self._identity[cid] = identity
        for charger_id in charger_ids:
            self.charger_in(charger_id)


def _session(model: Charger) -> tuple[str, ...]:
    """The charger's session now: its open transactions (empty: none)."""
    return tuple(
        sorted(c.transaction.transaction_id for c in model.outlets if c.transaction is not None)
    )


def _stored_identity(identity: Identity | None) -> list[str | None] | None:
    return None if identity is None else list(identity)


def _identity(value: Any) -> Identity | None:
    if not isinstance(value, list) or len(value) != 3:
        return None
    if not all(item is None or isinstance(item, str) for item in value):
        return None
    return (value[0], value[1], value[2])


def _stored_soc(seen: _SocSeen) -> dict[str, Any]:
    return {"soc": seen.soc, "energy_wh": seen.energy_wh, "session": list(seen.session)}


def _soc(value: Any) -> _SocSeen | None:
    """A stored SoC: 0..100 %, a session energy of at least 0 Wh, a session (None: unreadable)."""
    if not isinstance(value, Mapping):
        return None
    soc, energy = finite_number(value.get("soc")), finite_number(value.get("energy_wh"))
    session = value.get("session")
    if soc is None or energy is None or not 0.0 <= soc <= 100.0 or energy < 0.0:
        return None
    if not isinstance(session, list) or not session or not all(isinstance(t, str) for t in session):
        return None
    return _SocSeen(soc, energy, tuple(sorted(session)))
