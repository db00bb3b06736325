"""`setpoint run executor`: the executor in the foreground.

Connects to NATS, opens the event log, rebuilds the projections, answers
`setpoint.health.executor` and logs one `executor ready` line, then carries out plans
until SIGINT or SIGTERM (the process frame: `setpoint.bus.runtime`).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from nats.aio.client import Client as NATS

from setpoint.bus.runtime import answer_health, run_service, supervisor, until_stopped
from setpoint.config import Settings
from setpoint.eventlog.factory import open_event_log
from setpoint.executor.service import Executor

log = logging.getLogger("setpoint.executor")


def main(config: str | None, argv: list[str]) -> int:
    return run_service("executor", config, argv, lambda settings, _: partial(run, settings))


async def run(settings: Settings, nc: NATS, stop: asyncio.Event) -> None:
    """Run the executor until `stop` is set."""
    event_log = await open_event_log(settings)
    executor = Executor(settings, nc, event_log, supervisor("executor", stop))
    try:
        if not await until_stopped(executor.start(), stop):
            return
        await answer_health(nc, executor.supervisor)
        log.info("executor ready (log position %d)", executor.actual.position)
        await stop.wait()
    finally:
        await executor.stop()
        await event_log.close()
