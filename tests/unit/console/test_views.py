"""The console's pure views over the services' own folds: named scenarios, and a property
over synthetic logs (every open order is on the ladder exactly once, in price order)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from setpoint.bus.messages import Condition, KeyStatus
from setpoint.console.views import (
    UNKNOWN,
    ConditionMark,
    event_row,
    ladder,
    overview,
    pnl_columns,
    timeline,
)
from setpoint.core.events import Event
from setpoint.core.model import Key, Side, TargetOrder
from setpoint.core.projections import (
    ActualState,
    IntentState,
    PortfolioState,
    apply_portfolio,
    rebuild,
)
from setpoint.eventlog.port import Recorded
from setpoint.testing.synthetic import ChainBuilder, buy, market, markets_loaded, synthetic_log

KEY = Key("alpha", "BTC/USDT")


def fold(events: list[Event]) -> tuple[IntentState, ActualState, list[Recorded]]:
    """Both stores folded from `events` (logged from position 1), and the records."""
    records = [Recorded(i, e) for i, e in enumerate(events, start=1)]
    intent, actual = rebuild(records)
    return intent, actual, records


def sell(intent: str, price: str) -> TargetOrder:
    return TargetOrder(id=intent, side=Side.SELL, price=Decimal(price), quantity=Decimal("0.01"))


def status(condition: Condition, **fields: object) -> KeyStatus:
    values: dict[str, object] = {"updated_at": datetime(2026, 1, 1, tzinfo=UTC)} | fields
    return KeyStatus(account=KEY.account, symbol=KEY.symbol or "", condition=condition, **values)  # type: ignore[arg-type]


def test_a_key_without_status_is_unknown_and_counted_from_the_folds() -> None:
    b = ChainBuilder()
    b.placed(b.submitted(KEY, buy("b1", "59990")))
    intent, actual, _ = fold(b.events)
    body = overview(intent, actual, {}, {}, [], ["alpha", "beta"])
    [row] = body["keys"]
    assert row["condition"] == UNKNOWN
    assert (row["generation"], row["orders_target"], row["orders_venue"]) == (1, 1, 1)
    assert row["position_actual"] == "0"
    assert row["pnl"] is None
    assert body["pnl"] is False
    assert body["accounts"] == [
        {"account": "alpha", "mode": "normal"},
        {"account": "beta", "mode": "normal"},
    ]


def test_the_differs_status_wins_and_its_age_is_shown() -> None:
    b = ChainBuilder()
    b.target(KEY, (buy("b1", "59990"),))
    intent, actual, _ = fold(b.events)
    since = datetime(2026, 1, 1, 12, tzinfo=UTC)
    reported = status(
        Condition.DRIFTING, generation=1, reasons=("OrdersInFlight",), open_orders_target=1
    )
    [row] = overview(intent, actual, {KEY: reported}, {KEY: since}, [])["keys"]
    assert (row["condition"], row["reasons"], row["since"]) == (
        "drifting",
        ["OrdersInFlight"],
        since.isoformat(),
    )


def test_pnl_columns_appear_once_a_portfolio_is_plugged_in() -> None:
    b = ChainBuilder()
    b.target(KEY, (buy("b1", "59990"),))
    intent, actual, _ = fold(b.events)
    body = overview(
        intent, actual, {}, {}, [], pnl=lambda key: {"realised": "1.5", "unrealised": None}
    )
    assert body["pnl"] is True
    assert body["keys"][0]["pnl"] == {"realised": "1.5", "unrealised": None}


def test_the_pnl_columns_are_the_portfolio_folds_and_none_before_a_fill() -> None:
    b = ChainBuilder()
    _, placed = b.placed(b.submitted(KEY, buy("b1", "59990")))
    other = Key("alpha", "ETH/USDT")
    portfolio = PortfolioState.empty()
    for position, event in enumerate(b.events, start=1):
        portfolio = apply_portfolio(portfolio, position, event)
    assert pnl_columns(portfolio)(KEY) is None
    portfolio = apply_portfolio(portfolio, len(b.events) + 1, b.fill(placed, Decimal("0.01")))
    columns = pnl_columns(portfolio)(KEY)
    assert columns is not None
    held = portfolio.key(KEY)
    assert columns == {"realised": str(held.realized_pnl), "unrealised": str(held.unrealized_pnl)}
    assert pnl_columns(portfolio)(other) is None


def test_ladder_marks_in_flight_ours_and_foreign_asks_above_bids() -> None:
    b = ChainBuilder()
    target = b.target(KEY, (buy("b1", "59990"), sell("s1", "60010")))
    b.planned(target, buy("b1", "59990"))  # submitted, no answer yet: in flight
    b.foreign(KEY, "777", Side.BUY, Decimal("59980"), Decimal("0.5"))
    intent, actual, _ = fold(b.events)
    rows = ladder(KEY, intent, actual)
    assert [(r["side"], r["price"]) for r in rows] == [
        ("sell", "60010"),
        ("buy", "59990"),
        ("buy", "59980"),
    ]
    ask, bid, foreign = rows
    assert (ask["target"][0]["intent_id"], ask["ours"]) == ("s1", [])
    [ours] = bid["ours"]
    assert (ours["state"], ours["in_flight"]) == ("in flight", True)
    assert foreign["foreign"][0]["order_id"] == "777"
    assert foreign["target"] == []


def test_a_filled_intent_leaves_the_ladder_and_its_fill_is_a_row_with_its_order() -> None:
    b = ChainBuilder()
    _, order = b.placed(b.submitted(KEY, buy("b1", "59990")))
    fill = b.fill(order, Decimal("0.010"))
    intent, actual, records = fold(b.events)
    assert ladder(KEY, intent, actual) == []
    row = event_row(records[-1])
    assert row["type"] == "FillObserved"
    assert row["client_order_id"] == order.client_order_id
    assert row["trace_id"] is not None
    assert row["summary"].startswith(f"trade {fill.data.trade_id}: buy 0.010 @ 59990")


def test_events_explain_does_not_summarise_get_their_fields() -> None:
    b = ChainBuilder()
    b.reconciled(KEY, 3)
    row = event_row(Recorded(1, b.events[0]))
    assert "matched=3" in row["summary"]
    assert row["client_order_id"] is None


def test_timeline_puts_each_fact_on_its_lane_in_time_order() -> None:
    b = ChainBuilder()
    _, order = b.placed(b.submitted(KEY, buy("b1", "59990")))
    b.fill(order, Decimal("0.004"))
    b.reconciled(KEY, 1)  # not on the timeline
    _, _, records = fold(b.events)
    first = records[0].event.occurred_at
    marks = timeline(
        records,
        [
            ConditionMark(first + timedelta(microseconds=1), "drifting", ("OrdersInFlight",)),
            ConditionMark(first + timedelta(seconds=5), "converged", ()),
        ],
    )
    assert [m["lane"] for m in marks] == [
        "target",
        "condition",
        "decision",
        "order",
        "order",
        "fill",
        "condition",
    ]
    assert marks[2]["state"] == "drifting"  # a decision with actions
    assert marks[-1]["label"] == "converged"


@settings(max_examples=25, deadline=None)
@given(count=st.integers(1, 300), seed=st.integers(1, 50))
def test_every_open_order_is_on_the_ladder_once_in_price_order(count: int, seed: int) -> None:
    intent, actual, _ = fold(synthetic_log(count, seed))
    for key, ka in actual.keys.items():
        if key.symbol is None:
            continue
        rows = ladder(key, intent, actual)
        shown = [o["order_id"] for r in rows for o in (*r["ours"], *r["foreign"])]
        assert sorted(shown, key=str) == sorted(
            (o.order_id for o in ka.orders.values() if o.is_open), key=str
        )
        prices = [Decimal(r["price"]) for r in rows if r["price"] is not None]
        assert prices == sorted(prices, reverse=True)


def test_prices_and_quantities_at_the_markets_precision_once_it_is_known() -> None:
    b = ChainBuilder()
    b.events.append(markets_loaded("alpha", market("BTC/USDT", step=Decimal("0.0001"))))
    b.placed(b.submitted(KEY, buy("b1", "59990", qty="0.01")))
    intent, actual, _ = fold(b.events)
    [row] = ladder(KEY, intent, actual)
    assert row["price"] == "59990.00"
    assert row["target"][0]["quantity"] == "0.0100"
    assert row["ours"][0]["quantity"] == "0.0100"
    [key] = overview(intent, actual, {}, {}, [], ["alpha"])["keys"]
    assert key["position_actual"] == "0.0000"
    intent, actual, _ = fold(b.events[1:])  # no markets: the values as they are
    assert ladder(KEY, intent, actual)[0]["price"] == "59990"
