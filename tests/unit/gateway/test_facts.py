"""Venue observations → events, deduplicated against the log (the projection)."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.core.venue_views import resting

from setpoint.core.events import (
    Event,
    FillSource,
    Liquidity,
    ObservationSource,
    OrderPlaced,
    OrderPlacedData,
    OrderStatus,
    OrderSubmitted,
    Origin,
)
from setpoint.core.ids import client_order_id
from setpoint.core.model import Key, Producer, Side
from setpoint.core.projections import ActualState, rebuild
from setpoint.core.reconcile import VenueFill, VenueOrder
from setpoint.gateway import facts
from setpoint.testing.synthetic import buy, place_action, submitted_data

KEY = Key("demo", "BTC/USDT")
COID = client_order_id("demo", "BTC/USDT", "b1", 1)


class _Rec:
    def __init__(self, position: int, event: Event) -> None:
        self.position, self.event = position, event


def state(*events: Event) -> ActualState:
    return rebuild(_Rec(i + 1, e) for i, e in enumerate(events))[1]


def submitted() -> OrderSubmitted:
    data = submitted_data(place_action(KEY, buy("b1", "100", "1")))
    return OrderSubmitted.create(KEY, Producer.EXECUTOR, data)


def placed() -> OrderPlaced:
    return OrderPlaced.create(
        KEY, Producer.EXECUTOR, OrderPlacedData(client_order_id=COID, order_id="42")
    )


def fill(trade_id: str = "t1", coid: str | None = None) -> VenueFill:
    return VenueFill(
        trade_id=trade_id,
        order_id="42",
        client_order_id=coid,
        symbol="BTC/USDT",
        side=Side.BUY,
        price=Decimal("100"),
        quantity=Decimal("0.5"),
        fee=Decimal("0.01"),
        fee_currency="USDT",
        liquidity=Liquidity.MAKER,
    )


def order(status: OrderStatus = OrderStatus.NEW, coid: str | None = COID) -> VenueOrder:
    return resting("42", coid, price="100", status=status)


def test_a_fill_becomes_one_event_with_a_stable_id_and_the_orders_chain() -> None:
    sub = submitted()
    actual = state(sub, placed())
    event = facts.fill_event(actual, KEY, "binance", fill(), FillSource.WS)
    assert event is not None
    assert event.event_id == facts.fill_id("binance", KEY, "t1")
    assert event.data.client_order_id == COID  # found by venue order id
    assert event.correlation_id == sub.correlation_id


def test_a_fill_the_log_holds_or_is_getting_is_not_recorded_again() -> None:
    actual = state(submitted(), placed())
    first = facts.fill_event(actual, KEY, "binance", fill(), FillSource.WS)
    assert first is not None
    folded = state(submitted(), placed(), first)
    assert facts.fill_event(folded, KEY, "binance", fill(), FillSource.REST) is None
    pending = {first.event_id}
    assert facts.fill_event(actual, KEY, "binance", fill(), FillSource.REST, pending) is None


def test_order_event_only_for_news() -> None:
    actual = state(submitted(), placed())
    assert facts.order_event(actual, KEY, order(), ObservationSource.WS) is None
    news = facts.order_event(actual, KEY, order(OrderStatus.CANCELED), ObservationSource.WS)
    assert news is not None
    assert news.data.status is OrderStatus.CANCELED


def test_foreign_orders_are_marked_foreign() -> None:
    event = facts.order_event(state(), KEY, order(coid="by-hand"), ObservationSource.REST)
    assert event is not None
    assert event.data.origin is Origin.FOREIGN


def test_a_fill_has_one_id_on_the_websocket_and_in_reconciliation() -> None:
    from datetime import UTC, datetime

    from setpoint.core import reconcile as core
    from setpoint.core.events import FillObserved, fill_event_id

    actual = state(submitted(), placed())
    seen = fill()
    on_ws = facts.fill_event(actual, KEY, "binance", seen, FillSource.WS)
    rest_fill = core.VenueFill(
        trade_id=seen.trade_id, order_id=seen.order_id, client_order_id=COID,
        symbol=seen.symbol, side=seen.side,
        price=seen.price, quantity=seen.quantity, fee=seen.fee, fee_currency=seen.fee_currency,
        liquidity=seen.liquidity,
    )  # fmt: skip
    snap = core.VenueSnapshot(
        account="demo", venue="binance", taken_at=datetime.now(UTC),
        open_orders={"BTC/USDT": core.Fetched.of(())},
        fills={"BTC/USDT": core.Fetched.of((rest_fill,))},
    )  # fmt: skip
    outcome = core.reconcile(actual, snap, core.ReconcilePolicy(), datetime.now(UTC))
    (by_rest,) = [e for e in outcome.events if isinstance(e, FillObserved)]
    assert on_ws is not None
    assert on_ws.event_id == by_rest.event_id == fill_event_id("binance", "BTC/USDT", "t1")
    assert fill_event_id("binance", "ETH/USDT", "t1") != on_ws.event_id  # ids are per symbol
