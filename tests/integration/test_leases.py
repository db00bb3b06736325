"""Leases in JetStream's key-value store (bus/leases.py) against a real nats-server, and the
fence that makes a former holder harmless: the per-(key, producer) expected sequence.

Each test has a bucket of its own (TTL 1 s). "Dead" here is an instance whose rounds stop
(no `stop()`, nothing given back), which is what a SIGKILL leaves in the store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.aio.client import Client as NATS

from setpoint.bus.leases import Leases
from setpoint.core.events import DiffComputed, DiffComputedData
from setpoint.core.model import Key, Producer
from setpoint.core.partitions import fair_share, first_come, partition_name
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.port import NO_EVENTS, ConcurrencyConflict

pytestmark = pytest.mark.nats
NAMES = [partition_name(p) for p in range(4)]
TTL_S = 1.0  # float-ok


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


def keeper(nc: NATS, bucket: str, instance: str, names: list[str] = NAMES, **kw: object) -> Leases:
    events: list[str] = []

    async def gained(name: str) -> None:
        events.append(f"+{name}")

    async def lost(name: str) -> None:
        events.append(f"-{name}")

    leases = Leases(
        nc, group="differ", names=names, instance=instance, policy=kw.get("policy", fair_share),  # type: ignore[arg-type]
        ttl_s=TTL_S, on_gained=gained, on_lost=lost, bucket=bucket,
    )  # fmt: skip
    leases.events = events  # type: ignore[attr-defined]
    return leases


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 15) -> None:
    """A hang guard, not a timing claim."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"{what} not reached"
        await asyncio.sleep(0.05)


def bucket() -> str:
    return f"LEASES_{uuid.uuid4().hex[:8]}"


async def test_two_instances_share_the_partitions_and_a_clean_stop_hands_over(nc: NATS) -> None:
    name = bucket()
    a, b = keeper(nc, name, "a"), keeper(nc, name, "b")
    await a.start()
    assert a.held() == frozenset(NAMES)  # alone: everything
    await b.start()

    async def shared() -> bool:
        await a.round()
        await b.round()
        return len(a.held()) == 2 and len(b.held()) == 2

    await until(shared, "a fair share")
    assert not a.held() & b.held()
    await b.stop()

    async def all_a() -> bool:
        await a.round()
        return a.held() == frozenset(NAMES)

    await until(all_a, "a takes everything back")
    await a.stop()


async def test_a_dead_holders_leases_are_taken_over_after_the_ttl(nc: NATS) -> None:
    name = bucket()
    a, b = keeper(nc, name, "a"), keeper(nc, name, "b")
    await a.start()
    await b.start()  # b: nothing free, a holds everything and a stops renewing (dies)

    async def taken() -> bool:
        await b.round()
        return b.held() == frozenset(NAMES)

    await until(taken, "b holds every partition")
    assert not a.held()  # a's local deadlines passed before the store dropped its leases


async def test_a_former_holder_is_fenced_by_the_expected_sequence(nc: NATS) -> None:
    """The holder stalls past its lease (it has not noticed: no round ran); the new holder
    decides; the former holder's append, made on what it saw before, is refused."""
    tag = uuid.uuid4().hex[:8]
    log = await JetStreamEventLog.open(nc, stream=f"L{tag}", subject_root=f"l{tag}.evt")
    key = Key("demo", "BTC/USDT")
    name = bucket()
    a = keeper(nc, name, "a", ["p000"])
    await a.start()
    a_expected = await log.last_position(key, Producer.DIFFER)  # a's view before it stalls
    assert a_expected == NO_EVENTS
    b = keeper(nc, name, "b", ["p000"])
    await b.start()

    async def b_holds() -> bool:
        await b.round()
        return b.holds("p000")

    await until(b_holds, "b takes the lease")
    worker = b.token("p000")
    decision = DiffComputedData(generation=1, target_event_id=None)
    ours = DiffComputed.create(key, Producer.DIFFER, decision, worker=worker)
    await log.append(key, Producer.DIFFER, [ours], await log.last_position(key, Producer.DIFFER))
    stale = DiffComputed.create(key, Producer.DIFFER, decision, worker="a#1")
    with pytest.raises(ConcurrencyConflict):
        await log.append(key, Producer.DIFFER, [stale], a_expected)
    assert not a.holds("p000")  # and once it looks, it knows
    await a.round()
    assert a.events == ["+p000", "-p000"]  # type: ignore[attr-defined]
    assert [r.event.worker for r in await log.read(key)] == [worker]
    await log.close()


async def test_a_standby_takes_the_account_only_when_the_active_dies(nc: NATS) -> None:
    name = bucket()
    active = keeper(nc, name, "active", ["demo"], policy=first_come)
    standby = keeper(nc, name, "standby", ["demo"], policy=first_come)
    await active.start()
    await standby.start()
    for _ in range(3):  # both alive: the active keeps it, the standby waits
        await active.round()
        await standby.round()
        assert active.holds("demo")
        assert not standby.holds("demo")

    async def taken_over() -> bool:
        await standby.round()
        return standby.holds("demo")

    await until(taken_over, "the standby takes over")
