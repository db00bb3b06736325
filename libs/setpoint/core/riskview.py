"""The account's facts the risk gates read, gathered from the projections (pure).

`account_risk_view(actual, account, prices, limits, now, sent, portfolio)` builds the
`risk.AccountRiskView` of one account:

* every key's position (base units: quantity * contract size) and the price to value it
  at: the last price the service knows for the key, else the venue's mark from the last
  `MarginObserved`;
* from the portfolio fold (`projections.portfolio`, the `AccountPortfolio` of the account;
  None: the figures below stay unknown and their gates let everything pass):
  the futures wallet's margin ratio (maintenance margin / margin balance) and available
  margin, and each derivative position's leverage, from the last `MarginObserved`; and
  the account's loss over `limits.loss_window` before `now`, or since
  `limits.loss_reset_at`, or since the log began (`AccountPortfolio.loss_since`: equity
  then - equity now, realised and unrealised PnL, fees included).

The differ and the executor both fold the whole log into the same projections, so for the
same log and the same `now` they build the same view.

`RiskMemo` keeps, per account, the last view built and the last loss read, and gives them
back while their inputs are the same values (the actual projection's keys and accounts,
the price map, the portfolio figures: the projections are immutable, so the same object
is the same facts; for the loss, also while `now` stays in the span over which the loss
cannot change). What it gives is always what `account_risk_view` / `account_loss` would
compute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from immutables import Map

from setpoint.core.model import Key
from setpoint.core.projections import (
    AccountActual,
    AccountPortfolio,
    ActualState,
    KeyActual,
    LossClock,
)
from setpoint.core.risk import AccountRiskView, RiskLimits

__all__ = ["RiskMemo", "account_loss", "account_risk_view"]


def account_risk_view(
    actual: ActualState,
    account: str,
    prices: Mapping[Key, Decimal],
    limits: RiskLimits,
    now: datetime,
    sent: Sequence[datetime] = (),
    portfolio: AccountPortfolio | None = None,
    *,
    loss: bool = True,
) -> AccountRiskView:
    """The view of `account` for the gates (module docstring); `sent`: when the account's
    recent places, amends and cancels were sent (the executor's own record); `portfolio`:
    the account's figures from the portfolio fold; `loss=False`: leave the loss unknown
    (for the plan's gates, which do not read it)."""
    markets = actual.markets(account)
    positions: dict[str, Decimal] = {}
    marks = _venue_marks(portfolio)
    for key, ka in actual.keys.items():
        if key.account != account or key.symbol is None:
            continue
        market = markets.get(key.symbol)
        size = market.contract_size if market is not None else Decimal(1)
        positions[key.symbol] = ka.position * size
        price = prices.get(key)
        if price is not None:
            marks[key.symbol] = price
    ratio, available, leverage = _margin_facts(portfolio)
    return AccountRiskView(
        positions=positions,
        marks=marks,
        loss=account_loss(portfolio, limits, now) if loss else None,
        margin_ratio=ratio,
        available_margin=available,
        leverage=leverage,
        sent=sent,
    )


def _venue_marks(portfolio: AccountPortfolio | None) -> dict[str, Decimal]:
    """The venue's marks of the last `MarginObserved` (its positions' over its prices)."""
    margin = None if portfolio is None else portfolio.margin
    if margin is None:
        return {}
    marks = {m.symbol: m.price for m in margin.marks}
    return marks | {p.symbol: p.mark_price for p in margin.positions if p.mark_price}


def _margin_facts(
    portfolio: AccountPortfolio | None,
) -> tuple[Decimal | None, Decimal | None, Mapping[str, Decimal]]:
    """The futures wallet's maintenance margin / margin balance, its available margin, and
    the leverage per symbol (positions that name one); unknown without a `MarginObserved`."""
    margin = None if portfolio is None else portfolio.margin
    if portfolio is None or margin is None:
        return None, None, {}
    leverage = {p.symbol: Decimal(p.leverage) for p in margin.positions if p.leverage}
    return portfolio.margin_ratio, portfolio.available_margin, leverage


def account_loss(
    portfolio: AccountPortfolio | None, limits: RiskLimits, now: datetime
) -> Decimal | None:
    """The account's loss for the ``max_loss`` limit (module docstring: the view's `loss`,
    without building the rest of the view); None without a limit or a portfolio."""
    if portfolio is None or limits.max_loss is None:
        return None
    clock = LossClock(limits.loss_window, limits.loss_reset_at)
    return portfolio.loss_since(clock, now)


class _KeptView(NamedTuple):
    keys: Map[Key, KeyActual]
    accounts: Map[str, AccountActual]
    prices: Mapping[Key, Decimal]
    portfolio: AccountPortfolio | None
    view: AccountRiskView


class _KeptLoss(NamedTuple):
    portfolio: AccountPortfolio | None
    limits: RiskLimits
    start: datetime | None
    end: datetime | None
    loss: Decimal | None


class RiskMemo:
    """The account's view and loss kept between decisions (module docstring). Not shared
    between threads; one per service (its projections, its prices)."""

    __slots__ = ("_losses", "_views")

    def __init__(self) -> None:
        self._views: dict[str, _KeptView] = {}
        self._losses: dict[str, _KeptLoss] = {}

    def view(
        self,
        actual: ActualState,
        account: str,
        prices: Mapping[Key, Decimal],
        limits: RiskLimits,
        now: datetime,
        portfolio: AccountPortfolio | None,
    ) -> AccountRiskView:
        """`account_risk_view(..., portfolio=portfolio, loss=False)`, built again only
        when `actual`'s keys or accounts (all the view reads of it; events that change
        neither, such as targets and decisions, keep them) or `prices` are other objects
        than last time or `portfolio` another value (`PortfolioState.account` makes a new
        one for an account it lacks). `prices` must not be changed in place (replace it:
        an immutable map)."""
        kept = self._views.get(account)
        if (
            kept is not None
            and kept.keys is actual.keys
            and kept.accounts is actual.accounts
            and kept.prices is prices
            and _same(kept.portfolio, portfolio)
        ):
            return kept.view
        view = account_risk_view(
            actual, account, prices, limits, now, portfolio=portfolio, loss=False
        )
        self._views[account] = _KeptView(actual.keys, actual.accounts, prices, portfolio, view)
        return view

    def loss(
        self, account: str, portfolio: AccountPortfolio | None, limits: RiskLimits, now: datetime
    ) -> Decimal | None:
        """`account_loss(portfolio, limits, now)`, read again only when `portfolio` is
        another value, `limits` another object, or `now` left the span the last loss holds over."""
        kept = self._losses.get(account)
        if kept is not None and kept.limits is limits:
            start, end, figures = kept.start, kept.end, kept.portfolio
            if (
                (figures is portfolio or figures == portfolio)
                and (start is None or start <= now)
                and (end is None or now < end)
            ):
                return kept.loss
        loss = account_loss(portfolio, limits, now)
        start = end = None
        if loss is not None and portfolio is not None:
            clock = LossClock(limits.loss_window, limits.loss_reset_at)
            start, end = portfolio.loss_holds(clock, now)
        self._losses[account] = _KeptLoss(portfolio, limits, start, end, loss)
        return loss


def _same(kept: AccountPortfolio | None, now: AccountPortfolio | None) -> bool:
    """The same portfolio figures (the same object, or an equal one)."""
    return kept is now or kept == now
