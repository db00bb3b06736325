"""The gateway's tickers: for keys that have or had a target, and for the symbols of the
account's configured strategies before they publish anything, and for subscribed symbols."""

from __future__ import annotations

import asyncio

import pytest
from gateway_rig import Rig
from nats.aio.msg import Msg

from setpoint.bus import subjects
from setpoint.bus.messages import MarketDataSubscription, Ticker

pytestmark = [pytest.mark.nats, pytest.mark.sim]

STRATEGIES = {
    "strategies": {
        "carry-1": {"kind": "carry", "symbol": "BTC/USDT"},  # and its perp, BTC/USDT:USDT
        "grid-1": {"kind": "grid", "symbol": "ETH/USDT"},
        "elsewhere": {"kind": "grid", "symbol": "NOPE/USDT"},  # not listed by the venue
    },
    "ticker_interval_s": 0.1,
}


@pytest.mark.parametrize("rig", [STRATEGIES], indirect=True)
async def test_configured_strategy_symbols_get_tickers_without_a_target(rig: Rig) -> None:
    wanted = {"BTC/USDT", "BTC/USDT:USDT", "ETH/USDT"}
    assert rig.gateway.scope() == []  # no target, no order: nothing to reconcile
    assert rig.gateway.market_data_scope() == sorted(wanted)
    seen: dict[str, Ticker] = {}
    done = asyncio.Event()

    async def on_ticker(msg: Msg) -> None:
        ticker = Ticker.model_validate_json(msg.data)
        seen[ticker.symbol] = ticker
        if wanted <= set(seen):
            done.set()

    for symbol in wanted:
        await rig.nc.subscribe(subjects.ticker_subject(rig.account, symbol), cb=on_ticker)
    await asyncio.wait_for(done.wait(), 15)
    assert seen["BTC/USDT:USDT"].funding_rate is not None  # the perp's funding, for a carry
    assert all(t.account == rig.account and t.last is not None for t in seen.values())


@pytest.mark.parametrize("rig", [{"ticker_interval_s": 0.1}], indirect=True)
async def test_a_subscription_brings_tickers_of_an_unconfigured_symbol(rig: Rig) -> None:
    """A strategy the gateway's configuration does not name (hosted from a program) asks
    on `setpoint.md.<account>.subscribe`; the gateway publishes its tickers."""
    assert rig.gateway.market_data_scope() == []
    got: asyncio.Queue[Ticker] = asyncio.Queue()

    async def on_ticker(msg: Msg) -> None:
        await got.put(Ticker.model_validate_json(msg.data))

    await rig.nc.subscribe(subjects.ticker_subject(rig.account, "ETH/USDT"), cb=on_ticker)
    wanted = MarketDataSubscription(
        account=rig.account, subscriber="prog-1", symbols=("ETH/USDT", "NOPE/USDT")
    )
    await rig.nc.publish(
        subjects.market_data_subscribe_subject(rig.account), wanted.model_dump_json().encode()
    )
    ticker = await asyncio.wait_for(got.get(), 15)
    assert (ticker.account, ticker.symbol) == (rig.account, "ETH/USDT")
    assert rig.gateway.market_data_scope() == ["ETH/USDT"]  # NOPE/USDT is not listed


@pytest.mark.parametrize("rig", [{}], indirect=True)
async def test_a_malformed_subscription_is_ignored(rig: Rig) -> None:
    subject = subjects.market_data_subscribe_subject(rig.account)
    await rig.nc.publish(subject, b'{"account": "x", "symbols": "not a list"}')
    other = MarketDataSubscription(account="another", subscriber="p", symbols=("ETH/USDT",))
    await rig.nc.publish(subject, other.model_dump_json().encode())
    await rig.nc.flush()
    probe = MarketDataSubscription(account=rig.account, subscriber="p", symbols=("BTC/USDT",))
    await rig.nc.publish(subject, probe.model_dump_json().encode())

    async def only_the_probe() -> bool:
        return rig.gateway.market_data_scope() == ["BTC/USDT"]

    for _ in range(100):
        if await only_the_probe():
            break
        await asyncio.sleep(0.05)
    assert rig.gateway.market_data_scope() == ["BTC/USDT"]
