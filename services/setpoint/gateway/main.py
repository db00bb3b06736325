"""`setpoint run gateway [--account NAME]`: the exchange gateway(s) in the foreground.

One gateway per configured account (or only `--account`). With `leases.enabled`, a
second gateway process for the same accounts stands by until the active one dies
(`bus.leases.AccountLeases`): it subscribes to nothing of the accounts meanwhile, so
commands reach only the holder; a gateway that loses its lease stops. Credentials are resolved here
and nowhere else. Each gateway loads markets, reconciles, then answers commands; once all
are ready the process answers `setpoint.health.gateway` and logs one `gateway ready` line.
Runs until SIGINT or SIGTERM (the process frame: `setpoint.bus.runtime`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from functools import partial

from nats.aio.client import Client as NATS

from setpoint.bus.leases import AccountLeases
from setpoint.bus.runtime import (
    Body,
    UsageError,
    answer_health,
    run_service,
    supervisor,
    until_stopped,
)
from setpoint.bus.supervise import Supervisor
from setpoint.config import Settings
from setpoint.eventlog import EventLog
from setpoint.eventlog.factory import open_event_log
from setpoint.gateway.service import Gateway
from setpoint.gateway.venue import Venue
from setpoint.venues.capabilities import capabilities
from setpoint.venues.exchange import create_rest, create_stream, credentials
from setpoint.venues.pacing import install as install_pacer
from setpoint.venues.ratelimit import Pacer, RateLimiter

log = logging.getLogger("setpoint.gateway")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="setpoint run gateway")
    parser.add_argument("--account", action="append", help="only this account (repeatable)")
    parser.add_argument("--no-streams", action="store_true", help="REST only (no websocket)")
    return parser


def main(config: str | None, argv: list[str]) -> int:
    return run_service("gateway", config, argv, _body, parser=_parser())


def _body(settings: Settings, args: argparse.Namespace) -> Body:
    accounts = list(dict.fromkeys(args.account or sorted(settings.accounts)))
    unknown = set(accounts) - set(settings.accounts)
    if unknown:
        raise UsageError(f"no such account in the configuration: {', '.join(sorted(unknown))}")
    return partial(run, settings, accounts, streams=not args.no_streams)


def build(
    settings: Settings,
    account: str,
    nc: NATS,
    event_log: EventLog,
    streams: bool = True,
    watched: Supervisor | None = None,
) -> Gateway:
    """A gateway for `account` with its ccxt clients (the only place secrets are read) and
    the account's rate limiter (one per account: one gateway per account per process)."""
    config = settings.accounts[account]
    creds = credentials(config)
    timeout_ms = int(config.venue_timeout_s * 1000)
    # A span per venue request only when spans are exported: aiohttp's trace hooks cost
    # about 3 % of the gateway's CPU per order for spans that would go nowhere.
    traced = settings.telemetry.exporter != "none"
    rest = create_rest(config, creds, timeout_ms=timeout_ms, traced=traced)
    venue_caps = capabilities(config.exchange)
    pacer = Pacer(
        venue_caps.rate_model, capacities=venue_caps.capacities(dict(config.venue_rate_limits))
    )
    install_pacer(rest, pacer)
    venue = Venue(rest, creds.redactions, RateLimiter(config.rate_limit_per_s), pacer, account)
    stream = create_stream(config, creds, timeout_ms=timeout_ms) if streams else None
    return Gateway(settings, account, nc, event_log, venue, stream, watched)


async def run(
    settings: Settings, accounts: list[str], nc: NATS, stop: asyncio.Event, *, streams: bool = True
) -> None:
    """Run the gateways of `accounts` until `stop` is set."""
    event_log = await open_event_log(settings)
    gateways: list[Gateway] = []
    watched = supervisor("gateway", stop)

    def lost(account: str) -> None:
        watched.fail(f"lease ({account})", RuntimeError("another gateway is active now"))

    standby = AccountLeases(nc, settings, accounts, lost)
    try:
        if not await until_stopped(standby.acquire(watched), stop):
            return
        for name in accounts:  # one by one: those built before a failure are closed
            gateways.append(build(settings, name, nc, event_log, streams, watched))
        for gateway in gateways:
            if not await until_stopped(gateway.start(), stop):
                return
        await answer_health(nc, watched)
        log.info("gateway ready (%s)", ", ".join(accounts))
        await stop.wait()
    finally:
        for gateway in gateways:
            await gateway.stop()
            await gateway.close()
        await standby.stop()
        await event_log.close()
