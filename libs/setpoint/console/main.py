"""`setpoint run console [--host H] [--port P]`: the web console in the foreground.

Serves http://127.0.0.1:8780/ by default (`console.host`, `console.port`; the options
override them). Read-only. Bound to an address other than loopback it needs
`console.token` (`env:NAME` or `file:PATH`) and refuses to start without one (exit status
2, one line saying so). Rebuilds the intent and actual stores from the log, follows it,
listens to the differ's status, answers `setpoint.health.console`, logs one
`console ready at <url>` line, and serves until SIGINT or SIGTERM (the process frame:
`setpoint.bus.runtime`). A port that cannot be had ends the process with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
from dataclasses import dataclass

from aiohttp import web
from nats.aio.client import Client as NATS

from setpoint.bus.runtime import Body, answer_health, run_service, supervisor, until_stopped
from setpoint.config import Settings, resolve_secret
from setpoint.console.live import LiveState
from setpoint.console.web import make_app
from setpoint.core.errors import SecretUnavailable, UsageError
from setpoint.eventlog.factory import open_event_log

log = logging.getLogger("setpoint.console")

__all__ = ["Listen", "listen_on", "main"]


@dataclass(frozen=True, slots=True)
class Listen:
    """Where the console listens and the token it asks for (None: no check)."""

    host: str
    port: int
    token: str | None

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}/"


def main(config: str | None, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="setpoint run console")
    parser.add_argument("--host", help="address to bind (default console.host)")
    parser.add_argument("--port", type=int, help="port to serve (default console.port)")
    return run_service("console", config, argv, _build, parser=parser)


def _build(settings: Settings, args: argparse.Namespace) -> Body:
    where = listen_on(settings, args.host, args.port)

    async def body(nc: NATS, stop: asyncio.Event) -> None:
        await run(settings, where, nc, stop)

    return body


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def listen_on(settings: Settings, host: str | None = None, port: int | None = None) -> Listen:
    """Where to listen, with the token resolved; UsageError when bound beyond loopback
    without a token, or when the token's reference cannot be read (module docstring)."""
    config = settings.console
    host = config.host if host is None else host
    port = config.port if port is None else port
    if config.token is None:
        if not is_loopback(host):
            raise UsageError(
                f"console.host is {host}, not a loopback address: the console then needs "
                "console.token (env:NAME or file:PATH) and does not start without it"
            )
        return Listen(host, port, None)
    try:
        token = resolve_secret(config.token).get_secret_value()
    except SecretUnavailable as exc:
        raise UsageError(f"console.token: {exc}") from None
    if not token:
        raise UsageError("console.token: the secret it names is empty")
    return Listen(host, port, token)


async def run(settings: Settings, where: Listen, nc: NATS, stop: asyncio.Event) -> None:
    """Run the console until `stop` is set."""
    event_log = await open_event_log(settings)
    watched = supervisor("console", stop)
    state = LiveState(settings, nc, event_log, watched)
    runner = web.AppRunner(make_app(state, where.token), access_log=None, shutdown_timeout=1.0)
    try:
        if not await until_stopped(state.start(), stop):
            return
        await runner.setup()
        try:
            await web.TCPSite(runner, where.host, where.port).start()
        except OSError as exc:
            log.error("console: cannot listen on %s: %s", where.url(), exc.strerror or exc)
            watched.fail("http", exc)
            return
        await answer_health(nc, watched)
        port = runner.addresses[0][1] if runner.addresses else where.port
        log.info("console ready at %s", where.url(port))
        await stop.wait()
    finally:
        state.close()
        await runner.cleanup()
        await state.stop()
        await event_log.close()
