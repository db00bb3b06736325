"""`riskview.RiskMemo`: the account's view and loss kept between decisions are what
`account_risk_view` and `account_loss` compute, after any folds, price updates and times
(property), and a named scenario of when the loss is read again."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from immutables import Map
from tests.unit.core.strategies import ev_position
from tests.unit.core.test_portfolio import MARKETS, fill
from tests.unit.core.test_portfolio_loss import PERP, at, timed, wallet

from setpoint.core.model import Key, MarketKind
from setpoint.core.projections import (
    ActualState,
    LossClock,
    PortfolioState,
    apply_actual,
    apply_portfolio,
)
from setpoint.core.risk import RiskLimits
from setpoint.core.riskview import RiskMemo, account_loss, account_risk_view
from setpoint.testing.synthetic import market, markets_loaded

D = Decimal
KEYS = (Key("demo", "BTC/USDT"), Key("demo", PERP), Key("other", "BTC/USDT"))
WINDOW = LossClock(window=timedelta(seconds=120))
LIMITS = (
    RiskLimits(max_gross_exposure=D(10**6), max_loss=D(100), loss_window=WINDOW.window),
    RiskLimits(max_gross_exposure=D(10**6), max_loss=D(100)),
    RiskLimits(max_gross_exposure=D(10**6)),
)

# One step: ("fill", key index, side, quantity, price), ("wallet", mark),
# ("position", quantity), ("price", key index, price), ("time", seconds forward, limits),
# ("markets", the perpetual's contract size).
STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("fill"),
            st.integers(0, 1),
            st.sampled_from(["buy", "sell"]),
            st.integers(1, 5),
            st.integers(55000, 65000),
        ),
        st.tuples(st.just("wallet"), st.integers(55000, 65000)),
        st.tuples(st.just("position"), st.integers(-5, 5)),
        st.tuples(st.just("price"), st.integers(0, 2), st.integers(55000, 65000)),
        st.tuples(st.just("time"), st.integers(0, 90), st.integers(0, len(LIMITS) - 1)),
        st.tuples(st.just("markets"), st.integers(1, 3)),
    ),
    max_size=40,
)


Step = tuple[Any, ...]


class _Run:
    """The projections of the demo account as the steps fold them, and the clock."""

    def __init__(self, clock: LossClock) -> None:
        self.actual = apply_actual(ActualState.empty(), 1, MARKETS)
        state = PortfolioState.empty(Map({"demo": clock}))
        self.portfolio = apply_portfolio(state, 1, MARKETS)
        self.prices: Map[Key, Decimal] = Map()
        self.seconds, self.position, self.trades = 0, 1, 0

    def fold(self, event: Any) -> None:
        self.position += 1
        self.actual = apply_actual(self.actual, self.position, event)
        self.portfolio = apply_portfolio(self.portfolio, self.position, event)

    def step(self, step: Step) -> None:
        what = step[0]
        if what == "fill":
            _, index, side, qty, price = step
            self.trades += 1
            event = fill(str(side), str(qty), str(price), trade=f"t{self.trades}",
                         key=KEYS[index])  # fmt: skip
            self.fold(event.model_copy(update={"occurred_at": at(self.seconds)}))
        elif what == "wallet":
            self.fold(wallet(at_s=self.seconds, mark=str(step[1])))
        elif what == "position":
            self.fold(ev_position(str(step[1]), KEYS[1]))
        elif what == "markets":
            size = D(step[1])
            perp = market(PERP, MarketKind.SWAP, contract_size=size)
            self.fold(markets_loaded("demo", market("BTC/USDT"), perp))
        elif what == "price":
            self.prices = self.prices.set(KEYS[step[1]], D(step[2]))
        else:
            self.seconds += step[1]


@given(STEPS, st.sampled_from([WINDOW, LossClock()]))
@example(  # a window that passes a kept mark with nothing folded meanwhile
    [("fill", 0, "buy", 1, 60000), ("time", 5, 0), ("wallet", 58000), ("time", 90, 0),
     ("time", 30, 0), ("time", 10, 0)],
    WINDOW,
)  # fmt: skip
@example(  # a position on the perpetual, then its contract size changes
    [("position", 2), ("time", 1, 0), ("markets", 3), ("time", 1, 0)], LossClock()
)
def test_the_kept_view_and_loss_are_what_is_computed_again(
    steps: list[Step], clock: LossClock
) -> None:
    run, memo = _Run(clock), RiskMemo()
    limits = LIMITS[0]
    for step in [*steps, ("time", 0, 0)]:
        run.step(step)
        if step[0] == "time":
            limits = LIMITS[step[2]]
        now = at(run.seconds)
        portfolio = run.portfolio.account("demo")
        kept = memo.view(run.actual, "demo", run.prices, limits, now, portfolio)
        built = account_risk_view(
            run.actual, "demo", run.prices, limits, now, portfolio=portfolio, loss=False
        )
        assert kept == built
        assert memo.loss("demo", portfolio, limits, now) == account_loss(portfolio, limits, now)


def test_a_window_loss_is_read_again_once_the_window_passes_a_kept_mark() -> None:
    run, memo = _Run(WINDOW), RiskMemo()
    limits = LIMITS[0]
    run.fold(timed(0, "buy", "1", "60000", trade="t1"))
    run.fold(wallet(at_s=10, mark="59000"))
    portfolio = run.portfolio.account("demo")
    # marks at 0 (equity 0) and 10 (-1000); the window's start passes them at 120 and 130
    assert portfolio.loss_holds(WINDOW, at(100)) == (None, at(120))
    assert portfolio.loss_holds(WINDOW, at(125)) == (at(120), at(130))
    assert portfolio.loss_holds(WINDOW, at(500)) == (at(130), None)
    assert portfolio.loss_holds(LossClock(), at(500)) == (None, None)
    for seconds, loss in ((100, 1000), (119, 1000), (120, 1000), (129, 1000), (130, 0)):
        assert memo.loss("demo", portfolio, limits, at(seconds)) == D(loss)
        assert account_loss(portfolio, limits, at(seconds)) == D(loss)
