"""Snapshots of a service's projections, so that a restart folds only the log's tail.

A snapshot is one object per projection kind (`differ`, `executor`, `gateway.<account>`)
in a store (`SnapshotStore`: the JetStream object store bucket `SETPOINT_SNAPSHOTS`, or a
dict in memory for tests): a header line of JSON, then the body, the projection's state
as plain values (`core.projections.snapshot`). The header is the fingerprint:

* `format` and `schema`: the layout of the body (`snapshot.FORMAT`, `snapshot.SCHEMA`, a
  digest of every type the body may hold): another release's layout is not read;
* `kind`: whose projection it is; `settings`: a digest of the settings the fold depends
  on (the purge buffers, the loss clocks; the service names them);
* `log`: the identity of the log it was taken of (`EventLog.identity`: the stream's
  name, creation time and first sequence);
* `position` and `event_id`: the log position the state covers and the id of the event
  at that position, read back from the log before the snapshot is trusted.

`Snapshots.load(log)` returns the state of the newest snapshot that matches all of it,
or None: a missing, unreadable or mismatched snapshot is logged once, with why, and
ignored (the projection is then rebuilt from the start of the log), never trusted.
`Snapshots.save(log, position, state)` writes one; the body is made in a worker thread
(the state is immutable values and copies, so the loop keeps folding meanwhile).
Errors of the store (no bucket and no right to make it, an outage) never stop a service:
they are logged once and the next attempt comes at the next interval.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import contextlib
import hashlib
import logging
import weakref
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson

from setpoint.bus.permissions import SNAPSHOT_BUCKET
from setpoint.config import Settings
from setpoint.core.errors import SnapshotFormatError
from setpoint.core.projections import snapshot
from setpoint.eventlog.port import EventLog, EventLogError, Recorded

__all__ = [
    "BUCKET",
    "MemorySnapshotStore",
    "ObjectSnapshotStore",
    "SnapshotStore",
    "Snapshots",
    "settings_digest",
    "snapshots_for",
]

log = logging.getLogger(__name__)

BUCKET = SNAPSHOT_BUCKET
"""The JetStream object store bucket of the snapshots (made by the admin's step, else by
the first service allowed to)."""


class SnapshotStore(abc.ABC):
    """Where snapshots are kept, one object per name (a put replaces it)."""

    @abc.abstractmethod
    async def get(self, name: str) -> bytes | None:
        """The object, None when there is none."""

    @abc.abstractmethod
    async def put(self, name: str, data: bytes) -> None: ...


class MemorySnapshotStore(SnapshotStore):
    """A dict: for the memory log and tests."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def get(self, name: str) -> bytes | None:
        return self.objects.get(name)

    async def put(self, name: str, data: bytes) -> None:
        self.objects[name] = data


class ObjectSnapshotStore(SnapshotStore):
    """The JetStream object store bucket `bucket` over `nc` (made when missing, with
    `replicas` copies; one history entry per name)."""

    def __init__(self, nc: Any, bucket: str = BUCKET, replicas: int = 1) -> None:
        self._nc, self._bucket, self._replicas = nc, bucket, replicas
        self._store: Any = None

    async def open(self) -> Any:
        """Look the bucket up, make it when missing (idempotent)."""
        if self._store is None:
            from nats.js.api import ObjectStoreConfig
            from nats.js.errors import BucketNotFoundError

            js = self._nc.jetstream()
            try:
                self._store = await js.object_store(self._bucket)
            except BucketNotFoundError:
                config = ObjectStoreConfig(replicas=self._replicas)
                self._store = await js.create_object_store(self._bucket, config)
        return self._store

    async def get(self, name: str) -> bytes | None:
        """The object's bytes, its SHA-256 digest checked (SnapshotFormatError when it does
        not match); None when there is none. The chunks are read by one ordered consumer
        and joined once: nats-py's own `get` appends each chunk to a growing bytes value,
        which copies the object over and over (10 s for 47 MB, against 0.4 s this way)."""
        from nats.js.errors import NotFoundError, ObjectDeletedError, ObjectNotFoundError

        store = await self.open()
        try:
            info = await store.get_info(name)
        except (ObjectNotFoundError, ObjectDeletedError, NotFoundError):
            return None
        if not info.size:
            return b""
        subject = f"$O.{self._bucket}.C.{info.nuid}"
        sub = await self._nc.jetstream().subscribe(
            subject, ordered_consumer=True, pending_bytes_limit=_PENDING_BYTES
        )
        try:
            data = await _chunks(sub, info.size)
        finally:
            await sub.unsubscribe()
        _check_digest(name, data, info.digest)
        return data

    async def put(self, name: str, data: bytes) -> None:
        store = await self.open()
        await store.put(name, data)


