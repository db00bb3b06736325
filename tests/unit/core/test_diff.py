"""The differ (semantics §1, §2, one action per intent at a time) and its invariants."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.unit.core.strategies import (
    KEY,
    MARKET,
    Log,
    PerfectVenue,
    ev_cancelled,
    ev_fill,
    ev_submit,
    live_records,
    lossy_steps,
    order,
    positions,
    run_history,
    steps,
    target_orders,
)

from setpoint.core.diff import diff
from setpoint.core.events import Action, ActionKind, OrderStatus
from setpoint.core.ids import client_order_id
from setpoint.core.model import OrderType, Side, TargetOrder, TimeInForce
from setpoint.core.risk import RiskLimits

D = Decimal


def coid(intent: str, attempt: int) -> str:
    return client_order_id("demo", "BTC/USDT", intent, attempt)


def kinds(plan: object) -> list[tuple[str, str | None]]:
    return [(a.kind.value, a.intent_id) for a in plan.actions]  # type: ignore[attr-defined]


def test_place_match_amend_cancel() -> None:
    log, venue = Log(), PerfectVenue()
    log.publish([order("a"), order("b", side="sell", price="101.50")])
    plan = log.plan()
    assert kinds(plan) == [("place", "a"), ("place", "b")]
    assert plan.actions[0].client_order_id == coid("a", 1)
    assert not plan.converged
    venue.execute(log, plan)
    assert log.plan().actions == ()
    assert log.plan().converged
    log.publish([order("a", price="99.00"), order("c")])
    plan = log.plan()
    assert kinds(plan) == [("cancel", "b"), ("amend", "a"), ("place", "c")]
    amend = plan.actions[1]
    assert amend.replaces == coid("a", 1)
    assert amend.client_order_id == coid("a", 2)
    venue.execute(log, plan)
    assert log.plan().converged


def test_amend_carries_quantity_minus_filled() -> None:
    log, venue = Log(), PerfectVenue()
    log.publish([order("a", qty="1.000")])
    venue.execute(log, log.plan())
    rec = live_records(log)[0]
    log.append(ev_fill(rec, "0.400", "t1"))
    assert log.plan().actions == ()  # partially filled, same terms: matched
    log.publish([order("a", price="99.50", qty="1.000")])
    plan = log.plan()
    assert [(a.kind, a.quantity) for a in plan.actions] == [(ActionKind.AMEND, D("0.600"))]
    venue.execute(log, plan)
    assert log.plan().converged
    log.publish([order("a", price="99.50", qty="0.300")])  # below what was filled
    assert kinds(log.plan()) == [("cancel", "a")]


def test_consumed_never_placed_and_venue_cancel_replaced() -> None:
    log, venue = Log(), PerfectVenue()
    log.publish([order("a", qty="1.000"), order("b", qty="1.000")])
    venue.execute(log, log.plan())
    a, b = (log.ka().intent_orders(i)[0] for i in ("a", "b"))
    log.append(ev_fill(a, "1.000", "t1"))
    log.append(ev_fill(b, "0.250", "t2"), ev_cancelled(b.ref, reason="venue", filled="0.25"))
    plan = log.plan()
    assert [(x.intent_id, x.attempt, x.quantity) for x in plan.actions] == [("b", 2, D("0.750"))]


def test_expectations_no_second_action_while_in_flight() -> None:
    log = Log()
    log.publish([order("a")])
    log.append(ev_submit(log.plan().actions[0]))
    log.publish([order("a", price="98.00")])
    plan = log.plan()
    assert plan.actions == ()
    assert plan.waiting == 1
    assert not plan.converged


def test_position_ioc_and_rounding() -> None:
    log, venue = Log(), PerfectVenue(ioc_fill=D("0.42"))
    log.publish([], position=D("1.000"))
    plan = log.plan(last_price=D("100"))
    (ioc,) = plan.actions
    assert ioc.time_in_force is TimeInForce.IOC
    assert ioc.position_order
    assert ioc.price == D("100.50")
    assert ioc.quantity == D("1.000")
    assert ioc.intent_id == "@pos-1-1"
    venue.execute(log, plan)
    assert log.ka().position == D("0.420")
    (again,) = log.plan(last_price=D("100")).actions
    assert again.quantity == D("0.580")
    assert again.intent_id == "@pos-1-2"
    log.publish([], position=D("0.421"))  # below one step / min notional: nothing
    assert log.plan().actions == ()


def test_risk_limits_drop_actions() -> None:
    log = Log()
    log.publish([order("a", qty="1.000"), order("b", price="50.00"), order("c")])
    limits = RiskLimits(max_order_notional=D("150"), price_band_bps=1000, max_open_orders_per_key=1)
    plan = log.plan(limits=limits, last_price=D("100"))
    assert [a.intent_id for a in plan.actions] == ["a"]
    assert sorted((r.intent_id, r.rule) for r in plan.risk) == [
        ("b", "price_band"),
        ("c", "max_open_orders"),
    ]


def test_oco_fill_drops_siblings_and_expiry() -> None:
    log, venue = Log(), PerfectVenue()
    log.publish([order("a", oco_group="g"), order("b", side="sell", price="101.50", oco_group="g")])
    venue.execute(log, log.plan())
    log.append(ev_fill(log.ka().intent_orders("a")[0], "0.100", "t1"))
    assert kinds(log.plan()) == [("cancel", "b")]


# --------------------------------------------------------------------------- properties

targets = st.lists(st.tuples(target_orders(oco=True), positions), min_size=1, max_size=4)


def _bid(intent: str, tif: TimeInForce) -> TargetOrder:
    return TargetOrder(
        id=intent, side=Side.BUY, type=OrderType.LIMIT, price=Decimal("99.00"),
        quantity=Decimal("0.100"), time_in_force=tif,
    )  # fmt: skip


# Found by hypothesis: 0.05 left to sell at 100 is worth the minimum notional (5) at the
# last price but not at the position order's price (99.5): no action, and converged.
_SMALL_REST = (
    [("publish", 0)] * 7 + [("half", 0), ("publish", 0), ("dupfill", 0), ("publish", 0)],
    [
        ([_bid("i2", TimeInForce.IOC), _bid("i0", TimeInForce.GTC),
          _bid("i1", TimeInForce.GTC), _bid("i3", TimeInForce.IOC)], None),
        ([], Decimal("0")),
        ([], None),
    ],
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(steps, targets)
@example(*_SMALL_REST)
def test_perfect_venue_converges_in_one_step(history: list, tgts: list) -> None:  # type: ignore[type-arg]
    log, venue = Log(), PerfectVenue()
    run_history(log, venue, history, tgts)
    plan = log.plan()
    _check_plan(log, plan)
    venue.execute(log, plan)
    after = log.plan()
    target = log.intent.target(KEY)
    fills_on_execution = target is not None and any(
        o.time_in_force is not TimeInForce.GTC for o in target.target.orders
    )  # an IOC intent fills at once: its fill may trip an oco group or move the position,
    # which the next plan then answers (a second step, by design)
    if not fills_on_execution:
        # the perfect venue fills position IOCs entirely, so one step reaches the target
        assert after.actions == (), after.actions
        assert after.converged
        assert log.plan().actions == ()


@settings(max_examples=150, deadline=None)
@given(lossy_steps, targets)
def test_incremental_equals_full(history: list, tgts: list) -> None:  # type: ignore[type-arg]
    log, venue = Log(), PerfectVenue()
    for step in history:
        run_history(log, venue, [step], tgts)
        inc = log.plan()
        full = log.plan(incremental=False)
        assert inc == full


def _check_plan(log: Log, plan: object) -> None:
    actions = plan.actions  # type: ignore[attr-defined]
    placed = [a.intent_id for a in actions if a.kind is not ActionKind.CANCEL]
    assert len(placed) == len(set(placed)), "two live orders for one intent"
    ka = log.ka()
    target = log.intent.target(KEY)
    for action in actions:
        if action.kind is ActionKind.CANCEL or action.position_order:
            continue
        progress = ka.progress(action.intent_id)
        assert not progress.consumed, "consumed intent placed"
        assert target is not None
        want = target.orders[action.intent_id]
        assert action.quantity + progress.filled <= want.quantity, "over-fill"
        live = ka.intent_orders(action.intent_id)
        if action.kind is ActionKind.PLACE:
            assert live == ()
        else:
            assert action.replaces in {o.client_order_id for o in live}
        assert action.attempt == progress.attempt + 1


def test_market_none_and_open_status() -> None:
    log = Log()
    log.publish([order("a")])
    plan = diff(log.effective(), log.ka(), None)
    assert kinds(plan) == [("place", "a")]
    assert OrderStatus.NEW.is_open
    assert MARKET.tick == D("0.01")


def test_kernel_actions_are_valid_catalog_values() -> None:
    log = Log()
    log.publish([order("a"), order("b", side="sell", price="101.50")], position=D("0.500"))
    for action in log.plan().actions:
        again = Action.model_validate_json(action.model_dump_json())
        assert again == action
        assert again.model_dump_json() == action.model_dump_json()
