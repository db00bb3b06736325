"""Builders of log facts for strategy tests: what the executor and gateway would append."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from types import MappingProxyType
from typing import Any

from setpoint.bus.messages import Ticker
from setpoint.core.events import (
    Event,
    FillObserved,
    MarginObservedData,
    MarginPosition,
    OrderCancelled,
    OrderCancelledData,
    OrderPlaced,
    OrderPlacedData,
    OrderStatus,
    OrderSubmitted,
)
from setpoint.core.ids import client_order_id
from setpoint.core.model import (
    Key,
    MarketInfo,
    Producer,
    Side,
    TargetOrder,
    TargetState,
    TimeInForce,
)
from setpoint.strategy.actual import ActualProjection
from setpoint.strategy.sdk import KeyState, View
from setpoint.testing.synthetic import fill_data, place_action, submitted_data

ACCOUNT = "demo"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
_clock = count(1)
_trades = count(1)


def at() -> datetime:
    """A strictly increasing fake time."""
    return T0 + timedelta(seconds=next(_clock))


def ticker(symbol: str, last: str, funding: str | None = None, spread: str = "0.5") -> Ticker:
    price = Decimal(last)
    return Ticker(
        account=ACCOUNT,
        symbol=symbol,
        last=price,
        bid=price - Decimal(spread),
        ask=price + Decimal(spread),
        funding_rate=Decimal(funding) if funding is not None else None,
        at=at(),
    )


def submitted(symbol: str, order: TargetOrder, attempt: int = 1) -> OrderSubmitted:
    key = Key(ACCOUNT, symbol)
    data = submitted_data(place_action(key, order, attempt))
    return OrderSubmitted.create(key, Producer.EXECUTOR, data, occurred_at=at())


def placed(symbol: str, order: TargetOrder) -> OrderPlaced:
    coid = client_order_id(ACCOUNT, symbol, order.id, 1)
    data = OrderPlacedData(client_order_id=coid, order_id=f"v-{coid}")
    return OrderPlaced.create(Key(ACCOUNT, symbol), Producer.EXECUTOR, data, occurred_at=at())


def fill(symbol: str, order: TargetOrder, quantity: str, price: str | None = None) -> FillObserved:
    coid = client_order_id(ACCOUNT, symbol, order.id, 1)
    at_price = Decimal(price) if price else order.price or Decimal(1)
    trade_id = f"t{next(_trades)}"
    data = fill_data(coid, f"v-{coid}", order.side, at_price, Decimal(quantity), trade_id=trade_id)
    return FillObserved.create(Key(ACCOUNT, symbol), Producer.GATEWAY, data, occurred_at=at())


def expired(symbol: str, order: TargetOrder, filled: str) -> OrderCancelled:
    """The venue's end of an IOC: expired with whatever it filled."""
    coid = client_order_id(ACCOUNT, symbol, order.id, 1)
    data = OrderCancelledData(
        client_order_id=coid, order_id=f"v-{coid}", filled=Decimal(filled), reason="expired"
    )
    return OrderCancelled.create(Key(ACCOUNT, symbol), Producer.GATEWAY, data, occurred_at=at())


def filled(symbol: str, order: TargetOrder, quantity: str, price: str | None = None) -> list[Event]:
    """Submitted, placed and filled `quantity` (at its price unless `price` says otherwise)."""
    return [submitted(symbol, order), placed(symbol, order), fill(symbol, order, quantity, price)]


def full_fill(symbol: str, order: TargetOrder) -> list[Event]:
    """Submitted, placed and completely filled at its price."""
    return filled(symbol, order, str(order.quantity))


def fold(symbol: str, events: list[Event]) -> KeyState:
    projection = ActualProjection(symbol)
    for event in events:
        projection.apply(event)
    return projection.snapshot()


def view(
    name: str,
    symbols: tuple[str, ...],
    params: dict[str, Any],
    *,
    tickers: tuple[Ticker, ...] = (),
    logs: dict[str, list[Event]] | None = None,
    previous: dict[str, TargetState] | None = None,
    markets: tuple[MarketInfo, ...] = (),
    margin: MarginObservedData | None = None,
) -> View:
    return View(
        name=name,
        account=ACCOUNT,
        symbols=symbols,
        params=MappingProxyType(params),
        now=at(),
        market=MappingProxyType({t.symbol: t for t in tickers}),
        actual=MappingProxyType({s: fold(s, e) for s, e in (logs or {}).items()}),
        previous=MappingProxyType(previous or {}),
        markets=MappingProxyType({m.symbol: m for m in markets}),
        margin=margin,
    )


def wallet(
    available: str = "100000", maintenance: str = "0", balance: str = "100000",
    positions: tuple[MarginPosition, ...] = (),
) -> MarginObservedData:  # fmt: skip
    """A futures wallet as the gateway reports it (USDT)."""
    return MarginObservedData(
        asset="USDT", wallet_balance=Decimal(balance), margin_balance=Decimal(balance),
        unrealized_pnl=Decimal(0), initial_margin=Decimal(0),
        maintenance_margin=Decimal(maintenance), available_margin=Decimal(available),
        positions=positions,
    )  # fmt: skip


IOC = TimeInForce.IOC
BUY, SELL = Side.BUY, Side.SELL
FILLED = OrderStatus.FILLED