_PENDING_BYTES = 256 * 1024 * 1024
"""How much of an object the subscription may hold unread (the chunks come as fast as
the server sends them; the default limit would drop a large snapshot's)."""
_CHUNK_WAIT_S = 10.0  # float-ok
"""The longest wait for the next chunk of an object before the read is given up."""


async def _chunks(sub: Any, size: int) -> bytes:
    """The `size` bytes of an object's chunks as `sub` (an ordered consumer) delivers them,
    joined once at the end."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        msg = await sub.next_msg(timeout=_CHUNK_WAIT_S)
        parts.append(msg.data)
        got += len(msg.data)
    if got != size:
        raise SnapshotFormatError(f"snapshot object of {got} bytes, its info says {size}")
    return b"".join(parts)


def _check_digest(name: str, data: bytes, digest: str | None) -> None:
    """SnapshotFormatError unless `data` has the object store's `SHA-256=<base64url>`."""
    kind, _, encoded = (digest or "").partition("=")
    if kind.upper() != "SHA-256":
        raise SnapshotFormatError(f"snapshot object {name} has no SHA-256 digest ({digest!r})")
    padded = encoded + "=" * (-len(encoded) % 4)  # some clients leave the padding out
    if base64.urlsafe_b64decode(padded) != hashlib.sha256(data).digest():
        raise SnapshotFormatError(f"snapshot object {name}: its chunks do not match its digest")


