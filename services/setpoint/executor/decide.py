"""Whether the executor carries out one action, skips it, or refuses it (pure).

The last line of defence before the venue:

* **skip** what was already done: a place whose client order id was already submitted
  (by this executor before a crash, or by another executor that won the race; also
  known by its intent's highest attempt, once the closed order is purged), a cancel
  of an order known to be closed. This is what makes re-reading the log harmless.
* **refuse** (RiskRejected) what breaks a rule: in `liquidate_only` mode a place that does
  not reduce the position; an order above the account's maximum notional; more open
  orders for the key than allowed; a price outside the band around the last price.
* otherwise **execute**.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from setpoint.config import AccountConfig
from setpoint.core.events import AccountMode, Action, ActionKind
from setpoint.core.model import Key
from setpoint.core.projections import ActualState
from setpoint.core.risk import check_action
from setpoint.settings_core import risk_limits


class Verdict(StrEnum):
    EXECUTE = "execute"
    SKIP = "skip"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Seen:
    """What this process appended but may not have folded yet (the projection only moves
    forward in log order, so the executor's own appends are remembered here until the
    log subscription brings them back)."""

    submitted: AbstractSet[str] = frozenset()


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
        record = actual.order(key, action.client_order_id)
        if record is None and action.order_id is not None:
            record = actual.order_by_venue_id(key, action.order_id)
        if record is not None and not record.is_open:
            return Decision(Verdict.SKIP, detail="already closed")
        return EXECUTE
    if action.client_order_id in seen.submitted or actual.order(key, action.client_order_id):
        return Decision(Verdict.SKIP, detail="already submitted")
    if _attempt_taken(action, key, actual):
        return Decision(Verdict.SKIP, detail="already submitted")
    return _risk(action, key, actual, account, last_price)


def _attempt_taken(action: Action, key: Key, actual: ActualState) -> bool:
    """The intent already had this attempt (or a later one) submitted: true also once the
    order has closed and been purged from the projection (`projections.purge`), whose
    intent progress is kept."""
    if action.intent_id is None or action.attempt is None:
        return False
    return actual.last_attempt(key, action.intent_id) >= action.attempt


def _risk(
    action: Action,
    key: Key,
    actual: ActualState,
    account: AccountConfig,
    last_price: Decimal | None,
) -> Decision:
    mode = actual.mode(key.account)
    if mode is AccountMode.LIQUIDATE_ONLY and not reduces_position(action, actual.position_of(key)):
        return Decision(Verdict.REFUSE, "liquidate_only", "the account only reduces positions")
    reason = check_action(action, risk_limits(account), last_price, actual.market(key))
    if reason is not None:
        return Decision(Verdict.REFUSE, reason.rule, reason.detail)
    max_open = account.max_open_orders_per_key
    if max_open is not None and len(actual.live_orders(key)) >= max_open:
        return Decision(Verdict.REFUSE, "max_open_orders", f"{max_open} already open")
    return EXECUTE


def reduces_position(action: Action, position: Decimal) -> bool:
    """True when filling `action` completely brings the position closer to zero."""
    if action.side is None or action.quantity is None or position == 0:
        return False
    opposite = (position > 0) != (action.side.sign > 0)
    return opposite and action.quantity <= abs(position)
