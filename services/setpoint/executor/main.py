"""`setpoint run executor`: the executor in the foreground.

Connects to NATS, opens the event log, rebuilds the projections, answers
`setpoint.health.executor` and logs one `executor ready` line, then carries out plans
until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from setpoint.bus import subjects, telemetry
from setpoint.bus.connect import connect_nats
from setpoint.bus.messages import Health
from setpoint.config import Settings, load_settings
from setpoint.eventlog.factory import open_event_log
from setpoint.executor.service import Executor

log = logging.getLogger("setpoint.executor")


def run_loop(main_coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (lower latency per hop), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_coroutine)
    else:
        uvloop.run(main_coroutine)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="setpoint run executor")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(config: str | None, argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    settings = load_settings(config)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(run(settings))
    return 0


async def answer_health(nc: NATS, service: str) -> None:
    """Answer `setpoint.health.<service>` from now on (the caller is ready)."""
    health = Health(
        service=service, ready=True, version=version("setpoint"), started_at=datetime.now(UTC)
    )
    body = health.model_dump_json().encode()

    async def on_health(msg: Msg) -> None:
        await msg.respond(body)

    await nc.subscribe(subjects.health_subject(service), cb=on_health)


async def run(settings: Settings) -> None:
    """Run the executor until SIGINT/SIGTERM."""
    handle = telemetry.setup_telemetry(settings, "executor")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    nc = await connect_nats(settings, name="setpoint-executor")
    event_log = await open_event_log(settings)
    executor = Executor(settings, nc, event_log)
    try:
        await executor.start()
        await answer_health(nc, "executor")
        log.info("executor ready (log position %d)", executor.actual.position)
        await stop.wait()
    finally:
        await executor.stop()
        await event_log.close()
        await nc.drain()
        handle.shutdown()
