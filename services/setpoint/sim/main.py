"""`setpoint run sim [--sim NAME] [--dialect binance|okx] [--host H] [--port P]
[--random-walk SEED]`: the venue simulator in the foreground, configured by the `[sim]`
section of the config file, or with `--sim NAME` by its `[sims.NAME]` section
(command-line options override it). Prints one line containing `ready` once it
listens; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from setpoint.config import SimConfig, load_settings
from setpoint.core.errors import ConfigError
from setpoint.sim.app import SimServer

CONFIG_FAILED = 2
"""Exit status for a configuration the simulator cannot use (a usage error, as `setpoint`)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="setpoint run sim", description=__doc__)
    parser.add_argument(
        "--sim",
        default=None,
        metavar="NAME",
        help="the simulator configured as [sims.NAME] (default: [sim])",
    )
    parser.add_argument(
        "--dialect",
        choices=("binance", "okx"),
        default=None,
        help="the venue API to speak (default: config, binance)",
    )
    parser.add_argument("--host", default=None, help="listen address (default: config)")
    parser.add_argument("--port", type=int, default=None, help="port (default: config, 8765)")
    parser.add_argument(
        "--random-walk",
        type=int,
        default=None,
        metavar="SEED",
        help="move prices by a seeded random walk (default: manual only)",
    )
    return parser.parse_args(argv)


def sim_config(config: str | None, args: argparse.Namespace) -> SimConfig:
    """The `[sim]` (or `--sim NAME`'s `[sims.NAME]`) section of the config in force, with
    the command-line overrides; ConfigError for a name not configured."""
    base = load_settings(config).sim_named(args.sim)
    overrides: dict[str, object] = {}
    if args.dialect is not None:
        overrides["dialect"] = args.dialect
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.random_walk is not None:
        overrides["random_walk_seed"] = args.random_walk
    return base.model_copy(update=overrides)


async def serve(settings: SimConfig) -> None:
    """Run until SIGINT/SIGTERM."""
    server = SimServer(settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    walk = (
        "manual prices"
        if settings.random_walk_seed is None
        else (f"random walk seed {settings.random_walk_seed}")
    )
    print(f"setpoint sim ready on {server.base_url} ({settings.dialect}, {walk})", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(config: str | None, argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        settings = sim_config(config, args)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings))
    except ConfigError as exc:
        print(f"setpoint run sim: {exc}", file=sys.stderr)
        return CONFIG_FAILED
    return 0
