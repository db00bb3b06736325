"""User-data streams through the real ccxt.pro binance: spot WebSocket API subscription,
USD-M listenKey streams, and the stream faults (`ws_drop`, `listen_key_expire`)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ccxt
import pytest

from setpoint.sim.app import SimServer
from setpoint.sim.testing import SimControl
from setpoint.venues.conformance import make_binance

pytestmark = pytest.mark.sim

PERP = "BTC/USDT:USDT"


async def eventually(check: Callable[[], object], what: str, within: float = 5.0) -> None:
    """Wait (polling) until `check()` holds; fail naming `what` after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not bool(check()):
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def collecting(watch: Callable[[], Awaitable[Any]]) -> AsyncIterator[list[Any]]:
    """Run `watch` in a loop, gathering every update (and errors) into the yielded list.

    ccxt.pro keeps one cache entry per order id, so updates of one order that arrive
    between two polls collapse into its latest state; `test_every_event_is_delivered`
    counts the raw stream instead."""
    sink: list[Any] = []

    async def loop() -> None:
        while True:
            try:
                update = await watch()
            except ccxt.NetworkError as error:
                sink.append(error)
                await asyncio.sleep(0.05)
                continue
            # ccxt updates cached orders in place: keep a copy of each state seen
            sink.extend(copy.deepcopy(update if isinstance(update, list) else [update]))

    task = asyncio.create_task(loop())
    try:
        yield sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_spot_orders_trades_and_balance(
    binance_pro: Any, sim: SimServer, control: SimControl
) -> None:
    hub = sim.simulator.hub
    async with (
        collecting(binance_pro.watch_orders) as orders,
        collecting(binance_pro.watch_my_trades) as trades,
        collecting(binance_pro.watch_balance) as balances,
    ):
        await eventually(lambda: len(hub.spot) == 1, "the spot subscription")
        placed = await binance_pro.create_order(
            "BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "ws-1"}
        )
        await control.fill(client_order_id="ws-1", quantity="0.004")
        await control.price("BTC/USDT", "58000")
        other = await binance_pro.create_order("BTC/USDT", "limit", "buy", 0.01, 57000)
        await binance_pro.cancel_order(other["id"], "BTC/USDT")
        await eventually(
            lambda: (
                any(o["id"] == other["id"] and o["status"] == "canceled" for o in orders)
                and len(trades) == 2
            ),
            "the cancel and both trades",
        )
        await eventually(lambda: balances and balances[-1]["USDT"]["used"] == 0, "balances")
    mine = [o for o in orders if o["id"] == placed["id"]]
    assert mine[-1]["status"] == "closed"
    assert mine[-1]["filled"] == 0.01
    assert [o["filled"] for o in mine] == sorted(o["filled"] for o in mine)
    assert all(o["clientOrderId"] == "ws-1" for o in mine)
    assert [(t["amount"], t["takerOrMaker"], t["price"]) for t in trades] == [
        (0.004, "maker", 59000),
        (0.006, "maker", 59000),
    ]
    assert trades[0]["fee"] == {"cost": 0.0472, "currency": "USDT"}
    assert balances[-1]["BTC"]["total"] == 10.01


async def test_perpetual_orders_trades_positions_balance(
    binance_pro: Any, sim: SimServer, control: SimControl
) -> None:
    hub = sim.simulator.hub
    async with (
        collecting(lambda: binance_pro.watch_orders(PERP)) as orders,
        collecting(lambda: binance_pro.watch_my_trades(PERP)) as trades,
        collecting(lambda: binance_pro.watch_positions([PERP])) as positions,
        collecting(lambda: binance_pro.watch_balance({"type": "swap"})) as balances,
    ):
        await eventually(lambda: len(hub.perp) == 1, "the listenKey stream")
        await binance_pro.create_order(PERP, "limit", "sell", 0.01, 61000, {"clientOrderId": "p1"})
        await control.price(PERP, "61000")
        await eventually(
            lambda: (
                orders
                and orders[-1]["status"] == "closed"
                and trades
                and any(p["contracts"] for p in positions)
                and balances
            ),
            "perp updates",
        )
    assert orders[0]["clientOrderId"] == "p1"
    assert orders[0]["symbol"] == PERP
    assert (trades[0]["symbol"], trades[0]["takerOrMaker"]) == (PERP, "maker")
    live = [p for p in positions if p["contracts"]]
    assert (live[-1]["side"], live[-1]["contracts"], live[-1]["entryPrice"]) == (
        "short",
        0.01,
        61000,
    )
    assert balances[-1]["USDT"]["total"] == pytest.approx(100000 - 0.122)


async def test_ws_drop_closes_streams_and_a_new_watch_resubscribes(
    binance_pro: Any, sim: SimServer, control: SimControl
) -> None:
    hub = sim.simulator.hub
    async with collecting(binance_pro.watch_orders) as orders:
        await eventually(lambda: len(hub.spot) == 1, "the spot subscription")
        await control.faults({"kind": "ws_drop"})
        await eventually(lambda: any(isinstance(o, Exception) for o in orders), "the drop")
        await eventually(lambda: len(hub.spot) == 1, "a new subscription")
        await binance_pro.create_order("BTC/USDT", "limit", "buy", 0.01, 59000)
        await eventually(lambda: any(isinstance(o, dict) for o in orders), "an update")


