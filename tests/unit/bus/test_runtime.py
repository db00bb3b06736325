"""The service process frame: a start interrupted by `stop` is cancelled, not awaited."""

from __future__ import annotations

import asyncio

import pytest

from setpoint.bus.runtime import until_stopped


async def test_a_start_that_finishes_first_is_done() -> None:
    async def start() -> None:
        await asyncio.sleep(0)

    assert await until_stopped(start(), asyncio.Event()) is True


async def test_stop_before_the_start_finishes_cancels_it() -> None:
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    stop = asyncio.Event()
    asyncio.get_running_loop().call_soon(stop.set)
    assert await until_stopped(stuck(), stop) is False
    assert cancelled.is_set()


async def test_a_failed_start_raises() -> None:
    async def broken() -> None:
        raise RuntimeError("venue down")

    with pytest.raises(RuntimeError, match="venue down"):
        await until_stopped(broken(), asyncio.Event())
