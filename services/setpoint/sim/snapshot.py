"""`GET /_sim/state`: the engine as JSON, exactly in the shape docs/simulator.md gives.

Ids are strings, `side` lowercase, times integer microseconds, every price, quantity and
fee a decimal string (a market order's price is "0"); `balances` is the spot wallet,
`futures_balances` the margin wallet (free = available margin, locked = the rest).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from setpoint.sim.accounts import Balance
from setpoint.sim.engine import Engine
from setpoint.sim.orders import Order, Trade


def dec(value: Decimal) -> str:
    """A plain decimal string without exponent or trailing zeros beyond the value's own."""
    text = format(value + 0, "f")  # + 0 turns -0 into 0
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def order_json(order: Order) -> dict[str, Any]:
    return {
        "order_id": str(order.order_id),
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": "market" if order.price is None else "limit",
        "time_in_force": order.tif.value,
        "price": dec(order.price or Decimal(0)),  # "0" for a market order, as on Binance
        "quantity": dec(order.quantity),
        "filled": dec(order.filled),
        "status": order.status.value,
        "created_us": order.created_us,
        "updated_us": order.updated_us,
    }


def trade_json(trade: Trade) -> dict[str, Any]:
    return {
        "trade_id": str(trade.trade_id),
        "order_id": str(trade.order_id),
        "client_order_id": trade.client_order_id,
        "symbol": trade.symbol,
        "side": trade.side.value,
        "price": dec(trade.price),
        "quantity": dec(trade.quantity),
        "fee": dec(trade.fee),
        "fee_asset": trade.fee_asset,
        "maker": trade.maker,
        "time_us": trade.time_us,
    }


def _balance(balance: Balance) -> dict[str, str]:
    return {"free": dec(balance.free), "locked": dec(balance.locked)}


def _position(engine: Engine, symbol: str) -> dict[str, str]:
    position = engine.margin.position(symbol)
    return {"quantity": dec(position.quantity), "entry_price": dec(position.entry_price)}


def engine_state(engine: Engine) -> dict[str, Any]:
    """The whole engine: orders (all, oldest first), trades, wallets, and the position of
    every perpetual (quantity "0" when flat)."""
    futures = {
        asset: {
            "free": dec(engine.margin_available(asset)),
            "locked": dec(amount - engine.margin_available(asset)),
        }
        for asset, amount in sorted(engine.margin.wallet.items())
    }
    return {
        "orders": [order_json(o) for o in engine.orders.values()],
        "trades": [trade_json(t) for t in engine.trades],
        "balances": {a: _balance(b) for a, b in engine.spot.snapshot().items()},
        "futures_balances": futures,
        "positions": {
            m.symbol: _position(engine, m.symbol) for m in engine.markets.all if m.is_perp
        },
    }
