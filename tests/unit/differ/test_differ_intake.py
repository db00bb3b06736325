"""Target intake: every bad input of a published target is refused with `<field path>: <why>`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from setpoint.config import AccountConfig
from setpoint.core.model import MarketInfo, OrderType, TargetState
from setpoint.differ.intake import Rejection, validate_target
from setpoint.testing.synthetic import market

BTC = market("BTC/USDT", min_quantity=Decimal("0.00001"))
MARKETS = {"BTC/USDT": BTC}
ACCOUNTS = {"demo": AccountConfig(max_orders_per_target=3)}


def order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "b1-0007",
        "side": "buy",
        "type": "limit",
        "price": "64000.00",
        "quantity": "0.010",
        "time_in_force": "GTC",
        "post_only": False,
        "reduce_only": False,
        "oco_group": None,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()


def body(**changes: Any) -> bytes:
    target: dict[str, Any] = {
        "account": "demo",
        "symbol": "BTC/USDT",
        "generation": 7,
        "strategy": "grid-1",
        "position": None,
        "expires_at": None,
        "orders": [order()],
    }
    target.update(changes)
    return json.dumps({k: v for k, v in target.items() if v is not _DROP}).encode()


def check(
    raw: bytes,
    account: str = "demo",
    token: str = "BTC-USDT",
    markets: dict[str, MarketInfo] | None = MARKETS,
    last: int | None = None,
) -> TargetState | Rejection:
    return validate_target(raw, account, token, ACCOUNTS, markets, last)


def error_of(raw: bytes, **kwargs: Any) -> str:
    result = check(raw, **kwargs)
    assert isinstance(result, Rejection), result
    return result.error


def test_the_contract_example_is_accepted() -> None:
    target = check(body())
    assert isinstance(target, TargetState)
    assert target.generation == 7
    assert target.orders[0].price == Decimal("64000.00")
    assert target.orders[0].quantity == Decimal("0.010")


def test_a_market_order_has_no_price() -> None:
    ok = check(body(orders=[order(type="market", price=None, time_in_force="IOC")]))
    assert isinstance(ok, TargetState)
    assert ok.orders[0].type is OrderType.MARKET
    assert (
        error_of(body(orders=[order(type="market")]))
        == "orders[0].price: a market order has no price"
    )


def test_a_limit_order_needs_a_price() -> None:
    assert (
        error_of(body(orders=[order(price=_DROP)]))
        == "orders[0].price: a limit order needs a price"
    )


def test_expires_at_is_normalised_to_utc() -> None:
    target = check(body(expires_at="2030-01-01T02:00:00+02:00"))
    assert isinstance(target, TargetState)
    assert target.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert error_of(body(expires_at="2030-01-01T00:00:00")).startswith("expires_at: needs a UTC")


@pytest.mark.parametrize(
    ("raw", "kwargs", "expected"),
    [
        (body(), {"account": "nobody"}, "account: unknown account 'nobody'"),
        (
            body(symbol="DOGE/USDT"),
            {"token": "DOGE-USDT"},
            "symbol: unknown symbol 'DOGE/USDT' on account 'demo'",
        ),
        (
            body(orders=[order(price="64,000")]),
            {},
            "orders[0].price: '64,000' is not a decimal number",
        ),
        (
            body(orders=[order(quantity="-0.01")]),
            {},
            "orders[0].quantity: -0.01 must be greater than 0",
        ),
        (
            body(orders=[order(price="-64000")]),
            {},
            "orders[0].price: -64000 must be greater than 0",
        ),
        (
            body(orders=[order(price=64000.5)]),
            {},
            "orders[0].price: 64000.5 is a binary float; send a decimal string",
        ),
        (body(position=0.5), {}, "position: 0.5 is a binary float; send a decimal string"),
        (
            body(orders=[order(quantity=1)]),
            {},
            "orders[0].quantity: 1 is a JSON number; send a decimal string",
        ),
        (
            body(orders=[order(price="64000.005")]),
            {},
            "orders[0].price: 64000.005 is not a multiple of the tick 0.01",
        ),
        (
            body(orders=[order(quantity="0.0100001")]),
            {},
            "orders[0].quantity: 0.0100001 is not a multiple of the step 0.00001",
        ),
        (
            body(orders=[order(price="100.00", quantity="0.01000")]),
            {},
            "orders[0]: notional 1.0000000 (price x quantity) is below the minimum notional 5",
        ),
        (
            body(orders=[order(), order(price="63000.00")]),
            {},
            "orders[1].id: duplicate intent id 'b1-0007' (also orders[0])",
        ),
        (
            body(generation=7),
            {"last": 7},
            "generation: 7 is stale: not above the last accepted generation 7",
        ),
        (
            body(generation=6),
            {"last": 7},
            "generation: 6 is stale: not above the last accepted generation 7",
        ),
        (
            body(orders=[order(id=f"b{i}") for i in range(4)]),
            {},
            "orders: 4 orders, more than max_orders_per_target 3",
        ),
        (
            body(),
            {"token": "ETH-USDT"},
            "symbol: 'BTC/USDT' does not match the subject's symbol token 'ETH-USDT' "
            "(expected 'BTC-USDT')",
        ),
        (body(account="other"), {}, "account: 'other' does not match the subject's account 'demo'"),
        (body(generation=_DROP), {}, "generation: is required"),
        (body(orders=[order(side=_DROP)]), {}, "orders[0].side: is required"),
        (body(orders=[order(quantity=_DROP)]), {}, "orders[0].quantity: is required"),
        (body(generation="7"), {}, "generation: '7' is not an integer"),
        (
            body(orders=[order(side="long")]),
            {},
            "orders[0].side: long is not one of 'buy' or 'sell'",
        ),
        (body(colour="red"), {}, "colour: is not a known field"),
        (b'{"account": "demo",', {}, "body: invalid JSON"),
        (b"\xff\xfe", {}, "body: invalid JSON"),
        (b"[1, 2]", {}, "body: must be a JSON object, not list"),
        (
            body(orders=[order(post_only=True, time_in_force="IOC")]),
            {},
            "orders[0].post_only: a post-only order must be a GTC limit order",
        ),
        (
            body(position="0.000001"),
            {},
            "position: 0.000001 is not a multiple of the step 0.00001",
        ),
    ],
)
def test_bad_input_is_rejected_with_its_field_path(
    raw: bytes, kwargs: dict[str, Any], expected: str
) -> None:
    assert error_of(raw, **kwargs).startswith(expected)


def test_markets_not_loaded_is_a_clear_error() -> None:
    error = error_of(body(), markets=None)
    assert error.startswith("symbol: markets of account 'demo' are not loaded yet")
    assert "MarketsLoaded" in error


def test_a_rejection_keeps_what_could_be_read() -> None:
    result = check(body(generation=9, orders=[order(price="1.001")]))
    assert result == Rejection(
        "orders[0].price: 1.001 is not a multiple of the tick 0.01", generation=9, strategy="grid-1"
    )
    assert check(b"nope") == Rejection(
        "body: invalid JSON (Expecting value: line 1 column 1 (char 0))"
    )


def test_a_newer_generation_is_accepted() -> None:
    assert isinstance(check(body(generation=8), last=7), TargetState)


def test_an_empty_target_is_valid() -> None:
    target = check(body(orders=[], position="0.5"))
    assert isinstance(target, TargetState)
    assert target.orders == ()
    assert target.position == Decimal("0.5")


def test_every_error_is_listed_the_first_one_as_error() -> None:
    raw = body(
        account="other",
        generation=3,
        position="0.000001",
        orders=[
            order(price="1.001", quantity="0.0100001"),
            order(id="b2", type="market"),
            order(id="b2", price="64000.00"),
        ],
    )
    result = check(raw, last=5)
    assert isinstance(result, Rejection)
    assert result.all_errors == (
        "account: 'other' does not match the subject's account 'demo'",
        "generation: 3 is stale: not above the last accepted generation 5",
        "orders[0].quantity: 0.0100001 is not a multiple of the step 0.00001",
        "orders[0].price: 1.001 is not a multiple of the tick 0.01",
        "orders[0]: notional 0.0100101001 (price x quantity) is below the minimum notional 5",
        "orders[1].price: a market order has no price",
        "orders[2].id: duplicate intent id 'b2' (also orders[1])",
        "position: 0.000001 is not a multiple of the step 0.00001",
    )
    assert result.error == result.all_errors[0]


def test_every_schema_error_is_listed() -> None:
    raw = body(generation="7", orders=[order(price=64000, side="up", colour="red")])
    result = check(raw)
    assert isinstance(result, Rejection)
    assert len(result.all_errors) == 4
    assert result.error == result.all_errors[0]
    assert {e.split(":")[0] for e in result.all_errors} == {
        "generation",
        "orders[0].price",
        "orders[0].side",
        "orders[0].colour",
    }


def test_an_unknown_market_stops_the_checks() -> None:
    result = check(body(symbol="DOGE/USDT", generation=1), token="DOGE-USDT", last=5)
    assert isinstance(result, Rejection)
    assert result.all_errors == ("symbol: unknown symbol 'DOGE/USDT' on account 'demo'",)
