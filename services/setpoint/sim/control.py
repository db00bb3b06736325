"""The control API (`/_sim/...`, docs/simulator.md "Control API"), for tests and demos.

Bodies are JSON with unified symbols and decimal strings. A bad body answers 400
`{"error": "<field>: <why>"}` and changes nothing. No authentication, no faults.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from setpoint.core.errors import BadBody as BadBody
from setpoint.core.events import OrderStatus
from setpoint.core.model import Side
from setpoint.core.numeric import NotADecimal, strict_decimal
from setpoint.sim.faults import BadRule, FaultKind, parse_rule
from setpoint.sim.orders import Event, Order, OrderKind, OrderRequest, Rejected, Tif
from setpoint.sim.snapshot import engine_state, order_json
from setpoint.sim.state import POSITION_MODES, SIM, Simulator


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadBody("body: invalid JSON") from None
    if not isinstance(body, dict):
        raise BadBody("body: must be a JSON object")
    return body


def _decimal(body: dict[str, Any], name: str, required: bool = True) -> Decimal | None:
    if body.get(name) is None:
        if required:
            raise BadBody(f"{name}: required")
        return None
    try:
        return strict_decimal(body[name])
    except NotADecimal as exc:
        raise BadBody(f"{name}: {exc}") from None


def _side(body: dict[str, Any]) -> Side:
    try:
        return Side(str(body.get("side", "")).lower())
    except ValueError:
        raise BadBody("side: buy or sell") from None


def _symbol(sim: Simulator, body: dict[str, Any]) -> str:
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or sim.engine.markets.get(symbol) is None:
        raise BadBody(f"symbol: unknown symbol {symbol!r}")
    return symbol


def _find(sim: Simulator, body: dict[str, Any]) -> Order:
    order_id, client_id = body.get("order_id"), body.get("client_order_id")
    try:
        if order_id is not None:
            return sim.engine.find(None, order_id=int(order_id))
        if isinstance(client_id, str):
            return sim.engine.find(None, client_order_id=client_id)
    except (Rejected, ValueError):
        raise BadBody("order: no such order") from None
    raise BadBody("order_id or client_order_id: required")


async def _answer(
    sim: Simulator,
    command: Callable[[int], tuple[Order, list[Event]]],
    *,
    with_reason: bool = False,
) -> web.Response:
    """Run an engine `command` at the simulator's now, publish its events and answer the
    order it leaves. A refusal changes nothing and is a 400 `order: <detail>` (with
    `with_reason`, `order: <reason>: <detail>`)."""
    try:
        order, events = command(sim.clock.now_us())
    except Rejected as rejected:
        raise BadBody(f"order: {rejected if with_reason else rejected.detail}") from None
    await sim.publish(events)
    return web.json_response(order_json(order))


async def price(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    body = await _body(request)
    symbol = _symbol(sim, body)
    value = _decimal(body, "price")
    assert value is not None
    events = sim.engine.move_price(symbol, value, sim.clock.now_us())
    await sim.publish(events)
    return web.json_response({"symbol": symbol, "price": format(value, "f")})


async def liquidity(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    body = await _body(request)
    symbol = _symbol(sim, body)
    levels_raw = body.get("levels")
    if not isinstance(levels_raw, list):
        raise BadBody("levels: a list of [price, quantity]")
    levels: list[tuple[Decimal, Decimal]] = []
    for index, level in enumerate(levels_raw):
        if not isinstance(level, list) or len(level) != 2:
            raise BadBody(f"levels[{index}]: [price, quantity]")
        pair = {"price": level[0], "quantity": level[1]}
        p, q = _decimal(pair, "price"), _decimal(pair, "quantity")
        assert p is not None
        assert q is not None
        levels.append((p, q))
    sim.engine.set_liquidity(symbol, _side(body), levels)
    return web.json_response({"symbol": symbol, "side": _side(body).value, "levels": len(levels)})


async def fill(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    body = await _body(request)
    order = _find(sim, body)
    quantity = _decimal(body, "quantity", required=False)
    try:
        events = sim.engine.force_fill(order, quantity, sim.clock.now_us())
    except Rejected as rejected:
        raise BadBody(f"order: {rejected.detail}") from None
    await sim.publish(events)
    return web.json_response(order_json(sim.engine.orders[order.order_id]))


async def foreign_order(request: web.Request) -> web.Response:
    """An order placed outside the system (by hand, another program) on the account."""
    sim = request.app[SIM]
    body = await _body(request)
    kind = (
        OrderKind.MARKET
        if str(body.get("type", "limit")).lower() == "market"
        else (OrderKind.LIMIT)
    )
    try:
        tif = Tif(str(body.get("time_in_force", "GTC")).upper())
    except ValueError:
        raise BadBody("time_in_force: GTC, IOC or FOK") from None
    order_request = OrderRequest(
        symbol=_symbol(sim, body),
        side=_side(body),
        kind=kind,
        quantity=_decimal(body, "quantity"),
        price=_decimal(body, "price", required=kind is OrderKind.LIMIT),
        tif=tif,
        client_order_id=body.get("client_order_id") or None,
    )
    return await _answer(
        sim, lambda now_us: sim.engine.place(order_request, now_us), with_reason=True
    )


async def venue_cancel(request: web.Request) -> web.Response:
    """The venue cancels (status CANCELED) or expires (default, EXPIRED) an order."""
    sim = request.app[SIM]
    body = await _body(request)
    order = _find(sim, body)
    status = OrderStatus(str(body.get("status", "EXPIRED")).upper())
    if status not in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
        raise BadBody("status: CANCELED or EXPIRED")
    return await _answer(
        sim,
        lambda now_us: sim.engine.cancel(
            order.symbol, order_id=order.order_id, now_us=now_us, status=status
        ),
    )


async def add_faults(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    body = await _body(request)
    raw_rules = body.get("rules")
    if not isinstance(raw_rules, list):
        raise BadBody("rules: a list of rules")
    try:
        rules = [parse_rule(raw, index) for index, raw in enumerate(raw_rules)]
    except BadRule as exc:
        raise BadBody(str(exc)) from None
    seed = body.get("seed")
    sim.faults.install(rules, seed if isinstance(seed, int) else None)
    if sim.faults.fire_unfiltered(FaultKind.LISTEN_KEY_EXPIRE):
        await sim.expire_streams()
    if sim.faults.fire_unfiltered(FaultKind.WS_DROP):
        await sim.drop_streams()
    return web.json_response({"rules": len(sim.faults.rules)})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[SIM].faults.clear()
    return web.json_response({"rules": 0})


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"rules": request.app[SIM].faults.active()})


async def position_mode(request: web.Request) -> web.Response:
    """Set the account's position mode as the venue reports it (OKX `posMode`, Binance
    `dualSidePosition`): `net_mode` or `long_short_mode` (the engine trades net only)."""
    sim = request.app[SIM]
    body = await _body(request)
    mode = body.get("mode")
    if mode not in POSITION_MODES:
        raise BadBody(f"mode: one of {list(POSITION_MODES)}")
    sim.position_mode = str(mode)
    return web.json_response({"mode": sim.position_mode})


async def state(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    countdowns = {symbol: at for symbol, at in sorted(sim.countdowns.deadlines.items())}
    return web.json_response(engine_state(sim.engine) | {"countdowns": countdowns})


async def reset(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    sim.reset()
    return web.json_response({"reset": True})


@web.middleware
async def bad_body(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn BadBody into 400 `{"error": ...}`."""
    try:
        response: web.StreamResponse = await handler(request)
    except BadBody as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return response


def routes() -> list[web.RouteDef]:
    return [
        web.post("/_sim/price", price),
        web.post("/_sim/liquidity", liquidity),
        web.post("/_sim/fill", fill),
        web.post("/_sim/orders", foreign_order),
        web.post("/_sim/cancel", venue_cancel),
        web.post("/_sim/faults", add_faults),
        web.delete("/_sim/faults", clear_faults),
        web.get("/_sim/faults", list_faults),
        web.get("/_sim/state", state),
        web.post("/_sim/reset", reset),
        web.post("/_sim/position-mode", position_mode),
    ]
