"""Binance's request weights and order counts, for the simulator's Binance dialect.

Every answer of `/api/...` (spot) and `/fapi/...` (USD-M) carries the weight used in the
current clock minute, per API family, in `X-MBX-USED-WEIGHT-1M` (and, for the requests
that place or change an order, the orders of the current 10 seconds in
`X-MBX-ORDER-COUNT-10S`), as Binance sends them. Enforcement is off by default: set
limits with `POST /_sim/weights` (`{"weight_per_minute": N, "orders_per_10s": M}`, either
may be null = not enforced; the same limits for each family, counted apart) and a request
past one is answered 429 with Binance's -1003 (weight) or -1015 (orders) before it is
carried out. `GET /_sim/weights` shows the limits and the counts. The windows are fixed
and aligned to the simulator's clock (minutes, ten seconds), as Binance counts them.

Weights are Binance's documented ones for the endpoints the simulator serves (with the
weight of a call without a symbol where it differs); any other endpoint weighs 1. The
table is kept apart from the gateway's (`venues.capabilities.BINANCE_RATES`) on purpose:
the simulator is the independent check of the gateway's pacer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from setpoint.core.errors import BadBody
from setpoint.sim.control import _body
from setpoint.sim.errors import ApiError
from setpoint.sim.state import SIM

Handler = Any

_WEIGHTS: dict[tuple[str, str], tuple[int, int]] = {
    # spot
    ("GET", "/api/v3/exchangeInfo"): (20, 20),
    ("GET", "/api/v3/depth"): (5, 5),
    ("GET", "/api/v3/ticker/24hr"): (2, 80),
    ("GET", "/api/v3/ticker/bookTicker"): (2, 4),
    ("GET", "/api/v3/ticker/price"): (2, 4),
    ("GET", "/api/v3/order"): (4, 4),
    ("GET", "/api/v3/openOrders"): (6, 80),
    ("GET", "/api/v3/allOrders"): (20, 20),
    ("GET", "/api/v3/myTrades"): (20, 20),
    ("GET", "/api/v3/account"): (20, 20),
    ("POST", "/api/v3/userDataStream"): (2, 2),
    ("PUT", "/api/v3/userDataStream"): (2, 2),
    ("DELETE", "/api/v3/userDataStream"): (2, 2),
    # USD-M
    ("GET", "/fapi/v1/depth"): (2, 2),
    ("GET", "/fapi/v1/ticker/24hr"): (1, 40),
    ("GET", "/fapi/v1/ticker/bookTicker"): (2, 5),
    ("GET", "/fapi/v1/ticker/price"): (1, 2),
    ("GET", "/fapi/v1/premiumIndex"): (1, 10),
    ("POST", "/fapi/v1/order"): (0, 0),
    ("GET", "/fapi/v1/openOrders"): (1, 40),
    ("GET", "/fapi/v1/allOrders"): (5, 5),
    ("GET", "/fapi/v1/userTrades"): (5, 5),
    ("GET", "/fapi/v2/account"): (5, 5),
    ("GET", "/fapi/v3/account"): (5, 5),
    ("GET", "/fapi/v2/balance"): (5, 5),
    ("GET", "/fapi/v3/balance"): (5, 5),
    ("GET", "/fapi/v2/positionRisk"): (5, 5),
    ("GET", "/fapi/v3/positionRisk"): (5, 5),
    ("GET", "/fapi/v1/positionSide/dual"): (30, 30),
}
"""(method, path) -> (weight with a symbol, without one), spot and USD-M: the family
follows from the path (`family`), so one table serves both."""
_ORDERS = frozenset(
    {
        ("POST", "/api/v3/order"),
        ("POST", "/api/v3/order/cancelReplace"),
        ("POST", "/fapi/v1/order"),
        ("PUT", "/fapi/v1/order"),
    }
)


def family(path: str) -> str | None:
    """ "spot" or "usdm" for a counted path; None for anything else (`/_sim`, streams)."""
    if path.startswith(("/api/", "/sapi/")):
        return "spot"
    if path.startswith("/fapi/"):
        return "usdm"
    return None


def weight(method: str, path: str, has_symbol: bool) -> int:
    with_symbol, without = _WEIGHTS.get((method, path), (1, 1))
    return with_symbol if has_symbol else without


@dataclass(slots=True)
class Window:
    """A count in fixed windows of `span_ms` on the simulator's clock."""

    span_ms: int
    start_ms: int = -1
    used: int = 0

    def current(self, now_ms: int) -> int:
        start = now_ms - now_ms % self.span_ms
        if start != self.start_ms:
            self.start_ms, self.used = start, 0
        return self.used


