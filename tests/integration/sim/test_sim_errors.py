"""Binance error answers raise the ccxt exception classes they raise against Binance."""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from setpoint.sim.app import SimServer
from setpoint.sim.testing import SimControl
from setpoint.venues.conformance import make_binance

pytestmark = pytest.mark.sim


async def test_insufficient_balance(binance: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):
        await binance.create_order("BTC/USDT", "limit", "sell", 11, 61000)


async def test_insufficient_margin_on_the_perpetual(binance: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="Margin is insufficient"):
        await binance.create_order("BTC/USDT:USDT", "limit", "buy", 40, 60000)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
async def test_duplicate_client_order_id(binance: Any, symbol: str) -> None:
    params = {"clientOrderId": "dup-1"}
    await binance.create_order(symbol, "limit", "buy", 0.01, 59000, params)
    with pytest.raises(ccxt.InvalidOrder):
        await binance.create_order(symbol, "limit", "buy", 0.01, 58000, params)


async def test_unknown_order_on_cancel_and_fetch(binance: Any) -> None:
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        await binance.cancel_order("424242", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        await binance.fetch_order("424242", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        await binance.fetch_order(None, "BTC/USDT:USDT", {"origClientOrderId": "nobody"})


async def test_cancel_of_a_closed_order_is_unknown(binance: Any) -> None:
    order = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000)
    await binance.cancel_order(order["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        await binance.cancel_order(order["id"], "BTC/USDT")


async def test_filter_failures(binance: Any) -> None:
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        await binance.private_post_order({**base, "quantity": "0.01", "price": "59000.005"})
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        await binance.private_post_order({**base, "quantity": "0.000015", "price": "59000"})
    with pytest.raises(ccxt.BadRequest, match="-1013"):
        await binance.create_order("BTC/USDT", "limit", "buy", 0.00001, 59000)
    with pytest.raises(ccxt.InvalidOrder, match="-4164"):
        await binance.create_order("BTC/USDT:USDT", "limit", "buy", 0.00001, 59000)


async def test_post_only_that_would_take(binance: Any, control: SimControl) -> None:
    await control.liquidity("BTC/USDT", "sell", [["60000", "1"]])
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 60000, {"postOnly": True})
    await control.liquidity("BTC/USDT:USDT", "sell", [["60000", "1"]])
    with pytest.raises(ccxt.OrderNotFillable):
        await binance.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, 60000, {"postOnly": True})
    maker = await binance.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 59999.99, {"postOnly": True}
    )
    assert maker["postOnly"]
    assert maker["status"] == "open"


async def test_reduce_only_that_would_not_reduce(binance: Any) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await binance.create_order(
            "BTC/USDT:USDT", "limit", "sell", 0.01, 61000, {"reduceOnly": True}
        )


async def test_bad_signature_and_unknown_key(sim: SimServer) -> None:
    wrong_secret = make_binance(sim.base_url, "demo-key", "not-the-secret", timeout_ms=2000)
    wrong_key = make_binance(sim.base_url, "who-is-this", "demo-secret", timeout_ms=2000)
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await wrong_secret.fetch_balance()
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await wrong_key.fetch_balance()
    finally:
        await wrong_secret.close()
        await wrong_key.close()


async def test_timestamp_outside_recv_window(binance: Any) -> None:
    binance.options["timeDifference"] = 120_000  # our clock 2 minutes behind the venue's
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        await binance.fetch_balance()


async def test_missing_api_key_header(sim: SimServer) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(sim.base_url + "/api/v3/account?timestamp=1") as reply,
    ):
        assert reply.status == 401
        assert (await reply.json())["code"] == -2014


async def test_client_order_id_outside_binance_limits(binance: Any) -> None:
    with pytest.raises(ccxt.BadRequest, match="newClientOrderId"):
        await binance.create_order(
            "BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "x" * 37}
        )
    with pytest.raises(ccxt.BadRequest, match="newClientOrderId"):
        await binance.create_order(
            "BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "has space"}
        )
