"""The gateway folds the facts it appends at once (`Gateway.append`), in log order, and
the subscription's copies are skipped; a fill is left to the subscription (its id is
stable, so its position may be an earlier append of the same trade)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from gateway_rig import Rig

from setpoint.core.events import (
    FillObserved,
    FillObservedData,
    FillSource,
    Liquidity,
    ObservationSource,
    OrderObserved,
    OrderObservedData,
    OrderStatus,
    Origin,
    TargetPublished,
    TargetPublishedData,
    fill_event_id,
)
from setpoint.core.model import Key, OrderType, Producer, Side, TargetState
from setpoint.eventlog import ANY

pytestmark = pytest.mark.nats


def _observed(key: Key, order_id: str) -> OrderObserved:
    data = OrderObservedData(
        client_order_id=None, order_id=order_id, side=Side.BUY, type=OrderType.LIMIT,
        price=Decimal("100"), quantity=Decimal("1"), status=OrderStatus.NEW,
        source=ObservationSource.REST, origin=Origin.FOREIGN,
    )  # fmt: skip
    return OrderObserved.create(key, Producer.GATEWAY, data)


def _fill(key: Key, trade_id: str) -> FillObserved:
    data = FillObservedData(
        venue="binance", trade_id=trade_id, order_id="f-1", client_order_id=None,
        side=Side.BUY, price=Decimal("100"), quantity=Decimal("1"), fee=Decimal("0"),
        fee_currency="USDT", liquidity=Liquidity.MAKER, source=FillSource.REST,
    )  # fmt: skip
    event_id = fill_event_id("binance", key.symbol or "", trade_id)
    return FillObserved.create(key, Producer.GATEWAY, data, event_id=event_id)


async def test_own_facts_are_folded_when_appended_and_others_by_the_subscription(
    rig: Rig,
) -> None:
    gateway, key = rig.gateway, Key(rig.account, "ETH/USDT")
    await gateway.caught_up()
    head = await rig.log.head()

    await gateway.append(key, [_observed(key, "own-1"), _observed(key, "own-2")])

    assert gateway.position == head + 2  # no wait: folded as appended
    assert gateway.actual.order_by_venue_id(key, "own-1") is not None
    assert gateway.actual.order_by_venue_id(key, "own-2") is not None

    # someone else's event next: the subscription brings it, after the gateway's own
    target = TargetState(account=rig.account, symbol=key.symbol or "", generation=1, strategy="t")
    published = TargetPublished.create(key, Producer.INTAKE, TargetPublishedData(target=target))
    [other] = await rig.log.append(key, Producer.INTAKE, [published], ANY)
    assert await gateway.runner.wait(other, 10)
    assert gateway.intent.target(key) is not None
    assert gateway.runner.live()

    # a fill is folded when the subscription brings it, once
    await gateway.append(key, [_fill(key, "t-1")])
    await gateway.caught_up(10)
    assert gateway.actual.key(key).has_fill("binance", "t-1")
    assert gateway.position == await rig.log.head()
