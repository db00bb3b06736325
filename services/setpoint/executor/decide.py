"""Whether the executor carries out one action, skips it, or refuses it (pure).

The last line of defence before the venue:

* **skip** what was already done: a place whose client order id was already submitted
  (by this executor before a crash, or by another executor that won the race; also
  known by its intent's highest attempt, once the closed order is purged), a place of an
  intent the projection holds no progress of that the key's newest target no longer
  lists (a plan older than that target; its progress may have been forgotten,
  `projections.purge`), a cancel of an order known to be closed. This is what makes
  re-reading the log harmless.
* **refuse** (RiskRejected) what breaks a rule: in `liquidate_only` mode a place that does
  not reduce the position, counted with every reducing order already working for the key
  (`core.risk.reduces`); an order above the account's maximum notional; more open orders
  for the key than allowed; a price outside the band around the last price; the order
  rate, the exposure and margin gates and the loss limit (`core.risk`, over the account's
  `AccountRiskView`; a loss limit reached refuses what does not reduce until the differ's
  mode change is folded).
* otherwise **execute**.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from setpoint.config import AccountConfig
from setpoint.core.events import Action, ActionKind, RiskReason
from setpoint.core.model import Key
from setpoint.core.projections import ActualState
from setpoint.core.projections.orders import position_generation
from setpoint.core.risk import (
    NO_VIEW,
    AccountRiskView,
    KeyBook,
    check_action,
    check_exposure,
    check_rate,
    loss_breached,
    reduces,
)
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
    view: AccountRiskView = NO_VIEW,
    now: datetime | None = None,
) -> Decision:
    """The decision for `action` given what the log says (see the module docstring).
    `view`: the account's facts for the exposure, margin, loss and rate gates; `now`: the
    moment the rate gate counts back from (None: no rate gate)."""
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
    return _risk(action, key, actual, account, last_price, view, now)


def _attempt_taken(action: Action, key: Key, actual: ActualState) -> bool:
    """The intent already had this attempt (or a later one) submitted: true also once the
    order has closed and been purged from the projection (`projections.purge`), while the
    intent's progress is kept; and for an intent without progress that the key's newest
    target no longer lists (a position intent: of an older generation), whose progress
    the purge may have forgotten: a plan made before that target."""
    iid = action.intent_id
    if iid is None or action.attempt is None:
        return False
    ka = actual.key(key)
    progress = ka.intents.get(iid)
    if progress is not None:
        return progress.attempt >= action.attempt
    if not ka.generation:
        return False  # no target folded for the key: nothing to tell
    generation = position_generation(iid)
    if generation is not None:
        return generation < ka.generation
    return iid not in ka.listed


def _risk(
    action: Action,
    key: Key,
    actual: ActualState,
    account: AccountConfig,
    last_price: Decimal | None,
    view: AccountRiskView,
    now: datetime | None,
) -> Decision:
    market = actual.market(key)
    limits = risk_limits(account)
    liquidating = actual.mode(key.account).liquidating
    book, reducing = KeyBook(), False
    if liquidating or limits.exposure or limits.max_loss is not None:
        book = working_book(actual, key, action)
        size = market.contract_size if market is not None else Decimal(1)
        reducing = (
            action.side is not None
            and action.quantity is not None
            and reduces(action.side, action.quantity * size, book)
        )
    if liquidating and not reducing:
        detail = f"the account only reduces positions; {_book_text(book)}"
        return Decision(Verdict.REFUSE, "liquidate_only", detail)
    reason: RiskReason | None = check_action(action, limits, last_price, market)
    if reason is None and now is not None:
        reason = check_rate(action, view.sent, now, limits)
    if reason is None and not reducing:
        reason = loss_breached(view, limits)
    if reason is None and limits.exposure and key.symbol is not None:
        reason = check_exposure(action, key.symbol, book, view, limits, market)
    if reason is not None:
        return Decision(Verdict.REFUSE, reason.rule, reason.detail)
    max_open = account.max_open_orders_per_key
    in_place = action.kind is ActionKind.AMEND  # a native amend adds no order
    if max_open is not None and len(actual.live_orders(key)) - in_place >= max_open:
        return Decision(Verdict.REFUSE, "max_open_orders", f"{max_open} already open")
    return EXECUTE


def reduces_position(action: Action, position: Decimal) -> bool:
    """True when filling `action` completely, alone, brings the position closer to zero."""
    if action.side is None or action.quantity is None:
        return False
    return reduces(action.side, action.quantity, KeyBook(position))


def working_book(actual: ActualState, key: Key, action: Action) -> KeyBook:
    """The key's position and the remaining quantity of its live orders by side (base
    units), without `action`'s own order, the order it replaces and orders being
    cancelled: the projection's working totals (`KeyActual.buying`, `selling`) less those
    two orders, in constant time."""
    market = actual.market(key)
    size = market.contract_size if market is not None else Decimal(1)
    ka = actual.key(key)
    buying, selling = ka.buying, ka.selling
    for ref in {action.client_order_id, action.replaces}:
        order = ka.orders.get(ref) if ref is not None and ref in ka.live else None
        if order is None or order.pending == "cancel":
            continue
        if order.side.sign > 0:
            buying -= order.remaining
        else:
            selling -= order.remaining
    return KeyBook(ka.position * size, buying * size, selling * size)


def _book_text(book: KeyBook) -> str:
    return f"position {book.position}, working buys {book.buying}, sells {book.selling}"