@dataclass(slots=True)
class Weights:
    """The limits (None: not enforced) and the counts per family."""

    weight_per_minute: int | None = None
    orders_per_10s: int | None = None
    weight: dict[str, Window] = field(default_factory=dict)
    orders: dict[str, Window] = field(default_factory=dict)

    def window(self, table: dict[str, Window], name: str, span_ms: int) -> Window:
        return table.setdefault(name, Window(span_ms))

    def view(self, now_ms: int) -> dict[str, Any]:
        return {
            "weight_per_minute": self.weight_per_minute,
            "orders_per_10s": self.orders_per_10s,
            "weight_used": {k: w.current(now_ms) for k, w in self.weight.items()},
            "orders_used": {k: w.current(now_ms) for k, w in self.orders.items()},
        }


WEIGHTS = web.AppKey("weights", Weights)


def _too_many_requests(limit: int) -> ApiError:
    return ApiError(
        429,
        -1003,
        f"Too many requests; current limit of IP(127.0.0.1) is {limit} requests per minute. "
        "Please use WebSocket Streams for live updates to avoid bans.",
    )


def _too_many_orders(limit: int) -> ApiError:
    return ApiError(
        429, -1015, f"Too many new orders; current limit is {limit} orders per 10 SECOND."
    )


@web.middleware
async def count_weights(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count (and, with limits set, enforce) the request's weight and order count."""
    name = family(request.path)
    if name is None or request.app[SIM].config.dialect != "binance":
        response: web.StreamResponse = await handler(request)
        return response
    state, now = request.app[WEIGHTS], request.app[SIM].clock.now_ms()
    has_symbol = "symbol" in request.query or request.method != "GET"
    cost = weight(request.method, request.path, has_symbol)
    minute = state.window(state.weight, name, 60_000)
    used = minute.current(now)
    if state.weight_per_minute is not None and used + cost > state.weight_per_minute:
        raise _too_many_requests(state.weight_per_minute)
    headers = {}
    if (request.method, request.path) in _ORDERS:
        ten = state.window(state.orders, name, 10_000)
        if state.orders_per_10s is not None and ten.current(now) + 1 > state.orders_per_10s:
            raise _too_many_orders(state.orders_per_10s)
        ten.used += 1
        headers["X-MBX-ORDER-COUNT-10S"] = str(ten.used)
    minute.used = used + cost
    headers["X-MBX-USED-WEIGHT-1M"] = str(minute.used)
    response = await handler(request)
    response.headers.update(headers)
    return response


def _limit(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadBody(f"{name}: a whole number >= 1, or null")
    return value


async def set_weights(request: web.Request) -> web.Response:
    body = await _body(request)
    unknown = sorted(set(body) - {"weight_per_minute", "orders_per_10s"})
    if unknown:
        raise BadBody(f"{unknown[0]}: unknown setting")
    state = request.app[WEIGHTS]
    state.weight_per_minute = _limit(body, "weight_per_minute")
    state.orders_per_10s = _limit(body, "orders_per_10s")
    return web.json_response(state.view(request.app[SIM].clock.now_ms()))


async def get_weights(request: web.Request) -> web.Response:
    return web.json_response(request.app[WEIGHTS].view(request.app[SIM].clock.now_ms()))


def install(app: web.Application) -> None:
    """The state and the control routes (the middleware goes in `build_app`'s list)."""
    app[WEIGHTS] = Weights()
    app.add_routes([web.post("/_sim/weights", set_weights), web.get("/_sim/weights", get_weights)])
