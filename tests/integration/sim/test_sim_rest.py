"""The REST facade through the real ccxt binance (async_support) over loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from setpoint.sim.app import SimServer
from setpoint.sim.testing import SimControl

pytestmark = pytest.mark.sim


async def test_load_markets_parses_spot_and_perpetual(binance: Any) -> None:
    markets = binance.markets
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"}
    spot, perp = markets["BTC/USDT"], markets["BTC/USDT:USDT"]
    assert spot["spot"]
    assert not spot["contract"]
    assert perp["swap"]
    assert perp["linear"]
    assert perp["settle"] == "USDT"
    assert spot["precision"] == {"amount": 1e-05, "price": 0.01, "base": 1e-08, "quote": 1e-08}
    assert markets["ETH/USDT"]["precision"]["amount"] == 0.0001
    assert perp["precision"]["amount"] == 1e-05
    assert perp["precision"]["price"] == 0.01
    assert spot["limits"]["cost"]["min"] == 5
    assert perp["limits"]["cost"]["min"] == 5


async def test_create_fetch_cancel_echo_client_order_id(binance: Any) -> None:
    order = await binance.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "sp-abc-1"}
    )
    assert (order["clientOrderId"], order["status"], order["symbol"]) == (
        "sp-abc-1",
        "open",
        "BTC/USDT",
    )
    by_id = await binance.fetch_order(order["id"], "BTC/USDT")
    by_client = await binance.fetch_order(None, "BTC/USDT", {"origClientOrderId": "sp-abc-1"})
    assert by_id["id"] == by_client["id"] == order["id"]
    assert by_id["amount"] == 0.01
    assert by_id["price"] == 59000
    assert by_id["filled"] == 0
    open_orders = await binance.fetch_open_orders()
    assert [o["clientOrderId"] for o in open_orders] == ["sp-abc-1"]
    canceled = await binance.cancel_order(order["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    closed = await binance.fetch_order(None, "BTC/USDT", {"origClientOrderId": "sp-abc-1"})
    assert closed["status"] == "canceled"
    assert await binance.fetch_open_orders("BTC/USDT") == []


async def test_cancel_by_client_order_id(binance: Any) -> None:
    await binance.create_order("ETH/USDT", "limit", "sell", 0.1, 3100, {"clientOrderId": "e1"})
    canceled = await binance.cancel_order(None, "ETH/USDT", {"origClientOrderId": "e1"})
    assert canceled["status"] == "canceled"


async def test_market_order_fills_against_liquidity_with_taker_fee(
    binance: Any, control: SimControl
) -> None:
    await control.liquidity("BTC/USDT", "sell", [["60000", "0.004"], ["60010", "1"]])
    order = await binance.create_order("BTC/USDT", "market", "buy", 0.01)
    assert order["status"] == "closed"
    assert order["filled"] == 0.01
    # ccxt orders trades of one millisecond by id as text ("100" before "99"): by price
    trades = sorted(await binance.fetch_my_trades("BTC/USDT"), key=lambda t: t["price"])
    assert [t["takerOrMaker"] for t in trades] == ["taker", "taker"]
    assert trades[0]["fee"] == {"currency": "USDT", "cost": 0.12}
    assert trades[0]["order"] == order["id"]
    assert trades[0]["side"] == "buy"


async def test_fetch_my_trades_since(binance: Any, control: SimControl) -> None:
    order = await binance.create_order("BTC/USDT", "limit", "sell", 0.01, 61000)
    await control.fill(order_id=order["id"], quantity="0.004")
    first = await binance.fetch_my_trades("BTC/USDT")
    assert len(first) == 1
    assert first[0]["takerOrMaker"] == "maker"
    await asyncio.sleep(0.005)  # trade times are ms on the wire: the next fill is a later ms
    await control.fill(order_id=order["id"])
    later = await binance.fetch_my_trades("BTC/USDT", since=first[0]["timestamp"] + 1)
    assert [t["amount"] for t in later] == [0.006]
    assert (await binance.fetch_order(order["id"], "BTC/USDT"))["status"] == "closed"


async def test_spot_balance_free_and_locked(binance: Any) -> None:
    await binance.create_order("BTC/USDT", "limit", "sell", 1, 61000)
    balance = await binance.fetch_balance()
    assert balance["BTC"] == {"free": 9.0, "used": 1.0, "total": 10.0}
    assert balance["USDT"]["free"] == 100000


async def test_futures_order_position_and_balance(binance: Any, control: SimControl) -> None:
    order = await binance.create_order(
        "BTC/USDT:USDT", "limit", "sell", 0.01, 61000, {"clientOrderId": "perp-1"}
    )
    assert (order["symbol"], order["clientOrderId"]) == ("BTC/USDT:USDT", "perp-1")
    assert (await binance.fetch_open_orders("BTC/USDT:USDT"))[0]["id"] == order["id"]
    await control.price("BTC/USDT:USDT", "61500")
    positions = await binance.fetch_positions(["BTC/USDT:USDT"])
    assert len(positions) == 1
    assert (positions[0]["side"], positions[0]["contracts"], positions[0]["entryPrice"]) == (
        "short",
        0.01,
        61000,
    )
    trades = await binance.fetch_my_trades("BTC/USDT:USDT")
    assert trades[0]["takerOrMaker"] == "maker"
    assert trades[0]["symbol"] == "BTC/USDT:USDT"
    balance = await binance.fetch_balance({"type": "swap"})
    assert balance["USDT"]["total"] == pytest.approx(100000 - 0.122 - 5)
    fetched = await binance.fetch_order(None, "BTC/USDT:USDT", {"origClientOrderId": "perp-1"})
    assert fetched["status"] == "closed"


async def test_public_market_data(binance: Any, control: SimControl) -> None:
    await control.liquidity("BTC/USDT", "buy", [["59990", "0.5"]])
    await control.liquidity("BTC/USDT", "sell", [["60010", "0.7"]])
    ticker = await binance.fetch_ticker("BTC/USDT")
    assert ticker["last"] == 60000
    assert ticker["bid"] == 59990
    assert ticker["ask"] == 60010
    book = await binance.fetch_bids_asks(["BTC/USDT"])
    assert book["BTC/USDT"]["bidVolume"] == 0.5
    funding = await binance.fetch_funding_rate("BTC/USDT:USDT")
    assert funding["fundingRate"] == 0.0001
    assert funding["markPrice"] == 60000
    assert (await binance.fetch_ticker("BTC/USDT:USDT"))["last"] == 60000
    assert await binance.fetch_time() > 0
    assert (await binance.fetch_status())["status"] == "ok"
    await binance.create_order("BTC/USDT", "limit", "buy", 0.5, 59990)
    book = await binance.fetch_order_book("BTC/USDT")
    assert book["bids"] == [[59990, 1.0]]
    assert book["asks"] == [[60010, 0.7]]


async def test_unknown_path_is_a_binance_style_404(sim: SimServer) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(sim.base_url + "/api/v3/nothingHere") as reply,
    ):
        assert reply.status == 404
        body = await reply.json()
    assert body["code"] == -5000
    assert "not served" in body["msg"]


async def test_market_buy_by_quote_amount(binance: Any, control: SimControl) -> None:
    await control.liquidity("BTC/USDT", "sell", [["60000", "1"]])
    order = await binance.create_order("BTC/USDT", "market", "buy", 0.01, 60000)  # 600 USDT
    assert order["filled"] == 0.01
    assert order["cost"] == 600


async def test_fetch_orders_includes_closed_ones(binance: Any, control: SimControl) -> None:
    first = await binance.create_order("ETH/USDT", "limit", "buy", 0.1, 2900)
    await binance.cancel_order(first["id"], "ETH/USDT")
    second = await binance.create_order("ETH/USDT", "limit", "sell", 0.1, 3100)
    orders = await binance.fetch_orders("ETH/USDT")
    assert [(o["id"], o["status"]) for o in orders] == [
        (first["id"], "canceled"),
        (second["id"], "open"),
    ]
    closed = await binance.fetch_closed_orders("ETH/USDT")
    assert [o["id"] for o in closed] == []  # canceled is not closed in ccxt's words
    assert [o["id"] for o in await binance.fetch_canceled_orders("ETH/USDT")] == [first["id"]]


async def test_open_orders_of_the_perpetual_without_symbol(binance: Any) -> None:
    await binance.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, 59000)
    await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000)
    perp = await binance.fetch_open_orders(None, None, None, {"type": "swap"})
    assert [o["symbol"] for o in perp] == ["BTC/USDT:USDT"]
    spot = await binance.fetch_open_orders()
    assert [o["symbol"] for o in spot] == ["BTC/USDT"]


async def test_edit_spot_order_is_cancel_replace(binance: Any) -> None:
    order = await binance.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "amend-1"}
    )
    edited = await binance.edit_order(
        order["id"], "BTC/USDT", "limit", "buy", 0.02, 58500, {"clientOrderId": "amend-2"}
    )
    assert edited["id"] != order["id"]
    assert (edited["clientOrderId"], edited["amount"], edited["price"]) == ("amend-2", 0.02, 58500)
    assert (await binance.fetch_order(order["id"], "BTC/USDT"))["status"] == "canceled"
    assert [o["id"] for o in await binance.fetch_open_orders("BTC/USDT")] == [edited["id"]]


async def test_edit_spot_order_of_an_unknown_order(binance: Any) -> None:
    import ccxt

    with pytest.raises(ccxt.BadResponse, match="-2022"):
        await binance.edit_order("987654", "BTC/USDT", "limit", "buy", 0.01, 59000)


async def test_edit_perpetual_order_in_place(binance: Any, control: SimControl) -> None:
    order = await binance.create_order(
        "BTC/USDT:USDT", "limit", "sell", 0.01, 61000, {"clientOrderId": "m-1"}
    )
    await control.fill(client_order_id="m-1", quantity="0.004")
    edited = await binance.edit_order(order["id"], "BTC/USDT:USDT", "limit", "sell", 0.02, 60500)
    assert (edited["id"], edited["clientOrderId"]) == (order["id"], "m-1")
    assert (edited["amount"], edited["price"], edited["filled"]) == (0.02, 60500, 0.004)
    await control.price("BTC/USDT:USDT", "60500")
    assert (await binance.fetch_order(order["id"], "BTC/USDT:USDT"))["filled"] == 0.02
