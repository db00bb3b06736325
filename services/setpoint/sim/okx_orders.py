"""OKX v5 trade endpoints: place (one, batch), cancel (one, batch), amend, query, pending
orders, fills.

Every order of a call is answered by its own row (`sCode` "0" or OKX's refusal code with
`sMsg`, `okx_errors.refusal`); `okx_rest.ok` derives the call's code from the rows. A batch
takes at most 20 orders, each on its own. Sizes are OKX's: base units on spot, contracts on
a swap (`okx_wire.from_size`); `amend-order`'s `newSz` is the new total size, fills included.
On OKX a post-only order that would take is accepted and canceled at once, never refused.
An account in long/short position mode is reported as such but trades net only: a swap
order there is refused with `Parameter posSide error`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from setpoint.core.model import Side
from setpoint.sim import okx_errors as err
from setpoint.sim import okx_wire as wire
from setpoint.sim.markets import SimMarket
from setpoint.sim.okx_errors import OkxError
from setpoint.sim.okx_rest import (
    Body,
    Params,
    chosen_markets,
    decimal,
    integer,
    market_of,
    need_market,
    params_of,
    text,
)
from setpoint.sim.orders import Order, OrderKind, OrderRequest, Rejected, Tif
from setpoint.sim.state import Simulator

CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
MAX_BATCH = 20
MAX_LIMIT = 100
_ORD_TYPES: dict[str, tuple[OrderKind, Tif]] = {
    "limit": (OrderKind.LIMIT, Tif.GTC),
    "market": (OrderKind.MARKET, Tif.GTC),
    "optimal_limit_ioc": (OrderKind.MARKET, Tif.GTC),
    "ioc": (OrderKind.LIMIT, Tif.IOC),
    "fok": (OrderKind.LIMIT, Tif.FOK),
    "post_only": (OrderKind.LIMIT, Tif.GTX),
}


def _row(client_id: str, order_id: str, code: str, msg: str, now_ms: int) -> dict[str, Any]:
    return {"clOrdId": client_id, "ordId": order_id, "tag": "", "ts": str(now_ms),
            "sCode": code, "sMsg": msg}  # fmt: skip


def _client_id(params: Params, name: str = "clOrdId") -> str | None:
    value = text(params, name)
    if value is not None and not CLIENT_ID.match(value):
        raise err.bad_param(name)
    return value


def _bool(params: Params, name: str) -> bool:
    value = params.get(name, False)
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise err.bad_param(name)


# ------------------------------------------------------------------ place


def parse_order(sim: Simulator, params: Params) -> tuple[SimMarket, OrderRequest]:
    """The engine's request from OKX's place-order parameters; raises OkxError."""
    market = need_market(sim, params)
    side = text(params, "side", required=True)
    if side not in ("buy", "sell"):
        raise err.bad_param("side")
    ord_type = text(params, "ordType", required=True)
    if ord_type not in _ORD_TYPES or (ord_type == "optimal_limit_ioc" and not market.is_perp):
        raise err.bad_param("ordType")
    mode = text(params, "tdMode", required=True)
    if mode not in (("cross", "isolated") if market.is_perp else ("cash",)):
        raise err.bad_param("tdMode")
    _check_pos_side(sim, market, params)
    kind, tif = _ORD_TYPES[ord_type]
    if kind is OrderKind.LIMIT and tif is Tif.GTX and not market.is_perp:
        kind, tif = OrderKind.LIMIT_MAKER, Tif.GTC
    size = decimal(params, "sz", required=True)
    assert size is not None
    by_quote = (
        kind is OrderKind.MARKET
        and not market.is_perp
        and side == "buy"
        and params.get("tgtCcy", "quote_ccy") == "quote_ccy"
    )
    return market, OrderRequest(
        symbol=market.symbol,
        side=Side(side),
        kind=kind,
        quantity=None if by_quote else wire.from_size(market, size),
        price=decimal(params, "px", required=True) if kind is not OrderKind.MARKET else None,
        tif=tif,
        client_order_id=_client_id(params),
        reduce_only=_bool(params, "reduceOnly"),
        quote_quantity=size if by_quote else None,
    )


def _check_pos_side(sim: Simulator, market: SimMarket, params: Params) -> None:
    pos_side = text(params, "posSide")
    if not market.is_perp:
        return
    if sim.position_mode != "net_mode":
        raise err.POS_SIDE
    if pos_side not in (None, "net"):
        raise err.bad_param("posSide")


async def _place(sim: Simulator, raw: Any) -> dict[str, Any]:
    """Place one order; its answer row (refusals included)."""
    now = sim.clock.now_ms()
    params = raw if isinstance(raw, dict) else {}
    client_id = str(params.get("clOrdId") or "")
    try:
        _market, request = parse_order(sim, params_of(raw))
        order, events = sim.engine.place(request, sim.clock.now_us(), post_only_cancels=True)
    except OkxError as error:
        return _row(client_id, "", str(error.code), error.msg, now)
    except Rejected as rejected:
        return _row(client_id, "", *err.refusal(rejected), now)
    await sim.publish(events)
    return _row(wire.client_id(order), str(order.order_id), "0", "Order placed", now)


async def place_one(sim: Simulator, body: Body) -> list[Any]:
    return [await _place(sim, params_of(body))]


async def place_batch(sim: Simulator, body: Body) -> list[Any]:
    rows = _batch(body)
    return [await _place(sim, row) for row in rows]


def _batch(body: Body) -> list[Any]:
    rows = body if isinstance(body, list) else [body]
    if not rows or len(rows) > MAX_BATCH:
        raise err.bad_param("orders")
    return rows


# ------------------------------------------------------------------ cancel / amend


def _reference(params: Params) -> tuple[int | None, str | None]:
    order_id, client_id = integer(params, "ordId"), _client_id(params)
    if order_id is None and client_id is None:
        raise OkxError("51003", "Either client order ID or order ID is required.")
    return order_id, client_id


def _closed_refusal(
    sim: Simulator, market: SimMarket, ref: tuple[int | None, str | None], table: dict[str, Any]
) -> tuple[str, str] | None:
    """The refusal for an order that exists but is closed (canceled / filled), else None."""
    try:
        order = sim.engine.find(market.symbol, order_id=ref[0], client_order_id=ref[1])
    except Rejected:
        return None
    found: tuple[str, str] | None = table.get(wire.state(order))
    return found


async def _cancel(sim: Simulator, raw: Any) -> dict[str, Any]:
    now = sim.clock.now_ms()
    params = raw if isinstance(raw, dict) else {}
    client_id, order_id = str(params.get("clOrdId") or ""), str(params.get("ordId") or "")
    try:
        market = need_market(sim, params_of(raw))
        ref = _reference(params)
        order, events = sim.engine.cancel(
            market.symbol, order_id=ref[0], client_order_id=ref[1], now_us=sim.clock.now_us()
        )
    except OkxError as error:
        return _row(client_id, order_id, str(error.code), error.msg, now)
    except Rejected as rejected:
        closed = _closed_refusal(sim, market, ref, err.CANCEL_CLOSED)
        return _row(client_id, order_id, *(closed or err.refusal(rejected, "cancel")), now)
    await sim.publish(events)
    return _row(wire.client_id(order), str(order.order_id), "0", "", now)


async def cancel(sim: Simulator, body: Body) -> list[Any]:
    return [await _cancel(sim, params_of(body))]


async def cancel_batch(sim: Simulator, body: Body) -> list[Any]:
    return [await _cancel(sim, row) for row in _batch(body)]


async def amend(sim: Simulator, body: Body) -> list[Any]:
    """POST trade/amend-order: new price and/or new total size of an open limit order."""
    now = sim.clock.now_ms()
    params = params_of(body)
    client_id, order_id = str(params.get("clOrdId") or ""), str(params.get("ordId") or "")
    request_id = str(params.get("reqId") or "")
    try:
        market = need_market(sim, params)
        ref = _reference(params)
        order, events = _amend(sim, market, ref, params)
    except OkxError as error:
        return [_amend_row(client_id, order_id, request_id, str(error.code), error.msg, now)]
    except Rejected as rejected:
        closed = _closed_refusal(sim, market, ref, err.AMEND_CLOSED)
        code, msg = closed or err.refusal(rejected, "amend")
        return [_amend_row(client_id, order_id, request_id, code, msg, now)]
    await sim.publish(events)
    return [_amend_row(wire.client_id(order), str(order.order_id), request_id, "0", "", now)]


def _amend(
    sim: Simulator, market: SimMarket, ref: tuple[int | None, str | None], params: Params
) -> tuple[Order, list[Any]]:
    size, price = decimal(params, "newSz"), decimal(params, "newPx")
    if size is None and price is None:
        raise OkxError("51000", "Parameter newSz or newPx error")
    current = sim.engine.find(market.symbol, order_id=ref[0], client_order_id=ref[1])
    quantity = current.quantity if size is None else wire.from_size(market, size)
    new_price = current.price if price is None else price
    return sim.engine.amend(
        market.symbol,
        order_id=current.order_id,
        quantity=quantity,
        price=new_price if new_price is not None else Decimal(0),
        now_us=sim.clock.now_us(),
    )


def _amend_row(
    client_id: str, order_id: str, request_id: str, code: str, msg: str, now_ms: int
) -> dict[str, Any]:
    return {"clOrdId": client_id, "ordId": order_id, "reqId": request_id,
            "ts": str(now_ms), "sCode": code, "sMsg": msg}  # fmt: skip


# ------------------------------------------------------------------ queries


async def get_order(sim: Simulator, body: Body) -> list[Any]:
    """GET trade/order by ordId or clOrdId; 51603 when there is no such order."""
    params = params_of(body)
    market = need_market(sim, params)
    order_id, client_id = _reference(params)
    try:
        order = sim.engine.find(market.symbol, order_id=order_id, client_order_id=client_id)
    except Rejected:
        raise err.ORDER_NOT_FOUND from None
    return [wire.order_row(market, order, wire.order_fee(sim.engine, order.order_id))]


async def pending(sim: Simulator, body: Body) -> list[Any]:
    """GET trade/orders-pending: open orders, newest first, of instType / instId."""
    params = params_of(body)
    markets = {m.symbol: m for m in chosen_markets(sim, params)}
    kind = text(params, "ordType")
    orders = [
        o
        for o in reversed(sim.engine.open_orders())
        if o.symbol in markets and (kind is None or wire.ord_type(o) == kind)
    ]
    limit = min(integer(params, "limit") or MAX_LIMIT, MAX_LIMIT)
    return [
        wire.order_row(markets[o.symbol], o, wire.order_fee(sim.engine, o.order_id))
        for o in orders[:limit]
    ]


async def fills(sim: Simulator, body: Body) -> list[Any]:
    """GET trade/fills and fills-history: the account's fills, newest first, filtered by
    instType / instId / ordId and the `begin` / `end` times (ms, inclusive)."""
    params = params_of(body)
    market = market_of(sim, params, required=False)
    markets = [market] if market else wire.markets_of(sim.engine, text(params, "instType") or "ANY")
    symbols = {m.symbol: m for m in markets}
    order_id, begin, end = (
        integer(params, "ordId"),
        integer(params, "begin"),
        integer(params, "end"),
    )
    chosen = [
        t
        for t in reversed(sim.engine.trades)
        if t.symbol in symbols
        and (order_id is None or t.order_id == order_id)
        and (begin is None or t.time_us // 1000 >= begin)
        and (end is None or t.time_us // 1000 <= end)
    ]
    limit = min(integer(params, "limit") or MAX_LIMIT, MAX_LIMIT)
    return [wire.fill_row(symbols[t.symbol], t) for t in chosen[:limit]]
