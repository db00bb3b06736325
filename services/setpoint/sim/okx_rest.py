"""The OKX v5 REST facade (`/api/v5/...`): public market data, account, and the trade
endpoints of `okx_orders`.

Only what ccxt 4.5's okx sends for the calls Setpoint makes (load_markets, tickers,
books, funding rate, orders, amend, batch, fills, balance, positions, account config,
the dead-man switch `trade/cancel-all-after`);
any other path answers 404 with an OKX-shaped body. Every answer is
`{"code": "0", "msg": "", "data": [...]}`; errors are OKX's codes (`okx_errors`).
Private endpoints check OKX's signature (`okx_auth`). Each endpoint can be limited per
instrument (`[sim] okx_rate_limits`, `limits`): over the limit it answers 429, 50011.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from setpoint.sim import okx_errors as err
from setpoint.sim import okx_wire as wire
from setpoint.sim.countdown import ACCOUNT_WIDE
from setpoint.sim.markets import SimMarket
from setpoint.sim.okx_auth import verify_rest
from setpoint.sim.state import POSITION_MODES, SIM, Simulator

PREFIX = "/api/v5/"

Params = dict[str, Any]
Body = Params | list[Params]
Handler = Callable[[Simulator, Body], Awaitable[list[Any]]]


# ------------------------------------------------------------------ framework


def ok(data: list[Any]) -> web.Response:
    """The answer of `data`. Rows of a trade call carry their own `sCode`: the call's code
    is then "0" when all succeeded, "1" when all failed, "2" when some did (OKX's rule)."""
    codes = [row.get("sCode") for row in data if isinstance(row, dict)]
    code, msg = "0", ""
    if codes and len(codes) == len(data) and None not in codes:
        failed = sum(1 for c in codes if c != "0")
        if failed == len(codes):
            code, msg = "1", "All operations failed" if failed > 1 else ""
        elif failed:
            code, msg = "2", "Bulk operation partially succeeded"
    return web.json_response({"code": code, "msg": msg, "data": data})


async def _read(request: web.Request) -> tuple[Body, str]:
    """(the parameters: the query of a GET, the JSON body of a POST; the raw body)."""
    raw = await request.text() if request.can_read_body else ""
    if request.method == "GET":
        return dict(request.query), raw
    if not raw:
        return {}, raw
    try:
        body = jsonlib.loads(raw)
    except ValueError:
        raise err.OkxError("50002", "Json data format error") from None
    if not isinstance(body, (dict, list)):
        raise err.OkxError("50002", "Json data format error")
    return body, raw


def _instruments(body: Body) -> list[str]:
    rows = body if isinstance(body, list) else [body]
    return [str(row.get("instId", "")) if isinstance(row, dict) else "" for row in rows] or [""]


def endpoint(name: str, handler: Handler, private: bool) -> Callable[..., Any]:
    """An aiohttp handler: read, authenticate (private), rate-limit, answer `data`."""

    async def serve(request: web.Request) -> web.Response:
        sim = request.app[SIM]
        body, raw = await _read(request)
        now = sim.clock.now_ms()
        if private:
            verify_rest(request.headers, request.method, request.raw_path, raw, sim.okx_keys, now)
        if not all(sim.limits.admit(name, inst, now) for inst in _instruments(body)):
            raise err.RATE_LIMIT
        return ok(await handler(sim, body))

    return serve


def params_of(body: Body) -> Params:
    if not isinstance(body, dict):
        raise err.OkxError("50002", "Json data format error")
    return body


def text(params: Params, name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise err.empty_param(name)
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise err.bad_param(name)
    return str(value)


def decimal(params: Params, name: str, required: bool = False) -> Decimal | None:
    raw = text(params, name, required)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise err.bad_param(name) from None
    if not value.is_finite() or value <= 0:
        raise err.bad_param(name)
    return value


def integer(params: Params, name: str) -> int | None:
    raw = text(params, name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise err.bad_param(name) from None


def market_of(sim: Simulator, params: Params, required: bool = True) -> SimMarket | None:
    """The market named by `instId` (51001 when unknown; 50014 when required and absent)."""
    instrument = text(params, "instId", required)
    if instrument is None:
        return None
    market = wire.find_market(sim.engine, instrument)
    if market is None:
        raise err.UNKNOWN_INSTRUMENT
    return market


def need_market(sim: Simulator, params: Params) -> SimMarket:
    market = market_of(sim, params)
    assert market is not None
    return market


def chosen_markets(sim: Simulator, params: Params, default_type: str = "ANY") -> list[SimMarket]:
    """`instId` (comma-separated ids allowed) if given, else every market of `instType`."""
    ids = text(params, "instId")
    if ids is not None:
        found = [wire.find_market(sim.engine, i) for i in ids.split(",")]
        if any(m is None for m in found):
            raise err.UNKNOWN_INSTRUMENT
        return [m for m in found if m is not None]
    return wire.markets_of(sim.engine, text(params, "instType") or default_type)


# ------------------------------------------------------------------ public


async def instruments(sim: Simulator, body: Body) -> list[Any]:
    params = params_of(body)
    kind = text(params, "instType", required=True)
    assert kind is not None
    if kind.upper() not in ("SPOT", "SWAP", "FUTURES", "OPTION", "MARGIN"):
        raise err.bad_param("instType")
    return [wire.instrument(m) for m in chosen_markets(sim, params, kind)]


async def server_time(sim: Simulator, body: Body) -> list[Any]:
    return [{"ts": str(sim.clock.now_ms())}]


async def tickers(sim: Simulator, body: Body) -> list[Any]:
    params = params_of(body)
    text(params, "instType", required=True)
    now = sim.clock.now_ms()
    return [wire.ticker(sim.engine, m, now) for m in chosen_markets(sim, params)]


async def one_ticker(sim: Simulator, body: Body) -> list[Any]:
    market = need_market(sim, params_of(body))
    return [wire.ticker(sim.engine, market, sim.clock.now_ms())]


async def books(sim: Simulator, body: Body) -> list[Any]:
    params = params_of(body)
    market = need_market(sim, params)
    depth = min(integer(params, "sz") or 1, 400)
    return [wire.book(sim.engine, market, depth, sim.clock.now_ms())]


async def funding_rate(sim: Simulator, body: Body) -> list[Any]:
    market = need_market(sim, params_of(body))
    if not market.is_perp:
        raise err.UNKNOWN_INSTRUMENT
    return [wire.funding_rate(market, sim.clock.now_ms())]


# ------------------------------------------------------------------ account


async def account_balance(sim: Simulator, body: Body) -> list[Any]:
    wanted = text(params_of(body), "ccy")
    row = wire.balance(sim.engine, sim.clock.now_ms())
    if wanted is not None:
        names = wanted.split(",")
        row["details"] = [d for d in row["details"] if d["ccy"] in names]
    return [row]


async def positions(sim: Simulator, body: Body) -> list[Any]:
    params = params_of(body)
    now = sim.clock.now_ms()
    return [
        wire.position(sim.engine, m, now)
        for m in chosen_markets(sim, params)
        if m.is_perp and sim.engine.margin.position(m.symbol).quantity != 0
    ]


async def account_config(sim: Simulator, body: Body) -> list[Any]:
    return [wire.account_config(sim.position_mode)]


async def set_position_mode(sim: Simulator, body: Body) -> list[Any]:
    mode = text(params_of(body), "posMode", required=True)
    if mode not in POSITION_MODES:
        raise err.bad_param("posMode")
    assert mode is not None
    sim.position_mode = mode
    return [{"posMode": mode}]


CANCEL_ALL_AFTER_S = (10, 120)
"""The countdowns OKX accepts in `cancel-all-after` (seconds; 0 disarms)."""


async def cancel_all_after(sim: Simulator, body: Body) -> list[Any]:
    """POST trade/cancel-all-after: arm (renew; `timeOut` 0 disarms) the account's
    dead-man switch: every open order is cancelled unless renewed within `timeOut` s
    (0, or 10 to 120: else 51000). `triggerTime` is when it fires (ms; "0" disarmed)."""
    timeout = integer(params_of(body), "timeOut")
    low, high = CANCEL_ALL_AFTER_S
    if timeout is None:
        raise err.empty_param("timeOut")
    if timeout != 0 and not low <= timeout <= high:
        raise err.bad_param("timeOut")
    now = sim.clock.now_ms()
    sim.countdowns.arm(ACCOUNT_WIDE, timeout * 1000, now)
    trigger = now + timeout * 1000 if timeout else 0
    return [{"triggerTime": str(trigger), "tag": "", "ts": str(now)}]


async def currencies(sim: Simulator, body: Body) -> list[Any]:
    """GET /api/v5/asset/currencies: one chain per asset the markets use."""
    assets = sorted({a for m in sim.engine.markets.all for a in (m.base, m.quote)})
    return [
        {
            "ccy": asset,
            "name": asset,
            "chain": f"{asset}-{asset}",
            "canDep": True,
            "canWd": True,
            "canInternal": True,
            "minWd": "0.0001",
            "maxWd": "1000000",
            "wdTickSz": "8",
            "minFee": "0",
            "maxFee": "0",
            "mainNet": True,
            "minDep": "0.00000001",
        }
        for asset in assets
    ]


def routes() -> list[web.RouteDef]:
    """Every REST route of the OKX facade."""
    from setpoint.sim import okx_orders

    public: list[tuple[str, Handler]] = [
        ("public/instruments", instruments),
        ("public/time", server_time),
        ("public/funding-rate", funding_rate),
        ("market/tickers", tickers),
        ("market/ticker", one_ticker),
        ("market/books", books),
    ]
    private_get: list[tuple[str, Handler]] = [
        ("account/balance", account_balance),
        ("account/positions", positions),
        ("account/config", account_config),
        ("asset/currencies", currencies),
        ("trade/order", okx_orders.get_order),
        ("trade/orders-pending", okx_orders.pending),
        ("trade/fills", okx_orders.fills),
        ("trade/fills-history", okx_orders.fills),
    ]
    private_post: list[tuple[str, Handler]] = [
        ("account/set-position-mode", set_position_mode),
        ("trade/order", okx_orders.place_one),
        ("trade/batch-orders", okx_orders.place_batch),
        ("trade/cancel-order", okx_orders.cancel),
        ("trade/cancel-batch-orders", okx_orders.cancel_batch),
        ("trade/amend-order", okx_orders.amend),
        ("trade/cancel-all-after", cancel_all_after),
    ]
    table = [web.get(PREFIX + name, endpoint(name, h, False)) for name, h in public]
    table += [web.get(PREFIX + name, endpoint(name, h, True)) for name, h in private_get]
    table += [web.post(PREFIX + name, endpoint(name, h, True)) for name, h in private_post]
    return table
