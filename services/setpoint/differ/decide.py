"""One reconciliation decision for one key (pure): the kernel, plus when to record it.

`decide` runs the core kernel on the differ's projections: the effective target
(`core.effective`: OCO, expiry, liquidate-only), then the plan (`core.diff`: place, amend,
cancel, position orders, with in-flight expectations and risk limits). The result is the
`data` of a `DiffComputed`, plus a CamelCase `problem` when the key cannot be decided
properly (e.g. `MarketsNotLoaded`).

`should_append` says whether that decision is new. A plan is level-triggered: each
`DiffComputed` holds every action the key needs now, and the executor carries out the
latest one, skipping client order ids it has already submitted. An action of the last
decision is *outstanding* until the executor has acted on it (`OrderSubmitted` /
`CancelSubmitted` seen after that decision, for its client order id or, for an amend,
for the order it replaces: the executor cancels that one first). A decision is recorded when

* it has an action that is not outstanding (new work: a new intent, a new attempt, a
  changed price or quantity, or a cancel, plain or an amend's, the executor already
  tried and that is needed again: its answer was lost and reconciliation cleared it,
  docs/semantics.md §4); a plan that only repeats outstanding actions is the last decision
  being carried out, and recording it again would add one event per executed action; or
* it has no action and the generation, the converged flag or the risk reasons changed
  (so that "nothing to do for generation 8" and "converged" are on record once, and an
  idle key never writes).

`carries_out` says when an event needs no new decision: the executor's write-ahead
(`OrderSubmitted` / `CancelSubmitted`) of a plain place or cancel of the key's last
decision, caused by that decision, when the decision has no amend and no risk reason
(nothing refused, nothing left out). Deciding again then
finds the action in flight, which the kernel's in-flight expectations already count as
done, so the decision stands and nothing is recorded; the service only refreshes the
key's status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from immutables import Map

from setpoint.config import AccountConfig
from setpoint.core.diff import Plan, diff
from setpoint.core.effective import effective_target
from setpoint.core.events import (
    AccountMode,
    Action,
    ActionKind,
    CancelSubmitted,
    DiffComputedData,
    Event,
    OrderSubmitted,
    RiskReason,
)
from setpoint.core.model import Key
from setpoint.core.projections import AccountPortfolio, ActualState, IntentState
from setpoint.core.risk import NO_VIEW, AccountRiskView, loss_reached
from setpoint.core.riskview import RiskMemo, account_loss, account_risk_view
from setpoint.settings_core import risk_limits
from setpoint.venues.capabilities import id_scheme

_NO_PRICES: Mapping[Key, Decimal] = Map()

EXCLUSION_RULES = frozenset({"oco", "expired", "liquidate_only", "flatten", "retry_backoff"})
"""Rules of the effective target: orders left out by design, not refused by a limit."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One decision: the `DiffComputed` data, the actions a risk limit refused (each to be
    recorded as `RiskRejected`), the kernel's plan (pass it back as `previous` for an
    incremental diff), a CamelCase problem, if any, and when a retry backoff of the key
    ends (`wake_at`: decide the key again then; no event marks it), and `liquidate` when a
    loss limit puts the account in liquidate-only (the service records the mode change)."""

    data: DiffComputedData
    refused: tuple[RiskReason, ...] = ()
    plan: Plan | None = None
    problem: str | None = None
    wake_at: datetime | None = None
    liquidate: RiskReason | None = None
    """The account is to go liquidate-only by itself (``max_loss``): the reason."""


def should_append(
    new: DiffComputedData, last: DiffComputedData | None, acted: AbstractSet[str] = frozenset()
) -> bool:
    """True when `new` must be recorded (module docstring). `acted`: client order ids the
    executor has acted on since `last` was recorded."""
    if last is None:
        return True
    if new.actions:
        outstanding = {a for a in last.actions if not _acted_on(a, acted)}
        return not outstanding.issuperset(new.actions)
    return (new.generation, new.converged, new.risk) != (last.generation, last.converged, last.risk)


def carries_out(event: Event, last: DiffComputedData | None, last_id: str | None) -> bool:
    """True when `event` is the executor carrying out a plain place or cancel of the last
    decision `last` (event id `last_id`), a plan without amends and without risk reasons
    (module docstring)."""
    if last is None or last.risk or not isinstance(event, OrderSubmitted | CancelSubmitted):
        return False
    if event.causation_id is None or event.causation_id != last_id:
        return False
    coid = event.data.client_order_id
    found = False
    for action in last.actions:
        if action.kind is ActionKind.AMEND or action.replaces is not None:
            return False
        found = found or action.client_order_id == coid
    return found


def _acted_on(action: Action, acted: AbstractSet[str]) -> bool:
    """The executor acted on `action`: it wrote its client order id ahead, or, for an
    amend, the cancel of the order it replaces (the amend's new order waits for that
    cancel's answer; when the answer never comes, only that `CancelSubmitted` is there)."""
    return action.client_order_id in acted or (
        action.replaces is not None and action.replaces in acted
    )


def decide(
    intent: IntentState,
    actual: ActualState,
    key: Key,
    account: AccountConfig,
    now: datetime,
    *,
    last_price: Decimal | None = None,
    previous: Plan | None = None,
    prices: Mapping[Key, Decimal] | None = None,
    portfolio: AccountPortfolio | None = None,
    memo: RiskMemo | None = None,
) -> Outcome:
    """The decision for `key` now. A key whose market is unknown gets no action. `prices`:
    the last price of every key the service knows, for the account's exposure gates;
    `portfolio`: the account's figures (margin facts, loss) for the margin and loss gates;
    `memo`: the service's `riskview.RiskMemo`, to read the account's view and loss from
    while they stand (then `prices` must be replaced, never changed in place)."""
    accepted = intent.target(key)
    market = actual.market(key)
    if market is None:
        problem = "UnknownSymbol" if len(actual.markets(key.account)) else "MarketsNotLoaded"
        data = DiffComputedData(
            generation=None if accepted is None else accepted.generation,
            target_event_id=None if accepted is None else accepted.event_id,
        )
        return Outcome(data, problem=problem)
    key_actual = actual.key(key)
    effective = effective_target(accepted, key_actual, actual.account(key.account), now, key)
    limits = risk_limits(account)
    view: AccountRiskView | Callable[[], AccountRiskView] = NO_VIEW
    if limits.exposure:  # built only when the plan places or amends (`risk.screen`)

        def view() -> AccountRiskView:
            if memo is not None:
                return memo.view(actual, key.account, prices or _NO_PRICES, limits, now, portfolio)
            return account_risk_view(
                actual, key.account, prices or {}, limits, now, portfolio=portfolio, loss=False
            )

    plan = diff(
        effective,
        key_actual,
        market,
        last_price=last_price,
        ioc_band_bps=account.ioc_band_bps,
        limits=limits,
        previous=previous,
        view=view,
        ids=id_scheme(account.exchange),
    )
    data = plan.data()
    if effective.reasons:
        data = data.model_copy(update={"risk": effective.reasons + plan.risk})
    liquidate = None
    if limits.max_loss is not None and actual.mode(key.account) is AccountMode.NORMAL:
        if memo is None:
            loss = account_loss(portfolio, limits, now)
        else:
            loss = memo.loss(key.account, portfolio, limits, now)
        liquidate = loss_reached(loss, limits)
    return Outcome(
        data, refused=plan.risk, plan=plan, wake_at=effective.wake_at, liquidate=liquidate
    )
