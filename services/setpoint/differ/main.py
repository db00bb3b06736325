"""`setpoint run differ [--workers N] [--tick SECONDS]`: the differ in the foreground.

Connects to NATS (starting the bundled server when the configuration allows), opens the
event log, starts `DifferService` (which logs one `differ ready` line once it answers) and
runs until SIGINT or SIGTERM (the process frame: `setpoint.bus.runtime`).
"""

from __future__ import annotations

import argparse
import asyncio
from functools import partial

from nats.aio.client import Client as NATS

from setpoint.bus.runtime import Body, run_service, supervisor, until_stopped
from setpoint.config import Settings
from setpoint.differ.service import DifferService
from setpoint.eventlog.factory import open_event_log


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="setpoint run differ")
    parser.add_argument("--workers", type=int, default=4, help="keys decided at once")
    parser.add_argument("--tick", type=float, default=5.0, help="seconds between full resyncs")
    return parser


def main(config: str | None, argv: list[str]) -> int:
    return run_service("differ", config, argv, _body, parser=_parser())


def _body(settings: Settings, args: argparse.Namespace) -> Body:
    return partial(run, settings, workers=args.workers, tick_s=args.tick)


async def run(
    settings: Settings,
    nc: NATS,
    stop: asyncio.Event,
    *,
    workers: int = 4,
    tick_s: float = 5.0,  # float-ok
) -> None:
    """Run the differ until `stop` is set (or until one of its tasks or its log follower
    fails beyond resuming: the process then exits with status 1, `bus.runtime`)."""
    event_log = await open_event_log(settings, nc=nc)
    service = DifferService(
        settings, event_log, nc, workers=workers, tick_s=tick_s,
        supervisor=supervisor("differ", stop),
    )  # fmt: skip
    try:
        if await until_stopped(service.start(), stop):
            await stop.wait()
    finally:
        await service.stop()
        await event_log.close()
