"""Restarting from a projection snapshot, through a real nats-server (JetStream stream and
object store): a restart folds only the events after the snapshot and ends where a full
rebuild ends; a snapshot of another stream, naming another event at its position, of
another format, with other settings or a body that does not read is ignored (logged)
and the projection rebuilt from the start, to the same state."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import nats
import orjson
import pytest
from immutables import Map
from nats.aio.client import Client as NATS

from setpoint.core.errors import SnapshotFormatError
from setpoint.core.events import Event
from setpoint.differ.view import DifferView
from setpoint.eventlog import ANY, Recorded
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.projection import ProjectionRunner
from setpoint.eventlog.snapshots import ObjectSnapshotStore, Snapshots, settings_digest
from setpoint.testing.synthetic import synthetic_log

pytestmark = [pytest.mark.nats, pytest.mark.timeout(120)]

PURGE: Map[str, timedelta] = Map({"alpha": timedelta(seconds=5), "beta": timedelta(seconds=5)})
EVERY = 400


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_url, name="test-snapshots")
    yield client
    await client.close()


async def _stream(nc: NATS, events: list[Event]) -> JetStreamEventLog:
    suffix = uuid.uuid4().hex[:10]
    log = await JetStreamEventLog.open(nc, stream=f"SN_{suffix}", subject_root=f"sn{suffix}.evt")
    await _append(log, events)
    return log


async def _append(log: JetStreamEventLog, events: list[Event]) -> None:
    for n in range(0, len(events), 200):  # in order, 200 appends in flight at a time
        batch = events[n : n + 200]
        await asyncio.gather(*[log.append(e.key, e.producer, [e], ANY) for e in batch])


class Started:
    """A differ's view folded by the one runner, counting the records it folded."""

    def __init__(self, log: JetStreamEventLog, snapshots: Snapshots | None) -> None:
        self.view = DifferView(PURGE)
        self.folded = 0
        self.snapshots = snapshots
        self.runner = ProjectionRunner(log, self._apply, lambda: self.view.position, name="t")
        if snapshots is not None:
            self.runner.use_snapshots(snapshots, self.view.capture, self.view.restore)

    def _apply(self, record: Recorded) -> None:
        self.folded += 1
        self.view.apply(record)

    async def start(self) -> Any:
        await self.runner.rebuild()
        return self.view.capture()


def _snapshots(store: ObjectSnapshotStore, kind: str = "differ") -> Snapshots:
    return Snapshots(store, kind, settings_digest(PURGE), EVERY)


async def _written(started: Started, position: int) -> None:
    """Wait for the background write of the snapshot at `position` (or past it)."""
    assert await started.runner.caught_up(60)
    assert await started.runner.snapshot_written()
    assert started.snapshots is not None
    assert started.snapshots.position >= position


async def _full(log: JetStreamEventLog) -> Any:
    return await Started(log, None).start()


@pytest.fixture
async def store(nc: NATS) -> ObjectSnapshotStore:
    return ObjectSnapshotStore(nc, f"SNAP_{uuid.uuid4().hex[:10]}")


async def test_a_restart_folds_only_the_events_after_the_snapshot(
    nc: NATS, store: ObjectSnapshotStore
) -> None:
    events = synthetic_log(1200, seed=5)
    log = await _stream(nc, events[:1000])
    first = Started(log, _snapshots(store))
    await first.start()
    await _written(first, 1000)  # due after the rebuild: written in the background
    await _append(log, events[1000:])
    again = Started(log, _snapshots(store))
    state = await again.start()
    assert again.folded == len(events) - 1000
    assert state == await _full(log)
    await log.close()


async def test_a_following_runner_writes_a_snapshot_every_n_events(
    nc: NATS, store: ObjectSnapshotStore
) -> None:
    events = synthetic_log(1000, seed=6)
    log = await _stream(nc, events[:100])
    snapshots = _snapshots(store)
    started = Started(log, snapshots)
    await started.start()
    assert snapshots.position == 0  # 100 events: none due yet
    started.runner.start()
    await _append(log, events[100:])
    await _written(started, EVERY)
    await started.runner.stop()
    again = Started(log, _snapshots(store))
    assert await again.start() == await _full(log)
    assert again.folded < len(events)
    await log.close()


