"""The grid strategy: resting orders on a ladder of prices around an anchor.

Parameters (`[strategies.<name>.params]`, decimals as strings):
- `levels` (3): orders on each side of the anchor;
- `spacing_bps` ("10"): distance between rungs, in basis points of the anchor;
- `quantity` ("0.001"): size of every order, in base units.

The anchor is the first price seen (ticker last, else mid). Rungs are
`anchor + k * step` for k in [-levels, levels], `step` = anchor * spacing on the tick (at
least one tick). At the start every rung below the anchor holds a buy, every rung above a
sell, rung 0 is empty. When an order fills completely its rung empties and the opposite
order appears one rung further (a buy filled at k becomes a sell at k + 1; a sell at k a
buy at k - 1), under a NEW intent id: ids are `<name>.L<k>.<serial>` and the serial only
grows, so a consumed id is never listed again. Two fills that would meet on the same rung
(a buy at k - 1 and a sell at k + 1 in one step) complete a round trip: both rungs get
their original side back, rung k stays empty. An order the venue rejected as invalid
leaves its rung empty (re-listing it would fail the same way).

Before the first price the grid wants an empty target for its key: that claims the key,
and the gateway publishes market data for keys that have (or had) a target. After a
restart the grid resumes from its last published target (rungs and serial are read back
from the intent ids, anchor and step from the prices).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from setpoint.config import StrategyConfig
from setpoint.core.model import Side, TargetOrder, TargetState
from setpoint.core.numeric import ZERO

from .sdk import (
    Decision,
    Desired,
    IntentState,
    KeyState,
    View,
    param_decimal,
    param_int,
    round_price,
)

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Rung:
    side: Side
    intent_id: str


@dataclass(frozen=True, slots=True)
class GridState:
    """`rungs` maps rung index k to the order resting there; absent = empty rung."""

    anchor: Decimal | None = None
    step: Decimal = ZERO
    rungs: Mapping[int, Rung] = field(default_factory=lambda: MappingProxyType({}))
    serial: int = 0

    def price(self, level: int) -> Decimal:
        assert self.anchor is not None
        return self.anchor + self.step * level


class Grid:
    """The grid strategy kind (`kind = "grid"`); see the module docstring."""

    def symbols(self, config: StrategyConfig) -> tuple[str, ...]:
        return (config.symbol,)

    def initial(self, config: StrategyConfig) -> GridState:
        return GridState()

    def decide(self, state: GridState, view: View) -> Decision[GridState]:
        symbol = view.symbols[0]
        if state.anchor is None:
            started = _resume(view, symbol) or _start(view, symbol)
            if started is None:  # no price yet: claim the key with an empty target
                return Decision(state, MappingProxyType({symbol: Desired()}))
            state = started
        state = _replace_filled(state, view.key_state(symbol), view.name)
        return Decision(state, MappingProxyType({symbol: _desired(state, view)}))


def intent_id(name: str, level: int, serial: int) -> str:
    return f"{name}.L{level}.{serial}"


def _start(view: View, symbol: str) -> GridState | None:
    """A fresh grid around the current price; None while no price is known."""
    ticker = view.market.get(symbol)
    price = ticker.last if ticker else None
    if price is None and ticker and ticker.bid and ticker.ask:
        price = (ticker.bid + ticker.ask) / 2
    if price is None:
        return None
    anchor = round_price(view, symbol, price)
    tick = view.markets[symbol].tick if symbol in view.markets else Decimal("0.01")
    raw = anchor * param_decimal(view.params, "spacing_bps", "10") / _BPS
    step = max(tick, round_price(view, symbol, raw))
    serial = _epoch_serial(view.now)
    rungs: dict[int, Rung] = {}
    for k in range(1, param_int(view.params, "levels", 3) + 1):
        if anchor - step * k > 0:
            rungs[-k] = Rung(Side.BUY, intent_id(view.name, -k, serial))
            serial += 1
        rungs[k] = Rung(Side.SELL, intent_id(view.name, k, serial))
        serial += 1
    return GridState(anchor, step, MappingProxyType(rungs), serial)


def _epoch_serial(now: datetime) -> int:
    """Serials of a fresh grid start at the clock in ms, so they never meet an old grid's."""
    return int(now.timestamp() * 1000)


