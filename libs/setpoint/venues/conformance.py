"""Point a ccxt client at a venue-compatible base URL (the simulator, or a test venue).

`point_any_at(exchange, base_url)` chooses by the venue's dialect (`venues.capabilities`):
binance (below) or okx (`point_okx_at`: REST under `base_url`, the websockets under
`ws://` the same host + `/ws/v5`, markets spot and swap only).

A ccxt binance instance (async or pro) and a Binance-compatible base URL:

    exchange = ccxt.async_support.binance({"apiKey": ..., "secret": ...})
    point_at(exchange, "http://127.0.0.1:8765")      # the simulator, or any compatible venue

or `make_binance(base_url, api_key, secret, pro=True)`. After `point_at`:
- every REST section ccxt knows (`api`, `fapiPublic`, `fapiPrivateV3`, `sapi`...) goes to
  `base_url` + the path Binance uses (`/api/v3`, `/fapi/v1`, `/fapi/v3`, `/sapi/v1`...), and
  the websocket URLs to `ws://` the same host (`/ws-api/v3`, `/ws` for USD-M streams);
- `load_markets` asks only for spot and linear exchangeInfo (no currencies, margin pairs,
  inverse or options, which need the real Binance);
- `fetch_open_orders` without a symbol is allowed;
- errors are classified with ccxt's per-market maps (spot / linear) chosen by URL path,
  exactly as ccxt chooses them for binance.com by host name, so the same answer raises the
  same ccxt exception class against the real venue and against the simulator.
"""

from __future__ import annotations

import types
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

_REST_PATHS = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}


def rest_urls(base_url: str) -> dict[str, str]:
    """ccxt's `urls['api']` REST sections under `base_url`."""
    root = base_url.rstrip("/")
    return {section: root + path for section, path in _REST_PATHS.items()}


def ws_urls(base_url: str) -> dict[str, Any]:
    """ccxt.pro's `urls['api']['ws']` under the same host (ws:// for http://)."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    root = f"{scheme}://{parts.netloc}{parts.path}"
    return {
        "spot": root + "/ws",
        "margin": root + "/ws",
        "linear": root + "/ws",
        "inverse": root + "/dws",
        "ws-api": {
            "spot": root + "/ws-api/v3",
            "linear": root + "/ws-fapi/v1",
            "inverse": root + "/ws-dapi/v1",
        },
    }


def point_at(exchange: Any, base_url: str, default_type: str | None = None) -> Any:
    """Configure `exchange` (ccxt binance, async or pro) for `base_url`; returns it.

    `default_type` (ccxt's `options['defaultType']`, e.g. "spot" or "swap") is left as the
    caller set it unless given. Idempotent; call it before `load_markets`."""
    api = dict(exchange.urls.get("api", {}))
    api.update(rest_urls(base_url))
    api["ws"] = ws_urls(base_url)  # used by ccxt.pro, ignored by async_support
    exchange.urls["api"] = api
    if default_type is not None:
        exchange.options["defaultType"] = default_type
    exchange.options["fetchMarkets"] = {"types": ["spot", "linear"]}
    exchange.options["fetchCurrencies"] = False
    exchange.options["fetchMargins"] = False
    exchange.options["fetchOpenOrders"] = {"warnWithoutSymbol": False}
    exchange.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
    exchange.get_exceptions_by_url = types.MethodType(_exceptions_by_path, exchange)
    return exchange


def _exceptions_by_path(self: Any, url: str | None, exact_or_broad: str) -> dict[str, Any]:
    """ccxt's binance `get_exceptions_by_url`, keyed on the URL path instead of the host."""
    if url is None:
        return {}
    path = urlsplit(url).path
    market_type = None
    if path.startswith(("/api/", "/sapi/")):
        market_type = "spot"
    elif path.startswith("/fapi/"):
        market_type = "linear"
    elif path.startswith("/dapi/"):
        market_type = "inverse"
    elif path.startswith("/eapi/"):
        market_type = "option"
    elif path.startswith("/papi/"):
        market_type = "portfolioMargin"
    if market_type is None:
        return {}
    table: dict[str, Any] = self.safe_dict(self.exceptions, market_type, {})
    result: dict[str, Any] = self.safe_dict(table, exact_or_broad, {})
    return result


def make_binance(
    base_url: str,
    api_key: str,
    secret: str,
    *,
    pro: bool = False,
    timeout_ms: int = 10_000,
    default_type: str = "spot",
    extra: dict[str, Any] | None = None,
) -> Any:
    """A new ccxt binance (async, or pro when `pro`) pointed at `base_url`."""
    config: dict[str, Any] = {
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": False,
        "timeout": timeout_ms,
    }
    config.update(extra or {})
    exchange = ccxt_pro.binance(config) if pro else ccxt_async.binance(config)
    return point_at(exchange, base_url, default_type)


OKX_MARKET_TYPES = ["spot", "swap"]


def okx_ws_url(base_url: str) -> str:
    """ccxt.pro okx's `urls['api']['ws']` under `base_url` (it appends `/private`...)."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path}/ws/v5"


def point_okx_at(exchange: Any, base_url: str) -> Any:
    """Configure `exchange` (ccxt okx, async or pro) for `base_url`; returns it."""
    exchange.urls["api"] = {"rest": base_url.rstrip("/"), "ws": okx_ws_url(base_url)}
    exchange.options["fetchMarkets"] = {"types": list(OKX_MARKET_TYPES)}
    return exchange


def make_okx(
    base_url: str,
    api_key: str = "demo-key",
    secret: str = "demo-secret",
    password: str = "demo-passphrase",
    *,
    pro: bool = False,
    timeout_ms: int = 10_000,
) -> Any:
    """The unmodified ccxt okx (async, or pro when `pro`) pointed at `base_url` with
    `point_okx_at` (the simulator's demo credentials by default), ccxt's own client-side
    throttle off as in `make_binance`: signing, parsing and error mapping are ccxt's."""
    config: dict[str, Any] = {
        "apiKey": api_key,
        "secret": secret,
        "password": password,
        "timeout": timeout_ms,
        "enableRateLimit": False,  # the caller paces, the venue says no
    }
    exchange = ccxt_pro.okx(config) if pro else ccxt_async.okx(config)
    return point_okx_at(exchange, base_url)


def point_any_at(exchange: Any, base_url: str) -> Any:
    """Point `exchange` at `base_url` in its venue's dialect (ConfigError when the venue
    has none we know)."""
    from setpoint.core.errors import ConfigError
    from setpoint.venues.capabilities import rules

    dialect = rules(str(exchange.id)).dialect
    pointing = {"binance": point_at, "okx": point_okx_at}.get(dialect or "")
    if pointing is None:
        raise ConfigError(f"base_url is not supported for {exchange.id} (its own URLs only)")
    return pointing(exchange, base_url)


__all__ = [
    "make_binance",
    "make_okx",
    "okx_ws_url",
    "point_any_at",
    "point_at",
    "point_okx_at",
    "rest_urls",
    "ws_urls",
]
