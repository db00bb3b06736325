"""One venue vocabulary: the reconcile kernel, the gateway and the command replies share one
`VenueOrder` and one `VenueFill`, and a place is built from its write-ahead record.

The replies' JSON below is what they were on the wire before the vocabularies were joined:
it must not change by a byte. A place is its write-ahead record plus the symbol: the
record's JSON (the `OrderSubmitted` event's data) is unchanged, the command carries it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from setpoint.core import reconcile
from setpoint.core.events import Action, ActionKind, Liquidity, OrderStatus, OrderSubmittedData
from setpoint.core.model import OrderType, Side, TimeInForce
from setpoint.venues.commands import ORDER_FIELDS, CommandReply, PlaceCommand

D = Decimal
REPLY_JSON = (
    '{"ok":true,"outcome":null,"code":null,"reason":"","terminal":false,"duplicate":false,'
    '"order":{"order_id":"42","client_order_id":"sp-demo-x","symbol":"BTC/USDT","side":"buy",'
    '"type":"limit","time_in_force":"GTC","price":"100.10","quantity":"0.500",'
    '"filled":"0.200","status":"PARTIALLY_FILLED","venue_time":"2026-01-02T03:04:05.678000Z"},'
    '"fills":[{"trade_id":"7","order_id":"42","client_order_id":null,"symbol":"BTC/USDT",'
    '"side":"buy","price":"100.10","quantity":"0.200","fee":"0.0002","fee_currency":"BTC",'
    '"liquidity":"maker","traded_at":"2026-01-02T03:04:05Z"}],'
    '"answered_at":"2026-01-02T03:04:06Z","replaced":null}'  # replaced: an amend's (added last)
)
SUBMITTED_JSON = (
    '{"client_order_id":"sp-demo-x","intent_id":"x1","attempt":2,"side":"sell",'
    '"type":"limit","price":"61000.00","quantity":"0.010","time_in_force":"IOC",'
    '"post_only":false,"reduce_only":true,"position_order":false,"replaces":null'
)
PLACE_JSON = SUBMITTED_JSON + ',"command":"place","symbol":"BTC/USDT"}'


def _reply() -> CommandReply:
    order = reconcile.VenueOrder(
        order_id="42", client_order_id="sp-demo-x", symbol="BTC/USDT", side=Side.BUY,
        type=OrderType.LIMIT, time_in_force=TimeInForce.GTC, price=D("100.10"),
        quantity=D("0.500"), filled=D("0.200"), status=OrderStatus.PARTIALLY_FILLED,
        venue_time=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    )  # fmt: skip
    fill = reconcile.VenueFill(
        trade_id="7", order_id="42", client_order_id=None, symbol="BTC/USDT", side=Side.BUY,
        price=D("100.10"), quantity=D("0.200"), fee=D("0.0002"), fee_currency="BTC",
        liquidity=Liquidity.MAKER, traded_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )  # fmt: skip
    return CommandReply(
        ok=True, order=order, fills=(fill,), answered_at=datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC)
    )


def test_the_replies_carry_the_kernels_classes() -> None:
    fields = CommandReply.model_fields
    assert fields["order"].annotation == reconcile.VenueOrder | None
    assert fields["fills"].annotation == tuple[reconcile.VenueFill, ...]


def test_a_reply_keeps_its_json() -> None:
    reply = _reply()
    assert reply.model_dump_json() == REPLY_JSON
    assert CommandReply.model_validate_json(REPLY_JSON) == reply


def _place(**fields: object) -> Action:
    values: dict[str, object] = {
        "kind": ActionKind.PLACE, "intent_id": "x1", "client_order_id": "sp-demo-x",
        "attempt": 2, "side": Side.SELL, "type": OrderType.LIMIT, "price": D("61000.00"),
        "quantity": D("0.010"), "time_in_force": TimeInForce.IOC, "reduce_only": True,
    }  # fmt: skip
    values.update(fields)
    return Action(**values)  # type: ignore[arg-type]


def test_a_place_is_built_from_its_write_ahead_record() -> None:
    submitted = OrderSubmittedData.of_action(_place())
    assert submitted.model_dump_json() == SUBMITTED_JSON + "}"
    place = PlaceCommand.of_submitted("BTC/USDT", submitted)
    assert place.model_dump_json() == PLACE_JSON
    assert PlaceCommand.model_validate_json(PLACE_JSON) == place
    for name in ORDER_FIELDS:
        assert getattr(place, name) == getattr(submitted, name)


@pytest.mark.parametrize(
    "fields",
    [
        {"type": OrderType.MARKET, "price": None, "time_in_force": None},
        {"post_only": True, "reduce_only": False, "time_in_force": TimeInForce.GTC},
        {"kind": ActionKind.AMEND, "replaces": "sp-demo-old"},
    ],
)
def test_every_order_field_of_a_place_is_the_records(fields: dict[str, object]) -> None:
    submitted = OrderSubmittedData.of_action(_place(**fields))
    place = PlaceCommand.of_submitted("BTC/USDT:USDT", submitted)
    assert place.symbol == "BTC/USDT:USDT"
    assert {n: getattr(place, n) for n in ORDER_FIELDS} == submitted.model_dump(
        include=set(ORDER_FIELDS)
    )


def test_a_place_is_its_record_plus_the_symbol() -> None:
    """One description of an order: the place command is the write-ahead record's type."""
    assert issubclass(PlaceCommand, OrderSubmittedData)
    assert set(PlaceCommand.model_fields) == ORDER_FIELDS | {"command", "symbol"}
