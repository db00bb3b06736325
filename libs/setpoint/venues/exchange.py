"""The ccxt factory: one configured account → ccxt clients for REST and streams.

This module is the only place where an account's secret references are resolved
(`config.resolve_secret`); the clients it returns carry them, nothing else does. The
resolved values are also returned (`Credentials.redactions`) so that callers can strip
them from any text they log or send (`venues.errors.redact`).

`base_url` (a venue-compatible server such as the simulator) is applied through
`venues.conformance`, which knows every URL ccxt's binance and okx use. The ccxt options
and whether a passphrase is needed come from the venue's rules (`venues.capabilities`).

`create_rest(..., traced=True)` gives the client an aiohttp session whose every request is
a CLIENT span (`bus.telemetry.http_trace_config`: method, host, path and status only), so
the venue call is the last hop of the target's trace. ccxt owns that session as it owns
the one it makes itself: `await client.close()` closes it.

`create_stream` gives a ccxt.pro client guarded by `UserDataGuard`: its user-data streams
recover from an expired listen key or an ended subscription within the client's life, and
no listen key (a secret as much as the API key) appears in the text of its errors.
"""

from __future__ import annotations

import asyncio
import copy
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from setpoint.config import AccountConfig, resolve_secret
from setpoint.core.errors import ConfigError
from setpoint.venues.capabilities import rules
from setpoint.venues.errors import redact

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

DEFAULT_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class Credentials:
    """Resolved credentials; `repr` never shows them."""

    api_key: str
    secret: str
    passphrase: str | None = None

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"

    @property
    def redactions(self) -> tuple[str, ...]:
        return tuple(s for s in (self.api_key, self.secret, self.passphrase) if s)


def credentials(account: AccountConfig) -> Credentials:
    """Resolve the account's `env:`/`file:` references (raises SecretUnavailable; a
    venue whose keys come with a passphrase needs `passphrase`, ConfigError without)."""
    key = resolve_secret(account.api_key).get_secret_value()
    secret = resolve_secret(account.secret).get_secret_value()
    if account.passphrase is None:
        if rules(account.exchange).passphrase:
            raise ConfigError(f"{account.exchange} accounts need a passphrase reference")
        return Credentials(key, secret)
    return Credentials(key, secret, resolve_secret(account.passphrase).get_secret_value())


def _options(account: AccountConfig) -> dict[str, Any]:
    return copy.deepcopy(dict(rules(account.exchange).ccxt_options))


def _config(account: AccountConfig, creds: Credentials, timeout_ms: int) -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiKey": creds.api_key,
        "secret": creds.secret,
        "enableRateLimit": False,
        "timeout": timeout_ms,
        "options": _options(account),
    }
    if creds.passphrase is not None:
        config["password"] = creds.passphrase
    return config


def _point(exchange: Any, base_url: str) -> None:
    from setpoint.venues.conformance import point_any_at

    point_any_at(exchange, base_url)


def create_rest(
    account: AccountConfig,
    creds: Credentials,
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    traced: bool = False,
) -> Any:
    """A ccxt async_support client for the account (close it with `await x.close()`).

    `traced`: every HTTP request is a span (see the module docstring); call it from a
    running event loop then (the aiohttp session is made at once)."""
    import ccxt.async_support as ccxt_async

    exchange = getattr(ccxt_async, account.exchange)(_config(account, creds, timeout_ms))
    if account.base_url:
        _point(exchange, account.base_url)
    if traced:
        trace_http(exchange)
    return exchange


def trace_http(exchange: Any, source: Tracer | None = None) -> Any:
    """Give a ccxt async client (not yet used) a session that traces every HTTP request
    (spans from `source`, default the global provider's `setpoint.venue` tracer).

    The session is made as ccxt makes its own (TLS verified against ccxt's CA file,
    `aiohttp_trust_env` honoured) and assigned after construction, so ccxt still counts it
    as its own (`own_session`) and closes it in `close()`. Returns `exchange`."""
    import aiohttp

    from setpoint.bus.telemetry import http_trace_config

    if exchange.session is not None:
        raise ValueError("the exchange already has a session")
    tls: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=exchange.cafile) if exchange.verify else False
    )
    exchange.session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=tls),
        trust_env=exchange.aiohttp_trust_env,
        trace_configs=[http_trace_config(source)],
    )
    return exchange


def create_stream(
    account: AccountConfig, creds: Credentials, *, timeout_ms: int = DEFAULT_TIMEOUT_MS
) -> Any:
    """A ccxt.pro client for the account's user-data streams, guarded (`UserDataGuard`).

    ccxt.pro's background positions snapshot (`watchPositions.fetchPositionsSnapshot`) is
    off: the gateway never watches positions, so connecting a derivatives stream makes no
    REST call, and none can fail unobserved ("Future exception was never retrieved")."""
    import ccxt.pro as ccxt_pro

    config = _config(account, creds, timeout_ms)
    config["options"]["watchPositions"] = {"fetchPositionsSnapshot": False}
    exchange = getattr(ccxt_pro, account.exchange)(config)
    if account.base_url:
        _point(exchange, account.base_url)
    UserDataGuard(exchange, creds.redactions).install()
    return exchange


