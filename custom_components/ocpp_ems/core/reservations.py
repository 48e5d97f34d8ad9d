"""The reservations a charger accepted from us, and the one rule for when each ends.

A reservation is in force from the charger's Accepted to the first of: its expiry; our
CancelReservation accepted; the charger reporting its end (2.x ReservationStatusUpdate: Expired,
Removed); its connector shown Available straight after Reserved (the charger ended it: its own
clock, its own app); a session on its connector (any connector, for one of connector 0) whose
card is its id tag, at the start or once the card is presented (a 2.x station that starts on
plug-in). The card, not the message's ``reservationId``, is what ties a session to it: chargers
that leave that field out exist, and a card is what the reservation was for. 1.6 reports no
expiry: one ends by our clock.

The book remembers the ids whose end it recorded, so an end the charger reports again (it never
saw our answer) is no new end. Both lists keep the newest :data:`MAX_RESERVATIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .settings import id_tag_key

# Reservations (in force, and ended) the book keeps; a household has one or two at a time.
MAX_RESERVATIONS = 32
# A charger's clock may be this far ahead of ours: a reservation it ends earlier was removed.
EXPIRY_SKEW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    connector_id: int  # 0: any connector of the charger
    id_tag: str
    expires_at: datetime
    # The charger ended it itself well before its expiry (:meth:`ReservationBook.release`).
    removed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "reservation_id": self.reservation_id,
            "connector_id": self.connector_id,
            "id_tag": self.id_tag,
            "expires_at": self.expires_at.isoformat(),
            **({"removed": True} if self.removed else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reservation:
        expires_at = datetime.fromisoformat(data["expires_at"])
        if expires_at.tzinfo is None:  # edited by hand: UTC, as the store's other times
            expires_at = expires_at.replace(tzinfo=UTC)
        return cls(
            reservation_id=int(data["reservation_id"]),
            connector_id=int(data["connector_id"]),
            id_tag=str(data["id_tag"]),
            expires_at=expires_at,
            removed=data.get("removed") is True,
        )


@dataclass(slots=True)
class ReservationBook:
    """One charger's reservations (see the module docstring); ids newest last."""

    held: dict[int, Reservation] = field(default_factory=dict)
    ended: dict[int, None] = field(default_factory=dict)

    def in_force(self, now: datetime) -> list[Reservation]:
        """The reservations not ended at ``now``, soonest expiry first."""
        return sorted(
            (r for r in self.held.values() if r.expires_at > now), key=lambda r: r.expires_at
        )

    def of_connector(self, connector_id: int, now: datetime) -> list[Reservation]:
        """The reservations in force that ``connector_id`` names (0: the charger-wide ones)."""
        return [r for r in self.in_force(now) if r.connector_id == connector_id]

    def for_outlet(self, outlet: int | None, now: datetime) -> list[Reservation]:
        """The reservations in force that may hold ``outlet``: its own and the charger-wide ones
        (which may take any outlet); None: all of them."""
        return [r for r in self.in_force(now) if outlet is None or r.connector_id in (outlet, 0)]

    def made(self, reservation: Reservation) -> None:
        """The charger accepted ``reservation``; one with the same id is replaced (as the
        charger does), and the id is in use again (a later end of it is a new one). Expired
        ones are kept (among the newest) for the connector a late report of their end names."""
        self.ended.pop(reservation.reservation_id, None)
        _keep_newest(self.held, reservation.reservation_id, reservation)

    def end(self, reservation_id: int) -> int | None:
        """Record that ``reservation_id`` ended: its connector (0: charger-wide, or one we do not
        know); None when its end was recorded already."""
        if reservation_id in self.ended:
            return None
        _keep_newest(self.ended, reservation_id, None)
        ended = self.held.pop(reservation_id, None)
        return 0 if ended is None else ended.connector_id

    def take(self, connector_id: int, id_tag: str, now: datetime) -> Reservation | None:
        """A session on ``connector_id`` with card ``id_tag`` began: the reservation it takes
        (that connector's first, else a charger-wide one), which ends; None: it takes none."""
        key = id_tag_key(id_tag)
        mine = [r for r in self.in_force(now) if id_tag_key(r.id_tag) == key]
        taken = next((r for r in mine if r.connector_id == connector_id), None) or next(
            (r for r in mine if r.connector_id == 0), None
        )
        if taken is not None:
            self.end(taken.reservation_id)
        return taken

    def release(self, connector_id: int, now: datetime) -> bool:
        """The charger shows ``connector_id`` free again after it was reserved (it ended the
        reservation itself: by its own clock, or from its own app): that connector's
        reservations end now. Kept as expired, so a report of their end (2.x) still counts,
        once; one ended more than :data:`EXPIRY_SKEW` before its expiry was removed (its own
        app, a button), not expired. Whether one was in force."""
        released = self.of_connector(connector_id, now)
        for reservation in released:
            removed = reservation.expires_at - now > EXPIRY_SKEW
            self.held[reservation.reservation_id] = replace(
                reservation, expires_at=now, removed=removed
            )
        return bool(released)

    def to_dict(self) -> dict[str, Any]:
        return {
            "held": [r.to_dict() for r in self.held.values()],
            "ended": list(self.ended),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReservationBook:
        book = cls()
        for stored in data.get("held") or ():
            book.made(Reservation.from_dict(stored))
        for reservation_id in data.get("ended") or ():
            _keep_newest(book.ended, int(reservation_id), None)
        return book


def _keep_newest[V](kept: dict[int, V], key: int, value: V) -> None:
    """``key`` as the newest of ``kept``, which keeps at most MAX_RESERVATIONS."""
    kept.pop(key, None)
    kept[key] = value
    while len(kept) > MAX_RESERVATIONS:
        del kept[next(iter(kept))]
