"""Purging closed orders from the actual store after a buffer of log time.

A long-running account closes orders without end (a market maker re-quotes all day); the
log keeps every one of them, but a service's live projection need not. With a buffer set
for an account (`ActualState.purge_after`, from the settings), the fold queues each order of
the account's keys when it closes (`ClosedQueue`, by the time of the event that closed it)
and, whenever it changes an order of that key, drops the queued orders that closed at or
before `that event's time - buffer`.

Deterministic: the decision reads event times only, never the clock, so folding the same
log with the same buffers always gives equal states (a checkpoint agrees with a rebuild).
What a purge drops: the order record and its venue-id index entry. What it keeps: the fill
ids (a late duplicate of a purged order's trade is still dropped by trade id), each
intent's progress (attempt, consumed, filled: a consumed intent is never placed again),
the position, `fill_net`, backoff and the journal. So no answer about open orders,
positions or fills changes; only questions about a closed order long gone ("what was order
X?") are for the log (`replay`, `audit`, `explain` read it, not this projection).

A new trade of an order purged meanwhile (not a duplicate) counts as a fill of an unknown
order of ours, as before the order's write-ahead was folded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from immutables import Map

from setpoint.core.projections._values import EMPTY

__all__ = ["ClosedQueue", "due"]


class ClosedQueue(NamedTuple):
    """Closed orders of one key in the order they closed: `entries[n] = (closed_at, ref)`
    for `head <= n < tail` (a persistent FIFO: push and pop are O(log n))."""

    head: int = 0
    tail: int = 0
    entries: Map[int, tuple[datetime, str]] = EMPTY

    def __len__(self) -> int:
        return self.tail - self.head

    def push(self, at: datetime, ref: str) -> ClosedQueue:
        return ClosedQueue(self.head, self.tail + 1, self.entries.set(self.tail, (at, ref)))


NO_CLOSED = ClosedQueue()


def due(queue: ClosedQueue, now: datetime, buffer: timedelta) -> tuple[ClosedQueue, list[str]]:
    """The queue without its entries closed at or before `now - buffer`, and their refs
    (oldest first). Stops at the first younger entry: event times of different producers
    may be slightly out of order, which only keeps an entry a little longer."""
    horizon = now - buffer
    head, entries, refs = queue.head, queue.entries, []
    while head < queue.tail:
        closed_at, ref = entries[head]
        if closed_at > horizon:
            break
        entries = entries.delete(head)
        refs.append(ref)
        head += 1
    if not refs:
        return queue, refs
    return ClosedQueue(head, queue.tail, entries), refs
