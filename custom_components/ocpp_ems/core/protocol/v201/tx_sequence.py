"""A 2.x transaction's ``seqNo`` log: where a TransactionEvent stands in its transaction's
sequence (new, late: a gap filled, or a duplicate: sent again for a lost answer), and the gaps
still open. A number not above the highest, sent after everything else, means the station counts
from the start again (a reboot). The rules: :mod:`.transactions` (Sequence numbers).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from custom_components.ocpp_ems.core.model import EventSequence

# The seqNo ranges a transaction keeps (persisted with it). A station that numbers all its
# messages with one counter (or a hostile one) leaves a gap at each message; beyond this many
# ranges the oldest are forgotten. A message numbered below them counts as late, never as a
# duplicate: its readings go through the energy rules, which never count a reading twice.
MAX_SEQ_RANGES = 64


class Seen(Enum):
    """Where a message stands in its transaction's sequence."""

    NEW = "new"  # the newest so far
    LATE = "late"  # older than the newest (fills a gap)
    DUPLICATE = "duplicate"  # arrived before


def observe(sequence: EventSequence, seq_no: int, at: datetime) -> Seen:
    """Record ``seq_no`` (sent at ``at``) in ``sequence``; where it stands (module docstring)."""
    if is_duplicate(sequence, seq_no, at):
        return Seen.DUPLICATE
    newest = sequence.latest_at is None or at > sequence.latest_at
    if newest and sequence.latest is not None and seq_no <= sequence.latest:
        # A number not above the highest, sent after everything else: the station counts from
        # the start again (a reboot).
        sequence.seen = []
        sequence.latest = None
    _add(sequence.seen, seq_no)
    del sequence.seen[:-MAX_SEQ_RANGES]
    if sequence.latest_at is None or at > sequence.latest_at:
        sequence.latest_at = at
    if sequence.latest is None or seq_no > sequence.latest:
        sequence.latest = seq_no
        return Seen.NEW
    return Seen.LATE


def is_duplicate(sequence: EventSequence | None, seq_no: int, at: datetime) -> bool:
    """Whether ``seq_no`` (sent at ``at``) arrived before: a number seen, not newer than the
    newest message (without recording it)."""
    if sequence is None or not _contains(sequence.seen, seq_no):
        return False
    return sequence.latest_at is not None and at <= sequence.latest_at


def missing(sequence: EventSequence) -> list[tuple[int, int]]:
    """The numbers between the lowest and the highest seen that never arrived, as inclusive
    ranges: a station may number from 0 to 2**53 (the schema sets no bound), so the gaps are never
    listed one by one."""
    return [
        (end + 1, start - 1)
        for (_, end), (start, _) in zip(sequence.seen, sequence.seen[1:], strict=False)
    ]


def _contains(ranges: list[tuple[int, int]], value: int) -> bool:
    return any(start <= value <= end for start, end in ranges)


def _add(ranges: list[tuple[int, int]], value: int) -> None:
    """Insert ``value`` into sorted, disjoint inclusive ranges, merging neighbours."""
    merged = sorted([*ranges, (value, value)])
    ranges.clear()
    for start, end in merged:
        if ranges and start <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((start, end))


def fills_gap(sequence: EventSequence | None, seq_no: int) -> bool:
    """Whether ``seq_no`` is one of ``sequence``'s missing numbers: below the highest, never
    arrived."""
    return (
        sequence is not None
        and sequence.latest is not None
        and seq_no < sequence.latest
        and not _contains(sequence.seen, seq_no)
    )
