"""OKX error answers raise, through the real ccxt okx, the exception classes they raise
against OKX (ccxt's `exceptions` table of okx.py)."""

from __future__ import annotations

from typing import Any

import aiohttp
import ccxt
import pytest

from setpoint.config import SimConfig
from setpoint.sim.app import SimServer
from setpoint.sim.testing import SimControl, running_simulator
from setpoint.venues.conformance import make_okx

pytestmark = pytest.mark.sim


async def test_insufficient_balance_and_margin(okx: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="51008"):
        await okx.create_order("BTC/USDT", "limit", "sell", 11, 61000)
    with pytest.raises(ccxt.InsufficientFunds, match="51008"):
        await okx.create_order("BTC/USDT:USDT", "limit", "buy", 4000, 60000)


@pytest.mark.parametrize(("symbol", "amount"), [("BTC/USDT", 0.001), ("BTC/USDT:USDT", 1)])
async def test_duplicate_client_order_id(okx: Any, symbol: str, amount: float) -> None:
    params = {"clientOrderId": "dup1"}
    await okx.create_order(symbol, "limit", "buy", amount, 59000, params)
    with pytest.raises(ccxt.InvalidOrder, match="51016"):
        await okx.create_order(symbol, "limit", "buy", amount, 58000, params)


async def test_client_order_id_outside_the_alphabet(okx: Any) -> None:
    with pytest.raises(ccxt.BadRequest, match="Parameter clOrdId error"):
        await okx.create_order("BTC/USDT", "limit", "buy", 0.001, 59000, {"clOrdId": "a-b"})


@pytest.mark.parametrize(
    ("method", "args", "code"),
    [
        pytest.param("fetch_order", (), "51603", id="fetch"),
        pytest.param("cancel_order", (), "51400", id="cancel"),
        pytest.param("edit_order", ("limit", "buy", 0.001, 50000), "51503", id="amend"),
    ],
)
async def test_unknown_order_on_fetch_cancel_and_amend(
    okx: Any, method: str, args: tuple[Any, ...], code: str
) -> None:
    with pytest.raises(ccxt.OrderNotFound, match=code):
        await getattr(okx, method)("424242", "BTC/USDT", *args)


async def test_closed_orders_on_cancel_and_amend(okx: Any) -> None:
    placed = await okx.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)
    await okx.cancel_order(placed["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="51401"):
        await okx.cancel_order(placed["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="51509"):
        await okx.edit_order(placed["id"], "BTC/USDT", "limit", "buy", 0.001, 50100)


async def test_amend_beyond_the_balance(okx: Any) -> None:
    placed = await okx.create_order("BTC/USDT", "limit", "sell", 1, 70000)
    with pytest.raises(ccxt.InsufficientFunds, match="51502"):
        await okx.edit_order(placed["id"], "BTC/USDT", "limit", "sell", 11, 70000)


async def test_filters(okx: Any) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="51121"):
        await okx.create_order("BTC/USDT:USDT", "limit", "buy", 1, 60000, {"sz": "1.0005"})
    with pytest.raises(ccxt.BadRequest, match="Parameter px error"):
        await okx.create_order("BTC/USDT", "limit", "buy", 0.001, 60000, {"px": "60000.005"})
    with pytest.raises(ccxt.InvalidOrder, match="51020"):
        await okx.create_order("BTC/USDT", "limit", "buy", 0.00001, 60000)


async def test_reduce_only_without_a_position(okx: Any) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="51205"):
        await okx.create_order("BTC/USDT:USDT", "limit", "sell", 1, 60000, {"reduceOnly": True})


async def test_unknown_instrument(okx: Any) -> None:
    with pytest.raises(ccxt.BadSymbol, match="51001"):
        await okx.public_get_market_ticker({"instId": "DOGE-USDT"})


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        (("nobody", "demo-secret", "demo-passphrase"), "50111"),
        (("demo-key", "demo-secret", "wrong"), "50105"),
        (("demo-key", "wrong", "demo-passphrase"), "50113"),
    ],
)
async def test_bad_credentials(okx_sim: SimServer, credentials: tuple[str, ...], code: str) -> None:
    exchange = make_okx(okx_sim.base_url, *credentials)
    try:
        with pytest.raises(ccxt.AuthenticationError, match=code):
            await exchange.load_markets()  # ccxt's okx reads the currencies, a private call
    finally:
        await exchange.close()


async def test_missing_headers_bad_sign_and_unknown_path(okx_sim: SimServer) -> None:
    url = okx_sim.base_url + "/api/v5/account/balance"
    headers = {
        "OK-ACCESS-KEY": "demo-key",
        "OK-ACCESS-PASSPHRASE": "demo-passphrase",
        "OK-ACCESS-TIMESTAMP": "2020-12-08T09:08:57.715Z",
        "OK-ACCESS-SIGN": "x",
    }
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as reply:
            assert (reply.status, (await reply.json())["code"]) == (401, "50103")
        async with session.get(url, headers=headers) as reply:
            assert (await reply.json())["code"] == "50113"  # the signature is checked first
        async with session.post(url.replace("account/balance", "trade/order")) as reply:
            assert (await reply.json())["code"] == "50103"
        async with session.get(okx_sim.base_url + "/api/v5/nothing/here") as reply:
            body = await reply.json()
            assert (reply.status, body["code"]) == (404, "50000")
            assert "not served" in body["msg"]


async def test_faults_answer_in_the_okx_shape(okx: Any, okx_control: SimControl) -> None:
    path = "/api/v5/trade/batch-orders"
    await okx_control.faults({"kind": "rate_limit_429", "path": path, "count": 1})
    with pytest.raises(ccxt.RateLimitExceeded, match="50011"):
        await okx.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)
    await okx_control.faults({"kind": "status_unknown_after_accept", "path": path, "count": 1})
    with pytest.raises(ccxt.RequestTimeout, match="50004"):
        await okx.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"clOrdId": "unk1"})
    found = await okx.fetch_order(None, "BTC/USDT", {"clOrdId": "unk1"})
    assert found["status"] == "open"  # accepted, only the answer was lost
    await okx_control.faults({"kind": "http_503", "path": path, "count": 1})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await okx.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)


async def test_rate_limit_per_endpoint_and_instrument() -> None:
    config = SimConfig(dialect="okx", okx_rate_limits={"trade/batch-orders": 2})
    async with running_simulator(config) as server:
        exchange = make_okx(server.base_url)
        try:
            await exchange.load_markets()
            for _ in range(2):
                await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)
            with pytest.raises(ccxt.RateLimitExceeded, match="50011"):
                await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)
            await exchange.create_order("ETH/USDT", "limit", "buy", 0.01, 2000)  # its own count
            assert len(await exchange.fetch_open_orders()) == 3  # other endpoints: no limit
        finally:
            await exchange.close()


async def test_the_default_configuration_limits_nothing(okx: Any) -> None:
    for _ in range(30):
        await okx.fetch_open_orders("BTC/USDT")
