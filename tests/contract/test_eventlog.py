"""The EventLog port contract, one abstract suite run unchanged against every adapter.

`EventLogContract` holds the tests; each adapter subclasses it once and supplies a fresh,
empty log (`log` fixture) plus two hooks: `inject_raw` (store bytes that are not a valid
event, as a foreign writer could) and `outlast_duplicate_window`. The JetStream class uses
the real nats-server of the session (`nats_url`), a stream and subject root of its own per
test, and a 1 s duplicate window.
"""

from __future__ import annotations

import abc
import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import api

from setpoint.bus.subjects import event_subject
from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    AccountModeChangedData,
    Event,
    FillObserved,
    OrderPlaced,
    OrderPlacedData,
)
from setpoint.core.model import Key, Producer, Side
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.eventlog.port import (
    ANY,
    NO_EVENTS,
    ConcurrencyConflict,
    EventLog,
    LogMisconfigured,
    LogUnavailable,
    Recorded,
)
from setpoint.testing.synthetic import fill_data

KEY = Key("demo", "BTC/USDT")
OTHER = Key("demo", "ETH/USDT")
ACCOUNT = Key("demo", None)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def placed(key: Key = KEY, n: int = 1, **kw: str) -> OrderPlaced:
    return OrderPlaced.create(
        key, Producer.GATEWAY, OrderPlacedData(client_order_id=f"c{n}", order_id=f"o{n}"), **kw
    )


def fill(key: Key = KEY, n: int = 1) -> FillObserved:
    price, quantity = Decimal("60000.10"), Decimal("0.001")
    data = fill_data(
        f"c{n}", f"o{n}", Side.BUY, price, quantity, trade_id=f"t{n}", fee=Decimal("0.012")
    )
    return FillObserved.create(key, Producer.GATEWAY, data)


def mode(key: Key = ACCOUNT, producer: Producer = Producer.DIFFER) -> AccountModeChanged:
    return AccountModeChanged.create(
        key, producer, AccountModeChangedData(mode=AccountMode.LIQUIDATE_ONLY)
    )


def ids(records: list[Recorded]) -> list[str]:
    return [r.event.event_id for r in records]


async def collect(source: AsyncIterator[Recorded]) -> list[Recorded]:
    return [rec async for rec in source]


BAD_ENTRIES = {
    "invalid-json": b"{not json",
    "unknown-type": placed().to_json().replace(b'"OrderPlaced"', b'"OrderTeleported"'),
    "unknown-schema-version": placed()
    .to_json()
    .replace(b'"schema_version":1', b'"schema_version":99'),
}


