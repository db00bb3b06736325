"""Venue observations → log events, deduplicated against what the log already holds (pure).

* `fill_event` returns None for a fill the actual projection has already folded
  ((venue, trade id) per key) or that this process appended moments ago (`pending`):
  the log is the memory, across websocket, REST and restarts. Its event id is
  `core.events.fill_event_id(venue, symbol, trade id)`, as in `core.reconcile`, so even a
  repeat that slips past both checks is dropped by the log's idempotent append.
* `order_event` returns None when the order's state at the venue is what the projection
  already says (no news), and marks foreign orders as such.
* Facts about one of our orders inherit that order's correlation id.
"""

from __future__ import annotations

from collections.abc import Collection

from setpoint.core.events import (
    FillObserved,
    FillObservedData,
    FillSource,
    ObservationSource,
    OrderObserved,
    OrderObservedData,
    Origin,
    fill_event_id,
)
from setpoint.core.ids import is_ours
from setpoint.core.model import Key, Producer
from setpoint.core.projections import ActualState, OrderRecord
from setpoint.core.reconcile import VenueFill, VenueOrder

GATEWAY = Producer.GATEWAY


def fill_id(venue: str, key: Key, trade_id: str) -> str:
    """The event id of the fill (`core.events.fill_event_id`) for a key."""
    return fill_event_id(venue, key.symbol or "", trade_id)


def find_order(
    actual: ActualState, key: Key, coid: str | None, order_id: str
) -> OrderRecord | None:
    record = actual.order(key, coid) if coid else None
    return record or actual.order_by_venue_id(key, order_id)


def fill_event(
    actual: ActualState,
    key: Key,
    venue: str,
    fill: VenueFill,
    source: FillSource,
    pending: Collection[str] = (),
) -> FillObserved | None:
    """The FillObserved for `fill`, or None when the log has (or is getting) it."""
    event_id = fill_id(venue, key, fill.trade_id)
    if event_id in pending or actual.key(key).has_fill(venue, fill.trade_id):
        return None
    record = find_order(actual, key, fill.client_order_id, fill.order_id)
    coid = fill.client_order_id or (record.client_order_id if record is not None else None)
    data = FillObservedData(
        venue=venue, trade_id=fill.trade_id, order_id=fill.order_id, client_order_id=coid,
        side=fill.side, price=fill.price, quantity=fill.quantity, fee=fill.fee,
        fee_currency=fill.fee_currency, liquidity=fill.liquidity, source=source,
        traded_at=fill.traded_at,
    )  # fmt: skip
    correlation = record.correlation_id if record is not None else None
    return FillObserved.create(key, GATEWAY, data, event_id=event_id, correlation_id=correlation)


def _no_news(record: OrderRecord, order: VenueOrder) -> bool:
    return (
        record.status is order.status
        and record.reported >= order.filled
        and record.order_id == order.order_id
        and record.quantity == order.quantity
        and (order.price is None or record.price == order.price)
    )


def order_event(
    actual: ActualState,
    key: Key,
    order: VenueOrder,
    source: ObservationSource,
    *,
    adopted: bool = False,
    force: bool = False,
) -> OrderObserved | None:
    """An OrderObserved for the venue's view of `order`, or None when it is no news."""
    record = find_order(actual, key, order.client_order_id, order.order_id)
    if record is not None and not force and _no_news(record, order):
        return None
    ours = is_ours(key.account, order.client_order_id)
    data = OrderObservedData(
        client_order_id=order.client_order_id, order_id=order.order_id, side=order.side,
        type=order.type, time_in_force=order.time_in_force, price=order.price,
        quantity=order.quantity, filled=min(order.filled, order.quantity),
        status=order.status, source=source,
        origin=Origin.OURS if ours else Origin.FOREIGN, adopted=adopted,
        venue_time=order.venue_time,
    )  # fmt: skip
    correlation = record.correlation_id if record is not None else None
    return OrderObserved.create(key, GATEWAY, data, correlation_id=correlation)
