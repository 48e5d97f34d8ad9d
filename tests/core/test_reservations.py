"""The reservation book: which reservations are in force, when one ends, what survives a restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.persistence import (
    FORMAT_VERSION,
    charger_from_dict,
    charger_to_dict,
)
from custom_components.ocpp_ems.core.reservations import (
    MAX_RESERVATIONS,
    Reservation,
    ReservationBook,
)

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def reservation(
    reservation_id: int, connector_id: int = 1, id_tag: str = "CARD", hours: float = 1
) -> Reservation:
    return Reservation(reservation_id, connector_id, id_tag, NOW + hours * HOUR)


def ids(book: ReservationBook, now: datetime = NOW) -> list[int]:
    return [r.reservation_id for r in book.in_force(now)]


def test_in_force_until_the_expiry_soonest_first() -> None:
    book = ReservationBook()
    book.made(reservation(1, hours=2))
    book.made(reservation(2, connector_id=2, hours=1))
    assert ids(book) == [2, 1]
    assert ids(book, NOW + HOUR) == [1]  # 2 ends at its expiry (1.6 reports none)
    assert ids(book, NOW + 2 * HOUR) == []
    assert [r.reservation_id for r in book.of_connector(2, NOW)] == [2]
    assert book.of_connector(0, NOW) == []
    book.made(reservation(3, connector_id=0, hours=3))
    assert [r.reservation_id for r in book.for_outlet(2, NOW)] == [2, 3]  # and charger-wide
    assert [r.reservation_id for r in book.for_outlet(1, NOW)] == [1, 3]
    assert [r.reservation_id for r in book.for_outlet(None, NOW)] == [2, 1, 3]


def test_an_id_made_again_replaces_the_reservation() -> None:
    """The charger replaces a reservation whose id comes again (OCPP ReserveNow)."""
    book = ReservationBook()
    book.made(reservation(1, connector_id=1))
    book.made(reservation(1, connector_id=2, id_tag="OTHER"))
    (only,) = book.in_force(NOW)
    assert (only.connector_id, only.id_tag) == (2, "OTHER")


def test_an_end_is_recorded_once() -> None:
    book = ReservationBook()
    book.made(reservation(1, connector_id=2))
    assert book.end(1) == 2
    assert ids(book) == []
    assert book.end(1) is None  # reported again: no new end
    assert book.end(99) == 0  # one we never made (or forgot): the charger's
    book.made(reservation(1, connector_id=1))  # the id in use again: its end is a new one
    assert book.end(1) == 1


def test_an_expired_reservation_still_names_its_connector() -> None:
    """A 2.x station reports an expiry late: the EVSE is still known."""
    book = ReservationBook()
    book.made(reservation(1, connector_id=2, hours=-1))
    assert ids(book) == []
    assert book.end(1) == 2


def test_a_session_with_the_card_takes_its_reservation() -> None:
    book = ReservationBook()
    book.made(reservation(1, connector_id=0))  # any connector
    book.made(reservation(2, connector_id=2))
    book.made(reservation(3, connector_id=2, id_tag="OTHER"))
    book.made(reservation(4, connector_id=1, hours=-1))  # expired: taken by nobody
    # Another card, or the card on a connector that holds none of its own: not its own.
    assert book.take(2, "STRANGER", NOW) is None
    taken = book.take(2, " card ", NOW)  # blanks and case do not count
    assert taken == reservation(2, connector_id=2)  # the connector's own first
    taken = book.take(1, "CARD", NOW)
    assert taken == reservation(1, connector_id=0)  # then a charger-wide one
    assert book.take(1, "CARD", NOW) is None
    assert ids(book) == [3]
    assert book.end(2) is None  # taken: ended


def test_a_connector_shown_free_releases_its_reservations() -> None:
    """The charger ended them itself: they end now, and a later report of the end still counts
    once (with its connector)."""
    book = ReservationBook()
    book.made(reservation(1, connector_id=1))
    book.made(reservation(2, connector_id=0))  # charger-wide: not that connector's
    assert book.release(1, NOW)
    assert ids(book) == [2]
    assert book.held[1].removed  # (an hour before its expiry: not by its clock)
    assert not book.release(1, NOW)  # nothing in force there any more
    assert book.end(1) == 1
    assert book.end(1) is None


def test_the_book_keeps_the_newest() -> None:
    book = ReservationBook()
    for reservation_id in range(MAX_RESERVATIONS + 8):
        book.made(reservation(reservation_id))
        book.end(1000 + reservation_id)
    assert ids(book) == list(range(8, MAX_RESERVATIONS + 8))
    assert len(book.ended) == MAX_RESERVATIONS


def stored(book: dict[str, Any] | None) -> dict[str, Any]:
    data = charger_to_dict(Charger(charger_id="CP1"))
    if book is None:
        del data["reservations"]
    else:
        data["reservations"] = book
    return data


def test_reservations_survive_a_restart() -> None:
    """The charger keeps them: after a restart they are still shown, end and cancel as before."""
    charger = Charger(charger_id="CP1")
    charger.reservations.made(reservation(7, connector_id=0, id_tag="TAG1"))
    charger.reservations.made(reservation(8, hours=-1))  # expired, its EVSE kept
    charger.reservations.made(reservation(9, connector_id=2))
    charger.reservations.release(2, NOW)  # removed by the charger
    charger.reservations.end(6)
    restored = charger_from_dict(json.loads(json.dumps(charger_to_dict(charger))))
    book = restored.reservations
    assert book.in_force(NOW) == [reservation(7, connector_id=0, id_tag="TAG1")]
    assert [r.removed for r in book.held.values()] == [False, False, True]
    assert book.end(8) == 1
    assert book.end(6) is None


@pytest.mark.parametrize(
    "damaged",
    [
        [1, 2],
        {"held": "x"},
        {"held": [{"reservation_id": 1}]},
        {"held": [{**reservation(1).to_dict(), "expires_at": "soon"}]},
        {"ended": ["x"]},
    ],
)
def test_a_damaged_store_loses_only_its_reservations(damaged: Any) -> None:
    data = stored(damaged)
    data["lifetime_energy"]["total_wh"] = 5.0
    charger = charger_from_dict(data)
    assert charger.reservations == ReservationBook()
    assert charger.lifetime_energy.total_wh == 5.0


def test_a_store_without_reservations_and_a_naive_expiry() -> None:
    assert charger_from_dict(stored(None)).reservations == ReservationBook()
    naive = {**reservation(1).to_dict(), "expires_at": "2026-12-07T19:00:00"}
    book = charger_from_dict(stored({"held": [naive]})).reservations
    assert book.in_force(NOW) == [reservation(1)]  # edited by hand: UTC
    assert stored(None)["version"] == FORMAT_VERSION
