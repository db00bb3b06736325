"""The OKX dialect driven by the real `ccxt.async_support.okx`: markets, orders, amend,
batch, queries, fills, balance, positions, account configuration."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from setpoint.sim.testing import SimControl
from setpoint.venues.conformance import make_okx, okx_ws_url

pytestmark = pytest.mark.sim


async def test_markets_mirror_the_engine_with_contract_sizes(okx: Any) -> None:
    assert sorted(okx.markets) == ["BTC/USDT", "BTC/USDT:USDT", "ETH/USDT"]
    spot, swap = okx.market("BTC/USDT"), okx.market("BTC/USDT:USDT")
    assert (spot["id"], spot["precision"]["amount"], spot["precision"]["price"]) == (
        "BTC-USDT",
        0.00001,
        0.01,
    )
    assert (swap["id"], swap["contractSize"], swap["linear"]) == ("BTC-USDT-SWAP", 0.01, True)
    assert swap["precision"]["amount"] == 0.001  # the engine's step, in contracts


async def test_public_ticker_book_and_funding(okx: Any, okx_control: SimControl) -> None:
    await okx_control.liquidity("BTC/USDT:USDT", "sell", [["60010", "0.5"]])
    ticker = await okx.fetch_ticker("BTC/USDT:USDT")
    assert (ticker["last"], ticker["ask"], ticker["askVolume"]) == (60000, 60010, 50)
    book = await okx.fetch_order_book("BTC/USDT:USDT")
    assert [level[:2] for level in book["asks"]] == [[60010, 50]]
    funding = await okx.fetch_funding_rate("BTC/USDT:USDT")
    assert funding["fundingRate"] == 0.0001


async def test_place_fetch_amend_cancel_a_spot_order(okx: Any) -> None:
    placed = await okx.create_order(
        "BTC/USDT", "limit", "buy", 0.001, 50000, {"clientOrderId": "grid1a1"}
    )
    assert placed["clientOrderId"] == "grid1a1"
    by_client = await okx.fetch_order(None, "BTC/USDT", {"clientOrderId": "grid1a1"})
    assert (by_client["id"], by_client["status"], by_client["amount"]) == (
        placed["id"],
        "open",
        0.001,
    )
    await okx.edit_order(placed["id"], "BTC/USDT", "limit", "buy", 0.002, 51000)
    amended = await okx.fetch_order(placed["id"], "BTC/USDT")
    assert (amended["id"], amended["amount"], amended["price"]) == (placed["id"], 0.002, 51000)
    await okx.cancel_order(placed["id"], "BTC/USDT")
    assert (await okx.fetch_order(placed["id"], "BTC/USDT"))["status"] == "canceled"
    balance = await okx.fetch_balance()
    assert balance["USDT"]["used"] == 0  # the lock followed the amend and was released


async def test_amend_size_is_the_new_total_fills_included(
    okx: Any, okx_control: SimControl
) -> None:
    placed = await okx.create_order("BTC/USDT:USDT", "limit", "buy", 10, 59000)
    await okx_control.fill(order_id=placed["id"], quantity="0.04")  # 4 contracts
    await okx.edit_order(placed["id"], "BTC/USDT:USDT", "limit", "buy", 6, 59100)
    order = await okx.fetch_order(placed["id"], "BTC/USDT:USDT")
    assert (order["amount"], order["filled"], order["remaining"], order["price"]) == (
        6,
        4,
        2,
        59100,
    )


async def test_batch_orders_answer_each_order(okx: Any) -> None:
    orders = await okx.create_orders(
        [
            {"symbol": "BTC/USDT", "type": "limit", "side": "buy", "amount": 0.001,
             "price": 50000},
            {"symbol": "ETH/USDT", "type": "limit", "side": "sell", "amount": 1000,
             "price": 4000},
        ]
    )  # fmt: skip
    assert [o["status"] for o in orders] == [None, "rejected"]
    assert orders[1]["info"]["sCode"] == "51008"
    assert len(await okx.fetch_open_orders()) == 1


async def test_open_orders_per_symbol_and_account_wide(okx: Any) -> None:
    await okx.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)
    await okx.create_order("BTC/USDT:USDT", "limit", "sell", 1, 70000)
    assert len(await okx.fetch_open_orders("BTC/USDT")) == 1
    assert {o["symbol"] for o in await okx.fetch_open_orders()} == {"BTC/USDT", "BTC/USDT:USDT"}


async def test_a_fill_shows_in_trades_positions_and_balance(
    okx: Any, okx_control: SimControl
) -> None:
    await okx_control.liquidity("BTC/USDT:USDT", "sell", [["60000", "1"]])
    placed = await okx.create_order("BTC/USDT:USDT", "limit", "buy", 2, 60000)
    trades = await okx.fetch_my_trades("BTC/USDT:USDT")
    assert [(t["order"], t["amount"], t["price"], t["takerOrMaker"]) for t in trades] == [
        (placed["id"], 2, 60000, "taker")
    ]
    assert trades[0]["fee"] == {"currency": "USDT", "cost": 0.6}  # 0.02 BTC x 60000 x 0.05%
    (position,) = await okx.fetch_positions()
    assert (position["symbol"], position["contracts"], position["side"]) == (
        "BTC/USDT:USDT",
        2,
        "long",
    )
    assert position["entryPrice"] == 60000
    spot_trades = await okx.fetch_my_trades("BTC/USDT")
    assert spot_trades == []
    balance = await okx.fetch_balance()
    assert Decimal(str(balance["USDT"]["total"])) == Decimal("199999.4")


async def test_a_post_only_order_that_would_take_is_canceled(
    okx: Any, okx_control: SimControl
) -> None:
    await okx_control.liquidity("BTC/USDT", "sell", [["60000", "1"]])
    placed = await okx.create_order("BTC/USDT", "limit", "buy", 0.001, 60000, {"postOnly": True})
    order = await okx.fetch_order(placed["id"], "BTC/USDT")
    assert (order["status"], order["filled"], order["postOnly"]) == ("canceled", 0, True)


async def test_position_mode_is_reported_and_hedge_mode_refuses_swap_orders(
    okx: Any, okx_control: SimControl
) -> None:
    assert (await okx.fetch_position_mode())["hedged"] is False
    await okx_control.position_mode("long_short_mode")
    assert (await okx.fetch_position_mode())["hedged"] is True
    with pytest.raises(ccxt.BadRequest, match="posSide"):
        await okx.create_order("BTC/USDT:USDT", "limit", "buy", 1, 59000)
    await okx.create_order("BTC/USDT", "limit", "buy", 0.001, 59000)  # spot is unaffected


async def test_the_control_api_and_state_are_the_same_on_both_dialects(
    okx: Any, okx_control: SimControl
) -> None:
    foreign = await okx_control.order("BTC/USDT", "buy", "limit", "0.001", "55000")
    (listed,) = await okx.fetch_open_orders("BTC/USDT")
    assert (listed["id"], listed["clientOrderId"]) == (foreign["order_id"], None)
    await okx_control.price("BTC/USDT", "54000")
    assert (await okx.fetch_order(listed["id"], "BTC/USDT"))["status"] == "closed"
    state = await okx_control.state()
    assert [o["status"] for o in state["orders"]] == ["FILLED"]


async def test_ccxt_sandbox_mode_works_too(okx_sim: Any) -> None:
    exchange = make_okx(okx_sim.base_url)
    exchange.set_sandbox_mode(True)  # sends x-simulated-trading: 1, skips the currencies
    exchange.urls["api"] = {"rest": okx_sim.base_url, "ws": okx_ws_url(okx_sim.base_url)}
    try:
        await exchange.load_markets()
        placed = await exchange.create_order("ETH/USDT", "limit", "buy", 0.01, 2000)
        assert (await exchange.fetch_order(placed["id"], "ETH/USDT"))["status"] == "open"
    finally:
        await exchange.close()


async def test_cancel_all_after_cancels_every_order_of_the_account_unless_renewed(
    okx: Any, okx_control: SimControl
) -> None:
    """The dead-man switch through ccxt's unified `cancel_all_orders_after` (milliseconds,
    sent as whole seconds): armed for the account, it cancels spot and swap orders alike."""
    await okx.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"clOrdId": "dms1"})
    await okx.create_order("BTC/USDT:USDT", "limit", "buy", 1, 50000, {"clOrdId": "dms2"})
    answer = await okx.cancel_all_orders_after(10_000)
    [row] = answer["data"]
    assert int(row["triggerTime"]) == (await okx_control.state())["countdowns"]["*"]

    async def open_count() -> int:
        return len(await okx.fetch_open_orders("BTC/USDT")) + len(
            await okx.fetch_open_orders("BTC/USDT:USDT")
        )

    deadline = time.monotonic() + 30
    while await open_count():
        assert time.monotonic() < deadline, "the switch did not cancel"
        await asyncio.sleep(0.2)
    assert (await okx.fetch_order(None, "BTC/USDT", {"clOrdId": "dms1"}))["status"] == "canceled"
    assert (await okx_control.state())["countdowns"] == {}


async def test_cancel_all_after_zero_disarms_and_a_countdown_out_of_range_is_refused(
    okx: Any, okx_control: SimControl
) -> None:
    await okx.cancel_all_orders_after(60_000)
    assert "*" in (await okx_control.state())["countdowns"]
    answer = await okx.cancel_all_orders_after(0)
    assert answer["data"][0]["triggerTime"] == "0"
    assert (await okx_control.state())["countdowns"] == {}
    with pytest.raises(ccxt.BadRequest, match="Parameter timeOut error"):
        await okx.cancel_all_orders_after(5_000)  # OKX takes 0, or 10 to 120 s
    with pytest.raises(ccxt.BadRequest, match="Parameter timeOut error"):
        await okx.privatePostTradeCancelAllAfter({"timeOut": "soon"})
    assert (await okx_control.state())["countdowns"] == {}
