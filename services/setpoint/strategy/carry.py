"""The spot-perp funding carry: long spot, short perpetual, while funding pays the shorts.

Keys: the spot symbol of the config (`BTC/USDT`) and its USD-M perpetual
(`params.perp`, default `BTC/USDT:USDT`; `StrategyConfig.traded_symbols` names both).
Parameters (decimals as strings):
- `quantity` ("0.01"): spot base quantity to hold once entered;
- `step` (= `quantity`): the entry buys in IOCs of at most this much, one after the
  other, each only once the previous one filled completely (one that meets too little
  liquidity ends the entry: the position stays what was executed);
- `entry_funding` ("0.0001"): enter when the perp's funding rate is above it;
- `exit_funding` ("0"): unwind when the funding rate falls below it;
- `band_bps` (50): the spot IOC's limit price is the ask plus this band;
- `cooldown_s` (60): no new IOC within this long of one that did not fill completely (an
  IOC that met no liquidity is not retried at every ticker);
- `leverage` ("1"): the perpetual's leverage to count the hedge's margin with while the
  venue reports none for the position; `max_margin_ratio` ("0.5"): see the margin gate.

**Entry, leg by leg.** Each entry step is one IOC buy on spot under a new intent id. The
perp target is always a `position` equal to minus the spot position *executed so far* (the
net of the spot key's fills): a spot IOC that fills 42% is hedged by exactly 42%, never by
what was requested. A perp whose sizes are contracts of another size than one base unit
(OKX swaps: `contract_size` 0.01 BTC) is targeted in its own contracts: minus the executed
base quantity divided by it.

**The margin gate between the legs.** Before each entry step the strategy checks, from
the futures wallet in its view (`View.margin`, the last `MarginObserved`), that the
perpetual can carry the hedge the step would need: the initial margin of the hedge not yet
in the wallet (|minus the spot position after the step| minus the perp position the wallet
reports, at the perp's price, over the leverage) within the available margin, and the
wallet's margin ratio (maintenance / margin balance) at most `max_margin_ratio`. When it
cannot (or no wallet was observed yet), the spot leg is not increased and the decision's
`note` says why (`CarryState.held`); the step goes once the wallet allows it.

**Exit, both legs at once.** When funding falls below `exit_funding`, the strategy
publishes a `position` of 0 on both keys in the same step (the differ works each down with
IOCs, retried until flat) and stays exiting until both positions are zero.

**Restart.** The state comes back from the log: serials past every id of ours, the IOC
of the last spot target if still in flight, exiting when the last spot target was a
position of 0 and a leg is still open, entering when the last entry filled completely
short of `quantity`. Intent ids are `<name>.e<serial>`.
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
    IntentState,
    View,
    param_decimal,
    param_int,
    round_price,
    round_quantity,
)

Phase = Literal["flat", "entering", "holding", "exiting"]
_BPS = Decimal(10_000)
FLAT = Desired(position=ZERO)


@dataclass(frozen=True, slots=True)
class CarryState:
    """`order` is the spot IOC in flight (listed until its intent is consumed); `held`:
    why the spot leg is not increased now (the margin gate), None when it is not held."""

    phase: Phase = "flat"
    order: TargetOrder | None = None
    serial: int = 1
    resumed: bool = False
    last_attempt: datetime | None = None
    held: str | None = None


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
        if state.phase == "exiting":
            return Decision(state, MappingProxyType({spot: FLAT, perp: FLAT}))
        orders = (state.order,) if state.order else ()
        hedge = round_quantity(view, perp, -position / _contract_size(view, perp))
        targets = {spot: Desired(orders=orders), perp: Desired(position=hedge)}
        return Decision(state, MappingProxyType(targets), note=state.held)


_ID = re.compile(r"\.[ex](\d+)$")


def _resume(view: View, position: Decimal) -> CarryState:
    """The state after a (re)start, from the log (module docstring)."""
    spot, perp = view.symbols
    prefix = f"{view.name}."
    previous = view.previous.get(spot)
    actual = view.key_state(spot)
    known = [*actual.intents, *(o.id for o in (previous.orders if previous else ()))]
    serials = [
        int(match.group(1))
        for intent in known
        if intent.startswith(prefix) and (match := _ID.search(intent))
    ]
    serial = max(serials, default=0)
    order = next(iter(previous.orders), None) if previous else None
    if order is not None and (not order.id.startswith(prefix) or order.side is Side.SELL):
        order = None  # an exit IOC of an older version: the exit is by positions now
    open_legs = position != ZERO or view.key_state(perp).position != ZERO
    phase: Phase = "holding" if position != ZERO else "flat"
    if previous is not None and previous.position == ZERO and open_legs:
        phase, order = "exiting", None
    elif order is not None or _more_to_buy(view, position, actual.intent(f"{prefix}e{serial}")):
        phase = "entering"
    return CarryState(phase, order, serial + 1, resumed=True)


def _more_to_buy(view: View, position: Decimal, last: IntentState | None) -> bool:
    """The last entry step filled completely and the position is short of `quantity`."""
    complete = last is not None and last.complete and last.side is Side.BUY
    return complete and position < _quantity(view)


def _settle(state: CarryState, view: View, position: Decimal) -> CarryState:
    """Close the in-flight IOC once the log says its intent is consumed; an exit ends once
    both legs are flat; otherwise the phase follows the executed spot position (fills may
    be reported after the IOC's end)."""
    if state.phase == "exiting":
        flat = position == ZERO and view.key_state(view.symbols[1]).position == ZERO
        return replace(state, phase="flat") if flat else state
    if state.order is not None:
        intent = view.key_state(view.symbols[0]).intent(state.order.id)
        if intent is None or not _finished(view, state.order.id):
            return state
        state = replace(state, order=None)
        if intent.complete:
            state = replace(state, last_attempt=None)  # no cooldown after a full fill
            if position < _quantity(view):
                return replace(state, phase="entering")
    elif state.phase == "entering":
        return state  # between steps (or held by the margin gate)
    return replace(state, phase="holding" if position != ZERO else "flat")


def _finished(view: View, intent_id: str) -> bool:
    """The IOC is over and every fill the venue reported for it is in the log."""
    actual = view.key_state(view.symbols[0])
    intent = actual.intent(intent_id)
    if intent is None or not intent.consumed:
        return False
    logged = sum((f.quantity for f in actual.fills if f.intent_id == intent_id), ZERO)
    return logged >= intent.filled


def _maybe_trade(state: CarryState, view: View, position: Decimal) -> CarryState:
    """Start the exit (funding low, a leg open) or the next entry step (funding high)."""
    funding = _funding(view)
    if funding is None or state.order is not None or state.phase == "exiting":
        return state
    if state.phase in ("entering", "holding") and funding < param_decimal(
        view.params, "exit_funding", "0"
    ):
        return replace(state, phase="exiting", held=None)
    entering = state.phase == "entering" or (
        state.phase == "flat" and funding > param_decimal(view.params, "entry_funding", "0.0001")
    )
    if not entering or _cooling_down(state, view):
        return state
    left = _quantity(view) - position
    step = param_decimal(view.params, "step", str(_quantity(view)))
    quantity = round_quantity(view, view.symbols[0], min(step, left))
    if quantity <= ZERO:
        return replace(state, phase="holding" if position != ZERO else "flat", held=None)
    held = margin_held(view, position + quantity)
    if held is not None:
        return replace(state, held=held)
    return _ioc(state, view, Side.BUY, quantity)


def margin_held(view: View, spot_after: Decimal) -> str | None:
    """Why the perpetual cannot carry the hedge of a spot position of `spot_after` (module
    docstring, the margin gate), or None when it can."""
    wallet = view.margin
    if wallet is None:
        return "margin gate: no futures wallet observed yet"
    perp = view.symbols[1]
    max_ratio = param_decimal(view.params, "max_margin_ratio", "0.5")
    if wallet.margin_balance <= 0 or wallet.maintenance_margin / wallet.margin_balance > max_ratio:
        return (
            f"margin gate: margin ratio {wallet.maintenance_margin}/{wallet.margin_balance}"
            f" above {max_ratio}"
        )
    row = next((p for p in wallet.positions if p.symbol == perp), None)
    held = abs(row.quantity) * _contract_size(view, perp) if row is not None else ZERO
    price = _perp_price(view, row.mark_price if row is not None else None)
    if price is None:
        return "margin gate: no price for the perpetual"
    leverage = Decimal(row.leverage) if row is not None and row.leverage else None
    leverage = leverage or param_decimal(view.params, "leverage", "1")
    needed = max(abs(spot_after) - held, ZERO) * price / leverage
    if needed > wallet.available_margin:
        return (
            f"margin gate: the hedge needs {needed} initial margin,"
            f" {wallet.available_margin} available"
        )
    return None


def _perp_price(view: View, mark: Decimal | None) -> Decimal | None:
    ticker = view.market.get(view.symbols[1])
    return (ticker.last if ticker else None) or mark


def _quantity(view: View) -> Decimal:
    return round_quantity(view, view.symbols[0], param_decimal(view.params, "quantity", "0.01"))


def _cooling_down(state: CarryState, view: View) -> bool:
    """True within `cooldown_s` of an IOC that did not fill completely."""
    if state.last_attempt is None:
        return False
    cooldown = timedelta(seconds=param_int(view.params, "cooldown_s", 60))
    return view.now - state.last_attempt < cooldown


def _funding(view: View) -> Decimal | None:
    ticker = view.market.get(view.symbols[1])
    return ticker.funding_rate if ticker else None


def _ioc(state: CarryState, view: View, side: Side, quantity: Decimal) -> CarryState:
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
        id=f"{view.name}.e{state.serial}",
        side=side,
        price=price,
        quantity=quantity,
        time_in_force=TimeInForce.IOC,
    )
    return CarryState("entering", order, state.serial + 1, resumed=True, last_attempt=view.now)
