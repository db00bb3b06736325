"""The actual state of one key as a strategy sees it: a deterministic fold of the log.

`ActualProjection.apply(event)` takes the key's events in log order (every producer);
`snapshot()` returns the frozen `KeyState` handed to strategies. Applying the same events
in the same order always gives the same snapshot.

Fills and the position are not counted here: the events go through the core actual
projection's own fold (`setpoint.core.projections.apply_actual`, over this key alone), so
the strategy sees exactly the position and filled quantities the differ sees. The
position is the core's `KeyActual.position`; an order's `filled` is the core's
`OrderRecord.done` (counted fills, or the venue's reported figure when larger); a lost
attempt is the one the core marks `lost`. What this view adds to the core's: our own
orders (those with an `OrderSubmitted`) in log order, with their last known status, in
`orders` and `intents` (foreign orders are not the strategy's business); `fills`, every
distinct trade of the key as logged (an inferred fill included), with the intent of the
order the core counts it toward; when each intent was consumed; the last target logged.
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
    TargetPublished,
)
from setpoint.core.model import Key, OrderType, TargetState, TimeInForce
from setpoint.core.numeric import ZERO
from setpoint.core.projections import (
    ActualState,
    KeyActual,
    OrderRecord,
    apply_actual,
    find_order,
)

from .sdk import Fill, IntentState, KeyState, OrderState


class ActualProjection:
    """Fold of one key's events; see the module docstring."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.orders: dict[str, OrderState] = {}
        self.fills: list[Fill] = []
        self.finished_at: dict[str, datetime] = {}
        self.last_target: TargetState | None = None
        self._key: Key | None = None
        self._actual = ActualState.empty()
        """The core actual projection of the key's events (at positions 1, 2, 3, ...)."""
        self._ka = KeyActual()
        """The key's state in `_actual`."""

    @property
    def position(self) -> Decimal:
        """The key's position as the core counts it (`KeyActual.position`)."""
        return self._ka.position

    def apply(self, event: Event) -> None:
        """Fold one event of this key (events of other keys must not be passed)."""
        seen = isinstance(event, FillObserved) and self._ka.has_fill(
            event.data.venue, event.data.trade_id
        )
        key = self._key
        if key is None:
            key = self._key = event.key
        self._actual = apply_actual(self._actual, self._actual.position + 1, event)
        self._ka = self._actual.key(key)
        if isinstance(event, TargetPublished):
            self.last_target = event.data.target
        elif isinstance(event, OrderSubmitted):
            self._submitted(event)
        elif isinstance(event, OrderPlaced | OrderObserved | OrderCancelled | OrderRejected):
            self._order_update(event)
        elif isinstance(event, FillObserved) and not seen:
            self._fill(event)

    def _record(self, order: OrderState) -> OrderRecord:
        """The core's record of one of our orders (it records every `OrderSubmitted`)."""
        record = self._ka.order(order.client_order_id)
        assert record is not None
        return record

    def _submitted(self, event: OrderSubmitted) -> None:
        data = event.data
        coid = data.client_order_id
        if coid in self.orders:
            return
        self.orders[coid] = OrderState(
            client_order_id=coid,
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
            order = replace(order, status=status)
        else:
            assert isinstance(event, OrderPlaced | OrderObserved)
            order = replace(order, status=event.data.status)
        self.orders[order.client_order_id] = order
        self._note_finished(order, event.occurred_at)

    def _fill(self, event: FillObserved) -> None:
        """A trade the core had not folded yet: listed, with the intent of the order the
        core counted it toward."""
        data = event.data
        ka = self._ka
        record = find_order(ka.orders, ka.venue_ids, data.client_order_id, data.order_id)
        order = self.orders.get(record.ref) if record is not None else None
        self.fills.append(
            Fill(
                data.trade_id,
                data.client_order_id,
                order.intent_id if order else None,
                data.side,
                data.price,
                data.quantity,
                data.traded_at or event.occurred_at,
            )
        )
        if order is not None:
            self._note_finished(order, event.occurred_at)

    def _note_finished(self, order: OrderState, at: datetime) -> None:
        intent = order.intent_id
        if intent is not None and intent not in self.finished_at and self._consumes(order):
            self.finished_at[intent] = at

    def _filled(self, order: OrderState) -> Decimal:
        """The order's filled quantity as the core counts it (`OrderRecord.done`)."""
        return self._record(order).done

    def _consumes(self, order: OrderState) -> bool:
        record = self._record(order)
        if order.rejected or record.done >= order.quantity:
            return True
        if record.lost and not record.done:
            return False  # placed again under the next attempt (docs/semantics.md §4)
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