class EventLogContract(abc.ABC):
    """Every adapter passes these unchanged (the module docstring says how to add one)."""

    @abc.abstractmethod
    async def inject_raw(self, log: EventLog, key: Key, raw: bytes) -> None:
        """Store `raw` on the key's gateway FillObserved subject, bypassing the adapter."""

    async def outlast_duplicate_window(self) -> None:  # noqa: B027 - optional hook
        """Wait until the backend's duplicate detection has forgotten recent ids."""

    # ------------------------------------------------------------ positions, round trip

    async def test_an_empty_log(self, log: EventLog) -> None:
        assert await log.head() == 0
        assert await log.read(KEY) == []
        assert await log.last_position(KEY, Producer.GATEWAY) == NO_EVENTS
        assert await collect(log.read_all()) == []

    async def test_positions_start_at_one_and_increase(self, log: EventLog) -> None:
        first = await log.append(KEY, Producer.GATEWAY, [placed(n=1), placed(n=2)], NO_EVENTS)
        second = await log.append(OTHER, Producer.GATEWAY, [placed(OTHER, 3)], NO_EVENTS)
        assert first == [1, 2]
        assert second == [3]
        assert await log.head() == 3

    async def test_appended_events_read_back_equal_in_order(self, log: EventLog) -> None:
        events: list[Event] = [placed(n=1), fill(n=1), placed(n=2, traceparent=TRACEPARENT)]
        positions = await log.append(KEY, Producer.GATEWAY, events, NO_EVENTS)
        records = await log.read(KEY)
        assert [r.event for r in records] == events
        assert [r.position for r in records] == positions
        assert records[2].event.traceparent == TRACEPARENT
        assert [r.event for r in await collect(log.read_all())] == events

    async def test_read_returns_every_producer_of_the_key_and_nothing_else(
        self, log: EventLog
    ) -> None:
        await log.append(KEY, Producer.GATEWAY, [placed(n=1)], NO_EVENTS)
        await log.append(OTHER, Producer.GATEWAY, [placed(OTHER, 2)], NO_EVENTS)
        await log.append(ACCOUNT, Producer.DIFFER, [mode()], NO_EVENTS)
        account_wide = mode(KEY, Producer.DIFFER)
        await log.append(KEY, Producer.DIFFER, [account_wide], NO_EVENTS)
        assert [r.position for r in await log.read(KEY)] == [1, 4]
        assert [r.position for r in await log.read(ACCOUNT)] == [3]

    async def test_an_empty_batch_appends_nothing(self, log: EventLog) -> None:
        assert await log.append(KEY, Producer.GATEWAY, [], NO_EVENTS) == []
        assert await log.head() == 0

    async def test_a_batch_must_be_one_keys_and_one_producers(self, log: EventLog) -> None:
        with pytest.raises(ValueError, match="does not belong"):
            await log.append(KEY, Producer.GATEWAY, [placed(OTHER)], NO_EVENTS)
        with pytest.raises(ValueError, match="does not belong"):
            await log.append(KEY, Producer.EXECUTOR, [placed()], NO_EVENTS)
        assert await log.head() == 0

    # ------------------------------------------------------------ optimistic concurrency

    async def test_last_position_is_the_producers_own(self, log: EventLog) -> None:
        await log.append(KEY, Producer.GATEWAY, [placed(n=1), placed(n=2)], NO_EVENTS)
        await log.append(KEY, Producer.DIFFER, [mode(KEY)], NO_EVENTS)
        assert await log.last_position(KEY, Producer.GATEWAY) == 2
        assert await log.last_position(KEY, Producer.DIFFER) == 3
        assert await log.last_position(OTHER, Producer.GATEWAY) == NO_EVENTS

    async def test_two_producers_on_one_key_do_not_conflict(self, log: EventLog) -> None:
        await log.append(KEY, Producer.GATEWAY, [placed(n=1)], NO_EVENTS)
        await log.append(KEY, Producer.DIFFER, [mode(KEY)], NO_EVENTS)
        await log.append(KEY, Producer.GATEWAY, [placed(n=2)], 1)
        assert await log.head() == 3

    async def test_a_stale_expected_conflicts_and_appends_nothing(self, log: EventLog) -> None:
        await log.append(KEY, Producer.GATEWAY, [placed(n=1)], NO_EVENTS)
        await log.append(KEY, Producer.GATEWAY, [placed(n=2)], 1)
        with pytest.raises(ConcurrencyConflict) as info:
            await log.append(KEY, Producer.GATEWAY, [placed(n=3), placed(n=4)], 1)
        assert (info.value.key, info.value.producer) == (KEY, Producer.GATEWAY)
        assert (info.value.expected, info.value.actual) == (1, 2)
        assert await log.head() == 2

    async def test_expecting_events_on_a_fresh_stream_conflicts(self, log: EventLog) -> None:
        with pytest.raises(ConcurrencyConflict):
            await log.append(KEY, Producer.GATEWAY, [placed()], 5)
        await log.append(OTHER, Producer.GATEWAY, [placed(OTHER)], NO_EVENTS)
        with pytest.raises(ConcurrencyConflict):
            await log.append(KEY, Producer.GATEWAY, [placed()], NO_EVENTS + 1)

    async def test_any_skips_the_check(self, log: EventLog) -> None:
        await log.append(KEY, Producer.GATEWAY, [placed(n=1)], NO_EVENTS)
        assert await log.append(KEY, Producer.GATEWAY, [placed(n=2), placed(n=3)], ANY) == [2, 3]

    # ------------------------------------------------------------ idempotency

    async def test_a_retry_writes_nothing_and_returns_the_same_positions(
        self, log: EventLog
    ) -> None:
        batch: list[Event] = [placed(n=1), fill(n=1)]
        first = await log.append(KEY, Producer.GATEWAY, batch, NO_EVENTS)
        assert await log.append(KEY, Producer.GATEWAY, batch, NO_EVENTS) == first
        again = [placed(n=2)]
        position = await log.append(KEY, Producer.GATEWAY, again, ANY)
        assert await log.append(KEY, Producer.GATEWAY, again, ANY) == position
        assert ids(await log.read(KEY)) == [e.event_id for e in [*batch, *again]]

    async def test_a_retry_after_other_writes_still_succeeds(self, log: EventLog) -> None:
        batch = [placed(n=1)]
        first = await log.append(KEY, Producer.GATEWAY, batch, NO_EVENTS)
        await log.append(KEY, Producer.GATEWAY, [placed(n=2)], first[0])
        assert await log.append(KEY, Producer.GATEWAY, batch, NO_EVENTS) == first
        assert await log.head() == 2

    async def test_a_retry_after_the_duplicate_window_writes_nothing(self, log: EventLog) -> None:
        batch: list[Event] = [placed(n=1), fill(n=1)]
        first = await log.append(KEY, Producer.GATEWAY, batch, NO_EVENTS)
        await self.outlast_duplicate_window()
        assert await log.append(KEY, Producer.GATEWAY, batch, NO_EVENTS) == first
        assert await log.head() == 2

    async def test_a_retry_of_a_partly_written_batch_completes_it(self, log: EventLog) -> None:
        one, two = placed(n=1), fill(n=1)
        await log.append(KEY, Producer.GATEWAY, [one], NO_EVENTS)  # as if the link broke
        assert await log.append(KEY, Producer.GATEWAY, [one, two], NO_EVENTS) == [1, 2]
        assert ids(await log.read(KEY)) == [one.event_id, two.event_id]

    async def test_a_retry_cut_in_by_another_writer_conflicts(self, log: EventLog) -> None:
        one, two = placed(n=1), fill(n=1)
        await log.append(KEY, Producer.GATEWAY, [one], NO_EVENTS)
        await log.append(KEY, Producer.GATEWAY, [placed(n=9)], 1)
        with pytest.raises(ConcurrencyConflict):
            await log.append(KEY, Producer.GATEWAY, [one, two], NO_EVENTS)
        assert await log.head() == 2

    # ------------------------------------------------------------ read_all, subscribe

    async def test_read_all_from_a_position(self, log: EventLog) -> None:
        events = [placed(n=n) for n in range(1, 6)]
        await log.append(KEY, Producer.GATEWAY, events, NO_EVENTS)
        assert [r.position for r in await collect(log.read_all(3))] == [3, 4, 5]
        assert await collect(log.read_all(6)) == []
        assert [r.position for r in await collect(log.read_all(0))] == [1, 2, 3, 4, 5]

    async def test_read_all_ends_at_the_head_as_of_its_start(self, log: EventLog) -> None:
        await log.append(KEY, Producer.GATEWAY, [placed(n=n) for n in range(1, 4)], NO_EVENTS)
        seen = []
        async for rec in log.read_all():
            seen.append(rec.position)
            if rec.position == 1:
                await log.append(KEY, Producer.GATEWAY, [placed(n=9)], ANY)
        assert seen == [1, 2, 3]
        assert await log.head() == 4

    async def test_subscribe_catches_up_then_goes_live_without_gap_or_repeat(
        self, log: EventLog
    ) -> None:
        total, before = 60, 25
        await log.append(KEY, Producer.GATEWAY, [placed(n=n) for n in range(before)], ANY)

        async def writer() -> None:
            for n in range(before, total):
                await log.append(KEY, Producer.GATEWAY, [placed(n=n)], ANY)
                if n % 7 == 0:
                    await asyncio.sleep(0)

        async def reader() -> list[int]:
            seen: list[int] = []
            async for rec in log.subscribe(1):
                seen.append(rec.position)
                if len(seen) == total:
                    return seen
            return seen

        read = asyncio.create_task(reader())
        await writer()
        seen = await asyncio.wait_for(read, 30)
        assert seen == list(range(1, total + 1))

    async def test_subscribe_from_a_position_past_the_head_waits_for_it(
        self, log: EventLog
    ) -> None:
        await log.append(KEY, Producer.GATEWAY, [placed(n=1)], NO_EVENTS)
        stream = log.subscribe(3)
        first = asyncio.create_task(anext(stream))
        await log.append(KEY, Producer.GATEWAY, [placed(n=2), placed(n=3)], 1)
        rec = await asyncio.wait_for(first, 30)
        assert rec.position == 3
        await stream.aclose()  # type: ignore[attr-defined]

    async def test_follow_skips_what_the_reader_holds_and_yields_the_rest(
        self, log: EventLog
    ) -> None:
        held = 0
        await log.append(KEY, Producer.GATEWAY, [placed(n=n) for n in range(1, 4)], ANY)
        stream = log.follow(1, lambda: held)
        assert [(await anext(stream)).position for _ in range(3)] == [1, 2, 3]
        # the reader folds its own appends at once (positions 4, 5), then 6 is someone else's
        [four, five] = await log.append(KEY, Producer.GATEWAY, [placed(n=4), placed(n=5)], ANY)
        held = five
        await log.append(KEY, Producer.GATEWAY, [placed(n=6)], ANY)
        rec = await asyncio.wait_for(anext(stream), 30)
        assert (four, rec.position) == (4, 6)
        await stream.aclose()  # type: ignore[attr-defined]

    # ------------------------------------------------------------ quarantine

    @pytest.mark.parametrize("bad", sorted(BAD_ENTRIES))
    async def test_a_bad_entry_is_quarantined_and_never_stops_a_read(
        self, log: EventLog, bad: str
    ) -> None:
        good = [placed(n=1), placed(n=2)]
        await log.append(KEY, Producer.GATEWAY, good[:1], NO_EVENTS)
        await self.inject_raw(log, KEY, BAD_ENTRIES[bad])
        await log.append(KEY, Producer.GATEWAY, good[1:], ANY)
        want = [e.event_id for e in good]
        assert ids(await collect(log.read_all())) == want
        assert ids(await log.read(KEY)) == want
        live = log.subscribe()
        assert [(await anext(live)).position for _ in range(2)] == [1, 3]
        await live.aclose()  # type: ignore[attr-defined]
        assert [q.position for q in log.quarantine] == [2]
        entry = log.quarantine[0]
        assert entry.raw == BAD_ENTRIES[bad]
        assert entry.subject.endswith(".demo.BTC-USDT.gateway.FillObserved")
        assert entry.reason


