"""Liquidate-only never grows or flips a position (semantics §3): at most the position's
size stays working on the reducing side, counted cumulatively, and re-decided after every
fill (`core.effective.liquidate_only_orders`)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.core.strategies import (
    KEY,
    Log,
    PerfectVenue,
    ev_fill,
    order,
)

from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    AccountModeChangedData,
    ActionKind,
)
from setpoint.core.model import Key, Producer, Side
from setpoint.testing.synthetic import market

D = Decimal
SELLS = ("s1", "s2", "s3", "s4")


def kill() -> AccountModeChanged:
    data = AccountModeChangedData(mode=AccountMode.LIQUIDATE_ONLY, reason="test")
    return AccountModeChanged.create(Key(KEY.account, None), Producer.DIFFER, data)


def long(quantity: str) -> tuple[Log, PerfectVenue]:
    """A log and venue whose key is long `quantity`: intent b0's buy, filled in full."""
    log, venue = Log(), PerfectVenue()
    log.publish([order("b0", "buy", "60000.00", quantity)])
    venue.execute(log, log.plan())
    log.append(ev_fill(log.ka().intent_orders("b0")[0], quantity, "t-b0"))
    return log, venue


def long_with_four_sells() -> tuple[Log, PerfectVenue]:
    """The issue's scenario: long 0.001 (a filled buy), four resting sells of 0.001 and
    one resting buy."""
    log, venue = long("0.001")
    sells = [order(f"s{n}", "sell", f"6{n}000.00", "0.001") for n in range(1, 5)]
    log.publish([order("b1", "buy", "59900.00", "0.001"), *sells])
    venue.execute(log, log.plan())
    assert log.ka().position == D("0.001")
    assert len(list(log.ka().live_orders())) == 5
    return log, venue


def working(log: Log) -> dict[str, Decimal]:
    """Intent id -> remaining quantity of its live orders."""
    return {o.intent_id or "": o.remaining for o in log.ka().live_orders()}


def test_kill_keeps_one_sell_of_the_position_and_never_flips() -> None:
    log, venue = long_with_four_sells()
    log.append(kill())
    plan = log.plan()
    cancelled = {a.intent_id for a in plan.actions if a.kind is ActionKind.CANCEL}
    assert cancelled == {"b1", "s2", "s3", "s4"}  # s1 is nearest the market
    venue.execute(log, plan)
    assert working(log) == {"s1": D("0.001")}
    # the price rises through every sell: only s1 is there to fill
    log.append(ev_fill(log.ka().intent_orders("s1")[0], "0.001", "t-s1"))
    assert log.ka().position == 0
    assert log.plan().actions == ()
    assert working(log) == {}


def test_a_partial_fill_is_rechecked_and_the_rest_reduced() -> None:
    log, venue = long("0.010")
    log.publish(
        [order("s1", "sell", "60100.00", "0.006"), order("s2", "sell", "60200.00", "0.006")]
    )
    venue.execute(log, log.plan())
    log.append(kill())
    eff = log.effective()
    assert eff.order("s1") == order("s1", "sell", "60100.00", "0.006")
    assert eff.order("s2") == order("s2", "sell", "60200.00", "0.004")  # what remains
    venue.execute(log, log.plan())
    assert working(log) == {"s1": D("0.006"), "s2": D("0.004")}
    # the position shrinks by another way (a fill of s2's reduced order): re-checked
    log.append(ev_fill(log.ka().intent_orders("s2")[0], "0.002", "t-s2"))
    assert log.ka().position == D("0.008")
    venue.execute(log, log.plan())
    assert sum(working(log).values()) <= D("0.008")


def test_the_first_misfit_below_the_minimum_is_dropped_and_later_ones_too() -> None:
    log, _ = long("0.010")
    log.publish(
        [
            order("a", "sell", "60100.00", "0.008"),
            order("b", "sell", "60200.00", "0.008"),  # 0.002 left: below min quantity
            order("c", "sell", "60300.00", "0.001"),  # would fit, but comes after a misfit
        ]
    )
    log.append(kill())
    big_min = market("BTC/USDT", step=D("0.001"), min_quantity=D("0.005"))
    log.actual = log.actual._replace(
        accounts=log.actual.accounts.set(
            KEY.account,
            log.actual.account(KEY.account)._replace(
                markets=log.actual.markets(KEY.account).set(KEY.symbol, big_min)
            ),
        )
    )
    eff = log.effective()
    assert {o.id for o in eff.orders()} == {"a"}
    assert eff.excluded == {"b", "c"}


def test_ties_go_by_intent_id_and_market_orders_first() -> None:
    log, _ = long("0.002")
    log.publish(
        [
            order("z", "sell", "60100.00", "0.001"),
            order("y", "sell", "60100.00", "0.001"),
            order("x", "sell", "60050.00", "0.001"),
        ]
    )
    log.append(kill())
    assert {o.id for o in log.effective().orders()} == {"x", "y"}
    log.publish([order("z", "sell", "60100.00", "0.001"), order("m", "sell", None, "0.002")])
    assert {o.id for o in log.effective().orders()} == {"m"}


def test_position_orders_take_their_share_first() -> None:
    log, _ = long("0.010")
    log.publish([order("s1", "sell", "60100.00", "0.010")], position=D("0.004"))
    log.append(kill())
    eff = log.effective()
    assert eff.order("s1") == order("s1", "sell", "60100.00", "0.004")  # 0.006 go by IOC


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["0.010", "-0.010", "0.003", "0"]),
    st.lists(
        st.tuples(
            st.sampled_from(["buy", "sell"]),
            st.sampled_from(["59900.00", "60000.00", "60100.00", None]),
            st.sampled_from(["0.001", "0.004", "0.010"]),
        ),
        max_size=6,
    ),
    st.sampled_from([None, "0", "0.005", "-0.005", "0.020"]),
)
def test_what_stays_never_exceeds_the_position(
    position: str, specs: list[tuple[str, str | None, str]], target: str | None
) -> None:
    log = Log()
    orders = [order(f"i{n}", side, price, qty) for n, (side, price, qty) in enumerate(specs)]
    log.publish(orders, position=None if target is None else D(target))
    log.append(kill())
    ka = log.ka()._replace(position=D(position))
    from setpoint.core.effective import effective_target

    eff = effective_target(log.intent.target(KEY), ka, log.actual.account(KEY.account), log.now)
    pos = D(position)
    kept = list(eff.orders())
    reducing = Side.SELL if pos > 0 else Side.BUY
    assert all(o.side is reducing for o in kept) or not kept
    assert pos != 0 or not kept
    move = D(0) if eff.position is None else abs(eff.position - pos)
    assert sum(o.quantity for o in kept) + move <= abs(pos)
    # every order the target lists is kept, reduced or excluded, and each exclusion has a reason
    named = {r.intent_id for r in eff.reasons if r.rule == "liquidate_only"}
    assert eff.excluded | set(eff.reduced.keys()) <= named
