"""The strategy SDK: what a strategy sees, what it returns, and the protocol it implements.

A strategy is a pure function. The host (`setpoint run strategy`, see `host.py`) builds a
`View` — market data, the actual state of the strategy's keys folded from the log, its
parameters, the last target it published per key — and calls::

    decision = strategy.decide(state, view)

`state` is the strategy's own memory (whatever it returned last time, or
`strategy.initial(config)` at start); `decision.targets` maps symbols to `Desired`
(the orders and position wanted for that key). The host turns each `Desired` into a
`TargetState` with the next generation and publishes it only if it differs from the last
one published for the key. A symbol absent from `decision.targets` keeps its last target.

Contract for strategies:
- `decide` does no I/O, reads no clock (use `view.now`) and does not mutate its inputs; the
  same state and view give the same decision.
- Intent ids name one order intent for the life of a key: once `view.actual[symbol]`
  says an intent is consumed, the strategy never lists that id again (list a new one).
- Prices and quantities are `Decimal`s on the market's tick and step (`view.markets`);
  `round_price` / `round_quantity` help.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from setpoint.bus.messages import Ticker
from setpoint.config import StrategyConfig
from setpoint.core.events import MarginObservedData, OrderStatus
from setpoint.core.model import MarketInfo, OrderType, Side, TargetOrder, TargetState, TimeInForce
from setpoint.core.numeric import ZERO, Rounding, round_to

S = TypeVar("S")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class OrderState:
    """One venue order of ours for the key, as the log tells it."""

    client_order_id: str
    intent_id: str | None
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: Decimal | None
    quantity: Decimal
    filled: Decimal = ZERO
    status: OrderStatus | None = None
    """None while submitted and not yet acknowledged."""
    rejected: bool = False

    @property
    def is_open(self) -> bool:
        return not self.rejected and (self.status is None or self.status.is_open)


@dataclass(frozen=True, slots=True)
class IntentState:
    """What has happened to one intent id across its placement attempts.

    `consumed` follows docs/semantics.md §1: completely filled, an IOC/FOK/market attempt that
    finished (whatever it filled), or rejected as invalid. `complete` = completely filled.
    `finished_at` is when it became consumed (None while not consumed)."""

    intent_id: str
    side: Side
    quantity: Decimal
    filled: Decimal
    open: bool
    consumed: bool
    complete: bool
    rejected: bool = False
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: str
    client_order_id: str | None
    intent_id: str | None
    side: Side
    price: Decimal
    quantity: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class KeyState:
    """The actual state of one key, folded from the log (see `actual.py`).

    `position`: for a derivative the venue's last reported position plus fills since; for
    spot the net base quantity of the key's fills (docs/semantics.md §2)."""

    symbol: str
    position: Decimal = ZERO
    orders: tuple[OrderState, ...] = ()
    fills: tuple[Fill, ...] = ()
    intents: Mapping[str, IntentState] = field(default_factory=lambda: _EMPTY)

    @property
    def open_orders(self) -> tuple[OrderState, ...]:
        return tuple(order for order in self.orders if order.is_open)

    def intent(self, intent_id: str) -> IntentState | None:
        return self.intents.get(intent_id)

    def consumed(self, intent_id: str) -> bool:
        found = self.intents.get(intent_id)
        return found is not None and found.consumed


@dataclass(frozen=True, slots=True)
class View:
    """Everything a strategy may look at. Mappings are keyed by unified symbol."""

    name: str
    account: str
    symbols: tuple[str, ...]
    """What `Strategy.symbols(config)` returned, in that order."""
    params: Mapping[str, Any]
    now: datetime
    market: Mapping[str, Ticker] = field(default_factory=lambda: _EMPTY)
    actual: Mapping[str, KeyState] = field(default_factory=lambda: _EMPTY)
    previous: Mapping[str, TargetState] = field(default_factory=lambda: _EMPTY)
    markets: Mapping[str, MarketInfo] = field(default_factory=lambda: _EMPTY)
    margin: MarginObservedData | None = None
    """The account's futures wallet as last observed (`MarginObserved`: wallet and margin
    balances, initial, maintenance and available margin, each derivative position with its
    mark and leverage); None until the gateway has reported one."""

    def key_state(self, symbol: str) -> KeyState:
        """The key's actual state (empty when the log has nothing for it yet)."""
        return self.actual.get(symbol) or KeyState(symbol)


@dataclass(frozen=True, slots=True)
class Desired:
    """The desired world of one key, without the envelope the host adds
    (account, symbol, generation, strategy name)."""

    orders: tuple[TargetOrder, ...] = ()
    position: Decimal | None = None
    expires_at: datetime | None = None

    @classmethod
    def of(cls, target: TargetState) -> Desired:
        return cls(target.orders, target.position, target.expires_at)


@dataclass(frozen=True, slots=True)
class Decision(Generic[S]):
    """What `decide` returns: the strategy's next state and the targets it wants now."""

    state: S
    targets: Mapping[str, Desired] = field(default_factory=lambda: _EMPTY)
    note: str | None = None
    """Why the strategy holds back now (e.g. a margin gate), None when it does not; the
    host logs it each time it changes."""


class Strategy(Protocol[S]):
    """A strategy kind (e.g. grid). One instance serves one `[strategies.<name>]` entry."""

    def symbols(self, config: StrategyConfig) -> tuple[str, ...]:
        """The symbols (keys on `config.account`) this strategy reads and targets."""
        ...

    def initial(self, config: StrategyConfig) -> S:
        """The state before the first decision (no I/O)."""
        ...

    def decide(self, state: S, view: View) -> Decision[S]:
        """The pure step: see the module docstring."""
        ...


def param_decimal(params: Mapping[str, Any], name: str, default: str) -> Decimal:
    """A decimal parameter (config values may be strings, ints or Decimals; never floats)."""
    value = params.get(name, default)
    if isinstance(value, float):
        raise ValueError(f"params.{name}: {value!r} is a binary float; write it as a string")
    return Decimal(str(value))


def param_int(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"params.{name}: {value!r} is not an integer")
    return int(value)


def round_price(view: View, symbol: str, price: Decimal, mode: Rounding = "nearest") -> Decimal:
    """`price` on the symbol's tick (unchanged when the markets are not known yet)."""
    market = view.markets.get(symbol)
    return round_to(price, market.tick, mode) if market else price


def round_quantity(view: View, symbol: str, quantity: Decimal) -> Decimal:
    """`quantity` rounded toward zero onto the symbol's step."""
    market = view.markets.get(symbol)
    if market is None:
        return quantity
    rounded = round_to(abs(quantity), market.step, "down")
    return rounded if quantity >= 0 else -rounded
