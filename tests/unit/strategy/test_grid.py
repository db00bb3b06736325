"""The grid strategy: ladder around the first price, filled rungs flip under new ids."""

from __future__ import annotations

from decimal import Decimal

from logfacts import ACCOUNT, SELL, filled, full_fill, ticker, view

from setpoint.config import StrategyConfig
from setpoint.core.events import Event
from setpoint.core.model import TargetOrder, TargetState
from setpoint.strategy.grid import Grid, GridState
from setpoint.strategy.sdk import Desired
from setpoint.testing.synthetic import market

SYMBOL = "BTC/USDT"
CONFIG = StrategyConfig(
    kind="grid",
    account=ACCOUNT,
    symbol=SYMBOL,
    params={"levels": 2, "spacing_bps": "10", "quantity": "0.001"},
)
GRID = Grid()


def _decide(
    state: GridState,
    events: list[Event] | None = None,
    price: str = "60000",
    previous: TargetState | None = None,
) -> tuple[GridState, Desired]:
    v = view(
        "grid-1",
        GRID.symbols(CONFIG),
        CONFIG.params,
        tickers=(ticker(SYMBOL, price),),
        logs={SYMBOL: events or []},
        previous={SYMBOL: previous} if previous else None,
        markets=(market(SYMBOL),),
    )
    decision = GRID.decide(state, v)
    return decision.state, decision.targets.get(SYMBOL, Desired())


def _book(desired: Desired) -> list[tuple[str, Decimal]]:
    return [(o.side.value, o.price or Decimal(0)) for o in desired.orders]


def _at(desired: Desired, price: str) -> TargetOrder:
    (order,) = [o for o in desired.orders if o.price == Decimal(price)]
    return order


def test_no_price_claims_the_key_with_an_empty_target() -> None:
    v = view("grid-1", (SYMBOL,), CONFIG.params)
    decision = GRID.decide(GRID.initial(CONFIG), v)
    assert decision.targets == {SYMBOL: Desired()}
    assert decision.state.anchor is None


def test_ladder_around_the_first_price() -> None:
    _, desired = _decide(GRID.initial(CONFIG))
    assert _book(desired) == [
        ("buy", Decimal("59880.00")),
        ("buy", Decimal("59940.00")),
        ("sell", Decimal("60060.00")),
        ("sell", Decimal("60120.00")),
    ]
    assert all(o.quantity == Decimal("0.001") for o in desired.orders)
    assert len({o.id for o in desired.orders}) == 4


def test_anchor_stays_when_price_moves() -> None:
    state, first = _decide(GRID.initial(CONFIG))
    state, second = _decide(state, price="61000")
    assert second == first


def _inner_buy_filled() -> tuple[GridState, Desired, TargetOrder, list[Event], Desired]:
    """The first ladder, its inner buy (59940) filled: the state after, the first desired
    target, the buy, the log of its fill, and the target after."""
    state, desired = _decide(GRID.initial(CONFIG))
    buy = _at(desired, "59940.00")
    events = full_fill(SYMBOL, buy)
    state, after = _decide(state, events)
    return state, desired, buy, events, after


def test_filled_buy_becomes_sell_one_rung_up_under_new_id() -> None:
    _, desired, buy, _, after = _inner_buy_filled()
    assert _book(after) == [
        ("buy", Decimal("59880.00")),
        ("sell", Decimal("60000.00")),
        ("sell", Decimal("60060.00")),
        ("sell", Decimal("60120.00")),
    ]
    new_sell = _at(after, "60000.00")
    assert new_sell.side is SELL
    old_ids = {o.id for o in desired.orders}
    assert new_sell.id not in old_ids
    assert buy.id not in {o.id for o in after.orders}


def test_partial_fill_keeps_the_rung() -> None:
    state, desired = _decide(GRID.initial(CONFIG))
    buy = _at(desired, "59940.00")
    events = filled(SYMBOL, buy, "0.0004")
    _, after = _decide(state, events)
    assert after == desired


def test_filled_sell_becomes_buy_and_round_trip_restores() -> None:
    state, desired, _, events, after_buy = _inner_buy_filled()
    new_sell = _at(after_buy, "60000.00")
    events += full_fill(SYMBOL, new_sell)
    state, after_sell = _decide(state, events)
    assert _book(after_sell) == _book(desired)
    used = {o.id for o in desired.orders} | {o.id for o in after_buy.orders}
    assert _at(after_sell, "59940.00").id not in used


def test_two_fills_meeting_on_a_rung_complete_a_round_trip() -> None:
    state, desired = _decide(GRID.initial(CONFIG))
    buy, sell = _at(desired, "59940.00"), _at(desired, "60060.00")
    events = full_fill(SYMBOL, buy) + full_fill(SYMBOL, sell)
    _, after = _decide(state, events)
    assert _book(after) == _book(desired)
    assert _at(after, "59940.00").id != buy.id
    assert _at(after, "60060.00").id != sell.id
    assert _at(after, "59880.00") == _at(desired, "59880.00")


def test_consumed_ids_are_never_listed_again() -> None:
    state, desired = _decide(GRID.initial(CONFIG))
    events: list[Event] = []
    seen: set[str] = {o.id for o in desired.orders}
    consumed: set[str] = set()
    for price in ["59940.00", "60000.00", "59940.00", "60000.00", "59940.00"]:
        order = _at(desired, price)
        events += full_fill(SYMBOL, order)
        consumed.add(order.id)
        state, desired = _decide(state, events)
        ids = {o.id for o in desired.orders}
        assert not ids & consumed
        seen |= ids
    assert len(desired.orders) == 4


def test_resume_from_the_previous_target() -> None:
    state, desired = _decide(GRID.initial(CONFIG))
    events = full_fill(SYMBOL, _at(desired, "59940.00"))
    state, after = _decide(state, events)
    previous = TargetState(
        account=ACCOUNT, symbol=SYMBOL, generation=5, strategy="grid-1", orders=after.orders
    )
    fresh = GRID.initial(CONFIG)
    resumed, again = _decide(fresh, events, price="70000", previous=previous)
    assert again == after
    assert resumed.anchor == Decimal("60000.00")
    assert resumed.serial == state.serial
