"""Connect to NATS as the configuration says, starting the bundled server if allowed.

`connect_nats(settings, name=...)` returns a connected `nats.NATS` client:

* something answers at `nats.url` → connect to it; with several servers (a cluster:
  `nats.url` comma-separated, or `nats.urls`) the client knows them all, connects to one
  that answers and, when that one goes, reconnects to another (re-subscribing its
  subscriptions; an append in flight is sent again, `setpoint.eventlog.jetstream`);
* nothing answers, `nats.embedded` is true and the url is one local address → start the
  bundled nats-server (JetStream, store under `<nats.data_dir>/nats`, log in
  `<nats.data_dir>/nats-server.log`), connect, and stop that server when this client is
  closed (`await nc.close()` or `drain()`); `embedded_server(nc)` returns it;
* otherwise → `NatsUnavailable`, saying what to do.

Credentials and TLS come from `[nats]` (`setpoint.bus.credentials.client_options`; an
option the caller passes wins). A server that refuses the client while it first connects
(authorization violation: no, a wrong or a revoked credential; TLS required or not
verifiable) ends the attempt at once with `NatsRefused`, one line saying why, instead of
trying again forever.

Any server found is checked: older than `MIN_SERVER_VERSION` → `NatsServerTooOld`
(the event log's per-producer concurrency check needs the
`Nats-Expected-Last-Subject-Sequence-Subject` header, which nats-server 2.11 introduced).
`nats_connection` is the same as an async context manager.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Final

import nats
from nats.aio.client import Client as NATS

from setpoint.bus.credentials import client_options
from setpoint.bus.embedded import EmbeddedNats, answers, host_port
from setpoint.config import Settings, split_servers
from setpoint.core.errors import ConfigError
from setpoint.core.errors import NatsRefused as NatsRefused
from setpoint.core.errors import NatsServerTooOld as NatsServerTooOld
from setpoint.core.errors import NatsUnavailable as NatsUnavailable

log = logging.getLogger(__name__)

MIN_SERVER_VERSION: Final = (2, 11, 0)
STREAM_NAME_IN_USE: Final = 10058
"""JetStream's error code for a stream (or key-value bucket) created meanwhile by another."""
LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})

RECONNECT_WAIT_S: Final = 0.5
"""Between attempts to reach a NATS server that went away; clients reconnect for as long as
it takes unless the caller says otherwise (one log line per disconnect and reconnect)."""

_EMBEDDED: dict[int, EmbeddedNats] = {}


def parse_version(text: str) -> tuple[int, int, int]:
    """`"2.11.3"`, `"v2.12.0-beta.1"`, `"<nats server v2.15.1>"` → (major, minor, patch);
    ValueError when the text holds no version."""
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    if match is None:
        raise ValueError(f"{text!r} is not a nats-server version")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def check_server_version(version: str, url: str) -> None:
    """Raise NatsServerTooOld unless `version` is at least MIN_SERVER_VERSION."""
    if parse_version(version) >= MIN_SERVER_VERSION:
        return
    needed = ".".join(str(part) for part in MIN_SERVER_VERSION[:2])
    raise NatsServerTooOld(
        f"nats-server {version} at {url} is too old: Setpoint needs {needed} or newer "
        "(its event log checks each producer's appends with the "
        "Nats-Expected-Last-Subject-Sequence-Subject header). Upgrade that server, or stop "
        "it and let Setpoint start its bundled one (nats.embedded = true)."
    )


def embedded_server(nc: NATS) -> EmbeddedNats | None:
    """The bundled server `connect_nats` started for this client, if it started one."""
    return _EMBEDDED.get(id(nc))


async def connect_nats(settings: Settings, *, name: str, **options: Any) -> NATS:
    """A client connected as the module docstring says. `options` go to `nats.connect`."""
    url = settings.nats.url
    try:
        own = client_options(settings.nats)
    except ConfigError as exc:
        raise NatsRefused(f"cannot present a credential to NATS at {url}: {exc}") from None
    for option, value in own.items():
        options.setdefault(option, value)
    server = None
    if not await asyncio.to_thread(answers, url):
        server = await _start_embedded(settings)
    try:
        nc = await _connect(url, name, server, options)
    except BaseException:
        if server is not None:
            await asyncio.to_thread(server.stop)
        raise
    try:
        check_server_version(str(nc.connected_server_version), url)
    except NatsServerTooOld:
        await nc.close()
        raise
    return nc


async def _connect(
    url: str, name: str, server: EmbeddedNats | None, options: dict[str, Any]
) -> NATS:
    holder: list[NATS] = []
    callers_cb = options.pop("closed_cb", None)

    async def on_closed() -> None:
        if callers_cb is not None:
            await callers_cb()
        if holder:
            _EMBEDDED.pop(id(holder[0]), None)
        if server is not None:
            await asyncio.to_thread(server.stop)

    for event, callback in _connection_log(name).items():
        options.setdefault(event, callback)
    options.setdefault("max_reconnect_attempts", -1)  # a service never gives up on NATS
    options.setdefault("reconnect_time_wait", RECONNECT_WAIT_S)
    nc = await _connect_unless_refused(url, name, on_closed, options)
    holder.append(nc)
    if server is not None:
        _EMBEDDED[id(nc)] = server
    return nc


