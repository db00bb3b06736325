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
body. The client reconnects for as long as it takes (`bus.connect`: each disconnect and
reconnect is one log line); on exit the NATS connection is drained and
telemetry flushed.

Supervision: `supervisor(name, stop)` gives the body a `Supervisor` for its long-running
tasks; a task or log follower that fails beyond resuming sets `stop`, and the process then
exits with status 1 and one line saying what failed (so `setpoint up` or compose starts
it again). `answer_health(nc, supervisor)` answers `setpoint.health.<service>` from it:
ready only while every task works and the log followers are caught up.

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
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from setpoint.bus import subjects, telemetry
from setpoint.bus.connect import connect_nats
from setpoint.bus.supervise import Supervisor
from setpoint.config import Settings, load_settings
from setpoint.core.errors import (
    LeasesMisconfigured,
    LogUnavailable,
    NatsUnavailable,
    NewerSchema,
)
from setpoint.core.errors import UsageError as UsageError

__all__ = [
    "LOG_FORMAT",
    "Body",
    "UsageError",
    "answer_health",
    "run_loop",
    "run_service",
    "serve",
    "supervisor",
    "until_stopped",
]

log = logging.getLogger(__name__)

Body = Callable[[NATS, asyncio.Event], Awaitable[None]]
"""Runs a service on a connected client until the event is set, then releases what it took
(NATS itself is drained by `serve`)."""

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

_failures: list[str] = []
"""What failed beyond resuming in this process (its exit status is 1 when any)."""


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
    settings = load_settings(config)  # a bad value: ConfigError, one line (cli.py)
    try:
        body = build(settings, args)
    except UsageError as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(name, settings, body))
    if _failures:
        log.critical("%s: exiting with status 1: %s", name, "; ".join(_failures))
        return 1
    return 0


def supervisor(service: str, stop: asyncio.Event) -> Supervisor:
    """A `Supervisor` whose fatal failures stop this process with status 1."""

    def on_failed(task: str, exc: BaseException) -> None:
        _failures.append(f"{task} failed ({type(exc).__name__}: {exc})")
        stop.set()

    return Supervisor(service, on_failed)


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

        async def on_closed() -> None:  # reconnects never stop: closed means it is over
            if not stop.is_set():
                _failures.append("the NATS connection closed")
                stop.set()

        try:
            nc = await connect_nats(settings, name=f"setpoint-{name}", closed_cb=on_closed)
        except NatsUnavailable as exc:
            _unavailable(name, exc)
            return
        try:
            running = asyncio.ensure_future(body(nc, stop))
            _on_signals(stop, running)
            await _finished(running)
        except (LogUnavailable, NatsUnavailable) as exc:  # the server went away meanwhile
            _unavailable(name, exc)
        except NewerSchema as exc:  # a rolling upgrade that began with the writers
            _unavailable(name, exc)
        except LeasesMisconfigured as exc:  # no lease bucket, and it may not make one
            _unavailable(name, exc)
        finally:
            try:
                await nc.drain()
            except Exception as exc:  # the process is ending: say so, do not mask the cause
                log.warning("%s: NATS drain failed: %s", name, exc)
    finally:
        handle.shutdown()


def _unavailable(name: str, exc: Exception) -> None:
    """NATS or the log did not answer where the service cannot go on without them: one
    line, and exit status 1 (whoever runs the service starts it again)."""
    log.error("%s: %s; stopping", name, exc)
    _failures.append(str(exc))


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


async def answer_health(nc: NATS, watched: Supervisor) -> None:
    """Answer `setpoint.health.<service>` from now on with `watched.health()` (call it once
    the service is ready: this marks it so)."""
    watched.set_ready()

    async def on_health(msg: Msg) -> None:
        health = await watched.health()
        await msg.respond(health.model_dump_json().encode())

    await nc.subscribe(subjects.health_subject(watched.service), cb=on_health)
    await nc.flush()  # the server routes requests to us before anyone hears "ready"
