"""The ccxt factory: one configured account → ccxt clients for REST and streams.

This module is the only place where an account's secret references are resolved
(`config.resolve_secret`); the clients it returns carry them, nothing else does. The
resolved values are also returned (`Credentials.redactions`) so that callers can strip
them from any text they log or send (`venues.errors.redact`).

`base_url` (a Binance-compatible venue such as the simulator) is applied through
`venues.conformance`, which knows every URL ccxt's binance uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from setpoint.config import AccountConfig, resolve_secret

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
    account: AccountConfig, creds: Credentials, *, timeout_ms: int = DEFAULT_TIMEOUT_MS
) -> Any:
    """A ccxt async_support client for the account (close it with `await x.close()`)."""
    import ccxt.async_support as ccxt_async

    exchange = getattr(ccxt_async, account.exchange)(_config(account, creds, timeout_ms))
    if account.base_url:
        _point(exchange, account.base_url)
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