async def _connect_unless_refused(
    url: str, name: str, on_closed: Callable[[], Awaitable[None]], options: dict[str, Any]
) -> NATS:
    """`nats.connect`, ended at once with NatsRefused by the first refusal (`REFUSALS`);
    NatsUnavailable for any other failure to connect."""
    refused: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    options["error_cb"] = _watch_refusal(options["error_cb"], refused)
    attempt: asyncio.Future[NATS] = asyncio.ensure_future(
        nats.connect(list(split_servers(url)), name=name, closed_cb=on_closed, **options)
    )
    try:
        either: list[asyncio.Future[Any]] = [attempt, refused]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not attempt.done():
            attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
            raise NatsRefused(f"NATS at {url} refused the connection: {refused.result()}")
        return attempt.result()
    except NatsRefused:
        raise
    except Exception as exc:
        raise NatsUnavailable(f"cannot connect to NATS at {url}: {exc!r}") from exc
    finally:
        if not refused.done():
            refused.cancel()


REFUSALS: Final = (
    ("authorization violation", "authorization violation (no credential, or a wrong or "
     "revoked one: check nats.credentials)"),
    ("tls required", "the server requires TLS (set nats.tls_ca to its CA)"),
    ("certificate verify failed", "the server's certificate is not trusted (nats.tls_ca)"),
    ("wrong_version_number", "the server does not speak TLS (remove nats.tls_ca)"),
)  # fmt: skip
"""Connection errors that trying again cannot cure, and what each one means."""


def refusal(exc: BaseException) -> str | None:
    """What a connection error means when it is a refusal (`REFUSALS`), else None."""
    text = str(exc).lower()
    return next((why for marker, why in REFUSALS if marker in text), None)


def _watch_refusal(
    callback: Callable[[Exception], Awaitable[None]], refused: asyncio.Future[str]
) -> Callable[[Exception], Awaitable[None]]:
    """`callback`, which also settles `refused` with the first refusal before the client
    is connected (after that, a refusal is logged and reconnecting goes on)."""

    async def on_error(exc: Exception) -> None:
        why = refusal(exc)
        if why is not None and not refused.done():
            refused.set_result(why)
            return
        await callback(exc)

    return on_error


def _connection_log(name: str) -> dict[str, Callable[..., Awaitable[None]]]:
    """Callbacks that say each disconnect, reconnect and connection error in one log line
    (nats-py's defaults print a traceback for each): unless the caller passes its own."""

    async def on_error(exc: Exception) -> None:
        log.warning("%s: NATS connection error: %s", name, _describe(exc))

    async def on_disconnected() -> None:
        log.warning("%s: disconnected from NATS; reconnecting", name)

    async def on_reconnected() -> None:
        log.warning("%s: reconnected to NATS", name)

    return {
        "error_cb": on_error,
        "disconnected_cb": on_disconnected,
        "reconnected_cb": on_reconnected,
    }


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return type(exc).__name__ if not text else f"{type(exc).__name__}: {text}"


async def _start_embedded(settings: Settings) -> EmbeddedNats | None:
    """Start the bundled server; None when another process won the race to start one."""
    url = settings.nats.url
    host, _ = host_port(url)
    several = len(settings.nats.servers) > 1
    if not settings.nats.embedded or host not in LOCAL_HOSTS or several:
        why = (
            "nats.embedded is false" if not settings.nats.embedded
            else "it names several servers (a cluster: start them, or `setpoint up --cluster`)"
            if several else "it is not local"
        )  # fmt: skip
        raise NatsUnavailable(
            f"nothing answers at {url} and {why}, so no server is started here: start a "
            "nats-server 2.11+ with JetStream (`nats-server -js`) or set nats.embedded = true"
        )
    data_dir = Path(settings.nats.data_dir)
    server = EmbeddedNats(url, data_dir / "nats", log_file=data_dir / "nats-server.log")
    try:
        await asyncio.to_thread(_start, server, data_dir)
    except RuntimeError:
        if await asyncio.to_thread(answers, url):
            return None
        raise
    log.info("started the bundled nats-server at %s (store %s)", url, server.store_dir)
    return server


def _start(server: EmbeddedNats, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    server.start()


@asynccontextmanager
async def nats_connection(settings: Settings, *, name: str, **options: Any) -> AsyncIterator[NATS]:
    """`connect_nats` as a context: on exit the client is drained (stopping any server it
    started)."""
    nc = await connect_nats(settings, name=name, **options)
    try:
        yield nc
    finally:
        with suppress(Exception):
            await nc.drain()
        if not nc.is_closed:
            await nc.close()
