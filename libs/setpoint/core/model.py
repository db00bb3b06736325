"""Domain values shared by every part of Setpoint: keys, targets and markets.

All are frozen; every price and quantity is a `Dec` (see `numeric`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from setpoint.core.numeric import ZERO, Dec, NonNegativeDec, PositiveDec


class Frozen(BaseModel):
    """Base of every value model: immutable, no unknown fields, no coercion surprises."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class MarketKind(StrEnum):
    SPOT = "spot"
    SWAP = "swap"
    FUTURE = "future"


class Producer(StrEnum):
    """Who appended an event. Each producer's appends for a key are checked separately."""

    INTAKE = "intake"
    STRATEGY = "strategy"
    DIFFER = "differ"
    EXECUTOR = "executor"
    GATEWAY = "gateway"


class Key(NamedTuple):
    """A reconciliation key: one symbol on one account. `symbol` None = account-wide."""

    account: str
    symbol: str | None

    @property
    def token(self) -> str:
        return symbol_token(self.symbol)

    def __str__(self) -> str:
        return f"{self.account}/{self.symbol or '_'}"


def symbol_token(symbol: str | None) -> str:
    """Unified symbol as a NATS subject token: `BTC/USDT:USDT` -> `BTC-USDT-USDT`, None -> `_`."""
    if symbol is None:
        return "_"
    return symbol.replace("/", "-").replace(":", "-")


IntentId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class TargetOrder(Frozen):
    """One order that should be working, named by the strategy's intent id."""

    id: IntentId
    side: Side
    type: OrderType = OrderType.LIMIT
    price: PositiveDec | None = None
    quantity: PositiveDec
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    oco_group: str | None = None


class TargetState(Frozen):
    """The whole desired world for one key (docs/semantics.md §1)."""

    account: Name
    symbol: Annotated[str, Field(min_length=3, max_length=64)]
    generation: Annotated[int, Field(ge=1)]
    strategy: Annotated[str, Field(min_length=1, max_length=64)]
    position: Dec | None = None
    expires_at: datetime | None = None
    orders: tuple[TargetOrder, ...] = ()

    @property
    def key(self) -> Key:
        return Key(self.account, self.symbol)


class MarketInfo(Frozen):
    """A market's identity and filters, as the venue states them (from ccxt's load_markets)."""

    symbol: str
    venue_symbol: str
    kind: MarketKind
    base: str
    quote: str
    tick: PositiveDec
    step: PositiveDec
    min_quantity: NonNegativeDec = ZERO
    min_notional: NonNegativeDec = ZERO
    contract_size: PositiveDec = Decimal(1)

    @property
    def is_derivative(self) -> bool:
        return self.kind is not MarketKind.SPOT
