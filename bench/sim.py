"""`python -m bench sim`: the venue simulator's speed. Prints one JSON object:

* `rest_round_trips`: create + cancel of a limit order through the real ccxt binance
  (async) against the simulator over loopback, sequential (round trips/s, p50/p99 ms per
  round trip). The simulator runs in-process, in the same event loop, unless `--url`
  names a running one (`setpoint run sim`).
* `okx_rest_round_trips`: the same through the real ccxt okx against the simulator's OKX
  dialect (`setpoint run sim --dialect okx`; ccxt places through `trade/batch-orders`).
  `--dialect binance|okx|both` (default both) chooses which are measured; `--url` then
  names a running simulator of the one dialect chosen.
* `engine`: the pure matching engine with a 10,000-order book (`--book`):
  `rest_orders_per_s` (placing the resting orders), `match_orders_per_s` (IOC takers that
  each cross several resting orders), `cancel_orders_per_s`, `price_move_fills_per_s`
  (one price move filling the whole bid side).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from decimal import Decimal
from typing import Any

from setpoint.config import SimConfig
from setpoint.core.model import Side
from setpoint.sim.engine import Engine
from setpoint.sim.markets import DEFAULT_MARKETS
from setpoint.sim.orders import OrderKind, OrderRequest, Tif
from setpoint.sim.testing import running_simulator
from setpoint.venues.conformance import make_binance, make_okx

SPOT = "BTC/USDT"


def _engine() -> Engine:
    big = Decimal(10) ** 12
    return Engine(DEFAULT_MARKETS, {"USDT": big, "BTC": big}, {"USDT": big}, {SPOT: Decimal(60000)})


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def bench_engine(book: int) -> dict[str, Any]:
    """Throughput of the engine on a book of `book` resting orders (half bids, half asks)."""
    engine = _engine()
    qty = Decimal("0.001")
    started = time.perf_counter()
    for i in range(book):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        offset = Decimal(1 + (i // 2) % 1000) / 10
        price = Decimal(60000) - offset if side is Side.BUY else Decimal(60000) + offset
        engine.place(OrderRequest(SPOT, side, OrderKind.LIMIT, qty, price), i)
    rest_s = time.perf_counter() - started
    takers = book // 10
    trades_before = len(engine.trades)
    started = time.perf_counter()
    for i in range(takers):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        limit = Decimal(60100) if side is Side.BUY else Decimal(59900)
        engine.place(OrderRequest(SPOT, side, OrderKind.LIMIT, qty * 3, limit, Tif.IOC), book + i)
    match_s = time.perf_counter() - started
    match_trades = len(engine.trades) - trades_before
    open_ids = [o.order_id for o in engine.open_orders()][: book // 10]
    started = time.perf_counter()
    for n, order_id in enumerate(open_ids):
        engine.cancel(SPOT, order_id=order_id, now_us=2 * book + n)
    cancel_s = time.perf_counter() - started
    bids = len([o for o in engine.open_orders() if o.side is Side.BUY])
    started = time.perf_counter()
    engine.move_price(SPOT, Decimal(59000), 3 * book)
    move_s = time.perf_counter() - started
    return {
        "book_orders": book,
        "rest_orders_per_s": _rate(book, rest_s),
        "match_orders": takers,
        "match_trades": match_trades,  # taker and maker side each count
        "match_orders_per_s": _rate(takers, match_s),
        "cancel_orders_per_s": _rate(len(open_ids), cancel_s),
        "price_move_fills": bids,
        "price_move_fills_per_s": _rate(bids, move_s),
    }


def _client(dialect: str, base_url: str) -> Any:
    if dialect == "okx":
        return make_okx(base_url, timeout_ms=10_000)
    return make_binance(base_url, "demo-key", "demo-secret", timeout_ms=10_000)


async def bench_round_trips(base_url: str, count: int, dialect: str = "binance") -> dict[str, Any]:
    exchange = _client(dialect, base_url)
    latencies: list[float] = []
    try:
        await exchange.load_markets()
        for i in range(count):
            started = time.perf_counter()
            client_id = f"bench{time.time_ns()}n{i}"  # letters and digits: valid on both
            order = await exchange.create_order(
                SPOT, "limit", "buy", 0.001, 50000, {"clientOrderId": client_id}
            )
            await exchange.cancel_order(order["id"], SPOT)
            latencies.append(time.perf_counter() - started)
    finally:
        await exchange.close()
    total = sum(latencies)
    ordered = sorted(latencies)
    return {
        "round_trips": count,
        "round_trips_per_s": _rate(count, total),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


async def _rest(url: str | None, count: int, dialect: str) -> dict[str, Any]:
    if url:
        return await bench_round_trips(url, count, dialect)
    async with running_simulator(SimConfig(dialect=dialect)) as server:
        result = await bench_round_trips(server.base_url, count, dialect)
    result["simulator"] = "in-process, same event loop"
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sim", description=__doc__)
    parser.add_argument("--round-trips", type=int, default=300)
    parser.add_argument("--book", type=int, default=10_000)
    parser.add_argument("--url", default=None, help="a running simulator (default: in-process)")
    parser.add_argument("--dialect", choices=("binance", "okx", "both"), default="both")
    args = parser.parse_args(argv)
    if args.url and args.dialect == "both":
        parser.error("--url names one simulator: choose --dialect binance or okx")
    dialects = ("binance", "okx") if args.dialect == "both" else (args.dialect,)
    result: dict[str, Any] = {}
    for dialect in dialects:
        key = "rest_round_trips" if dialect == "binance" else "okx_rest_round_trips"
        result[key] = asyncio.run(_rest(args.url, args.round_trips, dialect))
    result["engine"] = bench_engine(args.book)
    print(json.dumps(result, indent=2))
    return 0