async def test_ws_drop_on_a_matching_request(
    binance_pro: Any, sim: SimServer, control: SimControl
) -> None:
    hub = sim.simulator.hub
    async with collecting(lambda: binance_pro.watch_orders(PERP)) as orders:
        await eventually(lambda: len(hub.perp) == 1, "the listenKey stream")
        await control.faults(
            {"kind": "ws_drop", "method": "GET", "path": "/api/v3/openOrders", "count": 1}
        )
        await binance_pro.fetch_open_orders("BTC/USDT")
        await eventually(lambda: any(isinstance(o, Exception) for o in orders), "the drop")


async def test_listen_key_expire(binance_pro: Any, sim: SimServer, control: SimControl) -> None:
    hub = sim.simulator.hub
    async with collecting(lambda: binance_pro.watch_orders(PERP)) as orders:
        await eventually(lambda: len(hub.perp) == 1, "the listenKey stream")
        key = next(iter(hub.perp.values()))
        await control.faults({"kind": "listen_key_expire"})
        await eventually(lambda: any(isinstance(o, Exception) for o in orders), "the close")
    assert not hub.valid(key, sim.simulator.clock.now_ms())
    with pytest.raises(ccxt.AuthenticationError, match="-1125"):
        await binance_pro.fapiPrivatePutListenKey()
    fresh = await binance_pro.fapiPrivatePostListenKey()
    assert fresh["listenKey"] != key


async def test_spot_subscription_with_a_bad_signature(sim: SimServer) -> None:
    exchange = make_binance(sim.base_url, "demo-key", "wrong", pro=True, timeout_ms=2000)
    try:
        await exchange.load_markets()
        # ccxt.pro 4.5 raises AuthenticationError (-1022) from the error answer, then trips
        # on its own bookkeeping (KeyError in ensure_user_data_stream_ws_subscribe_signature);
        # it does the same against Binance, whose answer has this shape.
        with pytest.raises((ccxt.AuthenticationError, KeyError)):
            await asyncio.wait_for(exchange.watch_orders(), 5)
    finally:
        await exchange.close()


async def test_every_event_is_delivered(sim: SimServer, control: SimControl) -> None:
    """Raw WebSocket API client: one executionReport per order change, in order."""
    import time

    import aiohttp

    from setpoint.sim.auth import sign

    params: dict[str, Any] = {"apiKey": "demo-key", "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    params["signature"] = sign(payload, "demo-secret")
    url = sim.base_url.replace("http://", "ws://") + "/ws-api/v3"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        request = {"id": "1", "method": "userDataStream.subscribe.signature", "params": params}
        await socket.send_json(request)
        answer = await socket.receive_json(timeout=5)
        assert answer["status"] == 200
        assert "subscriptionId" in answer["result"]
        placed = await control.order("BTC/USDT", "buy", "limit", "0.01", "59000", "raw-1")
        await control.fill(order_id=placed["order_id"], quantity="0.004")
        await control.price("BTC/USDT", "58000")
        reports: list[dict[str, Any]] = []
        while len(reports) < 3:
            message = await socket.receive_json(timeout=5)
            if message["event"]["e"] == "executionReport":
                reports.append(message["event"])
    assert [(r["x"], r["X"], r["z"]) for r in reports] == [
        ("NEW", "NEW", "0.00000000"),
        ("TRADE", "PARTIALLY_FILLED", "0.00400000"),
        ("TRADE", "FILLED", "0.01000000"),
    ]
    assert all(r["c"] == "raw-1" for r in reports)


async def test_legacy_spot_listen_key_stream(binance: Any, sim: SimServer) -> None:
    """`POST /api/v3/userDataStream` + `/ws/KEY`: spot events, not wrapped."""
    import aiohttp

    key = (await binance.public_post_userdatastream())["listenKey"]
    url = sim.base_url.replace("http://", "ws://") + "/ws/" + key
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        await eventually(lambda: len(sim.simulator.hub.spot_keyed) == 1, "the stream")
        await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000)
        first = await socket.receive_json(timeout=5)
        second = await socket.receive_json(timeout=5)
    assert {first["e"], second["e"]} == {"executionReport", "outboundAccountPosition"}


async def test_listen_key_lapses_without_keep_alive(binance_pro: Any, sim: SimServer) -> None:
    hub = sim.simulator.hub
    async with collecting(lambda: binance_pro.watch_orders(PERP)) as orders:
        await eventually(lambda: len(hub.perp) == 1, "the listenKey stream")
        key = next(iter(hub.perp.values()))
        hub.keys[key].expires_ms = 0  # as if the last keep-alive were an hour ago
        await eventually(lambda: any(isinstance(o, Exception) for o in orders), "the sweep")
    assert not hub.valid(key, sim.simulator.clock.now_ms())
