"""Every HTTP fault kind, seen through the real ccxt binance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ccxt
import pytest
import pytest_asyncio

from setpoint.sim.app import SimServer
from setpoint.sim.testing import SimControl, markets_loaded
from setpoint.venues.conformance import make_binance

pytestmark = pytest.mark.sim

ORDER = {"method": "POST", "path": "/api/v3/order"}


@pytest_asyncio.fixture
async def quick(sim: SimServer) -> AsyncIterator[Any]:
    """A client with a 500 ms timeout, for the faults that hold the answer."""
    exchange = make_binance(sim.base_url, "demo-key", "demo-secret", timeout_ms=500)
    async with markets_loaded(exchange) as loaded:
        yield loaded


async def booked(control: SimControl, client_order_id: str) -> dict[str, Any]:
    state = await control.state()
    matches = [o for o in state["orders"] if o["client_order_id"] == client_order_id]
    assert len(matches) == 1, state["orders"]
    found: dict[str, Any] = matches[0]
    return found


async def test_timeout_after_accept_books_the_order(quick: Any, control: SimControl) -> None:
    await control.faults({"kind": "timeout_after_accept", **ORDER})
    with pytest.raises(ccxt.RequestTimeout):
        await quick.create_order("BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "t1"})
    assert (await booked(control, "t1"))["status"] == "NEW"
    order = await quick.fetch_order(None, "BTC/USDT", {"origClientOrderId": "t1"})
    assert order["status"] == "open"


async def test_drop_after_accept_books_the_order(binance: Any, control: SimControl) -> None:
    await control.faults({"kind": "drop_after_accept", **ORDER, "count": 1})
    with pytest.raises(ccxt.NetworkError):
        await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "d1"})
    assert (await booked(control, "d1"))["status"] == "NEW"
    again = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 58000)
    assert again["status"] == "open"  # count used up


async def test_status_unknown_after_accept(binance: Any, control: SimControl) -> None:
    await control.faults({"kind": "status_unknown_after_accept", **ORDER})
    with pytest.raises(ccxt.RequestTimeout, match="-1007"):
        await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "u1"})
    assert (await booked(control, "u1"))["status"] == "NEW"


@pytest.mark.parametrize("kind", ["http_500", "http_503"])
async def test_server_errors(binance: Any, control: SimControl, kind: str) -> None:
    await control.faults({"kind": kind, "method": "GET", "path": "/api/v3/account", "count": 1})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await binance.fetch_balance()
    assert (await binance.fetch_balance())["BTC"]["total"] == 10


async def test_rate_limit(binance: Any, control: SimControl) -> None:
    await control.faults({"kind": "rate_limit_429", "count": 2})
    for _ in range(2):
        with pytest.raises(ccxt.DDoSProtection, match="-1003"):
            await binance.fetch_open_orders("BTC/USDT")
    assert await binance.fetch_open_orders("BTC/USDT") == []


async def test_delay_longer_than_the_client_timeout(quick: Any, control: SimControl) -> None:
    await control.faults({"kind": "delay", "path": "/api/v3/openOrders", "delay_ms": 1500})
    with pytest.raises(ccxt.RequestTimeout):
        await quick.fetch_open_orders("BTC/USDT")
    await control.clear_faults()
    assert await quick.fetch_open_orders("BTC/USDT") == []


async def test_short_delay_still_answers(binance: Any, control: SimControl) -> None:
    await control.faults({"kind": "delay", "delay_ms": 50, "count": 1})
    assert await binance.fetch_open_orders("BTC/USDT") == []


async def test_rules_match_method_and_path_exactly(binance: Any, control: SimControl) -> None:
    await control.faults({"kind": "http_500", "method": "DELETE", "path": "/api/v3/order"})
    order = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await binance.cancel_order(order["id"], "BTC/USDT")
    assert (await binance.fetch_order(order["id"], "BTC/USDT"))["status"] == "open"


async def test_probability_zero_never_fires(binance: Any, control: SimControl) -> None:
    await control.faults({"kind": "http_500", "probability": 0}, seed=7)
    for _ in range(3):
        await binance.fetch_open_orders("BTC/USDT")


async def test_seeded_probability_is_reproducible(binance: Any, control: SimControl) -> None:
    async def outcomes() -> list[bool]:
        await control.clear_faults()
        await control.faults({"kind": "http_503", "probability": 0.5}, seed=42)
        results = []
        for _ in range(8):
            try:
                await binance.fetch_open_orders("BTC/USDT")
                results.append(True)
            except ccxt.ExchangeNotAvailable:
                results.append(False)
        return results

    first = await outcomes()
    assert first == await outcomes()
    assert True in first
    assert False in first


async def test_bad_rule_is_refused(control: SimControl) -> None:
    from setpoint.sim.testing import ControlError

    with pytest.raises(ControlError, match="kind"):
        await control.faults({"kind": "meteor_strike"})


async def test_get_faults_lists_the_active_rules(binance: Any, control: SimControl) -> None:
    assert await control._call("GET", "/_sim/faults") == {"rules": []}
    await control.faults(
        {"kind": "drop_after_accept", **ORDER, "count": 1},
        {"kind": "http_503", "method": "GET", "path": "/api/v3/account", "probability": 0.5},
    )
    listed = (await control._call("GET", "/_sim/faults"))["rules"]
    assert [(r["kind"], r["count"]) for r in listed] == [
        ("drop_after_accept", 1),
        ("http_503", None),
    ]
    with pytest.raises(ccxt.NetworkError):
        await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "g1"})
    listed = (await control._call("GET", "/_sim/faults"))["rules"]
    assert [r["kind"] for r in listed] == ["http_503"]  # the one-shot rule is spent
    await control.clear_faults()
    assert await control._call("GET", "/_sim/faults") == {"rules": []}
