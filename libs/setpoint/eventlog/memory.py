"""The in-memory EventLog: the port contract with no backend, for tests and tools.

Positions are list indices + 1. Every entry carries the subject it would have on
JetStream (`setpoint.bus.subjects.event_subject`), so `read(key)` selects entries exactly
as the JetStream adapter's subject filter does. `inject_raw` stores bytes that are not a
valid event, so the quarantine path can be tested without a broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from setpoint.bus.subjects import event_subject, key_filter
from setpoint.core.errors import NewerSchema
from setpoint.core.events import (
    KNOWN_SCHEMA_VERSION,
    Event,
    EventParseError,
    newer_schema,
    parse_event,
)
from setpoint.core.model import Key, Producer
from setpoint.eventlog.port import (
    ANY,
    ConcurrencyConflict,
    EventLog,
    Quarantined,
    Recorded,
)

log = logging.getLogger(__name__)


def check_batch(key: Key, producer: Producer, events: Sequence[Event]) -> None:
    """Raise ValueError unless every event belongs to `key` and was made by `producer`.

    Shared by every adapter: a batch is one producer's facts about one key."""
    for event in events:
        if event.key != key or event.producer is not producer:
            raise ValueError(
                f"event {event.event_id} ({event.key}, {event.producer.value}) "
                f"does not belong to the batch of ({key}, {producer.value})"
            )


class QuarantineMixin:
    """Records unparseable entries once each (by position) and logs them."""

    quarantine: list[Quarantined]
    _quarantined_positions: set[int]
    refuse_newer: bool

    def _quarantine(self, position: int, subject: str, reason: str, raw: bytes) -> None:
        """Record the entry once; with `refuse_newer`, raise `NewerSchema` when it is of a
        newer schema_version (port docstring)."""
        if position not in self._quarantined_positions:
            self._quarantined_positions.add(position)
            self.quarantine.append(Quarantined(position, subject, reason, raw))
            log.warning("quarantined log entry %d on %s: %s", position, subject, reason)
        version = newer_schema(raw) if self.refuse_newer else None
        if version is not None:
            raise NewerSchema(position, subject, version, KNOWN_SCHEMA_VERSION)


@dataclass(frozen=True, slots=True)
class _Entry:
    subject: str
    event: Event | None
    raw: bytes = b""


class InMemoryEventLog(QuarantineMixin, EventLog):
    """The port contract held in a list; one process, no persistence."""

    def __init__(self) -> None:
        super().__init__()
        self._quarantined_positions = set()
        self._entries: list[_Entry] = []
        self._positions: dict[str, int] = {}
        self._last: dict[tuple[Key, Producer], int] = {}
        self._grown = asyncio.Event()

    async def append(
        self, key: Key, producer: Producer, events: Sequence[Event], expected: int
    ) -> list[int]:
        """See the port. A retry whose leading events are already stored is completed: the
        rest is checked against the position of the last stored one (as on JetStream)."""
        check_batch(key, producer, events)
        done = self._leading_known(events)
        if len(done) == len(events):
            return done
        check = done[-1] if done and expected != ANY else expected
        actual = self._last.get((key, producer), 0)
        if check != ANY and check != actual:
            raise ConcurrencyConflict(key, producer, expected, actual)
        rest = events[len(done) :]
        stored = [self._positions.get(e.event_id) or self._store(key, producer, e) for e in rest]
        return done + stored

    def _leading_known(self, events: Sequence[Event]) -> list[int]:
        """Positions of the longest run of leading events that are already stored."""
        out = []
        for event in events:
            position = self._positions.get(event.event_id)
            if position is None:
                break
            out.append(position)
        return out

    def _store(self, key: Key, producer: Producer, event: Event) -> int:
        self._entries.append(_Entry(event_subject(key, producer, event.type), event))
        position = len(self._entries)
        self._positions[event.event_id] = position
        self._last[(key, producer)] = position
        self._wake()
        return position

    def inject_raw(self, subject: str, raw: bytes) -> int:
        """Store bytes as they might arrive from another writer (tests of the quarantine)."""
        self._entries.append(_Entry(subject, None, raw))
        self._wake()
        return len(self._entries)

    def _wake(self) -> None:
        self._grown.set()
        self._grown = asyncio.Event()

    def _recorded(self, position: int) -> Recorded | None:
        """The entry at `position` as a Recorded, or None (quarantined) when it does not parse."""
        entry = self._entries[position - 1]
        if entry.event is not None:
            return Recorded(position, entry.event)
        try:
            return Recorded(position, parse_event(entry.raw))
        except EventParseError as exc:
            self._quarantine(position, entry.subject, exc.reason, entry.raw)
            return None

    async def read(self, key: Key) -> list[Recorded]:
        prefix = key_filter(key)[:-1]
        out = []
        for position, entry in enumerate(self._entries, start=1):
            if entry.subject.startswith(prefix):
                recorded = self._recorded(position)
                if recorded is not None:
                    out.append(recorded)
        return out

    async def last_position(self, key: Key, producer: Producer) -> int:
        return self._last.get((key, producer), 0)

    async def read_all(self, from_position: int = 1) -> AsyncIterator[Recorded]:
        end = len(self._entries)
        for position in range(max(from_position, 1), end + 1):
            recorded = self._recorded(position)
            if recorded is not None:
                yield recorded

    async def subscribe(self, from_position: int = 1) -> AsyncIterator[Recorded]:
        position = max(from_position, 1)
        while True:
            while position <= len(self._entries):
                recorded = self._recorded(position)
                position += 1
                if recorded is not None:
                    yield recorded
            await self._grown.wait()

    async def head(self) -> int:
        return len(self._entries)
