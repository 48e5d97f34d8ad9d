"""Id tags (Authorize, a transaction's card): whether a tag may charge, and the card swipes
remembered so that a swipe fires one authorization event, not one more at its transaction's
start. The rule for comparing tags is :func:`~.settings.id_tag_key`."""

from __future__ import annotations

from datetime import datetime

from .model import EventKind, Transaction
from .model_writer import ModelWriter
from .settings import id_tag_key
from .timeutil import utcnow

# A transaction start this soon after an authorization of the same id tag is the same card swipe:
# the authorization event fired already.
AUTHORIZE_WINDOW_S = 60.0
# Swipes remembered for that (the newest): each Authorize of a new tag adds one, and a charger
# may ask for any number of tags without starting (rejected cards, or a hostile charger).
SWIPES_REMEMBERED = 64


class IdTagAuthorizations:
    """Answers a charger's authorization requests and remembers its swipes (one per session)."""

    def __init__(self, writer: ModelWriter) -> None:
        self._writer = writer
        self._charger = writer.charger
        # id tag -> when it was last authorized by request (one event per card swipe).
        self._authorized_at: dict[str, datetime] = {}

    def authorize(self, id_tag: str, connector_id: int = 0, *, events: bool = True) -> bool:
        """Whether ``id_tag`` may charge (the charger asks); with ``events`` an AUTHORIZED /
        _REJECTED event fires."""
        # Our own remote starts use this tag: always ours to accept.
        own = self._writer.context.charger_settings().remote_start_id_tag
        accepted = id_tag_key(id_tag) == id_tag_key(own) or (
            self._writer.context.directory.authorize_id_tag(self._charger.charger_id, id_tag)
        )
        if events:
            self._remember_swipe(id_tag)
            kind = EventKind.AUTHORIZED if accepted else EventKind.AUTHORIZATION_REJECTED
            self._writer.fire(kind, connector_id, id_tag=id_tag)
        return accepted

    def _remember_swipe(self, id_tag: str) -> None:
        """Note a swipe for :meth:`authorize_start`; forget those past the window or beyond the
        newest :data:`SWIPES_REMEMBERED`."""
        swipes = self._authorized_at
        swipes.pop(id_tag, None)  # re-inserted at the end: the dict stays oldest first
        now = utcnow()
        swipes[id_tag] = now
        for tag, at in list(swipes.items()):
            if (
                len(swipes) <= SWIPES_REMEMBERED
                and (now - at).total_seconds() <= AUTHORIZE_WINDOW_S
            ):
                break
            del swipes[tag]

    def authorize_start(self, id_tag: str, connector_id: int) -> bool:
        """Whether a transaction the charger starts with ``id_tag`` may charge. The authorization
        event fires once per card swipe: not again when the charger asked for this tag within
        :data:`AUTHORIZE_WINDOW_S` (a start authorized from its local list or cache fires it)."""
        asked = self._authorized_at.pop(id_tag, None)
        recent = asked is not None and (utcnow() - asked).total_seconds() <= AUTHORIZE_WINDOW_S
        accepted = self.authorize(id_tag, connector_id, events=not recent)
        self._authorized_at.pop(id_tag, None)
        return accepted

    def authorize_transaction(self, transaction: Transaction, id_tag: str) -> bool:
        """An id tag presented for a running transaction (a charger that starts sessions on plug-in
        and authorizes later): whether it may charge; the transaction takes its tag and verdict
        (SESSION_IDENTIFIED fires). The authorization event fires once per card swipe (see
        :meth:`authorize_start`)."""
        accepted = self.authorize_start(id_tag, transaction.connector_id)
        if transaction.id_tag != id_tag or transaction.authorized != accepted:
            transaction.id_tag = id_tag
            transaction.authorized = accepted
            self._writer.take_reservation(transaction)
            self._charger.notify()
            self._writer.fire_start_facts(EventKind.SESSION_IDENTIFIED, transaction)
            self._writer.context.request_save()
        return accepted
