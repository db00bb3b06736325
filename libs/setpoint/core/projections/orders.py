"""What the actual store records per order (`OrderRecord`) and per intent
(`IntentProgress`, `Backoff`), and how the folds find an order of a key (`find_order`).

The rules that change these records are in `actual_folds`; what each event does is the
table in the package docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple, TypeVar

from setpoint.core.events import OrderStatus, Origin
from setpoint.core.model import Key, OrderType, Side, TimeInForce
from setpoint.core.numeric import ZERO

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "POSITION_BACKOFF",
    "POSITION_PREFIX",
    "Backoff",
    "IntentProgress",
    "OrderRecord",
    "find_order",
    "position_generation",
    "retry_delay",
]

BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_MAX = timedelta(seconds=60)
"""Backoff after non-terminal rejections (and, for position orders, IOCs that ended with
nothing filled): `min(BACKOFF_MAX, BACKOFF_BASE * 2**(count-1))`."""
POSITION_BACKOFF = "@pos"
"""Backoff entry shared by every position intent (`@pos-<generation>-<n>`) of a key."""
POSITION_PREFIX = "@pos-"
"""How the intent ids of position orders begin: `@pos-<generation>-<n>` (`core.diff`)."""

SUBMIT, CANCEL, AMEND = "submit", "cancel", "amend"
"""The values of `OrderRecord.pending`: an action sent and not yet answered."""
OPEN = frozenset({None, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
"""Statuses of an order working at the venue or in flight (None: no answer yet)."""
_CONSUMING_TIF = (TimeInForce.IOC, TimeInForce.FOK)
_OURS = Origin.OURS


class OrderRecord(NamedTuple):
    """One order as the actual store knows it. `status` None = in flight (no answer yet).

    `filled` is the sum of fills folded for it (never above `quantity`); `reported` the
    highest filled quantity the venue stated; `done` = the larger of the two.
    """

    ref: str
    """Store key: the client order id for our ids (`sp-…`), else `~account/symbol/order id`."""
    key: Key
    client_order_id: str | None
    order_id: str | None
    intent_id: str | None
    attempt: int
    side: Side
    type: OrderType
    price: Decimal | None
    quantity: Decimal
    time_in_force: TimeInForce | None
    post_only: bool
    reduce_only: bool
    position_order: bool
    status: OrderStatus | None
    filled: Decimal
    reported: Decimal
    pending: str | None
    """"submit" (OrderSubmitted, no answer), "cancel" (CancelSubmitted, no answer) or
    "amend" (AmendSubmitted, no answer)."""
    submitted_at: datetime | None
    origin: Origin
    adopted: bool
    not_found: int
    not_found_since: datetime | None
    correlation_id: str | None
    pending_since: datetime | None = None
    """When the pending cancel was sent (CancelSubmitted, or the amend that replaces it), or
    the pending in-place amend (AmendSubmitted)."""
    inferred: Decimal = ZERO
    """The part of `filled` that inferred fills stand for and no real trade has replaced
    yet (package docstring, "Inferred fills")."""
    lost: bool = False
    """Closed as a lost attempt: never acknowledged by the venue, no fill (it does not
    consume its intent while it has none)."""

    @property
    def done(self) -> Decimal:
        return self.filled if self.filled >= self.reported else self.reported

    @property
    def remaining(self) -> Decimal:
        rest = self.quantity - self.done
        return rest if rest > 0 else ZERO

    @property
    def is_open(self) -> bool:
        """Working at the venue or in flight."""
        return self.status in OPEN

    @property
    def counts(self) -> bool:
        """Ours or adopted: part of the actual state and of exposure."""
        return self.origin is _OURS or self.adopted

    @property
    def is_live(self) -> bool:
        return self.status in OPEN and (self.origin is _OURS or self.adopted)

    @property
    def consumes_intent(self) -> bool:
        """True when this attempt consumes its intent (package docstring)."""
        status = self.status
        if status in OPEN:
            return self.filled >= self.quantity or self.reported >= self.quantity
        if status is OrderStatus.FILLED or self.done >= self.quantity:
            return True
        if status is OrderStatus.REJECTED:
            return True
        if self.lost and not self.done:
            return False  # never reached the venue: the intent is placed again
        return self.type is OrderType.MARKET or self.time_in_force in _CONSUMING_TIF


# The hot folds of `actual_folds` (`_evolve`, `_with_pending`, `_is_live`, `_observed`)
# build and read OrderRecord by position to skip NamedTuple overhead. They rely on this
# layout: a field added or moved without updating them must fail at import, never fold
# wrongly.
_ORDER_LAYOUT = {
    3: "order_id", 6: "side", 8: "price", 9: "quantity", 14: "status", 15: "filled",
    16: "reported", 17: "pending", 19: "origin", 20: "adopted", 21: "not_found",
    22: "not_found_since", 23: "correlation_id", 24: "pending_since", 25: "inferred",
    26: "lost",
}  # fmt: skip
if len(OrderRecord._fields) != 27 or any(
    OrderRecord._fields[i] != name for i, name in _ORDER_LAYOUT.items()
):
    raise RuntimeError("OrderRecord's field layout changed: update the positional folds")


class IntentProgress(NamedTuple):
    """What the actual store knows of one intent across all its attempts."""

    attempt: int = 0
    """Highest attempt submitted (the next placement uses attempt + 1)."""
    filled: Decimal = ZERO
    """Filled over every attempt (sum of each order's `done`)."""
    consumed: bool = False
    live: tuple[str, ...] = ()
    """Refs of its live orders (oldest first)."""
    position_order: bool = False
    last_client_order_id: str | None = None


NO_PROGRESS = IntentProgress()


class Backoff(NamedTuple):
    """Consecutive non-terminal rejections of an intent and when it may be placed again.

    For the position family (`POSITION_BACKOFF`), `rejections` also counts position orders
    the venue ended with nothing filled; an attempt that fills anything clears the entry."""

    rejections: int
    retry_after: datetime


def retry_delay(count: int) -> timedelta:
    """Wait after the `count`-th consecutive non-terminal rejection: 1 s, 2 s, 4 s, … 60 s."""
    if count > 7:  # 2**6 = 64 s is already above the cap
        return BACKOFF_MAX
    return min(BACKOFF_MAX, BACKOFF_BASE * (1 << (count - 1)))


def position_generation(intent_id: str) -> int | None:
    """The target generation a position intent id (`@pos-<generation>-<n>`) was made for;
    None for any other id."""
    if not intent_id.startswith(POSITION_PREFIX):
        return None
    generation, _, n = intent_id[len(POSITION_PREFIX) :].partition("-")
    return int(generation) if generation.isdigit() and n else None


T = TypeVar("T")


def find_order(
    orders: Mapping[str, T], venue_ids: Mapping[str, str], coid: str | None, order_id: str | None
) -> T | None:
    """An order of a key as the folds find it: by client order id (its ref), then by the
    venue's order id (`venue_ids`: order id -> ref). Shared with the strategies' view."""
    if coid is not None:
        found = orders.get(coid)
        if found is not None:
            return found
    if order_id is not None:
        ref = venue_ids.get(order_id)
        if ref is not None:
            return orders.get(ref)
    return None
