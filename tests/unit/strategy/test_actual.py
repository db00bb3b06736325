"""The strategies' fold of a key's log: intents, fills once, position."""

from __future__ import annotations

from decimal import Decimal

from logfacts import BUY, IOC, expired, fill, fold, placed, submitted

from setpoint.core.events import Event, OrderRejected, OrderRejectedData
from setpoint.core.ids import client_order_id
from setpoint.core.model import Key, Producer, TargetOrder

SYMBOL = "BTC/USDT"
GTC_BUY = TargetOrder(id="b1", side=BUY, price=Decimal("100"), quantity=Decimal("2"))
IOC_BUY = TargetOrder(
    id="i1", side=BUY, price=Decimal("100"), quantity=Decimal("2"), time_in_force=IOC
)


def test_a_fill_seen_twice_counts_once() -> None:
    once = fill(SYMBOL, GTC_BUY, "0.5")
    state = fold(SYMBOL, [submitted(SYMBOL, GTC_BUY), placed(SYMBOL, GTC_BUY), once, once])
    assert state.position == Decimal("0.5")
    assert len(state.fills) == 1
    intent = state.intents["b1"]
    assert intent.filled == Decimal("0.5")
    assert not intent.consumed
    assert intent.open


def test_complete_fill_consumes() -> None:
    events: list[Event] = [submitted(SYMBOL, GTC_BUY), placed(SYMBOL, GTC_BUY)]
    events += [fill(SYMBOL, GTC_BUY, "1.5"), fill(SYMBOL, GTC_BUY, "0.5")]
    intent = fold(SYMBOL, events).intents["b1"]
    assert intent.complete
    assert intent.consumed
    assert intent.finished_at is not None


def test_finished_ioc_is_consumed_whatever_it_filled() -> None:
    events: list[Event] = [submitted(SYMBOL, IOC_BUY), placed(SYMBOL, IOC_BUY)]
    events += [fill(SYMBOL, IOC_BUY, "0.84"), expired(SYMBOL, IOC_BUY, "0.84")]
    state = fold(SYMBOL, events)
    intent = state.intents["i1"]
    assert intent.consumed
    assert not intent.complete
    assert state.position == Decimal("0.84")
    assert state.open_orders == ()


def test_venue_cancel_of_a_gtc_order_does_not_consume() -> None:
    events: list[Event] = [submitted(SYMBOL, GTC_BUY), placed(SYMBOL, GTC_BUY)]
    events.append(expired(SYMBOL, GTC_BUY, "0"))
    assert not fold(SYMBOL, events).consumed("b1")


def test_rejected_intent_is_consumed() -> None:
    coid = client_order_id("demo", SYMBOL, "b1", 1)
    rejected = OrderRejected.create(
        Key("demo", SYMBOL),
        Producer.EXECUTOR,
        OrderRejectedData(client_order_id=coid, reason="insufficient balance"),
    )
    state = fold(SYMBOL, [submitted(SYMBOL, GTC_BUY), rejected])
    assert state.consumed("b1")
    assert state.intents["b1"].rejected
