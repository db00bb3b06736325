"""The portfolio fold (core.projections.portfolio): named scenarios and properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.core.strategies import KEY as SPOT
from tests.unit.core.strategies import PERP

from setpoint.core.events import (
    Event,
    FillObserved,
    FillSource,
    MarginObserved,
    MarginObservedData,
    MarginPosition,
    ObservationSource,
    OrderObserved,
    OrderObservedData,
    OrderStatus,
    SymbolMark,
)
from setpoint.core.ids import client_order_id
from setpoint.core.model import Key, MarketKind, OrderType, Producer, Side
from setpoint.core.projections import PortfolioState, apply_portfolio
from setpoint.testing.synthetic import fill_data, market, markets_loaded

D = Decimal
MARKETS = markets_loaded(
    "demo", market("BTC/USDT"), market("BTC/USDT:USDT", MarketKind.SWAP, contract_size=D(2))
)


def fill(
    side: str, qty: str, price: str, *, trade: str, key: Key = SPOT, order: str = "o1",
    fee: str = "0", fee_currency: str = "USDT", ours: bool = True,
    source: FillSource = FillSource.WS, order_filled: str | None = None,
) -> FillObserved:  # fmt: skip
    coid = client_order_id("demo", key.symbol or "", order, 1) if ours else "foreign-1"
    data = fill_data(
        coid, order, Side(side), D(price), D(qty), trade_id=trade, fee=D(fee), source=source
    ).model_copy(
        update={
            "fee_currency": fee_currency,
            "order_filled": None if order_filled is None else D(order_filled),
        }
    )
    return FillObserved.create(key, Producer.GATEWAY, data)


def marks(*prices: tuple[str, str], positions: tuple[MarginPosition, ...] = ()) -> MarginObserved:
    data = MarginObservedData(
        asset="USDT", wallet_balance=D(1000), margin_balance=D(1000), unrealized_pnl=D(0),
        initial_margin=D(100), maintenance_margin=D(10), available_margin=D(900),
        positions=positions, marks=tuple(SymbolMark(symbol=s, price=D(p)) for s, p in prices),
    )  # fmt: skip
    return MarginObserved.create(Key("demo", None), Producer.GATEWAY, data)


def fold(*events: Event, start: PortfolioState | None = None) -> PortfolioState:
    state = start or PortfolioState.empty()
    for event in (MARKETS, *events) if start is None else events:
        state = apply_portfolio(state, state.position + 1, event)
    return state


# --------------------------------------------------------------------------- scenarios


def test_a_spot_buy_valued_at_the_mark_with_its_fee_realised() -> None:
    state = fold(fill("buy", "0.1", "60000", trade="t1", fee="1.2"), marks(("BTC/USDT", "61000")))
    key = state.key(SPOT)
    assert (key.position, key.entry_price, key.mark) == (D("0.1"), 60000, 61000)
    assert (key.realized_pnl, key.fees, key.unrealized_pnl) == (D("-1.2"), D("1.2"), 100)
    assert key.equity == D("98.8") == key.peak_equity
    account = state.account("demo")
    assert (account.realized_pnl, account.unrealized_pnl, account.equity) == (
        D("-1.2"), 100, D("98.8"),
    )  # fmt: skip


def test_a_round_trip_realises_the_difference_less_fees() -> None:
    state = fold(
        fill("buy", "1", "100", trade="t1", fee="0.05"),
        fill("sell", "1", "110", trade="t2", order="o2", fee="0.055"),
    )
    key = state.key(SPOT)
    assert (key.position, key.entry_price, key.unrealized_pnl) == (0, 0, 0)
    assert key.realized_pnl == D("10") - D("0.105")


def test_going_through_zero_realises_the_closed_part_and_opens_the_rest_at_the_price() -> None:
    state = fold(fill("buy", "1", "100", trade="t1"), fill("sell", "3", "90", trade="t2"))
    key = state.key(SPOT)
    assert (key.position, key.entry_price, key.realized_pnl) == (-2, 90, -10)


def test_adding_averages_the_entry_price() -> None:
    state = fold(fill("buy", "1", "100", trade="t1"), fill("buy", "3", "120", trade="t2"))
    assert (state.key(SPOT).position, state.key(SPOT).entry_price) == (4, 115)


def test_a_perpetual_counts_its_contract_size_and_the_margin_positions_mark() -> None:
    position = MarginPosition(symbol="BTC/USDT:USDT", quantity=D(-2), mark_price=D(59000))
    state = fold(fill("sell", "1", "60000", key=PERP, trade="p1"), marks(positions=(position,)))
    key = state.key(PERP)
    assert (key.position, key.mark, key.unrealized_pnl) == (-1, 59000, 2000)


def test_drawdown_is_measured_from_the_peak() -> None:
    state = fold(
        fill("buy", "1", "100", trade="t1"),
        marks(("BTC/USDT", "120")),
        marks(("BTC/USDT", "90")),
    )
    key, account = state.key(SPOT), state.account("demo")
    assert (key.equity, key.peak_equity, key.drawdown) == (-10, 20, 30)
    assert (account.equity, account.peak_equity, account.drawdown) == (-10, 20, 30)


def test_a_fill_moves_the_mark_and_later_marks_replace_it() -> None:
    state = fold(fill("buy", "1", "100", trade="t1"), fill("buy", "1", "104", trade="t2"))
    assert state.key(SPOT).mark == 104
    assert state.key(SPOT).unrealized_pnl == 4


def test_foreign_fills_do_not_count_adopted_ones_do() -> None:
    foreign = fold(fill("buy", "1", "100", trade="t1", order="f1", ours=False))
    assert foreign.key(SPOT).position == 0
    assert foreign.key(SPOT).mark == 100  # still a price
    observed = OrderObservedData(
        client_order_id="foreign-1", order_id="f1", side=Side.BUY, type=OrderType.LIMIT,
        price=D(100), quantity=D(1), status=OrderStatus.NEW, source=ObservationSource.REST,
        adopted=True,
    )  # fmt: skip
    adopt = OrderObserved.create(SPOT, Producer.GATEWAY, observed)
    adopted = fold(adopt, fill("buy", "1", "100", trade="t1", order="f1", ours=False))
    assert adopted.key(SPOT).position == 1


def test_a_trade_is_folded_once() -> None:
    once = fold(fill("buy", "1", "100", trade="t1", fee="0.1"))
    twice = fold(fill("buy", "1", "100", trade="t1", fee="0.1"), start=once)
    assert twice.key(SPOT) == once.key(SPOT)
    assert twice.position == once.position + 1


def test_real_trades_replace_what_an_inferred_fill_stood_for() -> None:
    state = fold(
        fill("buy", "0.5", "100", trade="i1", source=FillSource.INFERRED, order_filled="0.5"),
        fill("buy", "0.3", "100", trade="r1"),
    )
    assert state.key(SPOT).position == D("0.5")
    state = fold(fill("buy", "0.3", "101", trade="r2"), start=state)
    assert state.key(SPOT).position == D("0.6")
    assert state.key(SPOT).entry_price == (D("0.5") * 100 + D("0.1") * 101) / D("0.6")


def test_fees_in_base_are_valued_at_the_price_others_kept_apart() -> None:
    state = fold(
        fill("buy", "1", "100", trade="t1", fee="0.001", fee_currency="BTC"),
        fill("buy", "1", "100", trade="t2", fee="0.02", fee_currency="BNB"),
    )
    key = state.key(SPOT)
    assert (key.fees, key.realized_pnl) == (D("0.1"), D("-0.1"))
    assert dict(key.other_fees) == {"BNB": D("0.02")}


def test_the_account_carries_the_last_futures_wallet_and_its_margin_ratio() -> None:
    assert PortfolioState.empty().account("demo").margin_ratio is None
    state = fold(marks())
    account = state.account("demo")
    assert account.margin is not None
    assert (account.margin_ratio, account.available_margin) == (D("0.01"), 900)
    broke = account.margin.model_copy(update={"margin_balance": D(0)})
    assert account._replace(margin=broke).margin_ratio == D("Infinity")


def test_an_event_at_or_below_the_folded_position_changes_nothing() -> None:
    state = fold(fill("buy", "1", "100", trade="t1"))
    assert apply_portfolio(state, state.position, fill("buy", "1", "100", trade="t9")) is state


# --------------------------------------------------------------------------- properties

fills = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.integers(1, 500).map(lambda n: D(n) / 100),
        st.integers(9000, 11000).map(lambda n: D(n) / 100),
    ),
    min_size=1,
    max_size=30,
)
prices = st.integers(5000, 15000).map(lambda n: D(n) / 100)


def _events(rows: list[tuple[str, Decimal, Decimal]]) -> list[Event]:
    return [
        fill(side, str(qty), str(price), trade=f"t{n}", order=f"o{n}")
        for n, (side, qty, price) in enumerate(rows)
    ]


@given(fills, prices)
def test_equity_is_the_cash_flow_plus_the_position_at_the_mark(
    rows: list[tuple[str, Decimal, Decimal]], mark: Decimal
) -> None:
    state = fold(*_events(rows), marks(("BTC/USDT", str(mark))))
    signed = [(q if side == "buy" else -q, p) for side, q, p in rows]
    position = sum((q for q, _ in signed), D(0))
    cash = -sum((q * p for q, p in signed), D(0))
    key = state.key(SPOT)
    assert key.position == position
    assert abs(key.equity - (cash + position * mark)) < D("1e-12")


@given(fills, st.lists(prices, max_size=5))
def test_the_peak_is_never_below_equity_and_the_account_sums_its_keys(
    rows: list[tuple[str, Decimal, Decimal]], moves: list[Decimal]
) -> None:
    state = PortfolioState.empty()
    for event in [MARKETS, *_events(rows), *(marks(("BTC/USDT", str(m))) for m in moves)]:
        state = apply_portfolio(state, state.position + 1, event)
        key, account = state.key(SPOT), state.account("demo")
        assert key.drawdown >= 0
        assert account.drawdown >= 0
        # running totals: equal to the keys' figures to Decimal's 28 significant digits
        assert abs(account.realized_pnl - key.realized_pnl) < D("1e-18")
        assert abs(account.unrealized_pnl - key.unrealized_pnl) < D("1e-18")


@given(fills, st.integers(0, 30))
def test_the_fold_is_deterministic_and_resumable(
    rows: list[tuple[str, Decimal, Decimal]], cut: int
) -> None:
    events = [MARKETS, *_events(rows)]
    whole = PortfolioState.empty()
    for n, event in enumerate(events, start=1):
        whole = apply_portfolio(whole, n, event)
    resumed = PortfolioState.empty()
    for n, event in enumerate(events[: cut + 1], start=1):
        resumed = apply_portfolio(resumed, n, event)
    for n, event in enumerate(events, start=1):  # replayed from the start: no double count
        resumed = apply_portfolio(resumed, n, event)
    assert resumed == whole


@pytest.mark.parametrize("fee", ["0", "0.5"])
def test_fees_only_lower_equity(fee: str) -> None:
    state = fold(fill("buy", "1", "100", trade="t1", fee=fee))
    assert state.key(SPOT).equity == -D(fee)
