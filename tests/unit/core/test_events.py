"""The event catalog: strict decimals, frozen values, clear parse errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from setpoint.core.events import (
    EVENT_TYPES,
    Action,
    ActionKind,
    EventParseError,
    FillObserved,
    OrderSubmittedData,
    parse_event,
)
from setpoint.core.model import Key, Producer, Side
from setpoint.testing.synthetic import fill_data

KEY = Key("demo", "BTC/USDT")


def _fill() -> FillObserved:
    price, quantity = Decimal("60000.10"), Decimal("0.001")
    data = fill_data(None, "2", Side.BUY, price, quantity, trade_id="1", fee=Decimal("0.03"))
    return FillObserved.create(KEY, Producer.GATEWAY, data)


def test_round_trip_keeps_every_digit() -> None:
    event = _fill()
    again = parse_event(event.to_json())
    assert again == event
    assert again.data.price == Decimal("60000.10")
    assert b'"price":"60000.10"' in event.to_json()


def test_a_new_event_starts_its_own_chain() -> None:
    event = _fill()
    assert event.correlation_id == event.event_id
    assert event.causation_id is None


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda raw: raw.replace(b'"0.001"', b"0.001"), "binary float"),
        (lambda raw: raw.replace(b'"0.001"', b"1"), "decimal string"),
        (lambda raw: raw.replace(b'"0.001"', b'"NaN"'), "finite"),
        (lambda raw: raw.replace(b'"FillObserved"', b'"Nope"'), "Nope"),
        (lambda raw: raw.replace(b'"schema_version":1', b'"schema_version":9'), "schema_version"),
        (lambda raw: raw[:20], "JSON"),
        (lambda raw: raw.replace(b'"side":"buy"', b'"side":"BUY"'), "side"),
    ],
)
def test_bad_wire_bytes_are_refused_with_a_reason(mutate, why) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EventParseError, match=why):
        parse_event(mutate(_fill().to_json()))


def test_events_are_frozen() -> None:
    event = _fill()
    with pytest.raises(Exception, match="frozen"):
        event.account = "other"  # type: ignore[misc]


def test_the_catalog_has_the_names_the_design_requires() -> None:
    required = {
        "TargetPublished", "TargetRejected", "MarketsLoaded", "DiffComputed", "OrderSubmitted",
        "OrderPlaced", "OrderRejected", "CancelSubmitted", "OrderCancelled", "OrderObserved",
        "FillObserved", "PositionObserved", "BalanceObserved", "ReconciliationCompleted",
        "RiskRejected",
    }  # fmt: skip
    assert required <= set(EVENT_TYPES)


def test_a_place_without_a_side_is_a_malformed_plan_not_a_buy() -> None:
    action = Action(
        kind=ActionKind.PLACE, client_order_id="x", quantity=Decimal("1"), price=Decimal("1")
    )
    with pytest.raises(ValueError, match="lacks side"):
        OrderSubmittedData.of_action(action)
