"""Values of the matching engine: order requests, orders, planned fills, trades, executions,
rejections.

All frozen. An `Order` is replaced, never mutated, on every change; the engine keeps the
latest version. Statuses are Binance's words.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from setpoint.core.errors import Reason as Reason
from setpoint.core.errors import Rejected as Rejected
from setpoint.core.events import OrderStatus
from setpoint.core.model import Side
from setpoint.core.numeric import ZERO


class OrderKind(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    LIMIT_MAKER = "LIMIT_MAKER"


class Tif(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # futures post-only


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A new order as the venue receives it. Exactly one of quantity / quote_quantity."""

    symbol: str
    side: Side
    kind: OrderKind
    quantity: Decimal | None
    price: Decimal | None = None
    tif: Tif = Tif.GTC
    client_order_id: str | None = None
    reduce_only: bool = False
    quote_quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Order:
    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    kind: OrderKind
    tif: Tif
    price: Decimal | None
    quantity: Decimal
    filled: Decimal
    cum_quote: Decimal
    status: OrderStatus
    created_us: int
    updated_us: int
    reduce_only: bool = False
    locked: Decimal = ZERO  # spot: amount still locked for this order
    lock_asset: str = ""

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def average(self) -> Decimal:
        return self.cum_quote / self.filled if self.filled else ZERO

    @property
    def post_only(self) -> bool:
        return self.kind is OrderKind.LIMIT_MAKER or self.tif is Tif.GTX

    def with_fill(self, price: Decimal, quantity: Decimal, now_us: int) -> Order:
        filled = self.filled + quantity
        status = OrderStatus.FILLED if filled == self.quantity else OrderStatus.PARTIALLY_FILLED
        return replace(
            self,
            filled=filled,
            cum_quote=self.cum_quote + price * quantity,
            status=status,
            updated_us=now_us,
        )

    def closed(self, status: OrderStatus, now_us: int) -> Order:
        return replace(self, status=status, updated_us=now_us, locked=ZERO)


@dataclass(frozen=True, slots=True)
class Match:
    """One planned fill of an incoming order: against a resting order (`maker_order_id`)
    or against liquidity level number `level` of the opposite book side."""

    price: Decimal
    quantity: Decimal
    maker_order_id: int | None
    level: int = -1


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: int
    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool
    time_us: int
    realized_pnl: Decimal = ZERO

    @property
    def quote_quantity(self) -> Decimal:
        return self.price * self.quantity


class ExecType(StrEnum):
    NEW = "NEW"
    TRADE = "TRADE"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    AMENDMENT = "AMENDMENT"


@dataclass(frozen=True, slots=True)
class Execution:
    """One change of one order, as a user-data stream reports it."""

    order: Order
    exec_type: ExecType
    trade: Trade | None = None


@dataclass(frozen=True, slots=True)
class WalletTouched:
    """A wallet changed: `perp` False = spot wallet, True = margin wallet (+ `symbol`)."""

    perp: bool
    assets: tuple[str, ...]
    symbol: str | None = None
    time_us: int = 0


Event = Execution | WalletTouched
