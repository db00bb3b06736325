"""Raw JetStream reads in batches (`read_all_raw`, `Feed.batches`) against a real
nats-server: every entry once, in order, through the stop and no further."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS

from setpoint.bus.subjects import event_subject
from setpoint.core.model import Key, Producer
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.jetstream_raw import Feed
from setpoint.testing.synthetic import synthetic_log, write

pytestmark = pytest.mark.nats

KEY = Key("alpha", "BTC/USDT")
BAD = (b"{not json", b'{"type": "OrderTeleported"}')


@pytest.fixture(scope="module")
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_url, name="test-jetstream-batches")
    yield client
    await client.drain()


@pytest.fixture
async def log(nc: NATS) -> AsyncIterator[JetStreamEventLog]:
    suffix = uuid.uuid4().hex[:10]
    event_log = await JetStreamEventLog.open(
        nc, stream=f"OF_{suffix}", subject_root=f"of{suffix}.evt"
    )
    yield event_log
    await event_log.close()
    await nc.jetstream().delete_stream(event_log.stream)


async def _fill(log: JetStreamEventLog, nc: NATS, count: int) -> None:
    """`count` events of the grid workload with the BAD entries among them."""
    events = synthetic_log(count, seed=3)
    subject = log.subject_root + event_subject(KEY, Producer.GATEWAY, "FillObserved").removeprefix(
        "setpoint.evt"
    )
    half = len(events) // 2
    await write(log, events[:half], batch=50)
    for raw in BAD:
        await nc.jetstream().publish(subject, raw)
    await write(log, events[half:], batch=50)


async def test_raw_batches_cover_the_log_once_in_order(log: JetStreamEventLog, nc: NATS) -> None:
    await _fill(log, nc, 3_000)
    head = await log.head()
    positions = [raw.sequence async for batch in log.read_all_raw() for raw in batch]
    assert positions == list(range(1, head + 1))
    assert [raw.sequence async for batch in log.read_all_raw(head + 1) for raw in batch] == []


async def test_feed_batches_stop_inside_a_batch_and_skip_gaps(
    log: JetStreamEventLog, nc: NATS
) -> None:
    await _fill(log, nc, 2_000)
    everything = [rec.position async for rec in log.read_all()]
    stop = everything[len(everything) // 2]
    feed = await Feed(nc, log.stream, f"{log.subject_root}.>", 1).open()
    try:
        got = [raw.sequence async for batch in feed.batches(stop) for raw in batch]
    finally:
        await feed.close()
    assert got == list(range(1, stop + 1))
    key_filter = f"{log.subject_root}.alpha.BTC-USDT.>"
    feed = await Feed(nc, log.stream, key_filter, 1).open()
    try:
        keyed = [raw.sequence async for batch in feed.batches(10**9) for raw in batch]
    finally:
        await feed.close()
    on_key = [rec.position for rec in await log.read(KEY)]
    assert keyed == sorted(on_key + [q.position for q in log.quarantine])  # BAD are on KEY
