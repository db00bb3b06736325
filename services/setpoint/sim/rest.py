"""The Binance REST facade: spot `/api/v3`, USD-M `/fapi/v1`, `/fapi/v2`, `/fapi/v3`.

Only what ccxt 4.5's binance sends for the calls Setpoint makes (load_markets, orders,
edit_order (spot cancelReplace, USD-M modify), trades, balances, positions, tickers, depth,
funding, time, listen keys, the USD-M dead-man switch `countdownCancelAll`); any other
path answers 404 with a Binance-style body.
SIGNED endpoints check the key, signature and recvWindow (`auth`); errors are Binance's
codes (`errors`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web

from setpoint.core.model import Side
from setpoint.sim import auth, errors, wire, wire_market
from setpoint.sim.errors import ApiError
from setpoint.sim.markets import Kind, SimMarket
from setpoint.sim.orders import (
    Execution,
    Order,
    OrderKind,
    OrderRequest,
    Rejected,
    Tif,
    Trade,
)
from setpoint.sim.snapshot import dec
from setpoint.sim.state import SIM, Simulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Params = dict[str, str]
T = TypeVar("T")


# ------------------------------------------------------------------ helpers


async def read_params(request: web.Request) -> tuple[Params, str]:
    """Query and form body merged (body wins), and the raw body."""
    body = await request.text() if request.can_read_body else ""
    params = dict(parse_qsl(request.query_string, keep_blank_values=True))
    params.update(parse_qsl(body, keep_blank_values=True))
    return params, body


async def signed(request: web.Request) -> Params:
    """The parameters of an authenticated SIGNED request, else the Binance error."""
    sim = request.app[SIM]
    params, body = await read_params(request)
    auth.verify_rest(request.headers, request.query_string, body, sim.keys, sim.clock.now_ms())
    return params


def market_of(
    sim: Simulator, kind: Kind, params: Params, required: bool = True
) -> SimMarket | None:
    venue_id = params.get("symbol")
    if not venue_id:
        if required:
            raise errors.missing("symbol")
        return None
    market = sim.engine.markets.by_venue(kind, venue_id.upper())
    if market is None:
        raise errors.UNKNOWN_SYMBOL
    return market


def need_market(sim: Simulator, kind: Kind, params: Params) -> SimMarket:
    market = market_of(sim, kind, params)
    assert market is not None
    return market


def _param(params: Params, name: str, parse: Callable[[str], T]) -> T | None:
    """`parse` of parameter `name`: None when it is absent or empty, Binance's bad-value
    error when `parse` refuses it (ValueError, or decimal's InvalidOperation)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except (ValueError, InvalidOperation):
        raise errors.bad_value(name) from None


def _finite_decimal(raw: str) -> Decimal:
    value = Decimal(raw)
    if not value.is_finite():
        raise ValueError(raw)
    return value


def decimal_param(params: Params, name: str) -> Decimal | None:
    return _param(params, name, _finite_decimal)


def int_param(params: Params, name: str) -> int | None:
    return _param(params, name, int)


def need_param(params: Params, name: str, parse: Callable[[Params, str], T | None]) -> T:
    """A required parameter by `parse` (`int_param`, `decimal_param`); missing: Binance's
    mandatory-parameter error."""
    value = parse(params, name)
    if value is None:
        raise errors.missing(name)
    return value


def json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def kind_of(request: web.Request) -> Kind:
    return Kind.PERP if request.path.startswith("/fapi/") else Kind.SPOT


# ------------------------------------------------------------------ public


async def ping(request: web.Request) -> web.Response:
    return json({})


async def system_status(request: web.Request) -> web.Response:
    return json({"status": 0, "msg": "normal"})


async def server_time(request: web.Request) -> web.Response:
    return json({"serverTime": request.app[SIM].clock.now_ms()})


async def exchange_info(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    perp = kind_of(request) is Kind.PERP
    return json(wire_market.exchange_info(sim.engine, perp, sim.clock.now_ms()))


def _per_symbol(render: Callable[[Simulator, SimMarket, int], Any]) -> Handler:
    """A public endpoint answering for one `symbol`, or a list for all of its kind."""

    async def handler(request: web.Request) -> web.Response:
        sim = request.app[SIM]
        kind = kind_of(request)
        params, _ = await read_params(request)
        now = sim.clock.now_ms()
        market = market_of(sim, kind, params, required=False)
        if market is not None:
            return json(render(sim, market, now))
        return json([render(sim, m, now) for m in sim.engine.markets.of_kind(kind)])

    return handler


ticker_24hr = _per_symbol(lambda s, m, now: wire_market.ticker_24hr(s.engine, m, now))
book_ticker = _per_symbol(lambda s, m, now: wire_market.book_ticker(s.engine, m, now))
premium_index = _per_symbol(lambda s, m, now: wire_market.premium_index(s.engine, m, now))
ticker_price = _per_symbol(
    lambda s, m, now: {
        "symbol": m.venue_id,
        "time": now,
        "price": (dec if m.is_perp else wire.spot_dec)(s.engine.last_price(m.symbol)),
    }
)


async def depth(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    params, _ = await read_params(request)
    market = need_market(sim, kind_of(request), params)
    limit = int_param(params, "limit") or 100
    return json(wire_market.depth(sim.engine, market, limit, sim.clock.now_ms()))


# ------------------------------------------------------------------ orders


CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


def client_order_id(params: Params) -> str | None:
    """`newClientOrderId` if sent; Binance's alphabet and 36-character limit apply."""
    value = params.get("newClientOrderId") or None
    if value is not None and not CLIENT_ID.match(value):
        raise ApiError(
            400,
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; legal range is "
            "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )
    return value


def parse_order_request(market: SimMarket, params: Params) -> OrderRequest:
    """An OrderRequest from Binance's new-order parameters; raises ApiError."""
    side_raw = params.get("side", "").upper()
    if side_raw not in ("BUY", "SELL"):
        raise errors.missing("side")
    type_raw = params.get("type", "").upper()
    allowed = ("LIMIT", "MARKET") if market.is_perp else ("LIMIT", "MARKET", "LIMIT_MAKER")
    if type_raw not in allowed:
        raise ApiError(400, -1116, "Invalid orderType.")
    tif_raw = params.get("timeInForce", "GTC").upper()
    if tif_raw not in {t.value for t in Tif} or (tif_raw == "GTX" and not market.is_perp):
        raise ApiError(400, -1115, "Invalid timeInForce.")
    kind = OrderKind(type_raw)
    if kind is OrderKind.LIMIT and "timeInForce" not in params:
        raise errors.missing("timeInForce")
    return OrderRequest(
        symbol=market.symbol,
        side=Side.BUY if side_raw == "BUY" else Side.SELL,
        kind=kind,
        quantity=decimal_param(params, "quantity"),
        price=decimal_param(params, "price") if kind is not OrderKind.MARKET else None,
        tif=Tif(tif_raw) if kind is OrderKind.LIMIT else Tif.GTC,
        client_order_id=client_order_id(params),
        reduce_only=params.get("reduceOnly", "false").lower() == "true",
        quote_quantity=decimal_param(params, "quoteOrderQty"),
    )


async def new_order(request: web.Request) -> web.Response:
    """POST order: place, publish the stream events, answer in the venue's shape."""
    sim = request.app[SIM]
    params = await signed(request)
    market = need_market(sim, kind_of(request), params)
    order_request = parse_order_request(market, params)
    try:
        order, events = sim.engine.place(order_request, sim.clock.now_us())
    except Rejected as rejected:
        raise errors.from_rejection(rejected, market.is_perp) from None
    await sim.publish(events)
    if market.is_perp:
        return json(wire.futures_order(market, order))
    return json(wire.spot_order_ack(market, order, _own_trades(order.order_id, events)))


OrderRef = tuple[int | None, str | None]
"""An existing order named by venue id, client id, or both (at least one)."""


def _order_ref(
    params: Params, id_name: str = "orderId", client_name: str = "origClientOrderId"
) -> OrderRef:
    order_id = int_param(params, id_name)
    client_id = params.get(client_name) or None
    if order_id is None and client_id is None:
        raise errors.missing(id_name)
    return order_id, client_id


async def _cancel(
    sim: Simulator,
    market: SimMarket,
    ref: OrderRef,
    cancel_id: str | None,
    refused: Callable[[Rejected], ApiError],
) -> tuple[Order, str]:
    """Cancel the order `ref` names and publish it under the cancel's client id
    (`cancel_id`, else "cancel-<orderId>"); the engine's refusal raises `refused(...)`."""
    order_id, client_id = ref
    try:
        order, events = sim.engine.cancel(
            market.symbol,
            order_id=order_id,
            client_order_id=client_id,
            now_us=sim.clock.now_us(),
        )
    except Rejected as rejected:
        raise refused(rejected) from None
    cancel_id = cancel_id or f"cancel-{order.order_id}"
    await sim.publish(events, {order.order_id: cancel_id})
    return order, cancel_id


async def get_order(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    params = await signed(request)
    market = need_market(sim, kind_of(request), params)
    order_id, client_id = _order_ref(params)
    try:
        order = sim.engine.find(market.symbol, order_id=order_id, client_order_id=client_id)
    except Rejected as rejected:
        raise errors.from_rejection(rejected, market.is_perp) from None
    return json(_render_order(market, order))


def _render_order(market: SimMarket, order: Any) -> dict[str, Any]:
    return wire.futures_order(market, order) if market.is_perp else wire.spot_order(market, order)


async def cancel_order(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    params = await signed(request)
    market = need_market(sim, kind_of(request), params)
    order, cancel_id = await _cancel(
        sim,
        market,
        _order_ref(params),
        params.get("newClientOrderId"),
        lambda rejected: errors.from_rejection(rejected, market.is_perp),
    )
    if market.is_perp:
        return json(wire.futures_order(market, order))
    return json(wire.spot_cancel(market, order, cancel_id))


async def modify_order(request: web.Request) -> web.Response:
    """PUT /fapi/v1/order: new price and quantity for an open limit order, same ids."""
    sim = request.app[SIM]
    params = await signed(request)
    market = need_market(sim, Kind.PERP, params)
    order_id, client_id = _order_ref(params)
    quantity, price = decimal_param(params, "quantity"), decimal_param(params, "price")
    if quantity is None or price is None:
        raise errors.missing("quantity" if quantity is None else "price")
    try:
        order, events = sim.engine.amend(
            market.symbol,
            order_id=order_id,
            client_order_id=client_id,
            quantity=quantity,
            price=price,
            now_us=sim.clock.now_us(),
        )
    except Rejected as rejected:
        raise errors.from_rejection(rejected, perp=True) from None
    await sim.publish(events)
    return json(wire.futures_order(market, order))


async def cancel_replace(request: web.Request) -> web.Response:
    """POST /api/v3/order/cancelReplace (STOP_ON_FAILURE): cancel, then place anew; the
    cancel obeys `cancelRestrictions` (ONLY_NEW / ONLY_PARTIALLY_FILLED)."""
    sim = request.app[SIM]
    params = await signed(request)
    market = need_market(sim, Kind.SPOT, params)
    ref = _order_ref(params, "cancelOrderId", "cancelOrigClientOrderId")
    new_request = parse_order_request(market, params)
    _check_restrictions(sim, market.symbol, ref, params.get("cancelRestrictions"))
    canceled, cancel_id = await _cancel(
        sim,
        market,
        ref,
        params.get("cancelNewClientOrderId"),
        lambda rejected: _replace_failed(-2022, errors.from_rejection(rejected, perp=False), None),
    )
    cancel_body = wire.spot_cancel(market, canceled, cancel_id)
    try:
        order, events = sim.engine.place(new_request, sim.clock.now_us())
    except Rejected as rejected:
        error = errors.from_rejection(rejected, perp=False)
        raise _replace_failed(-2021, error, cancel_body) from None
    await sim.publish(events)
    return json(
        {
            "cancelResult": "SUCCESS",
            "newOrderResult": "SUCCESS",
            "cancelResponse": cancel_body,
            "newOrderResponse": wire.spot_order_ack(
                market, order, _own_trades(order.order_id, events)
            ),
        }
    )


def _check_restrictions(sim: Simulator, symbol: str, ref: OrderRef, rule: str | None) -> None:
    """`cancelRestrictions`: ONLY_NEW cancels only an order with nothing filled,
    ONLY_PARTIALLY_FILLED only a partly filled one; otherwise -2022 with Binance's -2011
    "cancel restrictions" cause (nothing done)."""
    if rule is None:
        return
    if rule not in ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"):
        raise ApiError(400, -1102, "Mandatory parameter 'cancelRestrictions' was not sent.")
    try:
        order = sim.engine.find(symbol, order_id=ref[0], client_order_id=ref[1])
    except Rejected:
        return  # the cancel below answers "unknown order"
    if (order.filled > 0) is (rule == "ONLY_NEW"):
        cause = ApiError(400, -2011, "Order was not canceled due to cancel restrictions.")
        raise _replace_failed(-2022, cause, None)


def _replace_failed(code: int, cause: ApiError, cancel_body: dict[str, Any] | None) -> ApiError:
    """Binance's -2022 (nothing done) or -2021 (canceled, new order refused) answer."""
    partial = cancel_body is not None
    error = ApiError(
        400,
        code,
        "Order cancel-replace partially failed." if partial else "Order cancel-replace failed.",
    )
    error.data = {
        "cancelResult": "SUCCESS" if partial else "FAILURE",
        "newOrderResult": "FAILURE" if partial else "NOT_ATTEMPTED",
        "cancelResponse": cancel_body if partial else cause.body(),
        "newOrderResponse": cause.body() if partial else None,
    }
    return error


def _own_trades(order_id: int, events: list[Any]) -> list[Trade]:
    return [
        e.trade
        for e in events
        if isinstance(e, Execution) and e.trade is not None and e.order.order_id == order_id
    ]


async def open_orders(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    params = await signed(request)
    kind = kind_of(request)
    market = market_of(sim, kind, params, required=False)
    orders = sim.engine.open_orders(kind, market.symbol if market else None)
    return json([_render_order(sim.engine.market(o.symbol), o) for o in orders])


async def all_orders(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    params = await signed(request)
    market = need_market(sim, kind_of(request), params)
    start = int_param(params, "startTime")
    orders = [
        o
        for o in sim.engine.orders.values()
        if o.symbol == market.symbol and (start is None or o.created_us // 1000 >= start)
    ]
    limit = min(int_param(params, "limit") or 500, 1000)
    return json([_render_order(market, o) for o in orders[-limit:]])


async def my_trades(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    params = await signed(request)
    market = need_market(sim, kind_of(request), params)
    start, end = int_param(params, "startTime"), int_param(params, "endTime")
    trades = sim.engine.records.trades_for(
        market.symbol,
        start_us=None if start is None else start * 1000,
        end_us=None if end is None else end * 1000 + 999,
        from_id=int_param(params, "fromId"),
        limit=min(int_param(params, "limit") or 500, 1000),
    )
    if (order_id := int_param(params, "orderId")) is not None:
        trades = [t for t in trades if t.order_id == order_id]
    return json([_render_trade(market, t) for t in trades])


def _render_trade(market: SimMarket, trade: Trade) -> dict[str, Any]:
    return wire.futures_trade(market, trade) if market.is_perp else wire.spot_trade(market, trade)


# ------------------------------------------------------------------ accounts


async def spot_account(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    await signed(request)
    fees = sim.engine.fees
    return json(wire.spot_account(sim.engine, fees.maker, fees.taker, sim.clock.now_ms()))


async def futures_account(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    await signed(request)
    return json(wire.futures_account(sim.engine, sim.clock.now_ms()))


async def futures_balance(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    await signed(request)
    return json(wire.futures_balances(sim.engine, sim.clock.now_ms()))


async def _perp_markets(request: web.Request) -> tuple[Simulator, list[SimMarket]]:
    """The perpetuals a signed positionRisk request asks for: the one named, else all."""
    sim = request.app[SIM]
    params = await signed(request)
    market = market_of(sim, Kind.PERP, params, required=False)
    return sim, [market] if market else sim.engine.markets.of_kind(Kind.PERP)


async def position_risk(request: web.Request) -> web.Response:
    """GET /fapi/v3/positionRisk: the non-zero positions (optionally of one symbol)."""
    sim, chosen = await _perp_markets(request)
    now = sim.clock.now_ms()
    rows = [
        wire.position_row(sim.engine, m, now)
        for m in chosen
        if sim.engine.margin.position(m.symbol).quantity != 0
    ]
    return json(rows)


async def position_risk_v2(request: web.Request) -> web.Response:
    """GET /fapi/v2/positionRisk: every perpetual, with leverage and margin type."""
    sim, chosen = await _perp_markets(request)
    now = sim.clock.now_ms()
    rows = []
    for m in chosen:
        row = wire.position_row(sim.engine, m, now)
        row.update(
            {
                "leverage": str(sim.engine.margin.leverage_of(m.symbol)),
                "marginType": "cross",
                "isAutoAddMargin": "false",
                "maxNotionalValue": "50000",
            }
        )
        rows.append(row)
    return json(rows)


async def leverage_bracket(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    await signed(request)
    return json(wire_market.leverage_brackets(sim.engine))


async def set_leverage(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    params = await signed(request)
    market = need_market(sim, Kind.PERP, params)
    leverage = need_param(params, "leverage", int_param)
    try:
        sim.engine.set_leverage(market.symbol, leverage)
    except Rejected:
        raise ApiError(400, -4028, "Leverage is not valid") from None
    return json({"leverage": leverage, "maxNotionalValue": "50000", "symbol": market.venue_id})


async def countdown_cancel_all(request: web.Request) -> web.Response:
    """POST /fapi/v1/countdownCancelAll: arm (renew; 0 disarms) the symbol's dead-man
    switch: its open orders are cancelled unless renewed within `countdownTime` ms."""
    sim = request.app[SIM]
    params = await signed(request)
    market = need_market(sim, Kind.PERP, params)
    countdown = need_param(params, "countdownTime", int_param)
    if countdown < 0:
        raise errors.bad_value("countdownTime")
    sim.countdowns.arm(market.symbol, countdown, sim.clock.now_ms())
    return json({"symbol": market.venue_id, "countdownTime": str(countdown)})


async def position_mode(request: web.Request) -> web.Response:
    await signed(request)
    return json({"dualSidePosition": request.app[SIM].position_mode == "long_short_mode"})


async def multi_assets_mode(request: web.Request) -> web.Response:
    await signed(request)
    return json({"multiAssetsMargin": False})


# ------------------------------------------------------------------ listen keys


async def listen_key(request: web.Request) -> web.Response:
    """POST (new), PUT (keep alive), DELETE (close) a listen key; API key only."""
    sim = request.app[SIM]
    auth.verify_key_only(request.headers, sim.keys)
    params, _ = await read_params(request)
    perp = kind_of(request) is Kind.PERP
    now = sim.clock.now_ms()
    if request.method == "POST":
        return json({"listenKey": sim.hub.new_key(perp, now)})
    key = params.get("listenKey", "")
    if request.method == "PUT":
        if not sim.hub.keep_alive(key, perp, now):
            raise errors.LISTEN_KEY_UNKNOWN
        return json({"listenKey": key} if key else {})
    sim.hub.delete_key(key)
    return json({})


DIALECTS = (("/api/v3", "myTrades", "userDataStream"), ("/fapi/v1", "userTrades", "listenKey"))
"""Spot and USD-M: the prefix, then the names each gives its trades and listen-key paths."""


def routes() -> list[web.RouteDef]:
    """Every REST route of the facade: what both dialects serve (each under its own prefix
    and names), then what only one of them does."""
    table = [web.get("/sapi/v1/system/status", system_status)]
    for prefix, trades, listen in DIALECTS:
        table += [
            web.get(f"{prefix}/ping", ping),
            web.get(f"{prefix}/time", server_time),
            web.get(f"{prefix}/exchangeInfo", exchange_info),
            web.get(f"{prefix}/ticker/24hr", ticker_24hr),
            web.get(f"{prefix}/ticker/bookTicker", book_ticker),
            web.get(f"{prefix}/ticker/price", ticker_price),
            web.get(f"{prefix}/depth", depth),
            web.post(f"{prefix}/order", new_order),
            web.get(f"{prefix}/order", get_order),
            web.delete(f"{prefix}/order", cancel_order),
            web.get(f"{prefix}/openOrders", open_orders),
            web.get(f"{prefix}/allOrders", all_orders),
            web.get(f"{prefix}/{trades}", my_trades),
            web.route("*", f"{prefix}/{listen}", listen_key),
        ]
    table += [
        web.post("/api/v3/order/cancelReplace", cancel_replace),
        web.get("/api/v3/account", spot_account),
        web.put("/fapi/v1/order", modify_order),
        web.get("/fapi/v1/premiumIndex", premium_index),
        web.get("/fapi/v1/leverageBracket", leverage_bracket),
        web.post("/fapi/v1/leverage", set_leverage),
        web.post("/fapi/v1/countdownCancelAll", countdown_cancel_all),
        web.get("/fapi/v1/positionSide/dual", position_mode),
        web.get("/fapi/v1/multiAssetsMargin", multi_assets_mode),
        web.get("/fapi/v2/account", futures_account),
        web.get("/fapi/v3/account", futures_account),
        web.get("/fapi/v2/balance", futures_balance),
        web.get("/fapi/v3/balance", futures_balance),
        web.get("/fapi/v2/positionRisk", position_risk_v2),
        web.get("/fapi/v3/positionRisk", position_risk),
    ]
    return table