class TestInMemoryEventLog(EventLogContract):
    @pytest.fixture
    async def log(self) -> AsyncIterator[EventLog]:
        log = InMemoryEventLog()
        yield log
        await log.close()

    async def inject_raw(self, log: EventLog, key: Key, raw: bytes) -> None:
        assert isinstance(log, InMemoryEventLog)
        log.inject_raw(event_subject(key, Producer.GATEWAY, "FillObserved"), raw)


WINDOW_S = 1.0


@pytest.fixture(scope="module")
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_url, name="test-eventlog")
    yield client
    await client.drain()


@pytest.mark.nats
class TestJetStreamEventLog(EventLogContract):
    @pytest.fixture
    async def log(self, nc: NATS) -> AsyncIterator[EventLog]:
        suffix = uuid.uuid4().hex[:10]
        log = await JetStreamEventLog.open(
            nc, stream=f"T_{suffix}", subject_root=f"t{suffix}.evt", duplicate_window_s=WINDOW_S
        )
        yield log
        await log.close()
        await nc.jetstream().delete_stream(log.stream)

    async def inject_raw(self, log: EventLog, key: Key, raw: bytes) -> None:
        assert isinstance(log, JetStreamEventLog)
        subject = event_subject(key, Producer.GATEWAY, "FillObserved")
        subject = log.subject_root + subject.removeprefix("setpoint.evt")
        await nc_of(log).jetstream().publish(subject, raw)

    async def outlast_duplicate_window(self) -> None:
        await asyncio.sleep(WINDOW_S * 1.5)


