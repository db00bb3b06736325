"""Lost attempts (semantics §4, in flight): an attempt the venue never acknowledged, closed
as lost, never consumes its intent, whatever its time in force; the intent is placed again
under attempt + 1, and a position order is recomputed as if the lost one never was."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from tests.unit.core import strategies as kit
from tests.unit.core.strategies import KEY, PERP, History, Log, at, lossy_histories, order, played
from tests.unit.core.test_scenarios import run, snapshot

from setpoint.core.diff import position_delta
from setpoint.core.events import Action, ActionKind, OrderStatus
from setpoint.core.ids import client_order_id
from setpoint.core.model import OrderType, TimeInForce
from setpoint.core.reconcile import Fetched

D = Decimal

KINDS = [
    pytest.param({"time_in_force": TimeInForce.GTC}, id="GTC"),
    pytest.param({"time_in_force": TimeInForce.IOC}, id="IOC"),
    pytest.param({"time_in_force": TimeInForce.FOK}, id="FOK"),
    pytest.param({"type": OrderType.MARKET, "price": None}, id="market"),
]


def _submitted(log: Log, **terms: object) -> Action:
    log.publish([order("a", **terms)])  # type: ignore[arg-type]
    (action,) = log.plan().actions
    log.append(kit.ev_submit(action, at=at(0)))
    return action


def _lose(log: Log, coid: str) -> None:
    """Reconciliation declares `coid` lost (three not-found answers over 11 s); the
    gateway's cancel by client order id finds nothing and records it lost."""
    for when in (10, 15, 21):
        log.now = at(when)
        out = run(log, snapshot(log, [], queries={coid: Fetched.of(None)}))
    ((_key, cancel),) = out.actions
    assert (cancel.kind, cancel.client_order_id, cancel.reason) == (ActionKind.CANCEL, coid, "lost")
    log.append(kit.ev_cancelled(coid, reason="lost"))


@pytest.mark.parametrize("terms", KINDS)
def test_a_lost_attempt_is_placed_again_under_the_next_attempt(terms: dict[str, object]) -> None:
    log = Log()
    first = _submitted(log, **terms)
    _lose(log, first.client_order_id)
    lost = log.actual.order(KEY, first.client_order_id)
    assert lost is not None
    assert (lost.status, lost.lost, lost.consumes_intent) == (OrderStatus.CANCELED, True, False)
    assert not log.actual.consumed(KEY, "a")
    (again,) = log.plan().actions
    assert (again.kind, again.intent_id, again.attempt) == (ActionKind.PLACE, "a", 2)
    assert again.client_order_id == client_order_id("demo", "BTC/USDT", "a", 2)
    assert (again.quantity, again.time_in_force, again.type) == (
        first.quantity,
        first.time_in_force,
        first.type,
    )
    assert log.plan(incremental=False).actions == (again,)


def test_the_next_attempt_of_an_ioc_finishes_the_intent_as_usual() -> None:
    log = Log()
    first = _submitted(log, time_in_force=TimeInForce.IOC)
    _lose(log, first.client_order_id)
    kit.PerfectVenue(ioc_fill=D("0.5")).execute(log, log.plan())
    assert log.actual.consumed(KEY, "a")
    assert log.plan().actions == ()
    assert log.ka().position == D("0.500")


def test_a_late_fill_of_a_lost_ioc_makes_it_count_and_consume() -> None:
    """Declared lost, yet it had traded: its fill counts, and the IOC intent is finished."""
    log = Log()
    first = _submitted(log, time_in_force=TimeInForce.IOC)
    _lose(log, first.client_order_id)
    lost = log.actual.order(KEY, first.client_order_id)
    assert lost is not None
    log.append(kit.ev_fill(lost, "0.300", "t-late"))
    assert log.ka().position == D("0.300")
    assert log.actual.consumed(KEY, "a")
    assert log.plan().actions == ()


def test_a_late_fill_of_a_lost_gtc_leaves_only_the_rest_to_place() -> None:
    log = Log()
    first = _submitted(log)
    _lose(log, first.client_order_id)
    lost = log.actual.order(KEY, first.client_order_id)
    assert lost is not None
    log.append(kit.ev_fill(lost, "0.300", "t-late"))
    (again,) = log.plan().actions
    assert (again.attempt, again.quantity) == (2, D("0.700"))


