"""`setpoint run strategy [--name NAME ...]`: host the configured strategies.

Every `[strategies.<name>]` entry of the configuration runs (or only those named), each
with the strategy kind its `kind` names. A Python program can host its own strategy kinds
with `serve(settings, {name: (config, strategy)})` (see docs/strategies.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from setpoint.bus import telemetry
from setpoint.bus.connect import connect_nats
from setpoint.config import Settings, StrategyConfig, load_settings

from .carry import Carry
from .grid import Grid
from .host import Host
from .runner import Runner
from .sdk import Strategy

KINDS: Mapping[str, Strategy[Any]] = {"grid": Grid(), "carry": Carry()}


def main(config: str | None, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="setpoint run strategy")
    parser.add_argument("--name", action="append", help="run only this strategy (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings(config)
    chosen = {
        name: (entry, KINDS[entry.kind])
        for name, entry in settings.strategies.items()
        if not args.name or name in args.name
    }
    missing = set(args.name or ()) - set(chosen)
    if missing:
        parser.error(f"no such strategy in the configuration: {', '.join(sorted(missing))}")
    asyncio.run(serve(settings, chosen))
    return 0


async def serve(
    settings: Settings, strategies: Mapping[str, tuple[StrategyConfig, Strategy[Any]]]
) -> None:
    """Run the host until SIGINT or SIGTERM."""
    handle = telemetry.setup_telemetry(settings, "strategy")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runners = [Runner(name, config, kind) for name, (config, kind) in strategies.items()]
    logging.getLogger("setpoint.strategy").info("connecting to NATS at %s", settings.nats.url)
    nc = await connect_nats(settings, name="setpoint-strategy")
    try:
        host = Host(settings, runners)
        starting = asyncio.ensure_future(host.start(nc))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            await host.run(stop)
        starting.cancel()
        stopping.cancel()
    finally:
        with suppress(Exception):
            await nc.drain()
        handle.shutdown()
