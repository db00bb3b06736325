"""The per-key work queue: bursts collapse, one key never runs twice at once, backoff."""

from __future__ import annotations

import asyncio

import pytest

from setpoint.bus.workqueue import QueueShutDown, WorkQueue, backoff_delay


async def test_a_burst_of_adds_collapses_into_one_run() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(100):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"
    assert len(queue) == 0


async def test_a_key_added_while_processing_waits_for_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0, "a key in progress is not handed to a second worker"
    queue.done(key)
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0


async def test_workers_never_process_one_key_twice_at_once() -> None:
    queue: WorkQueue[int] = WorkQueue()
    running: set[int] = set()
    overlaps: list[int] = []
    runs: dict[int, int] = {}

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            if key in running:
                overlaps.append(key)
            running.add(key)
            await asyncio.sleep(0)
            running.discard(key)
            runs[key] = runs.get(key, 0) + 1
            queue.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for round_ in range(50):
        for key in range(5):
            queue.add(key)
        if round_ % 7 == 0:
            await asyncio.sleep(0)
    await queue.settled()
    queue.shut_down()
    await asyncio.gather(*workers)
    assert overlaps == []
    assert set(runs) == set(range(5))
    assert all(count < 50 for count in runs.values()), "bursts must collapse"


async def test_add_after_delivers_the_key_later() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("later", 0.01)
    assert len(queue) == 0
    assert await asyncio.wait_for(queue.get(), 5) == "later"


async def test_retry_backs_off_per_key_and_forget_resets() -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=0.001, max_delay=0.004)
    delays = [queue.retry("a") for _ in range(5)]
    assert delays == [0.001, 0.002, 0.004, 0.004, 0.004]
    assert queue.failures("a") == 5
    assert queue.retry("b") == 0.001, "backoff is per key"
    queue.forget("a")
    assert queue.failures("a") == 0
    assert await asyncio.wait_for(queue.get(), 5) in {"a", "b"}
    queue.shut_down()


@pytest.mark.parametrize(
    ("failures", "expected"), [(0, 0.005), (1, 0.01), (3, 0.04), (20, 30.0), (1000, 30.0)]
)
def test_backoff_is_exponential_and_capped(failures: int, expected: float) -> None:
    assert backoff_delay(failures, 0.005, 30.0) == expected


async def test_shut_down_wakes_waiting_workers() -> None:
    queue: WorkQueue[str] = WorkQueue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shut_down()
    with pytest.raises(QueueShutDown):
        await waiter
    queue.add("ignored")
    assert len(queue) == 0


async def test_a_workers_turn_retries_a_failure_forgets_a_success_and_ends_with_shut_down() -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=0.01)
    told: list[tuple[str, float]] = []
    runs: list[str] = []

    async def work(key: str) -> None:
        runs.append(key)
        if len(runs) == 1:
            raise RuntimeError("the first run fails")

    async def worker() -> None:
        async for key in queue.keys():
            await queue.run(key, work, lambda k, delay: told.append((k, delay)))

    task = asyncio.create_task(worker())
    queue.add("a")
    for _ in range(200):
        if len(runs) == 2:
            break
        await asyncio.sleep(0.005)
    await queue.settled()
    assert runs == ["a", "a"]  # retried after its backoff
    assert told == [("a", 0.01)]
    assert queue.failures("a") == 0  # the success forgot the failure
    queue.shut_down()
    await asyncio.wait_for(task, 1)
