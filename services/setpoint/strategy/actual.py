"""The actual state of one key as a strategy sees it: a deterministic fold of the log.

`ActualProjection.apply(event)` takes the key's events in log order (every producer);
`snapshot()` returns the frozen `KeyState` handed to strategies. Applying the same events
in the same order always gives the same snapshot. Fills are counted once per trade id.
Only our own orders (those with an `OrderSubmitted`) are tracked; foreign orders are not
the strategy's business.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from setpoint.core.events import (
    Event,
    FillObserved,
    OrderCancelled,
    OrderObserved,
    OrderPlaced,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    PositionObserved,
    TargetPublished,
)
from setpoint.core.model import OrderType, TargetState, TimeInForce
from setpoint.core.numeric import ZERO

from .sdk import Fill, IntentState, KeyState, OrderState


class ActualProjection:
    """Mutable fold of one key's events; see the module docstring."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.position = ZERO
        self.orders: dict[str, OrderState] = {}
        self.fills: list[Fill] = []
        self.trade_ids: set[str] = set()
        self.filled_by_fills: dict[str, Decimal] = {}
        self.finished_at: dict[str, datetime] = {}
        self.last_target: TargetState | None = None

    def apply(self, event: Event) -> None:
        """Fold one event of this key (events of other keys must not be passed)."""
        if isinstance(event, TargetPublished):
            self.last_target = event.data.target
        elif isinstance(event, OrderSubmitted):
            self._submitted(event)
        elif isinstance(event, OrderPlaced | OrderObserved | OrderCancelled | OrderRejected):
            self._order_update(event)
        elif isinstance(event, FillObserved):
            self._fill(event)
        elif isinstance(event, PositionObserved):
            self.position = event.data.quantity

    def _submitted(self, event: OrderSubmitted) -> None:
        data = event.data
        self.orders[data.client_order_id] = OrderState(
            client_order_id=data.client_order_id,
            intent_id=data.intent_id,
            side=data.side,
            type=data.type,
            time_in_force=data.time_in_force,
            price=data.price,
            quantity=data.quantity,
        )

    def _order_update(
        self, event: OrderPlaced | OrderObserved | OrderCancelled | OrderRejected
    ) -> None:
        coid = event.data.client_order_id
        order = self.orders.get(coid) if coid else None
        if order is None:
            return
        if isinstance(event, OrderRejected):
            order = replace(order, rejected=event.data.terminal, status=OrderStatus.REJECTED)
        elif isinstance(event, OrderCancelled):
            status = OrderStatus.EXPIRED if event.data.reason == "expired" else OrderStatus.CANCELED
            order = replace(order, status=status, filled=max(order.filled, event.data.filled))
        else:
            assert isinstance(event, OrderPlaced | OrderObserved)
            order = replace(
                order, status=event.data.status, filled=max(order.filled, event.data.filled)
            )
        self.orders[order.client_order_id] = order
        self._note_finished(order, event.occurred_at)

    def _fill(self, event: FillObserved) -> None:
        data = event.data
        if data.trade_id in self.trade_ids:
            return
        self.trade_ids.add(data.trade_id)
        self.position += data.quantity * data.side.sign
        order = self.orders.get(data.client_order_id or "")
        intent = order.intent_id if order else None
        self.fills.append(
            Fill(
                data.trade_id,
                data.client_order_id,
                intent,
                data.side,
                data.price,
                data.quantity,
                data.traded_at or event.occurred_at,
            )
        )
        if order is not None:
            total = self.filled_by_fills.get(order.client_order_id, ZERO) + data.quantity
            self.filled_by_fills[order.client_order_id] = total
            self._note_finished(order, event.occurred_at)

    def _note_finished(self, order: OrderState, at: datetime) -> None:
        intent = order.intent_id
        if intent is not None and intent not in self.finished_at and self._consumes(order):
            self.finished_at[intent] = at

    def _filled(self, order: OrderState) -> Decimal:
        return max(order.filled, self.filled_by_fills.get(order.client_order_id, ZERO))

    def _consumes(self, order: OrderState) -> bool:
        if order.rejected or self._filled(order) >= order.quantity:
            return True
        immediate = order.type is OrderType.MARKET or order.time_in_force is not TimeInForce.GTC
        return immediate and order.status is not None and not order.status.is_open

    def snapshot(self) -> KeyState:
        """The frozen state handed to strategies."""
        orders = tuple(replace(o, filled=self._filled(o)) for o in self.orders.values())
        return KeyState(
            symbol=self.symbol,
            position=self.position,
            orders=orders,
            fills=tuple(self.fills),
            intents=MappingProxyType(self._intents(orders)),
        )

    def _intents(self, orders: tuple[OrderState, ...]) -> dict[str, IntentState]:
        result: dict[str, IntentState] = {}
        for order in orders:  # log order: the last attempt of an intent comes last
            if order.intent_id is None:
                continue
            before = result.get(order.intent_id)
            filled = (before.filled if before else ZERO) + order.filled
            result[order.intent_id] = IntentState(
                intent_id=order.intent_id,
                side=order.side,
                quantity=(before.filled if before else ZERO) + order.quantity,
                filled=filled,
                open=order.is_open,
                consumed=order.intent_id in self.finished_at,
                complete=order.filled >= order.quantity,
                rejected=order.rejected,
                finished_at=self.finished_at.get(order.intent_id),
            )
        return result
