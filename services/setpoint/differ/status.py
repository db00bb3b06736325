"""Per-key status (bus.messages.KeyStatus) from what the differ knows (pure).

Condition, first that applies:

* `degraded`: the key cannot be decided or acted on as asked. Reasons: `DecisionFailed`
  (the last attempt to decide or record raised; retried with backoff), `MarketsNotLoaded`,
  `UnknownSymbol`, `RiskRejected` (the last plan left actions out for a risk limit; orders
  left out by OCO, expiry or liquidate-only are not a problem), `RetryBackoff` (the venue
  rejected an order non-terminally, e.g. insufficient funds or no gateway answering: it is
  placed again after a backoff of 1 s, 2 s, 4 s, … up to 60 s).
* `unverified`: what the log says of the key has not been checked against the venue since
  this differ started. Reasons: `NotReconciled` (the key had a target before the differ
  started and no successful reconciliation of it is recent enough: none at or after the
  differ's start minus the account's `reconcile_interval_s`, so the gateway's startup
  reconciliation counts, the last run's does not), `OrdersNotFound` (the venue did not
  show an open order of the key at the last reading; the ghost rule closes it after
  `not_found_retries` readings, or a later reading finds it). The reasons of the
  condition it would otherwise have follow.
* `converged`: the last decision needed no action and no order of the key has an action
  in flight.
* `drifting`: anything else. Reasons: `ActionsPlanned` (the last decision has actions),
  `OrdersInFlight` (orders submitted or cancels sent, no venue answer yet), `NotDecided`
  (no decision yet), `NotConverged` (no action possible, target not reached).

`TargetExpired` and `LiquidateOnly` are added to any condition as notes.

`open_orders_target` counts the target's intents not yet consumed (a filled order is no
longer wanted); `open_orders_venue` the key's live orders the venue acknowledged.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from setpoint.bus.messages import Condition, KeyStatus
from setpoint.core.events import AccountMode, DiffComputedData
from setpoint.core.model import Key, MarketInfo, TargetState
from setpoint.core.projections import (
    AcceptedTarget,
    AccountPortfolio,
    KeyActual,
    KeyPortfolio,
    PortfolioState,
)
from setpoint.core.projections.actual import ReconcileSummary
from setpoint.differ.decide import EXCLUSION_RULES


def key_status(
    key: Key,
    accepted: AcceptedTarget | None,
    decision: DiffComputedData | None,
    actual: KeyActual,
    *,
    mode: AccountMode,
    problem: str | None,
    last_reconciliation: datetime | None,
    now: datetime,
    unverified: tuple[str, ...] = (),
    market: MarketInfo | None = None,
) -> KeyStatus:
    """The status of `key`. `problem` is a CamelCase reason that makes it degraded;
    `unverified` the reasons it is unverified (`unverified_reasons`); `market` gives the
    tick and step the views show prices and quantities at."""
    condition, reasons = _condition(decision, actual, problem)
    if unverified and condition is not Condition.DEGRADED:
        condition, reasons = Condition.UNVERIFIED, [*unverified, *reasons]
    target = None if accepted is None else accepted.target
    if target is not None and target.expires_at is not None and target.expires_at <= now:
        reasons.append("TargetExpired")
    if mode is AccountMode.LIQUIDATE_ONLY:
        reasons.append("LiquidateOnly")
    elif mode.flattening:
        reasons.append("Flattening")
    return KeyStatus(
        account=key.account,
        symbol=key.symbol or "",
        generation=None if accepted is None else accepted.generation,
        condition=condition,
        reasons=tuple(reasons),
        open_orders_target=_wanted(target, actual),
        open_orders_venue=_acknowledged(actual),
        position_target=None if target is None else target.position,
        position_actual=actual.position,
        last_reconciliation=last_reconciliation,
        updated_at=now,
        tick=None if market is None else market.tick,
        step=None if market is None else market.step,
    )


def unverified_reasons(
    actual: KeyActual,
    last: ReconcileSummary | None,
    *,
    inherited: bool,
    not_before: datetime,
) -> tuple[str, ...]:
    """Why the key is `unverified` (module docstring); empty when it is verified.
    `inherited`: the key had a target when the differ started; `not_before`: the differ's
    start minus the account's reconciliation interval."""
    reasons: list[str] = []
    fresh = last is not None and last.data.ok and last.occurred_at >= not_before
    if inherited and not fresh:
        reasons.append("NotReconciled")
    orders = actual.orders
    refs = cast("Iterable[str]", actual.live.keys())
    if any((o := orders.get(ref)) is not None and o.not_found > 0 for ref in refs):
        reasons.append("OrdersNotFound")
    return tuple(reasons)


