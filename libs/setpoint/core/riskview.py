"""The account's facts the risk gates read, gathered from the projections (pure).

`account_risk_view(actual, account, prices)` builds the `risk.AccountRiskView` of one
account: every key's position (base units: quantity * contract size) and the price to value
it at (the last price the service knows for the key).

The seam for the venue's margin facts and the portfolio fold: `loss`, `margin_ratio`,
`available_margin` and `leverage` are None / empty here, so the loss limit and the margin
gate let everything pass until those facts exist. When the margin facts
(`MarginObserved`, or `BalanceObserved` / `PositionObserved` with wallet and margin fields)
and the portfolio fold (realised and unrealised PnL, equity) are in the log, fill them in
`_margin_facts` and `_loss` below, from the actual state and the fold, and nothing else
changes: the gates (`core.risk`) and their callers already read them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from setpoint.core.model import Key
from setpoint.core.projections import ActualState
from setpoint.core.risk import AccountRiskView, RiskLimits

__all__ = ["account_risk_view"]


def account_risk_view(
    actual: ActualState,
    account: str,
    prices: Mapping[Key, Decimal],
    limits: RiskLimits,
    now: datetime,
    sent: Sequence[datetime] = (),
) -> AccountRiskView:
    """The view of `account` for the gates (module docstring); `sent`: when the account's
    recent places, amends and cancels were sent (the executor's own record)."""
    markets = actual.markets(account)
    positions: dict[str, Decimal] = {}
    marks: dict[str, Decimal] = {}
    for key, ka in actual.keys.items():
        if key.account != account or key.symbol is None:
            continue
        market = markets.get(key.symbol)
        size = market.contract_size if market is not None else Decimal(1)
        positions[key.symbol] = ka.position * size
        price = prices.get(key)
        if price is not None:
            marks[key.symbol] = price
    ratio, available, leverage = _margin_facts(actual, account)
    return AccountRiskView(
        positions=positions,
        marks=marks,
        loss=_loss(actual, account, limits, now),
        margin_ratio=ratio,
        available_margin=available,
        leverage=leverage,
        sent=sent,
    )


def _margin_facts(
    actual: ActualState, account: str
) -> tuple[Decimal | None, Decimal | None, Mapping[str, Decimal]]:
    """SEAM (margin facts): the derivatives wallet's maintenance margin / margin balance,
    its available margin, and the leverage per symbol. Not in the log yet: unknown."""
    del actual, account
    return None, None, {}


def _loss(actual: ActualState, account: str, limits: RiskLimits, now: datetime) -> Decimal | None:
    """SEAM (portfolio fold): the account's loss over `limits.loss_window` before `now`, or
    since `limits.loss_reset_at` (realised + unrealised PnL, fees included; positive =
    lost). Not in the log yet: unknown."""
    del actual, account, limits, now
    return None
