"""The executor's gauges (`executor.metering`) from its projection, as named scenarios."""

from __future__ import annotations

from setpoint.core.events import DiffComputed, DiffComputedData, OrderSubmitted
from setpoint.core.model import Key, Producer
from setpoint.core.projections import ActualState, apply_actual
from setpoint.executor.metering import actions_pending, in_flight
from setpoint.testing.synthetic import buy, place_action, submitted_data

KEY = Key("demo", "BTC/USDT")
LABELS = {"account": "demo", "symbol": "BTC/USDT"}


def _plan() -> DiffComputed:
    actions = (place_action(KEY, buy("b1")), place_action(KEY, buy("b2", price="59000")))
    data = DiffComputedData(generation=1, target_event_id="t", actions=actions)
    return DiffComputed.create(KEY, Producer.DIFFER, data)


def _written_ahead(plan: DiffComputed, count: int) -> ActualState:
    actual = ActualState.empty()
    for position, action in enumerate(plan.data.actions[:count], start=1):
        event = OrderSubmitted.create(KEY, Producer.EXECUTOR, submitted_data(action))
        actual = apply_actual(actual, position, event)
    return actual


def test_a_fresh_plan_has_all_its_actions_pending() -> None:
    plan = _plan()
    assert actions_pending(ActualState.empty(), {KEY: plan}, {}, set()) == [(2.0, LABELS)]


def test_actions_written_ahead_or_sent_are_no_longer_pending() -> None:
    plan = _plan()
    actual = _written_ahead(plan, 1)
    assert actions_pending(actual, {KEY: plan}, {}, set()) == [(1.0, LABELS)]
    sent = {plan.data.actions[1].client_order_id}
    assert actions_pending(actual, {KEY: plan}, {}, sent) == [(0.0, LABELS)]


def test_a_plan_that_has_run_has_nothing_pending() -> None:
    plan = _plan()
    done = {KEY: plan.event_id}
    assert actions_pending(ActualState.empty(), {KEY: plan}, done, set()) == [(0.0, LABELS)]


def test_submissions_without_an_answer_are_in_flight_and_no_cancel_is() -> None:
    plan = _plan()
    actual = _written_ahead(plan, 2)
    assert in_flight(actual, {KEY}, "submit") == [(2.0, LABELS)]
    assert in_flight(actual, {KEY}, "cancel") == [(0.0, LABELS)]
    assert in_flight(ActualState.empty(), {KEY}, "submit") == []
