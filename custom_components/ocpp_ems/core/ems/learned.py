"""What the energy manager learned about the installation, kept across restarts.

The controller learns each charger's response times (``response.py``), the home battery's maximum
charging power (``measure.SiteMemory``) and, about the car plugged in, its last SoC with the
session energy then (``ChargerMemory.soc_seen``), the phases it draws on where fewer than the
charger offers (``ChargerMemory.car_phases``) and how much less than its limit it takes
(``ChargerMemory.follow``). Without a stored form a restart falls back to the configured times
and an unknown battery for minutes, a SoC plan waits for the car's SoC sensor (often
unavailable for a while after a restart), a paused 1-phase car is planned on the charger's
phases (its plan starts too late) and a car 1 A under its limits leaves 1 A of its share to the
grid till it follows a change again. They go into the driver's stored form
(``EmsDriver.dump`` / ``load``), each under its own versioned key: data of another version, and
anything unreadable or out of range, is skipped (the car's SoC as stored before its phases were,
``SOC_KEY``, is still read). Restored values are only a prior, replaced by new observations as
before.

A charger's response belongs to its hardware: it is dropped when the charger's vendor, model or
firmware (its boot notification) differs from the one it was learned on, and kept while the
charger is out of the controller (Manual, its entry reloaded), so handing it back does not start
from nothing. What was seen of the car belongs to its session: it is kept while the charger is
out of the controller too, and comes back only once the charger, connected again, shows the same
transaction going on (not a car that came while Home Assistant was down or the charger was out).
Whether a charger's last dips outlasted a restart (``solar.py``: an overcast sky) belongs to the
weather: kept with when the last was judged, it holds after a restart only as long as it would
have without one (``solar.SKY_MEMORY_S``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from custom_components.ocpp_ems.core.model import Charger, ChargerInfo
from custom_components.ocpp_ems.core.numbers import finite_number

from .charger_work import ChargerMemory
from .controller import EnergyManager
from .follow_offset import KEEP, is_offset
from .response import ChargerResponse
from .solar import LONG_DIPS_JUDGED

RESPONSE_KEY = "learned_response_v1"
SITE_KEY = "learned_site_v1"
SESSION_KEY = "learned_session_v1"
SOC_KEY = "learned_soc_v1"  # the SoC alone (before the car's phases were kept): still read
SKY_KEY = "learned_sky_v1"

type Identity = tuple[str | None, str | None, str | None]
# A charger's last dips judged (each True where it outlasted a restart), and when the last was.
type Sky = tuple[tuple[bool, ...], float]


@dataclass(frozen=True, slots=True)
class _SessionMemory:
    """What was seen of the car in one session (its transaction ids): its last SoC (%) with the
    session energy then (Wh), the phases it draws on where fewer than the charger offers, and
    the offsets below its limit it was seen following them with (A; kept where one is not 0)."""

    session: tuple[str, ...]
    soc_seen: tuple[float, float] | None = None
    car_phases: int | None = None
    offsets: tuple[float, ...] = ()

    @classmethod
    def seen(cls, memory: ChargerMemory, session: tuple[str, ...]) -> _SessionMemory | None:
        """What ``memory`` holds of the car in ``session`` (None: nothing, or no session)."""
        offsets = memory.follow.offsets
        offsets = offsets if any(offsets) else ()  # (all 0: the car takes its limits)
        if not session or (memory.soc_seen is None and memory.car_phases is None and not offsets):
            return None
        return cls(session, memory.soc_seen, memory.car_phases, offsets)

    def restore(self, memory: ChargerMemory) -> None:
        """Back into the memory of the charger, which shows this session going on."""
        if self.soc_seen is not None:
            memory.soc_seen = self.soc_seen
        if self.car_phases is not None:
            memory.car_phases = self.car_phases
        memory.follow.prior(self.offsets)  # before any seen since the restart
        memory.was_plugged = True  # the same car: not a plug-in that forgets it

    def drop(self, memory: ChargerMemory) -> None:
        """The session ended: what is still the restored value is no longer that car's. The
        offsets go with any seen since the restore (the learner cannot tell them apart; the
        new car's shows again at the next change it follows)."""
        if self.soc_seen is not None and memory.soc_seen == self.soc_seen:
            memory.soc_seen = None
        if self.car_phases is not None and memory.car_phases == self.car_phases:
            memory.car_phases = None
        if self.offsets:
            memory.follow.forget()


class Learned:
    """The stored form of what one site's controller learned, and the chargers' hardware then."""

    def __init__(self, manager: EnergyManager) -> None:
        self._manager = manager
        # Responses of chargers not in the controller now (stored form): loaded, or taken out.
        self._parked: dict[str, dict[str, Any]] = {}
        self._identity: dict[str, Identity] = {}  # the hardware each response was learned on
        # What was seen of each car, loaded or kept while its charger was out, until the charger
        # shows its session.
        self._sessions: dict[str, _SessionMemory] = {}
        # Restored: messages the charger queued while Home Assistant was down may still end that
        # session (another car came meanwhile).
        self._resumed: dict[str, _SessionMemory] = {}
        # The session each charger in the controller showed at the last decision: what was seen
        # of its car is kept under it when the charger leaves.
        self._session_now: dict[str, tuple[str, ...]] = {}
        # The dips of chargers not in the controller now: loaded, or taken out.
        self._skies: dict[str, Sky] = {}

    # --- the chargers ------------------------------------------------------------------------------
    def charger_in(self, charger_id: str) -> None:
        """The charger is in the controller: it gets back what was learned about it."""
        parked = self._parked.pop(charger_id, None)
        sky = self._skies.pop(charger_id, None)
        if (memory := self._manager.memory(charger_id)) is None:
            return
        if parked is not None:
            memory.response.load(parked, self._manager.site.solar)
        if sky is not None and (memory.dips_judged_at is None or memory.dips_judged_at < sky[1]):
            memory.dips_outlasting_restart, memory.dips_judged_at = sky

    def charger_out(self, charger_id: str) -> None:
        """The charger leaves the controller (which forgets it): keep what was learned."""
        if (memory := self._manager.memory(charger_id)) is not None:
            self._parked[charger_id] = memory.response.to_dict()
            if (sky := _sky_of(memory)) is not None:
                self._skies[charger_id] = sky
            self._resumed.pop(charger_id, None)
            session = self._session_now.pop(charger_id, ())
            if (seen := _SessionMemory.seen(memory, session)) is not None:
                self._sessions[charger_id] = seen  # back as a stored one once it shows its session

    def forget(self, charger_id: str) -> None:
        """The charger was deleted (not just taken out): nothing learned about it stays."""
        for kept in (
            self._parked,
            self._identity,
            self._sessions,
            self._resumed,
            self._session_now,
            self._skies,
        ):
            kept.pop(charger_id, None)

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
        """Before a decision (``chargers``: those in the controller): what was seen of a car goes
        back to the controller once its charger, connected, shows the session it was seen in."""
        for charger_id, model, memory in self._memories(chargers):
            self._session_now[charger_id] = session = _session(model)
            if (resumed := self._resumed.get(charger_id)) is not None:
                if session != resumed.session:
                    del self._resumed[charger_id]
                    resumed.drop(memory)
                continue
            stored = self._sessions.get(charger_id)
            if stored is None or not (model.connected and model.booted):
                continue
            del self._sessions[charger_id]
            if session != stored.session:
                continue  # the session ended while Home Assistant was down or the charger out
            stored.restore(memory)
            self._resumed[charger_id] = stored

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
        sessions = {cid: _stored_session(seen) for cid, seen in self._sessions.items()}
        skies = dict(self._skies)
        for charger_id, model, memory in self._memories(chargers):
            responses[charger_id] = memory.response.to_dict()
            if (sky := _sky_of(memory)) is not None:
                skies[charger_id] = sky
            if (seen := _SessionMemory.seen(memory, _session(model))) is not None:
                sessions[charger_id] = _stored_session(seen)
        stored: dict[str, Any] = {}
        if learned := {
            charger_id: {**form, "identity": _stored_identity(self._identity.get(charger_id))}
            for charger_id, form in responses.items()
            if form["changes"] or form["starts"]
        }:
            stored[RESPONSE_KEY] = learned
        if self._manager.site_memory.learned():
            stored[SITE_KEY] = self._manager.site_memory.to_dict()
        if sessions:
            stored[SESSION_KEY] = sessions
        if skies:
            stored[SKY_KEY] = {
                charger_id: {"dips": list(dips), "at": at}
                for charger_id, (dips, at) in skies.items()
            }
        return stored

    def load(self, data: Mapping[str, Any], charger_ids: Iterable[str]) -> None:
        """Back from :meth:`dump`'s form (``charger_ids``: the chargers in the controller now)."""
        if isinstance(site := data.get(SITE_KEY), Mapping):
            self._manager.site_memory.load(site)
        for key in (SOC_KEY, SESSION_KEY):  # the current form last: it wins
            if isinstance(sessions := data.get(key), Mapping):
                for charger_id, stored in sessions.items():
                    if (seen := _session_memory(stored)) is not None:
                        self._sessions[str(charger_id)] = seen
        if isinstance(skies := data.get(SKY_KEY), Mapping):
            for charger_id, stored in skies.items():
                if (sky := _stored_sky(stored)) is not None:
                    self._skies[str(charger_id)] = sky
        responses = data.get(RESPONSE_KEY)
        solar = self._manager.site.solar
        for charger_id, stored in (responses if isinstance(responses, Mapping) else {}).items():
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


def _stored_session(seen: _SessionMemory) -> dict[str, Any]:
    stored: dict[str, Any] = {"session": list(seen.session)}
    if seen.soc_seen is not None:
        stored["soc"], stored["energy_wh"] = seen.soc_seen
    if seen.car_phases is not None:
        stored["car_phases"] = seen.car_phases
    if seen.offsets:
        stored["offsets"] = list(seen.offsets)
    return stored


def _session_memory(value: Any) -> _SessionMemory | None:
    """A stored session: a SoC of 0..100 % with a session energy of at least 0 Wh, phases of 1
    or 2, offsets (1 to ``KEEP``, each one the learner could keep), any of them, and the
    session's transaction ids (None: unreadable)."""
    if not isinstance(value, Mapping):
        return None
    session = value.get("session")
    if not isinstance(session, list) or not session or not all(isinstance(t, str) for t in session):
        return None
    soc_seen: tuple[float, float] | None = None
    if "soc" in value or "energy_wh" in value:
        soc, energy = finite_number(value.get("soc")), finite_number(value.get("energy_wh"))
        if soc is None or energy is None or not 0.0 <= soc <= 100.0 or energy < 0.0:
            return None
        soc_seen = (soc, energy)
    phases = value.get("car_phases")
    if phases is not None and (type(phases) is not int or phases not in (1, 2)):
        return None  # fewer than 3: a car on every phase is not remembered
    offsets = _stored_offsets(value.get("offsets", []))
    if offsets is None or (soc_seen is None and phases is None and not offsets):
        return None
    return _SessionMemory(tuple(sorted(session)), soc_seen, phases, offsets)


def _stored_offsets(value: Any) -> tuple[float, ...] | None:
    """Stored offsets: up to ``KEEP``, each 0 or one the learner keeps (None: unreadable)."""
    if not isinstance(value, list) or len(value) > KEEP:
        return None
    offsets = [offset for item in value if (offset := finite_number(item)) is not None]
    return tuple(offsets) if len(offsets) == len(value) and all(map(is_offset, offsets)) else None


def _sky_of(memory: ChargerMemory) -> Sky | None:
    at = memory.dips_judged_at
    return None if at is None else (memory.dips_outlasting_restart, at)


def _stored_sky(value: Any) -> Sky | None:
    """A stored sky: up to ``LONG_DIPS_JUDGED`` dips (True or False) and when the last was
    judged (None: unreadable)."""
    if not isinstance(value, Mapping):
        return None
    dips, at = value.get("dips"), finite_number(value.get("at"))
    if not isinstance(dips, list) or not dips or not all(type(dip) is bool for dip in dips):
        return None
    return None if at is None else (tuple(dips[-LONG_DIPS_JUDGED:]), at)
