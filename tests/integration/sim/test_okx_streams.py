"""The OKX private websocket driven by the real `ccxt.pro.okx`: login, `orders` (with the
fills `watch_my_trades` reads) and `positions`, and the stream faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import ccxt
import pytest

from setpoint.sim.app import SimServer
from setpoint.sim.testing import SimControl
from setpoint.venues.conformance import make_okx, okx_ws_url

pytestmark = pytest.mark.sim

WAIT_S = 10


async def _next(awaitable: Any) -> Any:
    return await asyncio.wait_for(awaitable, WAIT_S)


async def _eventually(check: Callable[[], bool]) -> None:
    """Wait until `check()` holds (pushes arrive asynchronously); fail after WAIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not check():
        assert loop.time() < deadline, "the push never arrived"
        await asyncio.sleep(0.02)


async def _watching(server: SimServer, watch: Awaitable[Any], channel: str) -> asyncio.Task[Any]:
    """Start a ccxt watch and wait until its subscription reached the simulator; ccxt then
    keeps its caches (`orders`, `myTrades`, `positions`) current with every push."""
    task = asyncio.ensure_future(watch)
    hub = server.simulator.okx_hub
    await _eventually(
        lambda: any(s.channel == channel for v in hub.sessions.values() for s in v.subscriptions)
    )
    return task


def _order(exchange: Any, order_id: str) -> dict[str, Any]:
    found = [o for o in exchange.orders or [] if o["id"] == order_id]
    return found[-1] if found else {}


async def test_watch_orders_sees_placement_fill_and_cancel(
    okx_sim: SimServer, okx_pro: Any, okx_control: SimControl
) -> None:
    first = await _watching(okx_sim, okx_pro.watch_orders(), "orders")
    placed = await okx_pro.create_order("BTC/USDT", "limit", "buy", 0.002, 59000)
    seen = await _next(first)
    assert (seen[-1]["id"], seen[-1]["status"]) == (placed["id"], "open")
    await okx_control.fill(order_id=placed["id"], quantity="0.001")
    await _eventually(lambda: _order(okx_pro, placed["id"]).get("filled") == 0.001)
    await okx_pro.cancel_order(placed["id"], "BTC/USDT")
    await _eventually(lambda: _order(okx_pro, placed["id"]).get("status") == "canceled")


async def test_watch_my_trades_reads_the_fills_of_the_orders_channel(
    okx_sim: SimServer, okx_pro: Any, okx_control: SimControl
) -> None:
    await okx_control.liquidity("BTC/USDT:USDT", "sell", [["60000", "1"]])
    watching = await _watching(okx_sim, okx_pro.watch_my_trades(), "orders")
    placed = await okx_pro.create_order("BTC/USDT:USDT", "limit", "buy", 3, 60000)
    trades = await _next(watching)
    assert [(t["order"], t["amount"], t["price"]) for t in trades] == [(placed["id"], 3, 60000)]


async def test_watch_positions_snapshot_then_updates(
    okx_sim: SimServer, okx_pro: Any, okx_control: SimControl
) -> None:
    await okx_control.liquidity("BTC/USDT:USDT", "sell", [["60000", "1"]])
    await okx_pro.create_order("BTC/USDT:USDT", "limit", "buy", 2, 60000)
    (first,) = await _next(okx_pro.watch_positions())  # the initial snapshot
    assert (first["symbol"], first["contracts"], first["side"]) == ("BTC/USDT:USDT", 2, "long")
    await okx_control.liquidity("BTC/USDT:USDT", "buy", [["60000", "1"]])
    await okx_pro.create_order("BTC/USDT:USDT", "limit", "sell", 2, 60000)

    def flat() -> bool:
        cached = okx_pro.positions.hashmap.get("BTC/USDT:USDT", {})
        return bool(cached) and all(p["contracts"] == 0 for p in cached.values())

    await _eventually(flat)


async def test_ws_drop_closes_the_private_stream(
    okx_sim: SimServer, okx_pro: Any, okx_control: SimControl
) -> None:
    watching = await _watching(okx_sim, okx_pro.watch_orders(), "orders")
    await okx_control.faults({"kind": "ws_drop"})
    with pytest.raises(ccxt.NetworkError):
        await _next(watching)
    assert okx_sim.simulator.okx_hub.sessions == {}


async def test_login_with_a_wrong_passphrase_is_refused(okx_sim: SimServer) -> None:
    exchange = make_okx(okx_sim.base_url, password="wrong", pro=True)
    exchange.options["fetchMarkets"] = {"types": []}  # no private currency call before
    exchange.has["fetchCurrencies"] = False
    try:
        with pytest.raises(ccxt.AuthenticationError, match="60024"):
            await _next(exchange.watch_orders())
    finally:
        await exchange.close()


async def test_raw_protocol_ping_and_subscribe_before_login(okx_sim: SimServer) -> None:
    url = okx_ws_url(okx_sim.base_url) + "/private"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        await socket.send_str("ping")
        assert await _next(socket.receive_str()) == "pong"
        await socket.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "orders"}]}))
        answer = json.loads(await _next(socket.receive_str()))
        assert (answer["event"], answer["code"]) == ("error", "60011")
        await socket.send_str("{not json")
        answer = json.loads(await _next(socket.receive_str()))
        assert (answer["event"], answer["code"]) == ("error", "60012")
