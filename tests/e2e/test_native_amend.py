"""Native amends with real processes on the simulator (Binance dialect): a USD-M perp
order is amended in place (one venue order id throughout), a spot order is replaced in one
request under the intent's next attempt, and a fill that races an in-place amend leaves
exactly the intent's remaining quantity open."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from system import ACCOUNT, System, eventually

from setpoint.core.events import AmendSubmitted, CancelSubmitted, OrderSubmitted
from setpoint.core.ids import account_prefix, intent_hash, parse_client_order_id

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


def order(intent: str, price: str, qty: str) -> dict[str, Any]:
    return {"id": intent, "side": "buy", "price": price, "quantity": qty}


async def of_intent(system: System, symbol: str, intent: str) -> list[dict[str, Any]]:
    """Every venue order of `intent` on `symbol`, open or not."""
    prefix = f"{account_prefix(ACCOUNT)}{intent_hash(symbol, intent)}-"
    state = await system.venue()
    return [
        o
        for o in state["orders"]
        if o["symbol"] == symbol and (o["client_order_id"] or "").startswith(prefix)
    ]


def is_open(venue_order: dict[str, Any]) -> bool:
    return venue_order["status"] in ("NEW", "PARTIALLY_FILLED")


async def working_at(system: System, symbol: str, intent: str, price: str) -> list[Any]:
    """The intent's open orders once exactly one works at `price` (else empty)."""
    live = [o for o in await of_intent(system, symbol, intent) if is_open(o)]
    return live if len(live) == 1 and Decimal(live[0]["price"]) == Decimal(price) else []


async def test_a_perp_amend_goes_in_place_one_venue_order_throughout(system: System) -> None:
    await system.target(PERP, [order("na-p1", "58000.0", "0.010")])
    first = await eventually(lambda: working_at(system, PERP, "na-p1", "58000.0"), what="placed")
    await system.target(PERP, [order("na-p1", "57900.0", "0.010")])
    moved = await eventually(lambda: working_at(system, PERP, "na-p1", "57900.0"), what="amend")
    assert moved[0]["order_id"] == first[0]["order_id"]
    assert moved[0]["client_order_id"] == first[0]["client_order_id"]
    assert len(await of_intent(system, PERP, "na-p1")) == 1  # never a second order
    coid = first[0]["client_order_id"]
    amends = [
        e for e in await system.events(PERP, "AmendSubmitted") if isinstance(e, AmendSubmitted)
    ]
    assert [e.data.quantity for e in amends if e.data.client_order_id == coid] == [Decimal("0.010")]
    cancels = await system.events(PERP, "CancelSubmitted")
    assert not [
        e for e in cancels if isinstance(e, CancelSubmitted) and e.data.client_order_id == coid
    ]


async def test_a_spot_amend_is_a_replace_under_the_next_attempt(system: System) -> None:
    await system.target(SPOT, [order("na-s1", "57000.00", "0.01000")])
    first = await eventually(lambda: working_at(system, SPOT, "na-s1", "57000.00"), what="placed")
    await system.target(SPOT, [order("na-s1", "56900.00", "0.01000")])
    moved = await eventually(lambda: working_at(system, SPOT, "na-s1", "56900.00"), what="replace")
    assert moved[0]["order_id"] != first[0]["order_id"]
    parsed = parse_client_order_id(ACCOUNT, moved[0]["client_order_id"])
    assert parsed is not None
    assert parsed.attempt == 2
    submitted = [
        e for e in await system.events(SPOT, "OrderSubmitted") if isinstance(e, OrderSubmitted)
    ]
    replace = [e for e in submitted if e.data.client_order_id == moved[0]["client_order_id"]]
    assert [e.data.replaces for e in replace] == [first[0]["client_order_id"]]
    cancels = await system.events(SPOT, "CancelSubmitted")
    coid = first[0]["client_order_id"]
    assert not [
        e for e in cancels if isinstance(e, CancelSubmitted) and e.data.client_order_id == coid
    ]


async def test_a_fill_racing_an_in_place_amend_leaves_the_rest_open(system: System) -> None:
    """0.010 wanted; 0.004 fills while the price is being moved: whichever the amend or
    the fill reaches the venue first, 0.006 ends open at the new price, 0.010 in all."""
    await system.target(PERP, [order("na-r1", "58000.0", "0.010")])
    first = await eventually(lambda: working_at(system, PERP, "na-r1", "58000.0"), what="placed")
    coid = first[0]["client_order_id"]
    await system.control("POST", "/_sim/fill", {"client_order_id": coid, "quantity": "0.004"})
    await system.target(PERP, [order("na-r1", "57800.0", "0.010")])
    moved = await eventually(lambda: working_at(system, PERP, "na-r1", "57800.0"), what="amend")

    async def settled() -> list[dict[str, Any]]:
        orders = await of_intent(system, PERP, "na-r1")
        filled = sum(Decimal(o["filled"]) for o in orders)
        open_ = sum(Decimal(o["quantity"]) - Decimal(o["filled"]) for o in orders if is_open(o))
        return orders if (filled, open_) == (Decimal("0.004"), Decimal("0.006")) else []

    orders = await eventually(settled, what="0.006 open, 0.004 filled")
    assert moved[0]["order_id"] in {o["order_id"] for o in orders}
