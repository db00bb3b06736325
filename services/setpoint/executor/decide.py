"""Whether the executor carries out one action, skips it, or refuses it (pure).

The last line of defence before the venue:

* **skip** what was already done: a place whose client order id was already submitted
  (by this executor before a crash, or by another executor that won the race), a cancel
  of an order known to be closed. This is what makes re-reading the log harmless.
* **refuse** (RiskRejected) what breaks a rule: in `liquidate_only` mode a place that does
  not reduce the position; an order above the account's maximum notional; more open
  orders for the key than allowed; a price outside the band around the last price.
* otherwise **execute**.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from setpoint.config import AccountConfig
from setpoint.core.events import AccountMode, Action, ActionKind
from setpoint.core.model import Key, MarketInfo
from setpoint.core.projections import ActualState


class Verdict(StrEnum):
    EXECUTE = "execute"
    SKIP = "skip"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Seen:
    """What this process appended but may not have folded yet (the projection only moves
    forward in log order, so the executor's own appends are remembered here until the
    log subscription brings them back)."""

    submitted: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    rule: str = ""
    detail: str = ""


EXECUTE = Decision(Verdict.EXECUTE)


def decide(
    action: Action,
    key: Key,
    actual: ActualState,
    account: AccountConfig,
    seen: Seen = Seen(),
    last_price: Decimal | None = None,
) -> Decision:
    """The decision for `action` given what the log says (see the module docstring)."""
    if action.kind is ActionKind.CANCEL:
        record = actual.order(action.client_order_id)
        if record is None and action.order_id is not None:
            record = actual.order_by_venue_id(key, action.order_id)
        if record is not None and not record.is_open:
            return Decision(Verdict.SKIP, detail="already closed")
        return EXECUTE
    if action.client_order_id in seen.submitted or actual.order(action.client_order_id):
        return Decision(Verdict.SKIP, detail="already submitted")
    return _risk(action, key, actual, account, last_price)


def _risk(
    action: Action,
    key: Key,
    actual: ActualState,
    account: AccountConfig,
    last_price: Decimal | None,
) -> Decision:
    mode = actual.mode(key.account)
    if mode is AccountMode.LIQUIDATE_ONLY and not reduces_position(
        action, actual.position_of(key)
    ):
        return Decision(Verdict.REFUSE, "liquidate_only", "the account only reduces positions")
    notional = _notional(action, actual.market(key), last_price)
    limit = account.max_order_notional
    if limit is not None and notional is not None and notional > limit:
        return Decision(Verdict.REFUSE, "max_order_notional", f"{notional} > {limit}")
    max_open = account.max_open_orders_per_key
    if max_open is not None and len(actual.live_orders(key)) >= max_open:
        return Decision(Verdict.REFUSE, "max_open_orders_per_key", f"{max_open} already open")
    return _band(action, account.price_band_bps, last_price)


def reduces_position(action: Action, position: Decimal) -> bool:
    """True when filling `action` completely brings the position closer to zero."""
    if action.side is None or action.quantity is None or position == 0:
        return False
    opposite = (position > 0) != (action.side.sign > 0)
    return opposite and action.quantity <= abs(position)


def _notional(action: Action, market: MarketInfo | None, last: Decimal | None) -> Decimal | None:
    price = action.price or last
    if price is None or action.quantity is None:
        return None
    size = market.contract_size if market is not None else Decimal(1)
    return price * action.quantity * size


def _band(action: Action, band_bps: int | None, last: Decimal | None) -> Decision:
    if band_bps is None or last is None or action.price is None:
        return EXECUTE
    distance = abs(action.price - last) / last * Decimal(10_000)
    if distance > band_bps:
        return Decision(Verdict.REFUSE, "price_band", f"{action.price} is {distance:.1f} bps off")
    return EXECUTE
