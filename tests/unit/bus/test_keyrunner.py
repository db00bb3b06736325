"""The per-key runner (the executor's plans): bursts collapse, a key never runs twice at once."""

from __future__ import annotations

import asyncio

from setpoint.bus.workqueue import KeyRunner


async def test_bursts_collapse_and_runs_never_overlap() -> None:
    running: set[str] = set()
    runs: list[str] = []
    gate = asyncio.Event()

    async def work(key: str) -> None:
        assert key not in running
        running.add(key)
        runs.append(key)
        await gate.wait()
        running.discard(key)

    queue: KeyRunner[str] = KeyRunner(work)
    queue.mark("a")
    await asyncio.sleep(0)
    for _ in range(10):
        queue.mark("a")
    queue.mark("b")
    await asyncio.sleep(0)
    gate.set()
    await queue.idle()
    assert runs.count("a") == 2
    assert runs.count("b") == 1


async def test_a_failing_run_does_not_stop_the_queue() -> None:
    calls: list[int] = []

    async def work(key: str) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")

    queue: KeyRunner[str] = KeyRunner(work)
    queue.mark("k")
    await queue.idle()
    queue.mark("k")
    await queue.idle()
    assert len(calls) == 2