def settings_digest(*values: Any) -> str:
    """A short digest of the settings a fold depends on (plain values of `values`)."""
    return hashlib.sha256(snapshot.dumps(values)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Header:
    """The fingerprint of a snapshot (module docstring)."""

    format: int
    schema: str
    kind: str
    settings: str
    log: str
    position: int
    event_id: str

    def to_json(self) -> bytes:
        return orjson.dumps({f: getattr(self, f) for f in self.__slots__})

    @classmethod
    def from_json(cls, raw: bytes) -> Header:
        try:
            value = orjson.loads(raw)
            return cls(**{f: value[f] for f in cls.__slots__})
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise SnapshotFormatError(f"no snapshot header ({exc})") from exc


class Snapshots:
    """The snapshots of one projection kind in `store`; `settings`: `settings_digest` of
    what the fold depends on; `every`: write one each time the projection has moved on
    by this many events (the projection runner asks `due`)."""

    def __init__(self, store: SnapshotStore, kind: str, settings: str, every: int) -> None:
        self.store, self.kind, self.settings, self.every = store, kind, settings, every
        self.position = 0
        """The position of the last snapshot loaded or written (0: none)."""
        self._warned: set[str] = set()

    def due(self, position: int) -> bool:
        return position - self.position >= self.every

    # ------------------------------------------------------------------ reading

    async def load(
        self, event_log: EventLog, decode: Callable[[bytes], Any] = snapshot.loads
    ) -> tuple[int, Any] | None:
        """(position, state) of the stored snapshot when it matches (module docstring),
        else None (the reason logged once)."""
        try:
            raw = await self.store.get(self.kind)
        except Exception as exc:  # the store is optional: never stops a start
            self._warn("read", f"snapshot store not readable ({exc!r}); rebuilding from the log")
            return None
        if raw is None:
            return None
        try:
            header_raw, _, body = raw.partition(b"\n")
            header = Header.from_json(header_raw)
            await self._check(header, event_log)
            state = await asyncio.to_thread(decode, body)
        except (SnapshotFormatError, EventLogError) as exc:
            self._warn("ignored", f"snapshot {self.kind} ignored ({exc}); rebuilding from the log")
            return None
        self.position = header.position
        log.info("%s: starting from the snapshot at log position %d", self.kind, header.position)
        return header.position, state

    async def _check(self, header: Header, event_log: EventLog) -> None:
        """SnapshotFormatError unless `header` fits this release, this projection and this
        log, with the event it names at its position."""
        wanted = (snapshot.FORMAT, snapshot.SCHEMA, self.kind, self.settings)
        found = (header.format, header.schema, header.kind, header.settings)
        names = ("format", "schema", "kind", "settings")
        for name, want, got in zip(names, wanted, found, strict=True):
            if want != got:
                raise SnapshotFormatError(f"{name} {got!r}, this process has {want!r}")
        identity = await event_log.identity()
        if header.log != identity:
            raise SnapshotFormatError(f"taken of log {header.log!r}, this is {identity!r}")
        event_id = await _event_id_at(event_log, header.position)
        if event_id != header.event_id:
            raise SnapshotFormatError(
                f"position {header.position} holds {event_id or 'no event'}, "
                f"the snapshot names {header.event_id}"
            )

    # ------------------------------------------------------------------ writing

    async def save(self, event_log: EventLog, position: int, state: Any) -> bool:
        """Write the snapshot of `state`, which holds the log up to `position`; False (and
        logged once) when it could not be written."""
        try:
            event_id = await _event_id_at(event_log, position)
            if event_id is None:
                return False
            header = Header(
                snapshot.FORMAT, snapshot.SCHEMA, self.kind, self.settings,
                await event_log.identity(), position, event_id,
            )  # fmt: skip
            body = await asyncio.to_thread(snapshot.dumps, state)
            await self.store.put(self.kind, header.to_json() + b"\n" + body)
        except Exception as exc:  # the store is optional: never stops a service
            self._warn("write", f"snapshot {self.kind} not written ({exc!r})")
            return False
        self.position = max(self.position, position)
        log.info("%s: snapshot at log position %d (%d bytes)", self.kind, position, len(body))
        return True

    def _warn(self, what: str, text: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning("%s", text)


async def _event_id_at(event_log: EventLog, position: int) -> str | None:
    """The id of the event at `position` (None: no readable event there)."""
    if position < 1:
        return None
    records = cast(AsyncGenerator[Recorded, None], event_log.read_all(position))
    async with contextlib.aclosing(records):
        async for record in records:
            return record.event.event_id if record.position == position else None
    return None


_MEMORY_STORES: weakref.WeakKeyDictionary[EventLog, MemorySnapshotStore] = (
    weakref.WeakKeyDictionary()
)


def snapshots_for(
    settings: Settings, event_log: EventLog, kind: str, *depends: Any
) -> Snapshots | None:
    """The snapshots of `kind` on the configured store, None with `eventlog.snapshots`
    off. `depends`: the settings the fold depends on (`settings_digest`). A JetStream log
    keeps them in the object store `SETPOINT_SNAPSHOTS` on its own connection; any other
    log in a dict that lives as long as the log object (a test's restarts share it)."""
    config = settings.eventlog
    if not config.snapshots:
        return None
    from setpoint.eventlog.jetstream import JetStreamEventLog

    store: SnapshotStore
    if isinstance(event_log, JetStreamEventLog):
        store = ObjectSnapshotStore(event_log.connection, BUCKET, config.replicas)
    else:
        store = _MEMORY_STORES.setdefault(event_log, MemorySnapshotStore())
    return Snapshots(store, kind, settings_digest(*depends), config.snapshot_every)
