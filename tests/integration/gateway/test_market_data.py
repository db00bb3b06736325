"""The gateway's tickers: for keys that have or had a target, and for the symbols of the
account's configured strategies before they publish anything."""

from __future__ import annotations

import asyncio

import pytest
from gateway_rig import Rig
from nats.aio.msg import Msg

from setpoint.bus import subjects
from setpoint.bus.messages import Ticker

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
