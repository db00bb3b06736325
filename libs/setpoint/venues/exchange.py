"""The ccxt factory: one configured account → ccxt clients for REST and streams.

This module is the only place where an account's secret references are resolved
(`config.resolve_secret`); the clients it returns carry them, nothing else does. The
resolved values are also returned (`Credentials.redactions`) so that callers can strip
them from any text they log or send (`venues.errors.redact`).

`base_url` (a Binance-compatible venue such as the simulator) is applied through
`venues.conformance`, which knows every URL ccxt's binance uses.

`create_rest(..., traced=True)` gives the client an aiohttp session whose every request is
a CLIENT span (`bus.telemetry.http_trace_config`: method, host, path and status only), so
the venue call is the last hop of the target's trace. ccxt owns that session as it owns
the one it makes itself: `await client.close()` closes it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from setpoint.config import AccountConfig, resolve_secret

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

DEFAULT_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class Credentials:
    """Resolved credentials; `repr` never shows them."""

    api_key: str
    secret: str

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"

    @property
    def redactions(self) -> tuple[str, ...]:
        return (self.api_key, self.secret)


def credentials(account: AccountConfig) -> Credentials:
    """Resolve the account's `env:`/`file:` references (raises SecretUnavailable)."""
    key = resolve_secret(account.api_key).get_secret_value()
    secret = resolve_secret(account.secret).get_secret_value()
    return Credentials(key, secret)


def _options(account: AccountConfig) -> dict[str, Any]:
    return {
        "defaultType": "spot",
        "adjustForTimeDifference": False,
        "warnOnFetchOpenOrdersWithoutSymbol": False,
        "fetchMarkets": {"types": ["spot", "linear"]},
    }


def _config(account: AccountConfig, creds: Credentials, timeout_ms: int) -> dict[str, Any]:
    return {
        "apiKey": creds.api_key,
        "secret": creds.secret,
        "enableRateLimit": False,
        "timeout": timeout_ms,
        "options": _options(account),
    }


def _point(exchange: Any, base_url: str) -> None:
    from setpoint.venues.conformance import point_at

    point_at(exchange, base_url)


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
    """A ccxt.pro client for the account's websocket streams."""
    import ccxt.pro as ccxt_pro

    exchange = getattr(ccxt_pro, account.exchange)(_config(account, creds, timeout_ms))
    if account.base_url:
        _point(exchange, account.base_url)
    return exchange
