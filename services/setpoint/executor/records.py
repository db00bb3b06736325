"""The events the executor appends, built from actions and gateway replies (pure).

Every event of one action's chain carries the plan's `correlation_id` (the target that
started it); the write-ahead event is caused by the `DiffComputed`, the outcome by the
write-ahead event.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from setpoint.core.amend import in_place_total
from setpoint.core.events import (
    Action,
    AmendSubmitted,
    AmendSubmittedData,
    CancelSubmitted,
    CancelSubmittedData,
    DiffComputed,
    Event,
    ObservationSource,
    OrderCancelled,
    OrderCancelledData,
    OrderObserved,
    OrderObservedData,
    OrderPlaced,
    OrderPlacedData,
    OrderRejected,
    OrderRejectedData,
    OrderStatus,
    OrderSubmitted,
    OrderSubmittedData,
    RiskRejected,
    RiskRejectedData,
    stable_event_id,
)
from setpoint.core.model import Key, Producer
from setpoint.core.numeric import ZERO
from setpoint.core.projections import ActualState, OrderRecord
from setpoint.core.reconcile import VenueOrder
from setpoint.venues.commands import AmendCommand, CancelCommand, PlaceCommand

EXECUTOR = Producer.EXECUTOR


class Cause(NamedTuple):
    """What an outcome event inherits: the key, the chain and the event that caused it."""

    key: Key
    correlation_id: str
    causation_id: str | None
    traceparent: str | None

    @classmethod
    def of(cls, event: Event) -> Cause:
        return cls(event.key, event.correlation_id, event.event_id, event.traceparent)


def submitted(key: Key, action: Action, diff: DiffComputed, tp: str | None) -> OrderSubmitted:
    """The write-ahead record of a place (amends arrive here split, see `plan.expand`)."""
    data = OrderSubmittedData.of_action(action)
    return OrderSubmitted.create(
        key, EXECUTOR, data, correlation_id=diff.correlation_id,
        causation_id=diff.event_id, traceparent=tp,
    )  # fmt: skip


def cancel_submitted(
    key: Key, action: Action, order_id: str | None, diff: DiffComputed, tp: str | None
) -> CancelSubmitted:
    data = CancelSubmittedData(
        client_order_id=action.client_order_id,
        order_id=order_id,
        intent_id=action.intent_id,
        reason=action.reason,
    )
    return CancelSubmitted.create(
        key, EXECUTOR, data, correlation_id=diff.correlation_id,
        causation_id=diff.event_id, traceparent=tp,
    )  # fmt: skip


def amend_submitted(
    key: Key, action: Action, order: OrderRecord, diff: DiffComputed, tp: str | None
) -> AmendSubmitted:
    """The write-ahead record of a native in-place amend of `order` (`core.amend`): the
    new price and total size (the plan's quantity plus what `order` filled)."""
    assert action.price is not None
    assert action.attempt is not None
    data = AmendSubmittedData(
        client_order_id=order.client_order_id or "", order_id=order.order_id,
        intent_id=action.intent_id, attempt=action.attempt,
        new_client_order_id=action.client_order_id, price=action.price,
        quantity=in_place_total(action, order), filled=order.filled,
    )  # fmt: skip
    return AmendSubmitted.create(
        key, EXECUTOR, data, correlation_id=diff.correlation_id,
        causation_id=diff.event_id, traceparent=tp,
    )  # fmt: skip


def amend_command(key: Key, action: Action, order_id: str | None, filled: Decimal) -> AmendCommand:
    """The command of a native amend of `action.replaces` (venue id `order_id`, `filled`
    by it when decided): `remaining` the plan's quantity, the venue sizes it by its style
    (`AmendCommand.venue_quantity`; in place: `AmendSubmitted.quantity`)."""
    assert key.symbol is not None
    assert action.replaces is not None
    assert action.side is not None
    assert action.price is not None
    assert action.quantity is not None
    return AmendCommand(
        symbol=key.symbol, order_id=order_id, client_order_id=action.replaces,
        new_client_order_id=action.client_order_id, side=action.side, price=action.price,
        remaining=action.quantity, filled=filled, post_only=action.post_only,
    )  # fmt: skip


def amended(cause: Cause, order: VenueOrder) -> OrderObserved:
    """The venue's answer to a native in-place amend: the order as it holds it now (its
    price and total size, amended or not), source `amend` (clears the pending amend)."""
    data = OrderObservedData(
        client_order_id=order.client_order_id, order_id=order.order_id, side=order.side,
        type=order.type, time_in_force=order.time_in_force, price=order.price,
        quantity=order.quantity, filled=order.filled, status=order.status,
        source=ObservationSource.AMEND, venue_time=order.venue_time,
    )  # fmt: skip
    return OrderObserved.create(
        cause.key, EXECUTOR, data, correlation_id=cause.correlation_id,
        causation_id=cause.causation_id, traceparent=cause.traceparent,
    )  # fmt: skip


def risk_rejected(
    key: Key, action: Action, rule: str, detail: str, diff: DiffComputed
) -> RiskRejected:
    data = RiskRejectedData(
        intent_id=action.intent_id,
        client_order_id=action.client_order_id,
        rule=rule,
        detail=detail,
    )
    return RiskRejected.create(
        key, EXECUTOR, data, correlation_id=diff.correlation_id, causation_id=diff.event_id,
        event_id=stable_event_id("risk", diff.event_id, action.client_order_id, rule),
    )  # fmt: skip


def venue_order_id(actual: ActualState, key: Key, action: Action) -> str | None:
    """The venue's id of the order `action` concerns, when known: the action's own, else
    the one the projection holds."""
    record = actual.order(key, action.client_order_id)
    return action.order_id or (record.order_id if record is not None else None)


def place_command(key: Key, action: Action) -> PlaceCommand:
    """The command for a place: built from what its write-ahead records, so the two never
    differ (ValueError for a place without side, type or quantity)."""
    assert key.symbol is not None
    return PlaceCommand.of_submitted(key.symbol, OrderSubmittedData.of_action(action))


def cancel_command(key: Key, client_order_id: str, order_id: str | None) -> CancelCommand:
    assert key.symbol is not None
    return CancelCommand(symbol=key.symbol, order_id=order_id, client_order_id=client_order_id)


def placed(cause: Cause, order: VenueOrder) -> OrderPlaced:
    data = OrderPlacedData(
        client_order_id=order.client_order_id or "",
        order_id=order.order_id,
        status=order.status,
        filled=order.filled,
        venue_time=order.venue_time,
    )
    return OrderPlaced.create(
        cause.key, EXECUTOR, data, correlation_id=cause.correlation_id,
        causation_id=cause.causation_id, traceparent=cause.traceparent,
    )  # fmt: skip


def rejected(
    cause: Cause, client_order_id: str, reason: str, code: str | None, terminal: bool
) -> OrderRejected:
    data = OrderRejectedData(
        client_order_id=client_order_id, reason=reason, code=code, terminal=terminal
    )
    return OrderRejected.create(
        cause.key, EXECUTOR, data, correlation_id=cause.correlation_id,
        causation_id=cause.causation_id, traceparent=cause.traceparent,
    )  # fmt: skip


_CANCEL_REASON = {OrderStatus.EXPIRED: "expired", OrderStatus.CANCELED: "requested"}


def cancelled(
    cause: Cause, client_order_id: str, order: VenueOrder | None, not_found: bool = False
) -> OrderCancelled:
    """The order is closed without a complete fill (`order` None: the venue has none)."""
    reason = "not_found" if not_found or order is None else _CANCEL_REASON.get(order.status)
    data = OrderCancelledData(
        client_order_id=client_order_id,
        order_id=None if order is None else order.order_id,
        filled=ZERO if order is None else order.filled,
        reason=reason or "requested",  # type: ignore[arg-type]
    )
    return OrderCancelled.create(
        cause.key, EXECUTOR, data, correlation_id=cause.correlation_id,
        causation_id=cause.causation_id, traceparent=cause.traceparent,
    )  # fmt: skip
