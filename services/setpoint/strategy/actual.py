"""The actual state of one key as a strategy sees it: a deterministic fold of the log.

`ActualProjection.apply(event)` takes the key's events in log order (every producer);
`snapshot()` returns the frozen `KeyState` handed to strategies. Applying the same events
in the same order always gives the same snapshot.

Fills and the position are counted as the core actual projection counts them
(`setpoint.core.projections`, FillObserved and PositionObserved), so the strategy sees the
position and filled quantities the differ sees:
- a fill counts once per (venue, trade id), toward the order the core finds for it (by
  client id, then venue id), through `core.fillcount.count_fill`: capped at the order's
  quantity, and an inferred fill and the real trades it stands for count once;
- it moves the position (and the running net `fill_net`) only for our and adopted orders;
  a fill of an order the log does not know counts when its client id is ours ("sp-");
- a `PositionObserved` naming `fills_net` keeps the fills counted since the venue's read
  on top of its quantity (`quantity + fill_net - fills_net`); without it the quantity
  replaces the position.
An order's `filled` is the core's `OrderRecord.done` (counted fills, or the venue's
reported figure when larger). `fills` lists every distinct trade of the key as logged (an
inferred fill included). Only our own orders (those with an `OrderSubmitted`) are listed in
`orders` and `intents`; foreign orders are not the strategy's business.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from setpoint.core.events import (
    Event,
    FillObserved,
    FillSource,
    OrderCancelled,
    OrderObserved,
    OrderPlaced,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    Origin,
    PositionObserved,
    TargetPublished,
)
from setpoint.core.fillcount import count_fill
from setpoint.core.model import OrderType, Side, TargetState, TimeInForce
from setpoint.core.numeric import ZERO
from setpoint.core.projections import find_order

from .sdk import Fill, IntentState, KeyState, OrderState


class _Counted:
    """One order of the key as the core counts it: the counting fields of
    `core.projections.OrderRecord`, folded by the same rules."""

    __slots__ = (
        "buy", "closed", "counts", "filled", "inferred", "order_id", "quantity", "ref", "reported"
    )  # fmt: skip

    def __init__(self, ref: str, side: Side, quantity: Decimal, counts: bool) -> None:
        self.ref = ref
        self.buy = side is Side.BUY
        self.quantity = quantity
        self.counts = counts  # ours or adopted: its fills move the position
        self.order_id: str | None = None  # the venue's order id
        self.filled = ZERO  # counted fills (`count_fill`)
        self.inferred = ZERO  # the part of `filled` no real trade stands for yet
        self.reported = ZERO  # the venue's filled figure, capped at the quantity
        self.closed = False  # a final status: later order updates are ignored

    @property
    def done(self) -> Decimal:
        return self.filled if self.filled >= self.reported else self.reported

    def report(self, filled: Decimal, quantity: Decimal, status: OrderStatus) -> None:
        """The venue's figure (`min(max(reported, filled), quantity)`) and status."""
        self.quantity = quantity
        reported = filled if filled > self.reported else self.reported
        self.reported = reported if reported < quantity else quantity
        self.closed = not status.is_open


