"""Purging closed orders from the actual store after a buffer of log time, and with them
what the folds remember only for them.

A long-running account closes orders without end (a market maker re-quotes all day); the
log keeps every one of them, but a service's live projection need not. With a buffer set
for an account (`ActualState.purge_after`, from the settings), the fold queues each order of
the account's keys when it closes (`ClosedQueue`, by the time of the event that closed it)
and, whenever it changes an order of that key, drops the queued orders that closed at or
before `that event's time - buffer`.

Deterministic: the decision reads event times only, never the clock, so folding the same
log with the same buffers always gives equal states (a checkpoint agrees with a rebuild).
What a purge drops: the order record and its venue-id index entry, and the progress (and
backoff entry) of its intent once nothing can place that intent again: no live order, its
last attempt purged too, and not listed by the key's newest target (a position intent: of
a generation below the newest target's). What goes by the same buffer counted on the
key's fills (`fill_times`): the (venue, trade id) of a fill whose time (`traded_at`, else
`occurred_at`) is at or before the key's newest fill time - buffer. What is kept: the
position, `fill_net`, the journal, every answer about open orders. So no answer about open
orders or positions changes; only questions about a closed order long gone ("what was
order X?") are for the log (`replay`, `audit`, `explain` read it, not this projection).
Why forgetting old trade ids counts no fill twice: docs/decisions.md, "Bounded
projections".

A new trade of an order purged meanwhile (not a duplicate) counts as a fill of an unknown
order of ours, as before the order's write-ahead was folded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from immutables import Map

from setpoint.core.events import FillObserved
from setpoint.core.projections._values import EMPTY

__all__ = ["ClosedQueue", "due", "fill_time", "remember_fill"]


class ClosedQueue(NamedTuple):
    """A persistent FIFO of (time, item) in the order pushed: `entries[n] = (at, item)` for
    `head <= n < tail` (push and pop are O(log n)). Closed orders of one key by the time
    they closed (item: the ref), or fill ids by the fill's time (item: (venue, trade id))."""

    head: int = 0
    tail: int = 0
    entries: Map[int, tuple[datetime, Any]] = EMPTY

    def __len__(self) -> int:
        return self.tail - self.head

    def push(self, at: datetime, item: Any) -> ClosedQueue:
        return ClosedQueue(self.head, self.tail + 1, self.entries.set(self.tail, (at, item)))


NO_CLOSED = ClosedQueue()
_TICK = timedelta(microseconds=1)
"""The resolution of a datetime: `due(q, now - _TICK, b)` drops what is before `now - b`."""


def due(queue: ClosedQueue, now: datetime, buffer: timedelta) -> tuple[ClosedQueue, list[Any]]:
    """The queue without its entries at or before `now - buffer`, and their items
    (oldest first). Stops at the first younger entry: event times of different producers
    may be slightly out of order, which only keeps an entry a little longer."""
    horizon = now - buffer
    head, entries = queue.head, queue.entries
    refs: list[Any] = []
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


def fill_time(event: FillObserved) -> datetime:
    """A fill's time for the purge: when it traded, else when it was recorded (the time the
    gateway's trade reads count back from)."""
    return event.data.traded_at or event.occurred_at


def remember_fill(
    fills: Map[tuple[str, str], None],
    times: ClosedQueue,
    last_at: datetime | None,
    fill: tuple[tuple[str, str], datetime],
    buffer: timedelta | None,
) -> tuple[Map[tuple[str, str], None], ClosedQueue, datetime | None]:
    """`fills` with the fill's (venue, trade id), `fill` = (id, `fill_time`); with a purge
    `buffer`, the id is also queued in `times` and every id of a fill before the key's
    newest fill time (`last_at`, returned moved on) - buffer is forgotten. Without one, `times`
    and `last_at` are returned as they are."""
    fid, at = fill
    fills = fills.set(fid, None)
    if buffer is None:
        return fills, times, last_at
    if last_at is None or at > last_at:
        last_at = at
    # strictly older than the horizon: a trades read from exactly `last_at - buffer` on
    # (the gateway's, with a lookback equal to the buffer) still finds every id it shows
    times, gone = due(times.push(at, fid), last_at - _TICK, buffer)
    for old in gone:
        fills = fills.delete(old)
    return fills, times, last_at
