"""The EventLog port: an append-only log of events, ordered by a global position.

Errors (the event-log branch of the one tree in `setpoint.errors`)::

    EventLogError
    ├── ConcurrencyConflict   the (key, producer) stream moved on since `expected`
    ├── LogUnavailable        the backend cannot be reached (transient)
    └── LogMisconfigured      the backend exists but its layout conflicts with ours

Contract (every adapter; tests/contract/test_eventlog.py checks each one):

* Positions are integers from 1, strictly increasing in log order, never reused.
* `append(key, producer, events, expected)` appends `events` (all of one key) for one
  producer. `expected` is the position of the last event this producer appended for this
  key as the caller knows it (`NO_EVENTS` = 0 for none yet), or `ANY` to skip the check.
  If the producer's stream for the key has moved on, nothing is appended and
  `ConcurrencyConflict` is raised. Appends are idempotent by `event_id`: appending events
  that are already in the log (a retry, even after the backend's duplicate window)
  succeeds without writing them again and returns their positions.
  Returns the position of every event, in order.
* `read(key)` returns every event of the key (all producers) in log order.
* `last_position(key, producer)` is the `expected` to pass for the next append.
* `read_all(from_position)` yields every event at or after the position, in log order,
  then stops at the end of the log as it was when the read began.
* `subscribe(from_position)` yields like `read_all` and then stays live: each event once,
  in order, with no gap and no repeat at the switch from catch-up to live.
* `follow(from_position, held)` is `subscribe` for a reader that also folds its own
  appends at once: entries at or below `held()` (asked per entry) are not yielded, and an
  adapter may skip them without parsing them.
* `identity()` names the log itself (for snapshots: another log, or the same stream made
  again, has another identity).
* An entry that does not parse (invalid JSON, unknown type or schema_version) never stops
  a read: it is skipped, logged with its position and recorded in `quarantine`. The one
  exception is a service's log (`refuse_newer` set, as the projection runner does): an
  entry whose `schema_version` is newer than this release reads is recorded, then the
  read raises `NewerSchema` (a service stops rather than go on without it).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from setpoint.core.errors import ConcurrencyConflict as ConcurrencyConflict
from setpoint.core.errors import EventLogError as EventLogError
from setpoint.core.errors import LogMisconfigured as LogMisconfigured
from setpoint.core.errors import LogUnavailable as LogUnavailable
from setpoint.core.events import Event
from setpoint.core.model import Key, Producer

__all__ = [
    "ANY",
    "NO_EVENTS",
    "ConcurrencyConflict",
    "EventLog",
    "EventLogError",
    "LogMisconfigured",
    "LogUnavailable",
    "Quarantined",
    "Recorded",
]

ANY: Final = -1
"""`expected` value that skips the concurrency check."""
NO_EVENTS: Final = 0
"""`expected` value for a producer that has not appended for the key yet."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event as stored, with its global position."""

    position: int
    event: Event


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A log entry that could not be parsed; kept so that nothing is dropped silently."""

    position: int
    subject: str
    reason: str
    raw: bytes


class EventLog(abc.ABC):
    """See the module docstring for the contract."""

    def __init__(self) -> None:
        self.quarantine: list[Quarantined] = []
        self.refuse_newer = False

    @abc.abstractmethod
    async def append(
        self, key: Key, producer: Producer, events: Sequence[Event], expected: int
    ) -> list[int]: ...

    @abc.abstractmethod
    async def read(self, key: Key) -> list[Recorded]: ...

    @abc.abstractmethod
    async def last_position(self, key: Key, producer: Producer) -> int: ...

    @abc.abstractmethod
    def read_all(self, from_position: int = 1) -> AsyncIterator[Recorded]: ...

    @abc.abstractmethod
    def subscribe(self, from_position: int = 1) -> AsyncIterator[Recorded]: ...

    async def follow(self, from_position: int, held: Callable[[], int]) -> AsyncIterator[Recorded]:
        """`subscribe`, less the entries at or below `held()` (module docstring). This
        default parses them and drops them; adapters skip them unparsed."""
        async for record in self.subscribe(from_position):
            if record.position > held():
                yield record

    @abc.abstractmethod
    async def head(self) -> int:
        """Position of the last entry in the log (0 when empty)."""

    async def identity(self) -> str:
        """What tells this log apart from another, or from the same name made again (a
        stream deleted and recreated): a projection snapshot is trusted only on the log
        it was taken of (`eventlog.snapshots`). The default names this object, so only
        its own process can match it (the memory log)."""
        return f"{type(self).__name__}@{id(self):x}"

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Idempotent."""
