"""The frame every long-running service process shares (`setpoint run <service>`).

A service's `main.py` says only what is its own::

    def main(config: str | None, argv: list[str]) -> int:
        return run_service("executor", config, argv, lambda settings, args: partial(run, settings))

    async def run(settings: Settings, nc: NATS, stop: asyncio.Event) -> None:
        ...  # open what it needs; then, in a `try`:
        if not await until_stopped(service.start(), stop):
            return  # stopped while starting
        ...  # answer health; log one "<service> ready" line
        await stop.wait()
        ...  # `finally`: release what it took

`run_service` parses `argv` (the service's own parser, plus `--log-level`), configures
logging, loads the settings and builds the service's `Body`; `serve` then installs
telemetry and the signal handlers, connects to NATS as `setpoint-<service>` and awaits the
body. On exit the NATS connection is drained and telemetry flushed.

Signals: the first SIGINT or SIGTERM sets `stop`: a body waiting for it cleans up and
returns, a start under `until_stopped` is cancelled (e.g. a gateway whose venue does not
answer at startup). A second signal cancels the body itself (its `finally` still runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from setpoint.bus import subjects, telemetry
from setpoint.bus.connect import connect_nats
from setpoint.bus.messages import Health
from setpoint.config import Settings, load_settings
from setpoint.core.errors import UsageError as UsageError

__all__ = [
    "LOG_FORMAT",
    "Body",
    "UsageError",
    "answer_health",
    "run_loop",
    "run_service",
    "serve",
    "until_stopped",
]

log = logging.getLogger(__name__)

Body = Callable[[NATS, asyncio.Event], Awaitable[None]]
"""Runs a service on a connected client until the event is set, then releases what it took
(NATS itself is drained by `serve`)."""

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def run_service(
    name: str,
    config: str | None,
    argv: list[str],
    build: Callable[[Settings, argparse.Namespace], Body],
    *,
    parser: argparse.ArgumentParser | None = None,
) -> int:
    """Run service `name` in the foreground until SIGINT/SIGTERM (module docstring);
    returns the exit status."""
    parser = parser or argparse.ArgumentParser(prog=f"setpoint run {name}")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    settings = load_settings(config)
    try:
        body = build(settings, args)
    except UsageError as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(name, settings, body))
    return 0


def run_loop(main_coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (lower latency per hop: a target crosses the
    loop a dozen times between intake and the venue), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_coroutine)
    else:
        uvloop.run(main_coroutine)


async def serve(name: str, settings: Settings, body: Body) -> None:
    """Telemetry, signals and the NATS connection around `body` (module docstring)."""
    handle = telemetry.setup_telemetry(settings, name)
    stop = asyncio.Event()
    try:
        log.info("%s: connecting to NATS at %s", name, settings.nats.url)
        nc = await connect_nats(settings, name=f"setpoint-{name}")
        try:
            running = asyncio.ensure_future(body(nc, stop))
            _on_signals(stop, running)
            await _finished(running)
        finally:
            try:
                await nc.drain()
            except Exception as exc:  # the process is ending: say so, do not mask the cause
                log.warning("%s: NATS drain failed: %s", name, exc)
    finally:
        handle.shutdown()


async def _finished(running: asyncio.Future[None]) -> None:
    """Await the body; its cancellation by a second signal is a normal end."""
    try:
        await running
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # we are cancelled ourselves, not only the body


def _on_signals(stop: asyncio.Event, running: asyncio.Future[None]) -> None:
    def on_signal() -> None:
        if stop.is_set():
            running.cancel()
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)


async def until_stopped(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Await `work` unless `stop` is set first, in which case `work` is cancelled.
    True when `work` finished (its exception, if any, is raised), False when stopped."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        return False
    task.result()
    return True


async def answer_health(nc: NATS, service: str) -> None:
    """Answer `setpoint.health.<service>` from now on (call it once the service is ready)."""
    health = Health(
        service=service, ready=True, version=version("setpoint"), started_at=datetime.now(UTC)
    )
    body = health.model_dump_json().encode()

    async def on_health(msg: Msg) -> None:
        await msg.respond(body)

    await nc.subscribe(subjects.health_subject(service), cb=on_health)
    await nc.flush()  # the server routes requests to us before anyone hears "ready"
