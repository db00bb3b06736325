"""How a fill counts toward its order: the one rule the actual projection
(`core.projections`) and the audit (`core.audit`) both fold with (docs/events.md,
"Inferred fills").

An inferred fill stands for real trades the log does not hold yet and names the venue's
filled quantity (`order_filled`). An order counts

    min(quantity, max(sum of its real trades, the largest order_filled of its inferred fills))

whatever order those facts come in: an inferred fill tops the count up to the venue's
figure, a real trade first replaces inferred quantity, then adds. An inferred fill without
`order_filled` (written before the field existed) adds its quantity. With no inferred
quantity, a real trade simply adds, capped at the order quantity.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["count_fill"]


def count_fill(
    quantity: Decimal,
    filled: Decimal,
    inferred: Decimal,
    fill: Decimal,
    is_inferred: bool,
    order_filled: Decimal | None,
) -> tuple[Decimal, Decimal, Decimal]:
    """One fill of `fill` (an inferred one when `is_inferred`, naming `order_filled`) of an
    order of `quantity` that counts `filled`, of which `inferred` no real trade stands for
    yet. Returns the order's new `filled` and `inferred`, and `claimed`: what the order
    would count without the cap at `quantity` (above `quantity`: the fills recorded for
    it add up to more than the order; `filled` is capped, never lowered)."""
    backed = filled - inferred  # the real trades counted so far
    if is_inferred:
        claimed = order_filled if order_filled is not None else filled + fill
        top = claimed if claimed < quantity else quantity  # min(quantity, claimed)
        new = top if top > filled else filled
    else:
        claimed = backed + fill
        backed = claimed if claimed < quantity else quantity
        new = backed if backed > filled else filled
    return new, new - backed, claimed
