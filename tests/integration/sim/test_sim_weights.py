"""Binance's request weights in the simulator (`sim.weights`), with the real ccxt binance:
the used-weight headers always, 429 / -1003 and -1015 once limits are set (off by
default; ccxt raises DDoSProtection for any 429 of binance, as against the real venue,
and the gateway classifies it as rate limited), and the gateway's pacer (`venues.pacing`,
Binance's weight model) stopping before the venue says no."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import pytest
import pytest_asyncio

from setpoint.sim.app import SimServer
from setpoint.sim.testing import running_simulator
from setpoint.venues.capabilities import BINANCE_RATES
from setpoint.venues.pacing import install
from setpoint.venues.ratelimit import Limit, Pacer, WeightModel

pytestmark = [pytest.mark.sim]


@pytest_asyncio.fixture
async def sim_server() -> AsyncIterator[SimServer]:
    """A simulator of the test's own (for `sim` and `binance`): the weight it counts and the
    limits set on it are not reset between tests."""
    async with running_simulator() as server:
        yield server


async def limits(sim: SimServer, body: Any) -> tuple[int, Any]:
    url = f"{sim.base_url}/_sim/weights"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as reply:
        return reply.status, await reply.json()


def used(client: Any) -> int:
    return int(client.last_response_headers["X-MBX-USED-WEIGHT-1M"])


async def test_every_answer_carries_the_weight_used_and_nothing_is_enforced_by_default(
    binance: Any,
) -> None:
    await binance.fetch_open_orders("BTC/USDT")
    before = used(binance)
    await binance.fetch_open_orders("BTC/USDT")
    assert used(binance) == before + 6
    await binance.fetch_open_orders()
    assert used(binance) == before + 6 + 80
    for _ in range(30):  # 2400 weight: far past any limit a test would set
        await binance.fetch_open_orders()


async def test_weight_past_the_limit_is_refused_with_1003(sim: SimServer, binance: Any) -> None:
    await binance.fetch_open_orders("BTC/USDT")
    assert (await limits(sim, {"weight_per_minute": used(binance) + 6}))[0] == 200
    await binance.fetch_open_orders("BTC/USDT")
    with pytest.raises(ccxt_async.DDoSProtection, match="-1003"):
        await binance.fetch_open_orders("BTC/USDT")


async def test_orders_past_the_count_are_refused_with_1015(sim: SimServer, binance: Any) -> None:
    await limits(sim, {"orders_per_10s": 1})
    await binance.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)
    assert binance.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "1"
    with pytest.raises(ccxt_async.DDoSProtection, match="-1015"):
        await binance.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)


class Stop(Exception):
    """The pacer asked to wait: the test ends the run there."""


async def test_the_pacer_stops_before_the_venue_says_no(sim: SimServer, binance: Any) -> None:
    await binance.fetch_open_orders("BTC/USDT")
    capacity = used(binance) + 40
    await limits(sim, {"weight_per_minute": capacity})
    model = WeightModel(
        weight={f: Limit(f"w-{f}", capacity, 60.0) for f in ("spot", "linear")},
        order_count=BINANCE_RATES.order_count,
        weights=BINANCE_RATES.weights,
        orders=BINANCE_RATES.orders,
    )

    async def stop(_: float) -> None:
        raise Stop

    pacer = Pacer(model, sleep=stop)
    install(binance, pacer)
    calls = 0

    async def until_paced() -> None:
        nonlocal calls
        for _ in range(100):
            await binance.fetch_open_orders("BTC/USDT")  # never refused by the venue
            calls += 1

    with pytest.raises(Stop):
        await until_paced()
    assert calls <= 40 // 6 + 1


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"weight_per_minute": 0}, "weight_per_minute: a whole number >= 1, or null"),
        ({"weight_per_minute": "10"}, "weight_per_minute: a whole number >= 1, or null"),
        ({"orders_per_10s": 1.5}, "orders_per_10s: a whole number >= 1, or null"),
        ({"orders_per_10s": True}, "orders_per_10s: a whole number >= 1, or null"),
        ({"weight": 10}, "weight: unknown setting"),
        ([1], "body: must be a JSON object"),
    ],
)
async def test_malformed_limits_are_refused(sim: SimServer, body: Any, error: str) -> None:
    assert await limits(sim, body) == (400, {"error": error})


async def test_limits_can_be_lifted_again(sim: SimServer, binance: Any) -> None:
    await limits(sim, {"weight_per_minute": 1})
    with pytest.raises(ccxt_async.DDoSProtection):
        await binance.fetch_open_orders("BTC/USDT")
    status, view = await limits(sim, {"weight_per_minute": None})
    assert (status, view["weight_per_minute"]) == (200, None)
    await binance.fetch_open_orders("BTC/USDT")
