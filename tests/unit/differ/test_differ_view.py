"""The differ's view: which records enqueue which keys, producer positions, wait_for."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    AccountModeChangedData,
    BalanceObserved,
    BalanceObservedData,
    DiffComputed,
    DiffComputedData,
    OrderSubmitted,
    TargetPublished,
    TargetPublishedData,
    TargetRejected,
    TargetRejectedData,
)
from setpoint.core.model import Key, MarketKind, Producer, Side, TargetOrder, TargetState
from setpoint.differ.view import DifferView, symbol_for_token
from setpoint.eventlog.port import Recorded
from setpoint.testing.synthetic import market, markets_loaded, place_action
from setpoint.testing.synthetic import submitted_data as other_data

KEY = Key("demo", "BTC/USDT:USDT")
ACCOUNT = Key("demo", None)
PERP = market(
    "BTC/USDT:USDT",
    MarketKind.SWAP,
    tick=Decimal("0.1"),
    step=Decimal("0.001"),
    min_notional=Decimal(0),
)


def published(generation: int) -> TargetPublished:
    target = TargetState(
        account="demo", symbol=KEY.symbol or "", generation=generation, strategy="s"
    )
    return TargetPublished.create(KEY, Producer.INTAKE, TargetPublishedData(target=target))


def test_records_enqueue_the_keys_they_concern() -> None:
    view = DifferView()
    markets = markets_loaded("demo", PERP)
    assert view.apply(Recorded(1, markets)) == [], "no key has a target yet"
    assert view.markets("demo") is not None
    assert symbol_for_token(view, "demo", "BTC-USDT-USDT") == "BTC/USDT:USDT"
    assert view.apply(Recorded(2, published(1))) == [KEY]
    rejected = TargetRejected.create(KEY, Producer.INTAKE, TargetRejectedData(error="x: y"))
    assert view.apply(Recorded(3, rejected)) == []
    kill = AccountModeChanged.create(
        ACCOUNT, Producer.INTAKE, AccountModeChangedData(mode=AccountMode.LIQUIDATE_ONLY)
    )
    assert view.apply(Recorded(4, kill)) == [KEY], "an account-wide change concerns every key"
    assert view.mode("demo") is AccountMode.LIQUIDATE_ONLY
    balances = BalanceObserved.create(ACCOUNT, Producer.GATEWAY, BalanceObservedData(balances=()))
    assert view.apply(Recorded(5, balances)) == []
    assert view.expected(KEY, Producer.INTAKE) == 3
    assert view.expected(ACCOUNT, Producer.INTAKE) == 4
    assert view.expected(KEY, Producer.DIFFER) == 0
    assert view.position == 5


async def test_wait_for_resolves_once_the_position_is_applied() -> None:
    view = DifferView()
    waiter = asyncio.ensure_future(view.wait_for(2))
    view.apply(Recorded(1, published(1)))
    await asyncio.sleep(0)
    assert not waiter.done()
    view.apply(Recorded(2, published(2)))
    await asyncio.wait_for(waiter, 5)
    await view.wait_for(1)
    assert view.intent.generation(KEY) == 2


def test_the_acted_on_ids_never_outgrow_the_last_decision() -> None:
    """Only the ids the last decision's actions name are kept (all `should_append` asks
    about): orders of another origin between two decisions leave no trace."""
    view = DifferView()
    wanted = TargetOrder(id="b1", side=Side.BUY, price=Decimal("100"), quantity=Decimal("1"))
    planned = place_action(KEY, wanted)
    data = DiffComputedData(target_event_id="t", generation=1, converged=False, actions=(planned,))
    view.apply(Recorded(1, DiffComputed.create(KEY, Producer.DIFFER, data)))
    for n in range(50):
        other = place_action(KEY, wanted.model_copy(update={"id": f"x{n}"}))
        view.apply(
            Recorded(n + 2, OrderSubmitted.create(KEY, Producer.EXECUTOR, other_data(other)))
        )
    assert view.facts(KEY).acted == set()
    done = OrderSubmitted.create(KEY, Producer.EXECUTOR, other_data(planned))
    view.apply(Recorded(60, done))
    assert view.facts(KEY).acted == {planned.client_order_id}
