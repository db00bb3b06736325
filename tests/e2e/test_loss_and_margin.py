"""The loss limit and the margin gate through real processes (nats-server, simulator,
gateway, executor, differ), each reading the portfolio the services fold from the log.

* Loss: a losing round trip on spot (bought at 60,000, sold at 50,000) puts the account in
  liquidate-only by itself: an `AccountModeChanged` names ``max_loss``, the loss and the
  threshold, and a new buy is left out (``liquidate_only``) and never reaches the venue.
* Margin: with a futures wallet of 100 USDT, a perpetual buy whose initial margin is above
  the available margin is refused (``margin_health``, on the log, not at the venue) while a
  small one that fits goes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from system import System, eventually

from setpoint.core.events import AccountModeChanged, DiffComputed, MarginObserved, RiskRejected

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


def ioc(intent: str, side: str, price: str, qty: str) -> dict[str, Any]:
    return {"id": intent, "side": side, "price": price, "quantity": qty, "time_in_force": "IOC"}


@pytest.fixture
async def losing(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = System(tmp_path_factory.mktemp("e2e-loss"), account={"max_loss": "50"})
    try:
        await running.up()
        yield running
    finally:
        await running.down()


@pytest.fixture
async def short_margin(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    account = {"max_margin_ratio": "0.5", "account_state_interval_s": 0.5}
    running = System(
        tmp_path_factory.mktemp("e2e-margin"),
        sim_extra='futures_balances = { USDT = "100" }',
        account=account,
    )
    try:
        await running.up()
        yield running
    finally:
        await running.down()


async def refusals(system: System, symbol: str, intent: str) -> list[RiskRejected]:
    return [
        e
        for e in await system.events(symbol, "RiskRejected")
        if isinstance(e, RiskRejected) and e.data.intent_id == intent
    ]


async def test_a_losing_round_trip_puts_the_account_in_liquidate_only(losing: System) -> None:
    system = losing
    levels = {"symbol": SPOT, "side": "sell", "levels": [["60000.00", "0.01"]]}
    await system.control("POST", "/_sim/liquidity", levels)
    await system.target(SPOT, [ioc("in", "buy", "60000.00", "0.01000")])

    async def traded(count: int) -> bool:
        trades = [t for t in (await system.venue())["trades"] if t["symbol"] == SPOT]
        return len(trades) == count

    await eventually(lambda: traded(1), what="the buy traded")
    levels = {"symbol": SPOT, "side": "buy", "levels": [["50000.00", "0.01"]]}
    await system.control("POST", "/_sim/liquidity", levels)
    await system.target(SPOT, [ioc("out", "sell", "50000.00", "0.01000")])
    await eventually(lambda: traded(2), what="the sell traded")

    async def changed() -> list[AccountModeChanged]:
        found = await system.events(None, "AccountModeChanged")
        return [e for e in found if isinstance(e, AccountModeChanged)]

    [mode] = await eventually(changed, what="AccountModeChanged")
    assert mode.data.mode.value == "liquidate_only"
    assert mode.data.reason.startswith("max_loss: loss ")
    loss = Decimal(mode.data.reason.split()[2])
    assert loss >= 100  # 0.01 x 10,000 and the fees
    assert mode.data.reason.endswith(" at or above 50")

    levels = {"symbol": SPOT, "side": "sell", "levels": [["60000.00", "0.01"]]}
    await system.control("POST", "/_sim/liquidity", levels)
    await system.target(SPOT, [ioc("again", "buy", "60000.00", "0.01000")])

    async def left_out() -> list[str]:
        decisions = await system.events(SPOT, "DiffComputed")
        last = decisions[-1]
        assert isinstance(last, DiffComputed)
        return [r.rule for r in last.data.risk if r.intent_id == "again"]

    assert await eventually(left_out, what="the buy left out") == ["liquidate_only"]
    spot_orders = [o for o in (await system.venue())["orders"] if o["symbol"] == SPOT]
    assert len(spot_orders) == 2  # the buy and the sell: nothing after the loss


async def test_the_margin_gate_refuses_what_the_wallet_cannot_carry(short_margin: System) -> None:
    system = short_margin

    async def wallet() -> bool:
        found = await system.events(None, "MarginObserved")
        return any(isinstance(e, MarginObserved) for e in found)

    await eventually(wallet, 30, "MarginObserved")
    big = {"id": "big", "price": "59000.00", "quantity": "0.10000"}
    await system.target(PERP, [big])
    [refused] = await eventually(lambda: refusals(system, PERP, "big"), what="the refusal")
    assert refused.data.rule == "margin_health"
    assert refused.data.detail.startswith("initial margin 5900")
    assert refused.data.detail.endswith("above available margin 100")

    small = {"id": "small", "price": "59000.00", "quantity": "0.00100"}
    await system.target(PERP, [small])
    working = await eventually(lambda: system.open_orders(PERP), what="the small order")
    assert [Decimal(o["quantity"]) for o in working] == [Decimal("0.001")]
    assert await refusals(system, PERP, "small") == []