def test_a_cancel_that_finds_the_order_is_not_a_loss() -> None:
    """`lost` with the venue's order id (an older gateway recorded it so when the cancel
    found the order) is a plain cancel: an IOC that reached the venue is finished."""
    log = Log()
    first = _submitted(log, time_in_force=TimeInForce.IOC)
    log.append(kit.ev_cancelled(first.client_order_id, reason="lost", order_id="v-9"))
    rec = log.actual.order(KEY, first.client_order_id)
    assert rec is not None
    assert not rec.lost
    assert log.actual.consumed(KEY, "a")


def test_an_answer_folded_before_the_loss_wins() -> None:
    """The executor's late answer (OrderPlaced) came before the gateway's `lost`: the order
    was acknowledged, so the `lost` record is a plain cancel of a GTC (not consumed)."""
    log = Log()
    first = _submitted(log)
    log.append(kit.ev_placed(first.client_order_id, "v-1"))
    log.append(kit.ev_cancelled(first.client_order_id, reason="lost"))
    rec = log.actual.order(KEY, first.client_order_id)
    assert rec is not None
    assert (rec.status, rec.lost) == (OrderStatus.CANCELED, False)
    (again,) = log.plan().actions
    assert again.attempt == 2


def test_an_in_flight_ioc_closed_otherwise_still_finishes_its_intent() -> None:
    """Only a loss is exempt (rejections: unchanged, see test_backoff)."""
    log = Log()
    first = _submitted(log, time_in_force=TimeInForce.IOC)
    log.append(kit.ev_cancelled(first.client_order_id, reason="requested"))
    assert log.actual.consumed(KEY, "a")


def test_a_lost_position_ioc_contributed_nothing_and_the_delta_is_traded_again() -> None:
    log = Log()
    log.publish([], key=PERP, position=D("1.000"))
    (ioc,) = log.plan(PERP).actions
    assert (ioc.intent_id, ioc.quantity, ioc.position_order) == ("@pos-1-1", D("1.000"), True)
    log.append(kit.ev_submit(ioc, PERP, at=at(0)))
    assert position_delta(log.effective(PERP), log.ka(PERP)) == 0  # in flight: counted
    assert log.plan(PERP).actions == ()
    log.append(kit.ev_cancelled(ioc.client_order_id, PERP, reason="lost"))
    assert log.ka(PERP).position_open == 0
    assert position_delta(log.effective(PERP), log.ka(PERP)) == D("1.000")
    (again,) = log.plan(PERP).actions
    assert (again.intent_id, again.quantity, again.side) == ("@pos-1-2", D("1.000"), ioc.side)
    assert not log.ka(PERP).backoff  # a loss is no rejection: no backoff
    kit.PerfectVenue(ioc_fill=D("0.4")).execute(log, log.plan(PERP))
    (rest,) = log.plan(PERP).actions
    assert (rest.intent_id, rest.quantity) == ("@pos-1-3", D("0.600"))


# --------------------------------------------------------------------------- property


def _terms(action: Action) -> tuple[object, ...]:
    intent = action.intent_id or ""
    if action.position_order:
        intent = "@pos"  # each position order has its own intent id
    return (action.kind, intent, action.side, action.type, action.price, action.quantity,
            action.time_in_force, action.replaces)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(lossy_histories(max_targets=3))
def test_a_lost_attempt_is_as_if_it_never_was_but_for_its_number(history: History) -> None:
    """Whatever happened before, submitting the plan's places and losing them all leaves the
    differ with the same plan, each place under the next attempt."""
    log = played(history)
    log.now = at(100)
    plan = log.plan()
    places = [a for a in plan.actions if a.kind is ActionKind.PLACE]
    for action in places:
        log.append(kit.ev_submit(action, at=log.now))
    for action in places:
        log.append(kit.ev_cancelled(action.client_order_id, reason="lost"))
    again = log.plan()
    assert sorted(map(_terms, again.actions)) == sorted(map(_terms, plan.actions))  # type: ignore[arg-type]
    assert again == log.plan(incremental=False)
    attempts = {a.intent_id: a.attempt for a in places if not a.position_order}
    for action in again.actions:
        if action.kind is ActionKind.PLACE and not action.position_order:
            assert action.attempt == attempts[action.intent_id] + 1  # type: ignore[operator]
