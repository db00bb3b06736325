"""Execution order of a plan: cancels before places when that frees balance."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from setpoint.core.events import Action, ActionKind
from setpoint.core.model import MarketInfo, MarketKind, Side
from setpoint.executor.plan import amends_ready, expand, places_first, stages

D = Decimal
BTC = MarketInfo(
    symbol="BTC/USDT",
    venue_symbol="BTCUSDT",
    kind=MarketKind.SPOT,
    base="BTC",
    quote="USDT",
    tick=D("0.01"),
    step=D("0.00001"),
)


def place(coid: str, side: Side = Side.BUY, price: str = "60000", qty: str = "0.1") -> Action:
    return Action(
        kind=ActionKind.PLACE,
        client_order_id=coid,
        intent_id=coid,
        side=side,
        price=D(price),
        quantity=D(qty),
    )


def cancel(coid: str, side: Side | None = Side.BUY) -> Action:
    return Action(
        kind=ActionKind.CANCEL,
        client_order_id=coid,
        side=side,
        price=D("59000") if side else None,
        quantity=D("0.1") if side else None,
    )


def test_single_kind_is_one_stage() -> None:
    assert stages([place("a"), place("b")], BTC) == ((place("a"), place("b")),)
    assert stages([cancel("a")], BTC) == ((cancel("a"),),)
    assert stages([], BTC) == ()


def test_cancel_first_when_it_frees_what_a_place_needs() -> None:
    result = stages([place("new"), cancel("old")], BTC, free={"USDT": D("100")})
    assert result == ((cancel("old"),), (place("new"),))


def test_one_stage_when_balance_covers_the_places() -> None:
    result = stages([place("new"), cancel("old")], BTC, free={"USDT": D("1000000")})
    assert result == ((cancel("old"), place("new")),)


def test_one_stage_when_the_cancel_frees_another_asset() -> None:
    sell_cancel = cancel("old", Side.SELL)
    result = stages([place("new"), sell_cancel], BTC, free={"USDT": D("1")})
    assert result == ((sell_cancel, place("new")),)


def test_unknown_balance_or_market_means_cancels_first() -> None:
    assert len(stages([place("n"), cancel("o")], BTC)) == 2
    assert len(stages([place("n"), cancel("o")], None)) == 2


def test_amend_splits_into_cancel_then_place() -> None:
    amend = Action(
        kind=ActionKind.AMEND,
        client_order_id="new",
        replaces="old",
        order_id="42",
        intent_id="i",
        side=Side.BUY,
        price=D("1"),
        quantity=D("1"),
    )
    cancels, places = expand([amend])
    assert [(c.kind, c.client_order_id, c.order_id) for c in cancels] == [
        (ActionKind.CANCEL, "old", "42")
    ]
    assert [(p.kind, p.client_order_id) for p in places] == [(ActionKind.PLACE, "new")]


def _amend(new: str = "new", old: str = "old") -> Action:
    return Action(
        kind=ActionKind.AMEND, client_order_id=new, replaces=old, order_id="42", intent_id="i",
        side=Side.BUY, price=D("1"), quantity=D("1"),
    )  # fmt: skip


def test_an_amends_place_always_waits_for_its_cancel() -> None:
    """Even when the balance covers it: the old order may fill while it is being cancelled."""
    (first, second) = stages([_amend()], BTC, {"USDT": D(10**9)})
    assert [a.client_order_id for a in first] == ["old"]
    assert [a.client_order_id for a in second] == ["new"]


def test_an_amends_place_goes_only_after_a_confirmed_cancel_without_new_fills() -> None:
    _, places = expand([_amend(), place("plain")])
    stage = tuple(places)
    before = {"old": D("0.5")}
    assert [a.client_order_id for a in amends_ready(stage, {}, before)] == ["plain"]
    confirmed = amends_ready(stage, {"old": D("0.5")}, before)
    assert [a.client_order_id for a in confirmed] == ["new", "plain"]
    filled_meanwhile = amends_ready(stage, {"old": D("0.7")}, before)
    assert [a.client_order_id for a in filled_meanwhile] == ["plain"]


@given(
    st.lists(st.tuples(st.booleans(), st.sampled_from(list(Side))), max_size=12),
    st.one_of(st.none(), st.integers(0, 10**7)),
)
def test_every_action_runs_once_and_no_place_before_a_needed_cancel(
    spec: list[tuple[bool, Side]], free: int | None
) -> None:
    actions = [
        place(f"p{i}", s) if is_place else cancel(f"c{i}", s)
        for i, (is_place, s) in enumerate(spec)
    ]
    result = stages(actions, BTC, None if free is None else {"USDT": D(free), "BTC": D(free)})
    flat = [a for stage in result for a in stage]
    assert sorted(a.client_order_id for a in flat) == sorted(a.client_order_id for a in actions)
    assert len(result) <= 2
    if len(result) == 2:
        assert all(a.kind is ActionKind.CANCEL for a in result[0])


RICH = {"USDT": D("1000000"), "BTC": D("100")}
"""A free balance that covers every place of these tests."""


def test_places_go_first_when_they_cannot_trade_against_what_is_cancelled() -> None:
    stage = (cancel("old"), place("new", price="58000"), place("sell", Side.SELL, "61000"))
    resting = {"old": (Side.BUY, D("59000"), D("0.1"))}
    assert places_first(stage, resting, BTC, RICH) == stage[1:] + stage[:1]


def test_cancels_stay_first_when_a_place_could_match_a_cancelled_order() -> None:
    stage = (cancel("old"), place("sell", Side.SELL, "59000"))
    assert places_first(stage, {"old": (Side.BUY, D("59000"), D("0.1"))}, BTC, RICH) == stage
    market_sell = place("m", Side.SELL).model_copy(update={"price": None})
    resting = {"old": (Side.BUY, D("1"), D("0.1"))}
    assert places_first((cancel("old"), market_sell), resting, BTC, RICH)[0].kind is (
        ActionKind.CANCEL
    )


def test_cancels_stay_first_when_the_cancelled_order_is_unknown() -> None:
    stage = (cancel("old"), place("new"))
    assert places_first(stage, {}, BTC, RICH) == stage
    assert places_first(stage, {"old": (Side.SELL, None, D("0.1"))}, BTC, RICH) == stage
    assert places_first(stage, {"old": (Side.BUY, D("59000"), D("0.1"))}, None, RICH) == stage
    assert places_first(stage, {"old": (Side.BUY, D("59000"), D("0.1"))}, BTC, None) == stage


def test_cancels_stay_first_when_the_place_needs_what_the_cancelled_order_locks() -> None:
    """A re-quote: the balance report (10,000 USDT free) predates the old buy (5,900
    locked), so the venue has 4,100 free; the new buy (6,001) must wait for the cancel.
    With enough left beside the old order's lock, the place goes first."""
    stage = (cancel("old"), place("new", price="60010", qty="0.1"))
    resting = {"old": (Side.BUY, D("59000"), D("0.1"))}
    assert places_first(stage, resting, BTC, {"USDT": D("10000")}) == stage
    assert places_first(stage, resting, BTC, {"USDT": D("11901")}) == stage[1:] + stage[:1]


@given(
    st.lists(st.tuples(st.booleans(), st.sampled_from(list(Side)), st.integers(1, 9)), max_size=8)
)
def test_places_first_keeps_every_action_and_never_lets_a_crossing_place_lead(
    spec: list[tuple[bool, Side, int]],
) -> None:
    stage = tuple(
        place(f"p{i}", s, str(60000 + p * 100)) if is_place else cancel(f"c{i}", s)
        for i, (is_place, s, p) in enumerate(spec)
    )
    resting = {
        a.client_order_id: (a.side or Side.BUY, a.price, D("0.1"))
        for a in stage
        if a.kind is ActionKind.CANCEL
    }
    result = places_first(stage, resting, BTC, RICH)
    assert sorted(a.client_order_id for a in result) == sorted(a.client_order_id for a in stage)
    if result != stage:
        for p in (a for a in stage if a.kind is ActionKind.PLACE):
            for side, price, _ in resting.values():
                assert p.side is side or (
                    p.price < price if p.side is Side.BUY else p.price > price
                )
