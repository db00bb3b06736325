"""The account's loss for the ``max_loss`` limit (`AccountPortfolio.loss_since`, the loss
marks of the portfolio fold) and the risk view built from the portfolio: named scenarios
and properties. Every time is an event time (or the `now` handed in), never the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from immutables import Map
from tests.unit.core.test_portfolio import MARKETS, fill

from setpoint.core.events import MarginObserved, MarginObservedData, MarginPosition, SymbolMark
from setpoint.core.model import Key, Producer
from setpoint.core.projections import ActualState, LossClock, PortfolioState, apply_portfolio
from setpoint.core.projections.portfolio import SLOTS
from setpoint.core.risk import RiskLimits, loss_breached
from setpoint.core.riskview import account_risk_view

D = Decimal
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PERP = "BTC/USDT:USDT"


def at(seconds: float) -> datetime:  # float-ok: test times
    return T0 + timedelta(seconds=seconds)


def wallet(
    *, at_s: float, mark: str = "60000", available: str = "900", maintenance: str = "10"
) -> MarginObserved:  # float-ok
    data = MarginObservedData(
        asset="USDT", wallet_balance=D(1000), margin_balance=D(1000), unrealized_pnl=D(0),
        initial_margin=D(100), maintenance_margin=D(maintenance),
        available_margin=D(available), marks=(SymbolMark(symbol="BTC/USDT", price=D(mark)),),
        positions=(MarginPosition(symbol=PERP, quantity=D(-1), mark_price=D(60000), leverage=5),),
    )  # fmt: skip
    event = MarginObserved.create(Key("demo", None), Producer.GATEWAY, data)
    return event.model_copy(update={"occurred_at": at(at_s)})


def timed(event_at: float, *args: str, trade: str) -> object:  # float-ok
    side, qty, price = args
    return fill(side, qty, price, trade=trade).model_copy(update={"occurred_at": at(event_at)})


def fold(clock: LossClock, *events: object) -> PortfolioState:
    state = PortfolioState.empty(Map({"demo": clock}))
    for event in (MARKETS, *events):
        state = apply_portfolio(state, state.position + 1, event)  # type: ignore[arg-type]
    return state


def spot_loss_run() -> tuple[object, ...]:
    """Buy 1 at 60000 at t=0; marks 59000 at t=100, 58000 at t=200, 58500 at t=300."""
    return (
        timed(0, "buy", "1", "60000", trade="t1"),
        wallet(at_s=100, mark="59000"),
        wallet(at_s=200, mark="58000"),
        wallet(at_s=300, mark="58500"),
    )


# --------------------------------------------------------------------------- scenarios


def test_without_a_window_or_reset_the_loss_counts_since_the_log_began() -> None:
    account = fold(LossClock(), *spot_loss_run()).account("demo")
    assert account.loss_since(LossClock(), at(400)) == D(1500)
    assert account.marks == ()
    assert account.reset_equity is None


def test_a_window_counts_from_the_equity_at_its_start() -> None:
    clock = LossClock(window=timedelta(seconds=150))
    account = fold(clock, *spot_loss_run()).account("demo")
    # at 400 the window starts at 250: equity then was that of t=200 (-2000); now -1500
    assert account.loss_since(clock, at(400)) == D(-500)
    # at 320 the window starts at 170: equity then was that of t=100 (-1000)
    assert account.loss_since(clock, at(320)) == D(500)
    # a window that starts before the first event counts from 0
    assert LossClock(window=timedelta(hours=1)).window is not None
    assert fold(LossClock(window=timedelta(hours=1)), *spot_loss_run()).account("demo").loss_since(
        LossClock(window=timedelta(hours=1)), at(400)
    ) == D(1500)


def test_a_window_keeps_only_the_marks_it_needs() -> None:
    clock = LossClock(window=timedelta(seconds=150))
    account = fold(clock, *spot_loss_run()).account("demo")
    # the mark before the window of the newest event (t=300 - 150 = 150: t=100) and after
    assert [m[0] for m in account.marks] == [at(100), at(200), at(300)]


def test_events_within_one_slot_keep_one_mark() -> None:
    clock = LossClock(window=timedelta(seconds=SLOTS * 10))  # slots of 10 s
    account = fold(
        clock,
        timed(0, "buy", "1", "60000", trade="t1"),
        wallet(at_s=1, mark="59000"),
        wallet(at_s=2, mark="58000"),
    ).account("demo")
    assert account.marks == ((at(2), D(-2000)),)


def test_an_event_logged_after_a_later_one_keeps_the_marks_in_time_order() -> None:
    clock = LossClock(window=timedelta(seconds=600))
    account = fold(
        clock, wallet(at_s=50), timed(100, "buy", "1", "60000", trade="t1"),
        wallet(at_s=20, mark="59000"),
    ).account("demo")  # fmt: skip
    times = [m[0] for m in account.marks]
    assert times == sorted(times)
    assert times[-1] == at(100)
    assert account.marks[-1][1] == D(-1000)


def test_a_reset_counts_from_the_equity_just_before_the_first_event_after_it() -> None:
    clock = LossClock(reset_at=at(150))
    state = fold(clock, *spot_loss_run())
    account = state.account("demo")
    assert account.reset_equity == D(-1000)  # the equity at t=100, before t=200's event
    assert account.loss_since(clock, at(400)) == D(500)


def test_a_reset_with_nothing_after_it_is_no_loss() -> None:
    clock = LossClock(reset_at=at(1000))
    account = fold(clock, *spot_loss_run()).account("demo")
    assert account.reset_equity is None
    assert account.loss_since(clock, at(2000)) == 0


# --------------------------------------------------------------------------- the risk view


def test_the_view_reads_margin_facts_leverage_marks_and_the_loss() -> None:
    portfolio = fold(LossClock(), *spot_loss_run()).account("demo")
    limits = RiskLimits(max_loss=D(1000))
    view = account_risk_view(ActualState.empty(), "demo", {}, limits, at(400), portfolio=portfolio)
    assert view.margin_ratio == D("0.01")
    assert view.available_margin == D(900)
    assert view.leverage == {PERP: D(5)}
    assert view.marks == {"BTC/USDT": D(58500), PERP: D(60000)}
    assert view.loss == D(1500)
    reason = loss_breached(view, limits)
    assert reason is not None
    assert reason.rule == "max_loss"
    assert reason.detail == "loss 1500 at or above 1000"


def test_the_view_without_a_portfolio_or_a_loss_limit_knows_no_loss() -> None:
    portfolio = fold(LossClock(), *spot_loss_run()).account("demo")
    assert account_risk_view(ActualState.empty(), "demo", {}, RiskLimits(), at(1)).loss is None
    view = account_risk_view(ActualState.empty(), "demo", {}, RiskLimits(), at(1), (), portfolio)
    assert view.loss is None
    assert view.available_margin == D(900)


def test_the_venue_mark_values_a_symbol_the_service_has_no_price_for() -> None:
    portfolio = fold(LossClock(), wallet(at_s=1)).account("demo")
    view = account_risk_view(ActualState.empty(), "demo", {}, RiskLimits(), at(1), (), portfolio)
    assert view.marks == {"BTC/USDT": D(60000), PERP: D(60000)}


# --------------------------------------------------------------------------- properties

MARKS = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(50000, 70000)), min_size=1, max_size=40
)


@given(MARKS, st.integers(1, SLOTS), st.integers(0, 8000))
def test_a_window_loss_equals_the_loss_from_the_whole_history(
    steps: list[tuple[int, int]], window_s: int, now_offset: int
) -> None:
    """Bounded marks give the same loss as the whole history (windows of one-second slots,
    every event in a slot of its own: exact)."""
    clock = LossClock(window=timedelta(seconds=window_s))
    times = sorted({t for t, _ in steps})
    prices = [p for _, p in steps]
    history = [(at(-1), D(0))] + [
        (at(t), D(p) - 60000) for t, p in zip(times, prices, strict=False)
    ]
    events = [timed(-1, "buy", "1", "60000", trade="t1")]
    events += [wallet(at_s=t, mark=str(p)) for t, p in zip(times, prices, strict=False)]
    account = fold(clock, *events).account("demo")
    assert len(account.marks) <= SLOTS + 2
    now = at(times[-1] + now_offset)
    before = [equity for t, equity in history if t <= now - timedelta(seconds=window_s)]
    assert account.loss_since(clock, now) == (before[-1] if before else 0) - account.equity


@given(MARKS)
def test_the_same_events_give_the_same_marks(steps: list[tuple[int, int]]) -> None:
    clock = LossClock(window=timedelta(seconds=300))
    events = [wallet(at_s=t, mark=str(p)) for t, p in steps]
    assert fold(clock, *events) == fold(clock, *events)