class ActualProjection:
    """Mutable fold of one key's events; see the module docstring."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.position = ZERO
        self.fill_net = ZERO
        """Running signed sum of what fills added to `position` (`KeyActual.fill_net`)."""
        self.orders: dict[str, OrderState] = {}
        self.fills: list[Fill] = []
        self.finished_at: dict[str, datetime] = {}
        self.last_target: TargetState | None = None
        self._counted: dict[str, _Counted] = {}
        self._venue_ids: dict[str, str] = {}
        self._fill_ids: set[tuple[str, str]] = set()
        self._lost: set[str] = set()  # client order ids of lost attempts

    def apply(self, event: Event) -> None:
        """Fold one event of this key (events of other keys must not be passed)."""
        if isinstance(event, TargetPublished):
            self.last_target = event.data.target
        elif isinstance(event, OrderSubmitted):
            self._submitted(event)
        elif isinstance(event, OrderPlaced | OrderObserved | OrderCancelled | OrderRejected):
            self._count_update(event)
            self._order_update(event)
        elif isinstance(event, FillObserved):
            self._fill(event)
        elif isinstance(event, PositionObserved):
            quantity, covered = event.data.quantity, event.data.fills_net
            if covered is not None:
                quantity += self.fill_net - covered  # counted since the venue's read: on top
            self.position = quantity

    def _find(self, coid: str | None, order_id: str | None) -> _Counted | None:
        """The order as the core finds it: by client order id, then by venue order id."""
        return find_order(self._counted, self._venue_ids, coid, order_id)

    def _submitted(self, event: OrderSubmitted) -> None:
        data = event.data
        coid = data.client_order_id
        if coid not in self._counted:  # the core ignores a repeat, or an order observed first
            self._counted[coid] = _Counted(coid, data.side, data.quantity, True)
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

    def _count_update(
        self, event: OrderPlaced | OrderObserved | OrderCancelled | OrderRejected
    ) -> None:
        """The venue's filled figure, quantity and final status, as the core folds them."""
        if isinstance(event, OrderRejected):
            rejected = self._find(event.data.client_order_id, None)
            if rejected is not None:
                rejected.closed = True
            return
        data = event.data
        found = self._find(data.client_order_id, data.order_id)
        if found is None:
            if isinstance(event, OrderObserved):
                self._observed_new(event)
            return
        if found.closed:
            return
        order_id = data.order_id
        if isinstance(event, OrderCancelled):
            found.report(event.data.filled, found.quantity, OrderStatus.CANCELED)
            order_id = found.order_id or order_id
        elif isinstance(event, OrderObserved):
            found.report(event.data.filled, event.data.quantity, event.data.status)
            found.counts = found.counts or event.data.adopted
        else:
            found.report(event.data.filled, found.quantity, event.data.status)
        if order_id is not None and order_id != found.order_id:
            found.order_id = order_id
            self._venue_ids[order_id] = found.ref

    def _observed_new(self, event: OrderObserved) -> None:
        """An order the log had not named yet: ours, adopted or foreign."""
        data = event.data
        coid = data.client_order_id
        ours = data.origin is Origin.OURS
        ref = coid if ours and coid is not None and coid.startswith("sp-") else f"~{data.order_id}"
        counted = _Counted(ref, data.side, data.quantity, ours or data.adopted)
        counted.report(data.filled, data.quantity, data.status)
        counted.order_id = data.order_id
        self._counted[ref] = counted
        self._venue_ids[data.order_id] = ref

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
            if (
                event.data.reason == "lost"
                and order.status is None
                and event.data.order_id is None
                and not self._filled(order)
            ):  # a lost attempt (as the core marks it): it does not consume its intent
                self._lost.add(order.client_order_id)
            order = replace(order, status=status)
        else:
            assert isinstance(event, OrderPlaced | OrderObserved)
            order = replace(order, status=event.data.status)
        self.orders[order.client_order_id] = order
        self._note_finished(order, event.occurred_at)

    def _fill(self, event: FillObserved) -> None:
        data = event.data
        fid = (data.venue, data.trade_id)
        if fid in self._fill_ids:
            return
        self._fill_ids.add(fid)
        counted = self._find(data.client_order_id, data.order_id)
        if counted is None:  # an order the log does not know: counted when ours by its id
            coid = data.client_order_id
            if coid is not None and coid.startswith("sp-"):
                self._add(data.quantity if data.side is Side.BUY else -data.quantity)
        else:
            before = counted.filled
            counted.filled, counted.inferred, _ = count_fill(
                counted.quantity,
                before,
                counted.inferred,
                data.quantity,
                data.source is FillSource.INFERRED,
                data.order_filled,
            )
            if counted.filled >= counted.quantity:
                counted.closed = True  # FILLED
            applied = counted.filled - before
            if applied and counted.counts:
                self._add(applied if counted.buy else -applied)
        order = self.orders.get(counted.ref) if counted is not None else None
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

    def _add(self, signed: Decimal) -> None:
        self.position += signed
        self.fill_net += signed

    def _note_finished(self, order: OrderState, at: datetime) -> None:
        intent = order.intent_id
        if intent is not None and intent not in self.finished_at and self._consumes(order):
            self.finished_at[intent] = at

    def _filled(self, order: OrderState) -> Decimal:
        """The order's filled quantity as the core counts it (`OrderRecord.done`)."""
        return self._counted[order.client_order_id].done

    def _consumes(self, order: OrderState) -> bool:
        if order.rejected or self._filled(order) >= order.quantity:
            return True
        if order.client_order_id in self._lost and not self._filled(order):
            return False  # placed again under the next attempt (SEMANTICS §4)
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