def _condition(
    decision: DiffComputedData | None, actual: KeyActual, problem: str | None
) -> tuple[Condition, list[str]]:
    if problem is not None:
        return Condition.DEGRADED, [problem]
    if decision is not None and any(r.rule not in EXCLUSION_RULES for r in decision.risk):
        return Condition.DEGRADED, ["RiskRejected"]
    if decision is not None and any(r.rule == "retry_backoff" for r in decision.risk):
        return Condition.DEGRADED, ["RetryBackoff"]
    reasons = []
    if decision is None:
        reasons.append("NotDecided")
    elif decision.actions:
        reasons.append("ActionsPlanned")
    if len(actual.pending):
        reasons.append("OrdersInFlight")
    if not reasons and decision is not None and decision.converged:
        return Condition.CONVERGED, []
    return Condition.DRIFTING, reasons or ["NotConverged"]


def _wanted(target: TargetState | None, actual: KeyActual) -> int:
    """The target's orders still wanted: a consumed intent (e.g. fully filled) is not
    placed again, so it does not count as an order the venue should show."""
    if target is None:
        return 0
    return len([o for o in target.orders if not actual.progress(o.id).consumed])


def _acknowledged(actual: KeyActual) -> int:
    """Open orders the venue has acknowledged (in-flight submissions not counted)."""
    orders = actual.orders
    refs = cast("Iterable[str]", actual.live.keys())
    return len([ref for ref in refs if (o := orders.get(ref)) is not None and o.status is not None])


_COMPARED = operator.itemgetter(*(f for f in KeyStatus.model_fields if f != "updated_at"))


def same_status(a: KeyStatus | None, b: KeyStatus) -> bool:
    """True when nothing but `updated_at` differs (no need to publish again). Compares the
    fields' values directly: it runs after every decision."""
    return a is not None and _COMPARED(a.__dict__) == _COMPARED(b.__dict__)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize() + 0, "f")


def _key_pnl(symbol: str, key: KeyPortfolio) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "position": _text(key.position),
        "entry_price": _text(key.entry_price),
        "mark": _text(key.mark),
        "realized_pnl": _text(key.realized_pnl),
        "unrealized_pnl": _text(key.unrealized_pnl),
        "equity": _text(key.equity),
        "peak_equity": _text(key.peak_equity),
        "drawdown": _text(key.drawdown),
        "fees": _text(key.fees),
    }


def _account_pnl(account: AccountPortfolio) -> dict[str, Any]:
    margin = account.margin
    ratio = account.margin_ratio
    return {
        "account": account.account,
        "realized_pnl": _text(account.realized_pnl),
        "unrealized_pnl": _text(account.unrealized_pnl),
        "equity": _text(account.equity),
        "peak_equity": _text(account.peak_equity),
        "drawdown": _text(account.drawdown),
        "fees": _text(account.fees),
        "margin_balance": None if margin is None else _text(margin.margin_balance),
        "maintenance_margin": None if margin is None else _text(margin.maintenance_margin),
        "available_margin": None if margin is None else _text(margin.available_margin),
        "margin_ratio": None if ratio is None or not ratio.is_finite() else _text(ratio),
        "updated_at": None if account.updated_at is None else account.updated_at.isoformat(),
    }


def portfolio_status(portfolio: PortfolioState) -> list[dict[str, Any]]:
    """Per account (sorted): its PnL figures, futures wallet and, per key, its own (JSON
    values; amounts as decimal strings). The `portfolio` of the status answer."""
    out = []
    for name in sorted(portfolio.accounts):
        keys = [
            _key_pnl(key.symbol or "", portfolio.key(key)) for key in portfolio.account_keys(name)
        ]
        out.append(_account_pnl(portfolio.account(name)) | {"keys": keys})
    return out
