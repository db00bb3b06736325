"""The venue's view of orders and trades, as reconciliation reads it (`VenueOrder`,
`VenueFill`), for the kernel tests: of a local order, of an order resting at the venue,
of a trade."""

from __future__ import annotations

from decimal import Decimal

from setpoint.core import events as ev
from setpoint.core import projections as proj
from setpoint.core.model import OrderType, Side
from setpoint.core.reconcile import VenueFill, VenueOrder

D = Decimal


def venue_view(rec: proj.OrderRecord, filled: Decimal | None = None, **kw: object) -> VenueOrder:
    """The venue's view of a local order (same state unless overridden)."""
    values: dict[str, object] = {
        "order_id": rec.order_id or "v-" + rec.ref,
        "client_order_id": rec.client_order_id,
        "symbol": "BTC/USDT",
        "side": rec.side,
        "type": rec.type,
        "price": rec.price,
        "quantity": rec.quantity,
        "filled": rec.done if filled is None else filled,
        "status": rec.status or ev.OrderStatus.NEW,
        "time_in_force": rec.time_in_force,
    }
    values.update(kw)
    return VenueOrder(**values)  # type: ignore[arg-type]


def resting(
    order_id: str, client_order_id: str | None, side: Side = Side.BUY, price: str = "90",
    qty: str = "1", status: ev.OrderStatus = ev.OrderStatus.NEW,
) -> VenueOrder:  # fmt: skip
    """An order at the venue on BTC/USDT, as its open orders list it: a limit, nothing
    filled, new unless `status` says otherwise."""
    return VenueOrder(
        order_id=order_id, client_order_id=client_order_id, symbol="BTC/USDT", side=side,
        type=OrderType.LIMIT, price=D(price), quantity=D(qty), filled=D(0), status=status,
    )  # fmt: skip


def venue_trade(rec: proj.OrderRecord, trade_id: str, qty: str) -> VenueFill:
    """A trade of `rec` at 100 (taker, no fee) as the venue's trade list reports it."""
    return VenueFill(
        trade_id=trade_id, order_id=rec.order_id or "", client_order_id=rec.ref,
        symbol="BTC/USDT", side=rec.side, price=D("100"), quantity=D(qty), fee=D(0),
        fee_currency="", liquidity=ev.Liquidity.TAKER,
    )  # fmt: skip