def _tampered(raw: bytes, **header: Any) -> bytes:
    head, _, body = raw.partition(b"\n")
    return orjson.dumps(orjson.loads(head) | header) + b"\n" + body


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"position": 999}, "holds"),
        ({"event_id": "0" * 32}, "holds"),
        ({"format": 99}, "format"),
        ({"schema": "older"}, "schema"),
        ({"settings": "other"}, "settings"),
        ({"kind": "executor"}, "kind"),
        ({"log": "SETPOINT@2020-01-01#1"}, "taken of log"),
        ("body", "OrderRecord with 1 fields"),
        ("shape", "snapshot ignored"),
        ("header", "no snapshot header"),
    ],
)
async def test_a_mismatched_snapshot_is_ignored_and_the_log_rebuilt(
    nc: NATS,
    store: ObjectSnapshotStore,
    caplog: pytest.LogCaptureFixture,
    change: Any,
    says: str,
) -> None:
    events = synthetic_log(1000, seed=7)
    log = await _stream(nc, events)
    first = Started(log, _snapshots(store))
    await first.start()
    await _written(first, 1000)
    raw = await store.get("differ")
    assert raw is not None
    if change == "body":
        raw = raw.partition(b"\n")[0] + b'\n["N", "OrderRecord", 1]'
    elif change == "shape":
        raw = raw.partition(b"\n")[0] + b'\n["U", 1, 2]'
    elif change == "header":
        raw = b"garbage\n" + raw.partition(b"\n")[2]
    else:
        raw = _tampered(raw, **change)
    await store.put("differ", raw)
    caplog.set_level(logging.WARNING)
    again = Started(log, _snapshots(store))
    state = await again.start()
    assert again.folded == len(events)
    assert state == await _full(log)
    assert [r.getMessage() for r in caplog.records if says in r.getMessage()]
    await log.close()


async def test_a_snapshot_of_another_stream_is_ignored(
    nc: NATS, store: ObjectSnapshotStore
) -> None:
    events = synthetic_log(600, seed=8)
    one, other = await _stream(nc, events), await _stream(nc, events)
    first = Started(one, _snapshots(store))
    await first.start()
    await _written(first, 600)
    again = Started(other, _snapshots(store))
    assert await again.start() == await _full(other)
    assert again.folded == len(events)
    await one.close()
    await other.close()


async def test_the_store_reads_a_large_object_back_and_checks_its_digest(
    nc: NATS, store: ObjectSnapshotStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Many chunks read back whole and in order; a chunk changed under the object's info
    fails the digest check: the snapshot is not trusted, the log is rebuilt."""
    data = bytes(range(256)) * 8192 + b"tail"  # 2 MiB and a bit: 17 chunks of 128 KiB
    await store.put("big", data)
    assert await store.get("big") == data
    assert await store.get("missing") is None
    await store.put("empty", b"")
    assert await store.get("empty") == b""
    info = await (await store.open()).get_info("big")
    subject = f"$O.{store._bucket}.C.{info.nuid}"
    js = nc.jetstream()
    await js.purge_stream(f"OBJ_{store._bucket}", subject=subject)
    garbage = b"x" * len(data)  # the same size, other bytes, in chunks of the same size
    for n in range(0, len(garbage), 128 * 1024):
        await js.publish(subject, garbage[n : n + 128 * 1024])
    with pytest.raises(SnapshotFormatError, match="do not match its digest"):
        await store.get("big")
    events = synthetic_log(300, seed=9)
    log = await _stream(nc, events)
    first = Started(log, _snapshots(store, "big"))
    caplog.set_level(logging.WARNING)
    assert await first.start() == await _full(log)
    assert first.folded == len(events)
    assert [r.getMessage() for r in caplog.records if "not readable" in r.getMessage()]
    await log.close()
