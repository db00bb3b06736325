"""The differ's process frame: a failure its supervisor cannot resume (a fold that raises)
stops the process with status 1, as every service's does, so that whoever runs it starts
it again; it never sits unready and deciding nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from setpoint.bus import runtime
from setpoint.config import Settings
from setpoint.core.model import Producer
from setpoint.differ import main as differ_main
from setpoint.differ.view import DifferView
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.eventlog.port import ANY, Recorded
from setpoint.testing.synthetic import market, markets_loaded


@pytest.fixture
def failures() -> Iterator[list[str]]:
    """The process's failure list (module state of `bus.runtime`), emptied after."""
    yield runtime._failures
    runtime._failures.clear()


async def test_a_fold_that_raises_stops_the_differ_process(
    monkeypatch: pytest.MonkeyPatch, failures: list[str]
) -> None:
    memory = InMemoryEventLog()

    async def opened(settings: Settings, **_: Any) -> InMemoryEventLog:
        return memory

    def fold_bug(self: DifferView, record: Recorded) -> Any:
        raise RuntimeError("a bug in the differ's fold")

    monkeypatch.setattr(differ_main, "open_event_log", opened)
    monkeypatch.setattr(DifferView, "apply", fold_bug)
    stop = asyncio.Event()
    running = asyncio.create_task(differ_main.run(Settings(accounts={"demo": {}}), None, stop))
    try:
        await asyncio.sleep(0.2)  # started and following (the empty log folds nothing)
        assert not stop.is_set()
        event = markets_loaded("demo", market("BTC/USDT"))
        await memory.append(event.key, Producer.GATEWAY, [event], ANY)
        await asyncio.wait_for(stop.wait(), 5)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    assert failures == ["log failed (RuntimeError: a bug in the differ's fold)"]