def nc_of(log: JetStreamEventLog) -> NATS:
    return log.connection


# ---------------------------------------------------------------- JetStream stream layout


@pytest.mark.nats
class TestJetStreamStream:
    async def test_opening_twice_keeps_the_stream_and_its_events(self, nc: NATS) -> None:
        suffix = uuid.uuid4().hex[:10]
        options = {"stream": f"S_{suffix}", "subject_root": f"s{suffix}.evt"}
        first = await JetStreamEventLog.open(nc, **options)
        await first.append(KEY, Producer.GATEWAY, [placed()], NO_EVENTS)
        second = await JetStreamEventLog.open(nc, **options)
        assert await second.head() == 1
        info = await nc.jetstream().stream_info(f"S_{suffix}")
        assert info.config.deny_delete
        assert info.config.deny_purge
        assert info.config.storage == api.StorageType.FILE
        await nc.jetstream().delete_stream(f"S_{suffix}")

    @pytest.mark.parametrize(
        ("change", "named"),
        [
            ({"storage": api.StorageType.MEMORY}, "storage"),
            ({"deny_delete": False}, "deny_delete"),
            ({"deny_purge": False}, "deny_purge"),
            ({"subjects": ["{root}.>", "{root}x.>"]}, "subjects"),
        ],
    )
    async def test_a_conflicting_stream_is_refused_and_left_alone(
        self, nc: NATS, change: dict[str, object], named: str
    ) -> None:
        suffix = uuid.uuid4().hex[:10]
        root, name = f"c{suffix}.evt", f"C_{suffix}"
        if "subjects" in change:
            change = {"subjects": [s.format(root=root) for s in change["subjects"]]}  # type: ignore[attr-defined]
        js = nc.jetstream()
        config = api.StreamConfig(
            name=name,
            subjects=[f"{root}.>"],
            storage=api.StorageType.FILE,
            deny_delete=True,
            deny_purge=True,
        )
        await js.add_stream(config.evolve(**change))
        with pytest.raises(LogMisconfigured, match=named):
            await JetStreamEventLog.open(nc, stream=name, subject_root=root)
        found = await js.stream_info(name)
        assert found.config == (await js.stream_info(name)).config
        for field, value in change.items():
            assert getattr(found.config, field) == value
        await js.delete_stream(name)


