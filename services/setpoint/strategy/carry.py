"""The spot-perp funding carry: long spot, short perpetual, while funding pays the shorts.

Keys: the spot symbol of the config (`BTC/USDT`) and its USD-M perpetual
(`params.perp`, default `BTC/USDT:USDT`; `StrategyConfig.traded_symbols` names both).
Parameters (decimals as strings):
- `quantity` ("0.01"): spot base quantity to buy on entry;
- `entry_funding` ("0.0001"): enter when the perp's funding rate is above it;
- `exit_funding` ("0"): unwind when the funding rate falls below it;
- `band_bps` (50): the spot IOC's limit price is the ask plus (bid minus) this band;
- `cooldown_s` (60): no new IOC within this long of the last one (an IOC that met no
  liquidity is not retried at every ticker).

Entry is one IOC buy on spot under a new intent id. The perp target is always a `position`
equal to minus the spot position *executed so far* (the net of the spot key's fills): a
spot IOC that fills 42% is hedged by exactly 42%, never by what was requested. A perp whose
sizes are contracts of another size than one base unit (OKX swaps: `contract_size` 0.01
BTC) is targeted in its own contracts: minus the executed base quantity divided by it. Exit is an
IOC sell of the executed spot position; the perp target follows the fills back to zero.
If an exit fills only partly, the rest is retried (new intent id) while funding stays
below `exit_funding`. Intent ids are `<name>.e<serial>` (entry) and `<name>.x<serial>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

from setpoint.config import StrategyConfig
from setpoint.core.model import Side, TargetOrder, TimeInForce
from setpoint.core.numeric import ZERO

from .sdk import (
    Decision,
    Desired,
    KeyState,
    View,
    param_decimal,
    param_int,
    round_price,
    round_quantity,
)

Phase = Literal["flat", "entering", "holding", "exiting"]
_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class CarryState:
    """`order` is the spot IOC in flight (listed until its intent is consumed)."""

    phase: Phase = "flat"
    order: TargetOrder | None = None
    serial: int = 1
    resumed: bool = False
    last_attempt: datetime | None = None


def _contract_size(view: View, symbol: str) -> Decimal:
    """Base units per unit of `symbol`'s sizes (1 when its market is not known yet)."""
    market = view.markets.get(symbol)
    return market.contract_size if market is not None else Decimal(1)


class Carry:
    """The carry strategy kind (`kind = "carry"`); see the module docstring."""

    def symbols(self, config: StrategyConfig) -> tuple[str, ...]:
        return config.traded_symbols()

    def initial(self, config: StrategyConfig) -> CarryState:
        return CarryState()

    def decide(self, state: CarryState, view: View) -> Decision[CarryState]:
        spot, perp = view.symbols
        position = view.key_state(spot).position
        if not state.resumed:
            state = _resume(view, position)
        state = _settle(state, view, position)
        state = _maybe_trade(state, view, position)
        orders = (state.order,) if state.order else ()
        hedge = round_quantity(view, perp, -position / _contract_size(view, perp))
        targets = {spot: Desired(orders=orders), perp: Desired(position=hedge)}
        return Decision(state, MappingProxyType(targets))


_ID = re.compile(r"\.[ex](\d+)$")


def _resume(view: View, position: Decimal) -> CarryState:
    """The state after a (re)start, from the log: serial past every id of ours, the IOC of
    the last target if still in flight, holding if a spot position exists."""
    spot = view.symbols[0]
    prefix = f"{view.name}."
    previous = view.previous.get(spot)
    known = [*view.key_state(spot).intents, *(o.id for o in (previous.orders if previous else ()))]
    serials = [
        int(match.group(1))
        for intent in known
        if intent.startswith(prefix) and (match := _ID.search(intent))
    ]
    order = next(iter(previous.orders), None) if previous else None
    if order is not None and not order.id.startswith(prefix):
        order = None
    phase: Phase = "holding" if position != ZERO else "flat"
    if order is not None:
        phase = "entering" if order.side is Side.BUY else "exiting"
    return CarryState(phase, order, max(serials, default=0) + 1, resumed=True)


def _settle(state: CarryState, view: View, position: Decimal) -> CarryState:
    """Close the in-flight IOC once the log says its intent is consumed; with no IOC in
    flight the phase follows the executed spot position (fills may be reported after the
    IOC's end)."""
    if state.order is not None:
        if not _finished(view.key_state(view.symbols[0]), state.order.id):
            return state
        state = replace(state, order=None)
    return replace(state, phase="holding" if position != ZERO else "flat")


def _finished(actual: KeyState, intent_id: str) -> bool:
    """The IOC is over and every fill the venue reported for it is in the log."""
    intent = actual.intent(intent_id)
    if intent is None or not intent.consumed:
        return False
    logged = sum((f.quantity for f in actual.fills if f.intent_id == intent_id), ZERO)
    return logged >= intent.filled


def _maybe_trade(state: CarryState, view: View, position: Decimal) -> CarryState:
    """Start an entry (flat, funding high) or an exit (holding, funding low)."""
    funding = _funding(view)
    if funding is None or state.order is not None or _cooling_down(state, view):
        return state
    if state.phase == "flat" and funding > param_decimal(view.params, "entry_funding", "0.0001"):
        quantity = round_quantity(
            view, view.symbols[0], param_decimal(view.params, "quantity", "0.01")
        )
        return _ioc(state, view, Side.BUY, quantity, "entering", "e")
    if state.phase == "holding" and funding < param_decimal(view.params, "exit_funding", "0"):
        if position <= ZERO:
            return replace(state, phase="flat")
        return _ioc(state, view, Side.SELL, position, "exiting", "x")
    return state


def _cooling_down(state: CarryState, view: View) -> bool:
    """True within `cooldown_s` of the last IOC (an IOC that met no liquidity is not
    retried at every ticker)."""
    if state.last_attempt is None:
        return False
    cooldown = timedelta(seconds=param_int(view.params, "cooldown_s", 60))
    return view.now - state.last_attempt < cooldown


def _funding(view: View) -> Decimal | None:
    ticker = view.market.get(view.symbols[1])
    return ticker.funding_rate if ticker else None


def _ioc(
    state: CarryState, view: View, side: Side, quantity: Decimal, phase: Phase, tag: str
) -> CarryState:
    """An IOC limit on spot at the touch plus the band, under a new intent id."""
    spot = view.symbols[0]
    ticker = view.market.get(spot)
    touch = None if ticker is None else (ticker.ask if side is Side.BUY else ticker.bid)
    touch = touch or (ticker.last if ticker else None)
    if touch is None or quantity <= ZERO:
        return state
    band = Decimal(param_int(view.params, "band_bps", 50)) / _BPS
    raw = touch * (1 + band) if side is Side.BUY else touch * (1 - band)
    price = round_price(view, spot, raw, "up" if side is Side.BUY else "down")
    order = TargetOrder(
        id=f"{view.name}.{tag}{state.serial}",
        side=side,
        price=price,
        quantity=quantity,
        time_in_force=TimeInForce.IOC,
    )
    return CarryState(phase, order, state.serial + 1, resumed=True, last_attempt=view.now)
