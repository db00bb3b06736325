"""When a decision is recorded: new actions, or a change of generation / converged / risk."""

from __future__ import annotations

from decimal import Decimal

from setpoint.core.events import Action, ActionKind, DiffComputedData, RiskReason
from setpoint.core.model import Side
from setpoint.differ.decide import should_append

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