_ID = re.compile(r"\.L(-?\d+)\.(\d+)$")


def _resume(view: View, symbol: str) -> GridState | None:
    """The grid of the last published target, or None when there is none of ours."""
    previous = view.previous.get(symbol)
    if previous is None:
        return None
    parsed = _parse_orders(previous, view.name)
    if not parsed:
        return None
    (k1, p1), *rest = [(level, price) for level, (_, price) in parsed.items()]
    if rest:
        k2, p2 = rest[0]
        step = (p1 - p2) / (k1 - k2)
    else:
        step = round_price(
            view, symbol, p1 * param_decimal(view.params, "spacing_bps", "10") / _BPS
        )
    anchor = p1 - step * k1
    rungs = {level: rung for level, (rung, _) in parsed.items()}
    serial = 1 + max(_serial(rung.intent_id) for rung in rungs.values())
    return GridState(anchor, step, MappingProxyType(rungs), serial)


def _serial(intent: str) -> int:
    match = _ID.search(intent)
    return int(match.group(2)) if match else 0


def _parse_orders(target: TargetState, name: str) -> dict[int, tuple[Rung, Decimal]]:
    found: dict[int, tuple[Rung, Decimal]] = {}
    for order in target.orders:
        match = _ID.search(order.id)
        if match and order.id.startswith(f"{name}.") and order.price is not None:
            found[int(match.group(1))] = (Rung(order.side, order.id), order.price)
    return found


def _replace_filled(state: GridState, actual: KeyState, name: str) -> GridState:
    """Apply every consumed intent of the grid's rungs, oldest first (module docstring)."""
    done = [
        (level, actual.intents[rung.intent_id])
        for level, rung in state.rungs.items()
        if actual.consumed(rung.intent_id)
    ]
    if not done:
        return state
    done.sort(key=lambda item: (_when(item[1]), item[0]))
    rungs, serial = dict(state.rungs), state.serial
    fresh: dict[int, int] = {}  # rung -> the rung whose fill created it, this step
    for level, intent in done:
        del rungs[level]
        if not intent.complete:
            continue  # rejected: leave the rung empty
        serial = _flip(rungs, fresh, level, intent.side, name, serial)
    return replace(state, rungs=MappingProxyType(rungs), serial=serial)


def _when(intent: IntentState) -> datetime:
    assert intent.finished_at is not None
    return intent.finished_at


def _flip(
    rungs: dict[int, Rung], fresh: dict[int, int], level: int, side: Side, name: str, serial: int
) -> int:
    """Put the opposite of a filled `side` at `level` one rung further; returns the serial."""
    target = level + (1 if side is Side.BUY else -1)
    occupant = rungs.get(target)
    if occupant is None:
        rungs[target] = Rung(side.opposite, intent_id(name, target, serial))
        fresh[target] = level
        return serial + 1
    if target in fresh and occupant.side is side:
        origin = fresh.pop(target)  # a round trip: restore both rungs, leave `target` empty
        del rungs[target]
        rungs[origin] = Rung(side.opposite, intent_id(name, origin, serial))
        rungs[level] = Rung(side, intent_id(name, level, serial + 1))
        return serial + 2
    return serial  # an older order sits there: the rung stays as it is


def _desired(state: GridState, view: View) -> Desired:
    quantity = param_decimal(view.params, "quantity", "0.001")
    orders = tuple(
        TargetOrder(id=rung.intent_id, side=rung.side, price=state.price(level), quantity=quantity)
        for level, rung in sorted(state.rungs.items())
    )
    return Desired(orders=orders)
