"""Native amends (pure): whether the executor amends an order natively, with what size,
and whether the venue's answer means the amend happened (docs/semantics.md §1, "Amend").

The differ plans an amend (`ActionKind.AMEND`: the intent's next attempt replaces its
live order). The executor carries it out in one of three ways, by the venue's style
(`venues.capabilities.AmendStyle`, passed in as its value so this module needs no venue):

* **in place** (OKX `amend-order`, Binance USD-M modify): the same order (venue id,
  client order id and attempt kept) gets the new price and a new *total* size
  (`in_place_total`): the intent's quantity less what its *other* attempts filled, which
  is the plan's quantity (`quantity - filled` over every attempt) plus what this order
  filled. The venue leaves `total - (its fills)` open, so a fill that races the amend is
  never placed again: the intent never fills above its quantity.
* **replace** (Binance spot `cancelReplace`): a new order under the amend's client order
  id (the next attempt) for the plan's quantity, the old one cancelled in the same request.
  Only for an old order that has filled nothing (`native_style`), and sent with the
  venue's "cancel only an unfilled order" restriction where it has one.
* otherwise cancel, then place (`executor.plan`), also the fallback when the venue
  refuses a native amend (`amend_applied` False).

An amend is native only when it changes nothing but the price and the size: same side,
type (limit), time in force, post-only and reduce-only flags.
"""

from __future__ import annotations

from decimal import Decimal

from setpoint.core.events import Action, OrderObservedData
from setpoint.core.model import OrderType, TimeInForce
from setpoint.core.projections import OrderRecord

__all__ = ["IN_PLACE", "NONE", "REPLACE", "amend_applied", "in_place_total", "native_style"]

IN_PLACE, REPLACE, NONE = "in_place", "replace", "none"
"""The values of `venues.capabilities.AmendStyle`."""


def native_style(action: Action, order: OrderRecord | None, style: str) -> str:
    """How `action` (an amend of the plan) is carried out: `style` (the venue's way for
    the order's market), or NONE (cancel, then place) when the old order is unknown, not
    open, has an action pending or has no venue id yet, when the amend changes more than
    price and size, or, for a replace, when the old order has filled anything."""
    if style == NONE or action.replaces is None or order is None:
        return NONE
    if not order.is_open or order.status is None or order.pending is not None:
        return NONE
    if order.order_id is None or action.price is None or action.quantity is None:
        return NONE
    same = (
        action.side is order.side
        and action.type is OrderType.LIMIT
        and order.type is OrderType.LIMIT
        and (action.time_in_force or TimeInForce.GTC) is (order.time_in_force or TimeInForce.GTC)
        and action.post_only is order.post_only
        and action.reduce_only is order.reduce_only
    )
    if not same or (style == REPLACE and order.done > 0):
        return NONE
    return style


def in_place_total(action: Action, order: OrderRecord) -> Decimal:
    """The new total size of an in-place amend: the plan's quantity (what the intent still
    wants open) plus what this order has filled (its folded fills: the plan's quantity
    already subtracted exactly those)."""
    assert action.quantity is not None
    return action.quantity + order.filled


def amend_applied(price: Decimal, total: Decimal, observed: OrderObservedData) -> bool:
    """The venue's order shows the amend: still open with the asked price and total, or
    closed having filled at that total (the amend landed, then the rest filled)."""
    if observed.price != price or observed.quantity != total:
        return False
    return observed.status.is_open or observed.filled >= total