_LISTEN_KEY_TEXT = re.compile(r"(listenKey[\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+", re.I)
_ENDED = frozenset({"listenKeyExpired", "eventStreamTerminated"})
_GUARDED_WATCHES = ("watch_orders", "watch_my_trades")


class UserDataGuard:
    """What a ccxt.pro client's user-data streams need and ccxt.pro does not do (it keeps a
    listen key until its 20-minute refresh, and ignores `listenKeyExpired`).

    Once `install`ed on the client:

    * every listen key the client obtains (`authenticate`) is a secret: an error raised by
      `watch_orders` or `watch_my_trades` comes out with the listen keys and `redactions`
      (the credentials) replaced by `<redacted>`;
    * a user-data connection the venue refuses (the dial of a URL carrying a listen key
      fails) drops that key from the client's cache, so the next watch asks for a new one
      instead of dialing the dead key again;
    * a stream the venue ends (`listenKeyExpired`: the key is dropped and the connection
      closed; `eventStreamTerminated`: ccxt.pro drops the spot subscription) fails every
      watch waiting on it, so the caller sees a break and its next watch subscribes again.
    """

    def __init__(self, exchange: Any, redactions: tuple[str, ...]) -> None:
        self.exchange = exchange
        self.redactions = redactions
        self.listen_keys: set[str] = set()
        self._closing: set[asyncio.Task[None]] = set()

    def install(self) -> None:
        """Hook the client (its instance attributes; ccxt.pro looks them up per call)."""
        ex = self.exchange
        ex.authenticate = self._authenticating(ex.authenticate)
        ex.on_error = self._on_error(ex.on_error)
        ex.handle_message = self._handling(ex.handle_message)
        for name in _GUARDED_WATCHES:
            setattr(ex, name, self._scrubbing(getattr(ex, name)))

    def secrets(self) -> tuple[str, ...]:
        return (*self.redactions, *sorted(self.listen_keys))

    def scrub(self, exc: Exception) -> Exception:
        """`exc`, or one of its class (else a ccxt NetworkError) with the secrets redacted."""
        text = str(exc)
        clean = redact(_LISTEN_KEY_TEXT.sub(r"\1<redacted>", text), self.secrets())
        if clean == text:
            return exc
        from ccxt.base.errors import NetworkError

        try:
            same: Exception = type(exc)(clean)
        except Exception:
            same = NetworkError(clean)
        return same

    def _scrubbing(self, watch: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def scrubbed(*args: Any, **kwargs: Any) -> Any:
            try:
                return await watch(*args, **kwargs)
            except Exception as exc:
                clean = self.scrub(exc)
                if clean is exc:
                    raise
                raise clean from None

        return scrubbed

    def _authenticating(self, authenticate: Callable[..., Awaitable[Any]]) -> Any:
        async def learning(*args: Any, **kwargs: Any) -> Any:
            try:
                return await authenticate(*args, **kwargs)
            finally:
                self.listen_keys.update(_cached_keys(self.exchange.options))

        return learning

    def _on_error(self, on_error: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def refused(client: Any, error: Any) -> None:
            if getattr(client, "dial_failed", False):
                self._forget_key_in(str(client.url))
            on_error(client, error)

        return refused

    def _handling(self, handle: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def handled(client: Any, message: Any) -> None:
            try:
                handle(client, message)
            finally:
                event = _event_name(message)
                if event in _ENDED:
                    self._end(client, event)

        return handled

    def _end(self, client: Any, event: str) -> None:
        from ccxt.base.errors import NetworkError

        client.reject(NetworkError(f"user-data stream ended by the venue ({event})"))
        url = str(client.url)
        self._forget_key_in(url)
        if any(key in url for key in self.listen_keys):  # a listen-key stream: URL is dead
            if self.exchange.clients.get(client.url) is client:
                del self.exchange.clients[client.url]
            closing = asyncio.ensure_future(client.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    def _forget_key_in(self, url: str) -> None:
        """Drop every cached listen key `url` carries: ccxt.pro asks the venue for a new
        one on the next watch (Binance hands back the live key when it still is)."""
        options = self.exchange.options
        for name, bucket in list(options.items()):
            key = bucket.get("listenKey") if isinstance(bucket, dict) else None
            if isinstance(key, str) and key and key in url:
                options[name] = {**bucket, "listenKey": None, "lastAuthenticatedTime": 0}


def _cached_keys(options: dict[str, Any]) -> set[str]:
    buckets = (b for b in options.values() if isinstance(b, dict))
    return {k for b in buckets if isinstance(k := b.get("listenKey"), str) and k}


def _event_name(message: Any) -> str | None:
    """The `e` of a user-data message, bare (listen-key streams) or wrapped (WebSocket API)."""
    if not isinstance(message, dict):
        return None
    inner = message.get("event")
    found = inner.get("e") if isinstance(inner, dict) else message.get("e")
    return found if isinstance(found, str) else None
