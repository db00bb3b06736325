"""`setpoint run gateway [--account NAME]`: the exchange gateway(s) in the foreground.

One gateway per configured account (or only `--account`). Credentials are resolved here
and nowhere else. Each gateway loads markets, reconciles, then answers commands; once all
are ready the process answers `setpoint.health.gateway` and logs one `gateway ready` line.
Runs until SIGINT or SIGTERM.
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
from setpoint.eventlog import EventLog
from setpoint.eventlog.factory import open_event_log
from setpoint.gateway.service import Gateway
from setpoint.gateway.venue import Venue
from setpoint.venues.exchange import create_rest, create_stream, credentials

log = logging.getLogger("setpoint.gateway")


def run_loop(main_coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (lower latency per hop), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_coroutine)
    else:
        uvloop.run(main_coroutine)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="setpoint run gateway")
    parser.add_argument("--account", action="append", help="only this account (repeatable)")
    parser.add_argument("--no-streams", action="store_true", help="REST only (no websocket)")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(config: str | None, argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    settings = load_settings(config)
    accounts = args.account or sorted(settings.accounts)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(run(settings, accounts, streams=not args.no_streams))
    return 0


def build(
    settings: Settings, account: str, nc: NATS, event_log: EventLog, streams: bool = True
) -> Gateway:
    """A gateway for `account` with its ccxt clients (the only place secrets are read)."""
    config = settings.accounts[account]
    creds = credentials(config)
    timeout_ms = int(config.venue_timeout_s * 1000)
    rest = create_rest(config, creds, timeout_ms=timeout_ms, traced=True)
    venue = Venue(rest, creds.redactions)
    stream = create_stream(config, creds, timeout_ms=timeout_ms) if streams else None
    return Gateway(settings, account, nc, event_log, venue, stream)


async def answer_health(nc: NATS) -> None:
    health = Health(
        service="gateway", ready=True, version=version("setpoint"), started_at=datetime.now(UTC)
    )
    body = health.model_dump_json().encode()

    async def on_health(msg: Msg) -> None:
        await msg.respond(body)

    await nc.subscribe(subjects.health_subject("gateway"), cb=on_health)


async def run(settings: Settings, accounts: list[str], *, streams: bool = True) -> None:
    """Run the gateways until SIGINT/SIGTERM."""
    handle = telemetry.setup_telemetry(settings, "gateway")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    nc = await connect_nats(settings, name="setpoint-gateway")
    event_log = await open_event_log(settings)
    gateways = [build(settings, name, nc, event_log, streams) for name in accounts]
    try:
        for gateway in gateways:
            await gateway.start()
        await answer_health(nc)
        log.info("gateway ready (%s)", ", ".join(accounts))
        await stop.wait()
    finally:
        for gateway in gateways:
            await gateway.stop()
            await gateway.close()
        await event_log.close()
        await nc.drain()
        handle.shutdown()
