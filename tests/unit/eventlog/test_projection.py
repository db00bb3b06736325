"""The one projection runner and the health built on it, over the in-memory log.

A follower whose subscription breaks is resumed from the projection's position (nothing
skipped, nothing twice), says `resuming` meanwhile, and health is not ready while it
does; a fold that raises is a failure, never a silent stop.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable

from setpoint.bus.supervise import Supervisor, TaskState
from setpoint.core.events import OrderPlaced, OrderPlacedData
from setpoint.core.model import Key, Producer
from setpoint.eventlog import ANY, LogUnavailable, Recorded
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.eventlog.projection import ProjectionRunner, gc_paused

KEY = Key("demo", "BTC/USDT")


def placed(n: int) -> OrderPlaced:
    data = OrderPlacedData(client_order_id=f"c{n}", order_id=f"o{n}")
    return OrderPlaced.create(KEY, Producer.GATEWAY, data)


class FlakyLog(InMemoryEventLog):
    """A memory log whose live subscription breaks after `break_after` records, `breaks`
    times, and whose reads `read_breaks` times (a server restart as a reader sees it)."""

    def __init__(self, break_after: int, breaks: int) -> None:
        super().__init__()
        self.break_after, self.breaks, self.subscriptions = break_after, breaks, 0
        self.down = False
        self.read_breaks = 0

    async def follow(self, from_position: int, held: Callable[[], int]) -> AsyncIterator[Recorded]:
        self.subscriptions += 1
        if self.down:
            raise LogUnavailable("no server")
        count = 0
        async for record in super().follow(from_position, held):
            yield record
            count += 1
            if self.breaks and count >= self.break_after:
                self.breaks -= 1
                raise LogUnavailable("connection lost")

    async def head(self) -> int:
        if self.down:
            raise LogUnavailable("no server")
        return await super().head()

    async def read_all(self, from_position: int = 1) -> AsyncIterator[Recorded]:
        count = 0
        async for record in super().read_all(from_position):
            yield record
            count += 1
            if self.read_breaks and count >= self.break_after:
                self.read_breaks -= 1
                raise LogUnavailable("connection lost")


class Folded:
    def __init__(self) -> None:
        self.positions: list[int] = []

    def apply(self, record: Recorded) -> None:
        self.positions.append(record.position)

    def applied(self) -> int:
        return self.positions[-1] if self.positions else 0


async def append(log: InMemoryEventLog, count: int, start: int = 1) -> None:
    for n in range(start, start + count):
        await log.append(KEY, Producer.GATEWAY, [placed(n)], ANY)


async def watched(
    log: InMemoryEventLog, service: str
) -> tuple[Folded, Supervisor, ProjectionRunner]:
    """A runner of a fold over `log`, rebuilt, following and watched by a ready supervisor
    of `service`."""
    folded = Folded()
    supervisor = Supervisor(service)
    runner = ProjectionRunner(log, folded.apply, folded.applied, name="log")
    supervisor.watch(runner)
    await runner.rebuild()
    runner.start()
    supervisor.set_ready()
    return folded, supervisor, runner


async def assert_unready(supervisor: Supervisor, task: str, state: str) -> None:
    """The supervisor's health is not ready, and says `task` is in `state` since a time."""
    health = await supervisor.health()
    assert not health.ready
    assert health.tasks[task].startswith(f"{state} since ")


async def test_rebuild_then_follow_resumes_after_breaks_with_no_gap_and_no_repeat() -> None:
    log = FlakyLog(break_after=2, breaks=3)
    await append(log, 5)
    folded = Folded()
    runner = ProjectionRunner(log, folded.apply, folded.applied, name="log")
    assert await runner.rebuild() == 5
    runner.start()
    try:
        await append(log, 10, start=6)
        assert await runner.wait(15, 10)
        assert folded.positions == list(range(1, 16))
        assert log.subscriptions >= 4
    finally:
        await runner.stop()


async def test_health_is_not_ready_while_the_follower_resumes_and_ready_after() -> None:
    log = FlakyLog(break_after=1, breaks=0)
    await append(log, 2)
    folded, supervisor, runner = await watched(log, "executor")
    try:
        assert (await supervisor.health()).ready
        log.down = True
        log.breaks = 1
        await append(log, 1, start=3)  # the subscription breaks on it, then cannot resume
        for _ in range(100):
            if runner.status.state is TaskState.RESUMING:
                break
            await asyncio.sleep(0.01)
        await assert_unready(supervisor, "log", "resuming")
        log.down = False  # the server is back: the follower resumes where it was
        await append(log, 1, start=4)
        assert await runner.wait(4, 10)
        for _ in range(300):
            if (await supervisor.health()).ready:
                break
            await asyncio.sleep(0.01)
        health = await supervisor.health()
        assert health.ready
        assert health.tasks == {"log": "following"}
        assert folded.positions == [1, 2, 3, 4]
    finally:
        await runner.stop()


async def test_an_idle_log_stays_ready_and_a_follower_behind_is_not() -> None:
    log = InMemoryEventLog()
    await append(log, 3)
    _, supervisor, runner = await watched(log, "gateway")
    try:
        assert (await supervisor.health()).ready  # idle: caught up with the head
        await runner.stop()  # a follower that stopped is deaf
        await append(log, 1, start=4)
        await assert_unready(supervisor, "log", "stopped")
    finally:
        await runner.stop()


async def test_a_fold_that_raises_fails_the_follower_and_says_so() -> None:
    log = InMemoryEventLog()
    failed: list[str] = []
    supervisor = Supervisor("differ", lambda name, exc: failed.append(name))

    def apply(record: Recorded) -> None:
        raise RuntimeError("a bug in a fold")

    runner = ProjectionRunner(
        log, apply, lambda: 0, name="log", on_failed=lambda exc: supervisor.fail("log", exc)
    )
    supervisor.watch(runner)
    supervisor.set_ready()
    runner.start()
    try:
        await append(log, 1)
        for _ in range(100):
            if failed:
                break
            await asyncio.sleep(0.01)
        assert failed == ["log"]
        assert runner.status.state is TaskState.FAILED
        await assert_unready(supervisor, "log", "failed")
    finally:
        await runner.stop()


async def test_a_supervised_task_that_breaks_is_resumed_and_a_fatal_one_fails() -> None:
    failed: list[str] = []
    supervisor = Supervisor("gateway", lambda name, exc: failed.append(name))
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise ConnectionError("venue stream refused")
        await asyncio.Event().wait()

    async def broken() -> None:
        raise ValueError("cannot go on")

    supervisor.spawn("stream", flaky)
    supervisor.spawn("fatal", broken, resume=False)
    supervisor.set_ready()
    try:
        for _ in range(300):
            if len(runs) >= 3 and failed:
                break
            await asyncio.sleep(0.01)
        assert len(runs) == 3
        assert failed == ["fatal"]
        await assert_unready(supervisor, "fatal", "failed")
    finally:
        await supervisor.stop()


def test_gc_paused_restores_the_collector_and_leaves_nesting_to_the_outermost() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


async def test_a_rebuild_the_log_breaks_is_read_again_from_where_it_was() -> None:
    log = FlakyLog(break_after=3, breaks=0)
    await append(log, 10)
    log.read_breaks = 2  # the server restarts twice while the service starts
    folded = Folded()
    runner = ProjectionRunner(log, folded.apply, folded.applied, name="log")
    assert await runner.rebuild() == 10
    assert folded.positions == list(range(1, 11))