@pytest.mark.nats
async def test_a_stream_that_would_overlap_another_is_refused(nc: NATS) -> None:
    suffix = uuid.uuid4().hex[:10]
    root = f"v{suffix}.evt"
    js = nc.jetstream()
    await js.add_stream(api.StreamConfig(name=f"V_{suffix}", subjects=[f"v{suffix}.>"]))
    with pytest.raises(LogMisconfigured, match="cannot create stream"):
        await JetStreamEventLog.open(nc, stream=f"W_{suffix}", subject_root=root)
    await js.delete_stream(f"V_{suffix}")


@pytest.mark.nats
class TestJetStreamReadPath:
    async def test_subscribe_survives_losing_its_consumer_without_gap_or_repeat(
        self, nc: NATS
    ) -> None:
        suffix = uuid.uuid4().hex[:10]
        log = await JetStreamEventLog.open(nc, stream=f"R_{suffix}", subject_root=f"r{suffix}.evt")
        await log.append(KEY, Producer.GATEWAY, [placed(n=n) for n in range(5)], ANY)
        live = log.subscribe()
        seen = [(await anext(live)).position for _ in range(3)]
        jsm = nc.jsm()
        for consumer in await jsm.consumers_info(log.stream):
            await jsm.delete_consumer(log.stream, consumer.name)
        await log.append(KEY, Producer.GATEWAY, [placed(n=n) for n in range(5, 8)], ANY)
        seen += [(await asyncio.wait_for(anext(live), 30)).position for _ in range(5)]
        await live.aclose()  # type: ignore[attr-defined]
        assert seen == list(range(1, 9))
        await nc.jetstream().delete_stream(log.stream)

    async def test_follow_keeps_pulling_through_more_held_entries_than_a_pull_asks_for(
        self, nc: NATS
    ) -> None:
        suffix = uuid.uuid4().hex[:10]
        log = await JetStreamEventLog.open(nc, stream=f"H_{suffix}", subject_root=f"h{suffix}.evt")
        held = 2600  # the reader's own appends, folded already: more than two pull batches
        stream = log.follow(1, lambda: held)
        nxt = asyncio.create_task(anext(stream))
        positions = await log.append(KEY, Producer.GATEWAY, [placed(n=n) for n in range(held)], ANY)
        assert positions == list(range(1, held + 1))
        [last] = await log.append(KEY, Producer.GATEWAY, [placed(n=held)], ANY)
        assert (await asyncio.wait_for(nxt, 30)).position == last
        await stream.aclose()  # type: ignore[attr-defined]
        await nc.jetstream().delete_stream(log.stream)

    async def test_other_subscriptions_of_the_client_still_work(self, nc: NATS) -> None:
        suffix = uuid.uuid4().hex[:10]
        log = await JetStreamEventLog.open(nc, stream=f"O_{suffix}", subject_root=f"o{suffix}.evt")
        await log.append(KEY, Producer.GATEWAY, [placed()], NO_EVENTS)
        assert len(await log.read(KEY)) == 1

        async def echo(msg: nats.aio.msg.Msg) -> None:
            await msg.respond(msg.data.upper())

        sub = await nc.subscribe(f"o{suffix}.echo", cb=echo)
        reply = await nc.request(f"o{suffix}.echo", b"ping", timeout=5)
        assert reply.data == b"PING"
        await sub.unsubscribe()
        await nc.jetstream().delete_stream(log.stream)

    async def test_an_append_nobody_takes_is_unavailable_not_lost(self, nc: NATS) -> None:
        suffix = uuid.uuid4().hex[:10]
        log = await JetStreamEventLog.open(
            nc, stream=f"U_{suffix}", subject_root=f"u{suffix}.evt", append_retry_s=0.5
        )
        await nc.jetstream().delete_stream(log.stream)
        with pytest.raises(LogUnavailable, match="nobody answers"):
            await log.append(KEY, Producer.GATEWAY, [placed()], NO_EVENTS)
        await log.close()
