"""Flatten (`setpoint kill --flatten`): in the account modes `flatten` / `flatten_all` the
effective target of every key has no orders and a position target of zero, closed with
reduce-only IOC position orders on derivatives and sells of what the fills bought on spot
(`core.effective`, `core.diff`)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.core.strategies import (
    KEY,
    MARKET,
    PERP,
    PERP_MARKET,
    Log,
    PerfectVenue,
    ev_fill,
    ev_position,
    order,
)

from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    AccountModeChangedData,
    ActionKind,
    OrderObserved,
    Origin,
)
from setpoint.core.model import Key, Producer, Side, TimeInForce
from setpoint.core.projections import POSITION_BACKOFF
from setpoint.testing.synthetic import markets_loaded, observed_data

D = Decimal


def mode(to: AccountMode) -> AccountModeChanged:
    data = AccountModeChangedData(mode=to, reason="test")
    return AccountModeChanged.create(Key(KEY.account, None), Producer.INTAKE, data)


def with_markets() -> Log:
    log = Log()
    log.append(markets_loaded(KEY.account, MARKET, PERP_MARKET))
    return log


def long_spot(log: Log, venue: PerfectVenue, qty: str = "0.500") -> None:
    """A spot key long `qty` (a filled buy) with a resting bid and a resting ask."""
    log.publish([order("b0", "buy", "100.00", qty)])
    venue.execute(log, log.plan())
    log.append(ev_fill(log.ka().intent_orders("b0")[0], qty, "t-b0"))
    log.publish([order("bid", "buy", "99.00", "0.100"), order("ask", "sell", "101.00", "0.100")])
    venue.execute(log, log.plan())
    assert len(list(log.ka().live_orders())) == 2


def test_flatten_cancels_every_order_and_sells_what_the_spot_fills_bought() -> None:
    log, venue = with_markets(), PerfectVenue()
    long_spot(log, venue)
    log.append(mode(AccountMode.FLATTEN))
    plan = log.plan()
    assert {(a.kind, a.intent_id) for a in plan.actions} == {
        (ActionKind.CANCEL, "bid"),
        (ActionKind.CANCEL, "ask"),
    }  # cancel first: the close waits until they are gone
    assert log.effective().position_paused
    venue.execute(log, plan)
    plan = log.plan()
    places = [a for a in plan.actions if a.kind is ActionKind.PLACE]
    assert [(p.side.value, p.quantity, p.position_order) for p in places] == [  # type: ignore[union-attr]
        ("sell", D("0.500"), True)
    ]
    assert places[0].time_in_force is TimeInForce.IOC
    assert not places[0].reduce_only  # spot has no reduce-only flag
    assert [r.rule for r in plan.risk] == []
    assert log.effective().reasons[0].rule == "flatten"
    venue.execute(log, plan)
    assert log.ka().position == 0
    assert list(log.ka().live_orders()) == []
    assert log.plan().actions == ()
    assert log.plan().converged


def test_a_spot_key_that_sold_more_than_it_bought_is_not_bought_back() -> None:
    log, venue = with_markets(), PerfectVenue()
    log.publish([order("s0", "sell", "100.00", "0.300")])
    venue.execute(log, log.plan())
    log.append(ev_fill(log.ka().intent_orders("s0")[0], "0.300", "t-s0"))
    log.append(mode(AccountMode.FLATTEN))
    assert log.effective().position == D("-0.300")
    assert log.plan().actions == ()


def test_a_perp_is_closed_with_reduce_only_orders_and_a_short_is_bought_back() -> None:
    log, venue = with_markets(), PerfectVenue()
    log.publish([order("ask", "sell", "101.00", "0.200")], key=PERP)
    venue.execute(log, log.plan(PERP))
    log.append(ev_position("-0.700", PERP))
    log.append(mode(AccountMode.FLATTEN))
    plan = log.plan(PERP)
    assert [(a.kind, a.intent_id) for a in plan.actions] == [(ActionKind.CANCEL, "ask")]
    venue.execute(log, plan)
    (place,) = log.plan(PERP).actions
    assert (place.side.value, place.quantity, place.reduce_only) == ("buy", D("0.700"), True)  # type: ignore[union-attr]


def test_a_key_without_a_target_is_flattened_too() -> None:
    log = with_markets()
    log.append(ev_position("0.250", PERP))
    assert log.intent.target(PERP) is None
    assert log.plan(PERP).actions == ()  # normal mode: nothing to do without a target
    log.append(mode(AccountMode.FLATTEN))
    plan = log.plan(PERP)
    assert [(a.intent_id, a.side.value, a.quantity) for a in plan.actions] == [  # type: ignore[union-attr]
        ("@pos-0-1", "sell", D("0.250"))
    ]


def test_no_liquidity_backs_off_and_is_tried_again() -> None:
    log, venue = with_markets(), PerfectVenue(ioc_fill=D(0))
    long_spot(log, venue)
    log.append(mode(AccountMode.FLATTEN))
    venue.execute(log, log.plan())  # the cancels
    venue.execute(log, log.plan())  # the IOC expires with nothing filled
    assert log.ka().position == D("0.500")
    eff = log.effective()
    assert eff.position_paused
    assert eff.wake_at is not None
    assert any(r.intent_id == POSITION_BACKOFF for r in eff.reasons)
    assert not log.plan().converged
    log.now = eff.wake_at
    venue.ioc_fill = D("0.4")  # some liquidity comes back
    venue.execute(log, log.plan())
    assert log.ka().position == D("0.300")
    venue.ioc_fill = D(1)
    venue.execute(log, log.plan())
    assert log.ka().position == 0


def test_foreign_orders_stay_with_flatten_and_go_with_flatten_all() -> None:
    log, venue = with_markets(), PerfectVenue()
    long_spot(log, venue)
    data = observed_data(
        None, "f-1", Side.SELL, D("105.00"), D("0.100"), origin=Origin.FOREIGN, adopted=True
    )
    log.append(OrderObserved.create(KEY, Producer.GATEWAY, data))
    ref = next(o for o in log.ka().live_orders() if o.origin is Origin.FOREIGN)
    log.append(mode(AccountMode.FLATTEN))
    assert all(a.order_id != ref.order_id for a in log.plan().actions)
    log.append(mode(AccountMode.FLATTEN_ALL))
    cancels = [a for a in log.plan().actions if a.kind is ActionKind.CANCEL]
    assert ref.order_id in {a.order_id for a in cancels}


def test_resume_returns_to_the_target() -> None:
    log, venue = with_markets(), PerfectVenue()
    long_spot(log, venue)
    log.append(mode(AccountMode.FLATTEN))
    venue.execute(log, log.plan())
    log.append(mode(AccountMode.NORMAL))
    assert {a.intent_id for a in log.plan().actions} == {"bid", "ask"}


@settings(max_examples=60, deadline=None)
@given(
    position=st.decimals("-2", "2", places=3),
    perp=st.booleans(),
    fill=st.sampled_from([D(0), D("0.5"), D(1)]),
)
def test_flatten_never_grows_or_flips_a_position(
    position: Decimal, perp: bool, fill: Decimal
) -> None:
    """Whatever the position and the liquidity, each flatten step moves it toward zero
    and never past it; a spot key is never bought."""
    log, venue = with_markets(), PerfectVenue()
    key = PERP if perp else KEY
    if perp:
        log.append(ev_position(str(position), PERP))
    elif abs(position) >= D("0.05"):  # a placeable order at 100 (min notional 5)
        side = "buy" if position > 0 else "sell"
        log.publish([order("o", side, "100.00", str(abs(position)))])
        venue.execute(log, log.plan())
        log.append(ev_fill(log.ka().intent_orders("o")[0], abs(position), "t-o"))
    venue.ioc_fill = fill
    log.append(mode(AccountMode.FLATTEN))
    before = log.ka(key).position
    for _ in range(3):
        plan = log.plan(key)
        if not perp:
            assert all(a.side is None or a.side.value == "sell" for a in plan.actions)
        venue.execute(log, plan)
        after = log.ka(key).position
        assert abs(after) <= abs(before)
        assert after * before >= 0
        before = after
        log.now = log.effective(key).wake_at or log.now
