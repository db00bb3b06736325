"""Targets in over NATS, venue truth read back from the simulator: the plain paths.

Every service runs as its own process (see `system.py`). Each test works on its own
intents; a test that needs a clean key publishes a target that replaces the last one.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from system import API_KEY, PASSPHRASE, SECRET, System, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
BTC = "BTC/USDT"
ETH = "ETH/USDT"


def of_intent(prefix: str, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The orders whose client order id starts with `prefix` (`System.intent_prefix`)."""
    return [o for o in orders if (o["client_order_id"] or "").startswith(prefix)]


async def all_orders(system: System, symbol: str, intent: str) -> list[dict[str, Any]]:
    state = await system.venue()
    prefix = system.intent_prefix(symbol, intent)
    return of_intent(prefix, [o for o in state["orders"] if o["symbol"] == symbol])


async def working(system: System, symbol: str, intent: str) -> list[dict[str, Any]]:
    return of_intent(system.intent_prefix(symbol, intent), await system.open_orders(symbol))


def order(intent: str, side: str, price: str, qty: str, **extra: Any) -> dict[str, Any]:
    return {"id": intent, "side": side, "price": price, "quantity": qty, **extra}


async def all_working(system: System, symbol: str, *intents: str) -> bool:
    """Every one of `intents` has an order working at the venue on `symbol`."""
    return all([bool(await working(system, symbol, intent)) for intent in intents])


async def working_alone(
    system: System, symbol: str, intent: str, side: str, price: str, qty: str
) -> str:
    """Target `intent` alone on `symbol` and wait until it works at the venue; its client
    order id there."""
    await system.target(symbol, [order(intent, side, price, qty)])
    live = await eventually(lambda: working(system, symbol, intent), what=f"{intent} working")
    return str(live[0]["client_order_id"])


@pytest.mark.both_dialects
async def test_services_answer_health(system: System) -> None:
    for service in ("gateway", "executor"):
        health = await system.health(service)
        assert health["ready"] is True
        assert health["service"] == service


@pytest.mark.both_dialects
async def test_place_amend_cancel_converge(system: System) -> None:
    await system.target(
        BTC,
        [order("c-b1", "buy", "59000.00", "0.01000"), order("c-s1", "sell", "61000.00", "0.01000")],
    )
    await eventually(lambda: all_working(system, BTC, "c-b1", "c-s1"), what="both orders working")

    await system.target(
        BTC,
        [order("c-b1", "buy", "58900.00", "0.01000"), order("c-s1", "sell", "61000.00", "0.01000")],
    )

    async def amended() -> bool:
        live = await working(system, BTC, "c-b1")
        return len(live) == 1 and Decimal(live[0]["price"]) == Decimal("58900")

    await eventually(amended, what="amended price")

    await system.target(BTC, [order("c-b1", "buy", "58900.00", "0.01000")])
    await eventually(lambda: _none(working(system, BTC, "c-s1")), what="s1 cancelled")
    assert len(await working(system, BTC, "c-b1")) == 1
    assert len(await all_orders(system, BTC, "c-s1")) == 1  # placed once, never again


async def _none(pending: Any) -> bool:
    return not await pending


@pytest.mark.both_dialects
async def test_partial_then_full_fill_consumes_the_intent(system: System) -> None:
    coid = await working_alone(system, ETH, "p-b1", "buy", "2900.00", "0.1000")
    await system.control("POST", "/_sim/fill", {"client_order_id": coid, "quantity": "0.04"})

    async def partial_recorded() -> bool:
        fills = await system.events(ETH, "FillObserved")
        return any(f.data.client_order_id == coid for f in fills)

    await eventually(partial_recorded, what="partial fill recorded")
    await system.control("POST", "/_sim/fill", {"client_order_id": coid, "quantity": "0.06"})

    async def consumed() -> bool:
        fills = [
            f for f in await system.events(ETH, "FillObserved") if f.data.client_order_id == coid
        ]
        return sum(f.data.quantity for f in fills) == Decimal("0.1")

    await eventually(consumed, what="both fills recorded")
    await asyncio.sleep(2.5)  # two reconcile intervals: nothing may place it again
    assert len(await all_orders(system, ETH, "p-b1")) == 1
    fills = [f for f in await system.events(ETH, "FillObserved") if f.data.client_order_id == coid]
    assert len({f.data.trade_id for f in fills}) == len(fills) == 2


@pytest.mark.both_dialects
async def test_venue_side_cancel_is_placed_again(system: System) -> None:
    coid = await working_alone(system, BTC, "v-b1", "buy", "58000.00", "0.01000")
    await system.control("POST", "/_sim/cancel", {"client_order_id": coid})

    async def replaced() -> bool:
        now = await working(system, BTC, "v-b1")
        return bool(now) and now[0]["client_order_id"] != coid

    await eventually(replaced, what="v-b1 placed again")
    assert len(await working(system, BTC, "v-b1")) == 1


@pytest.mark.both_dialects
async def test_unknown_order_of_ours_at_the_venue_is_cancelled(system: System) -> None:
    """A 'ghost' injected at the venue: our client id, unknown to the log."""
    coid = f"{system.intent_prefix(BTC, 'never-listed')}1"
    await system.control(
        "POST",
        "/_sim/orders",
        {
            "symbol": BTC,
            "side": "buy",
            "type": "limit",
            "price": "50000.00",
            "quantity": "0.01000",
            "client_order_id": coid,
        },
    )

    async def gone() -> bool:
        return not [o for o in await system.open_orders(BTC) if o["client_order_id"] == coid]

    await eventually(gone, what="our unknown order cancelled")


@pytest.mark.both_dialects
async def test_target_expiry_cancels_all_our_orders(system: System) -> None:
    from datetime import UTC, datetime, timedelta

    expires = (datetime.now(UTC) + timedelta(seconds=4)).isoformat().replace("+00:00", "Z")
    await system.target(
        ETH,
        [order("x-b1", "buy", "2800.00", "0.1000"), order("x-s1", "sell", "3200.00", "0.1000")],
        expires_at=expires,
    )
    await eventually(lambda: working(system, ETH, "x-s1"), what="x-s1 working")

    async def all_gone() -> bool:
        return not await working(system, ETH, "x-b1") and not await working(system, ETH, "x-s1")

    await eventually(all_gone, within=30, what="orders cancelled after expiry")


@pytest.mark.both_dialects
async def test_credentials_never_leak(system: System) -> None:
    text = system.outputs()
    records = await system.events(BTC) + await system.events(None) + await system.events(ETH)
    wire = b"".join(e.to_json() for e in records).decode()
    for secret in (SECRET, API_KEY, PASSPHRASE):
        assert secret not in text
        assert secret not in wire
