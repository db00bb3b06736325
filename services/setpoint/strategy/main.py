"""`setpoint run strategy [--name NAME ...]`: host the configured strategies.

Every `[strategies.<name>]` entry of the configuration runs (or only those named), each
with the strategy kind its `kind` names. A Python program can host its own strategy kinds
with `serve(settings, {name: (config, strategy)})` (see docs/strategies.md). The process
frame (logging, signals, NATS, telemetry) is `setpoint.bus.runtime`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from nats.aio.client import Client as NATS

from setpoint.bus import runtime
from setpoint.config import Settings, StrategyConfig

from .carry import Carry
from .grid import Grid
from .host import Host
from .runner import Runner
from .sdk import Strategy

KINDS: Mapping[str, Strategy[Any]] = {"grid": Grid(), "carry": Carry()}
Hosted = Mapping[str, tuple[StrategyConfig, Strategy[Any]]]


def main(config: str | None, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="setpoint run strategy")
    parser.add_argument("--name", action="append", help="run only this strategy (repeatable)")
    return runtime.run_service("strategy", config, argv, _body, parser=parser)


def _body(settings: Settings, args: argparse.Namespace) -> runtime.Body:
    chosen = {
        name: (entry, KINDS[entry.kind])
        for name, entry in settings.strategies.items()
        if not args.name or name in args.name
    }
    missing = set(args.name or ()) - set(chosen)
    if missing:
        raise runtime.UsageError(
            f"no such strategy in the configuration: {', '.join(sorted(missing))}"
        )
    return partial(host, settings, chosen)


async def serve(settings: Settings, strategies: Hosted) -> None:
    """Run the host until SIGINT or SIGTERM (for a program hosting its own kinds)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=runtime.LOG_FORMAT)
    await runtime.serve("strategy", settings, partial(host, settings, strategies))


async def host(settings: Settings, strategies: Hosted, nc: NATS, stop: asyncio.Event) -> None:
    """Start the host (it answers health and prints `ready` once the logs are caught up),
    then call the strategies until `stop` is set."""
    runners = [Runner(name, config, kind) for name, (config, kind) in strategies.items()]
    strategy_host = Host(settings, runners, runtime.supervisor("strategy", stop))
    try:
        if await runtime.until_stopped(strategy_host.start(nc), stop):
            await strategy_host.run(stop)
    finally:
        await strategy_host.stop()
