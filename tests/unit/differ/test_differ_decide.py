"""When a decision is recorded: new actions, or a change of generation / converged / risk."""

from __future__ import annotations

from decimal import Decimal

from setpoint.core.events import (
    Action,
    ActionKind,
    CancelSubmitted,
    CancelSubmittedData,
    DiffComputedData,
    OrderPlaced,
    OrderPlacedData,
    OrderSubmitted,
    OrderSubmittedData,
    RiskReason,
)
from setpoint.core.model import Key, OrderType, Producer, Side
from setpoint.differ.decide import carries_out, should_append

PLACE = Action(
    kind=ActionKind.PLACE,
    intent_id="b1",
    client_order_id="sp-aaaaaa-bbbbbbbbbbbb-1",
    attempt=1,
    side=Side.BUY,
    price=Decimal("64000.00"),
    quantity=Decimal("0.01"),
)
CANCEL = Action(kind=ActionKind.CANCEL, intent_id="b0", client_order_id="sp-aaaaaa-cccccccccccc-1")


def data(
    *actions: Action, generation: int = 7, converged: bool = False, **kw: object
) -> DiffComputedData:
    return DiffComputedData(
        generation=generation,
        target_event_id="00000000-0000-4000-8000-000000000000",
        actions=actions,
        converged=converged,
        **kw,  # type: ignore[arg-type]
    )


def test_the_first_decision_is_recorded() -> None:
    assert should_append(data(), None)
    assert should_append(data(PLACE), None)


def test_the_same_actions_again_are_not_recorded() -> None:
    assert not should_append(data(PLACE), data(PLACE))
    assert not should_append(data(PLACE, generation=8), data(PLACE)), "still in flight"


def test_different_actions_are_recorded() -> None:
    assert should_append(data(PLACE, CANCEL), data(PLACE))
    assert should_append(data(PLACE.model_copy(update={"attempt": 2})), data(PLACE))
    assert should_append(data(PLACE.model_copy(update={"quantity": Decimal("0.02")})), data(PLACE))


def test_a_plan_shrinking_while_the_executor_works_is_not_recorded() -> None:
    last = data(CANCEL, PLACE)
    assert not should_append(data(PLACE), last, {CANCEL.client_order_id})
    assert not should_append(data(), last, {CANCEL.client_order_id})


def test_an_action_needed_again_after_the_executor_tried_it_is_recorded() -> None:
    assert should_append(data(CANCEL), data(CANCEL), {CANCEL.client_order_id})


def test_no_action_is_recorded_only_when_something_changed() -> None:
    assert not should_append(data(), data(PLACE)), "the last plan is being carried out"
    assert not should_append(data(), data())
    assert should_append(data(converged=True), data(PLACE))
    assert should_append(data(generation=8), data(generation=7))
    risk = (RiskReason(intent_id="b1", rule="max_order_notional", detail="too big"),)
    assert should_append(data(risk=risk), data())


# --------------------------------------------------------------------------- carries_out

KEY = Key("acct", "BTC/USDT")
LAST_ID = "11111111-1111-4111-8111-111111111111"
OLDER_ID = "22222222-2222-4222-8222-222222222222"


def _submitted(action: Action, causation: str | None = LAST_ID) -> OrderSubmitted:
    order = OrderSubmittedData.of_action(action.model_copy(update={"type": OrderType.LIMIT}))
    return OrderSubmitted.create(
        KEY, Producer.EXECUTOR, order,
        correlation_id=LAST_ID, causation_id=causation,
    )  # fmt: skip


def _cancel_submitted(action: Action) -> CancelSubmitted:
    data = CancelSubmittedData(client_order_id=action.client_order_id, intent_id=action.intent_id)
    return CancelSubmitted.create(
        KEY, Producer.EXECUTOR, data, correlation_id=LAST_ID, causation_id=LAST_ID
    )


def test_the_write_ahead_of_the_last_plain_decision_leaves_it_standing() -> None:
    last = data(CANCEL, PLACE)
    assert carries_out(_submitted(PLACE), last, LAST_ID)
    assert carries_out(_cancel_submitted(CANCEL), last, LAST_ID)


def test_anything_else_is_decided_again() -> None:
    last = data(CANCEL, PLACE)
    other = PLACE.model_copy(update={"client_order_id": "sp-aaaaaa-dddddddddddd-1"})
    assert not carries_out(_submitted(other), last, LAST_ID), "not an action of the plan"
    assert not carries_out(_submitted(PLACE, causation=OLDER_ID), last, LAST_ID), "an older plan"
    assert not carries_out(_submitted(PLACE, causation=None), last, LAST_ID)
    assert not carries_out(_submitted(PLACE), None, None), "no decision yet"
    risk = (RiskReason(intent_id="b2", rule="max_open_orders_per_key", detail="x"),)
    assert not carries_out(_submitted(PLACE), data(PLACE, risk=risk), LAST_ID), "refusals"
    amend = PLACE.model_copy(update={"kind": ActionKind.AMEND, "replaces": "sp-old"})
    assert not carries_out(_submitted(PLACE), data(PLACE, amend), LAST_ID), "an amend"
    assert not carries_out(_submitted(amend), data(amend), LAST_ID)
    placed = OrderPlaced.create(
        KEY, Producer.EXECUTOR,
        OrderPlacedData(client_order_id=PLACE.client_order_id, order_id="1"),
        causation_id=LAST_ID,
    )  # fmt: skip
    assert not carries_out(placed, last, LAST_ID), "an answer is decided on"
