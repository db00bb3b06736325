"""The execution path under faults: answers lost after the venue acted, crashes between
the write-ahead and the answer, a gateway down while fills happen, a dropped websocket.
Each ends with exactly one venue order per intent and every fill exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from system import System, eventually
from test_convergence import BTC, ETH, all_orders, order, working, working_alone

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
SPOT_ORDER = {
    "binance": {"method": "POST", "path": "/api/v3/order"},
    "okx": {"method": "POST", "path": "/api/v5/trade/order"},
}
"""The request that places a spot order, per dialect (what an order-entry fault matches)."""


async def fills_once(system: System, symbol: str) -> list[Any]:
    """Every FillObserved of the symbol, asserting no (venue, trade id) twice."""
    fills = await system.events(symbol, "FillObserved")
    counts = Counter((f.data.venue, f.data.trade_id) for f in fills)
    assert all(n == 1 for n in counts.values()), counts
    return fills


async def venue_trades(system: System, coid: str) -> list[dict[str, Any]]:
    state = await system.venue()
    return [t for t in state["trades"] if t["client_order_id"] == coid]


@pytest.mark.both_dialects
@pytest.mark.parametrize(
    "fault", ["timeout_after_accept", "drop_after_accept", "status_unknown_after_accept"]
)
async def test_maybe_happened_ends_with_one_venue_order(system: System, fault: str) -> None:
    intent = f"m-{fault}"
    await system.control(
        "POST",
        "/_sim/faults",
        {"rules": [{"kind": fault, **SPOT_ORDER[system.dialect], "count": 1, "delay_ms": 3000}]},
    )
    try:
        await system.target(BTC, [order(intent, "buy", "57000.00", "0.01000")])
        await eventually(lambda: working(system, BTC, intent), what=f"{intent} working")
        await asyncio.sleep(2.5)  # two reconcile intervals: no second order may appear
    finally:
        await system.control("DELETE", "/_sim/faults")
    assert len(await all_orders(system, BTC, intent)) == 1
    placed = [e for e in await system.events(BTC, "OrderSubmitted") if e.data.intent_id == intent]
    assert len(placed) == 1


@pytest.mark.both_dialects(long=True)
async def test_executor_killed_between_write_ahead_and_answer(system: System) -> None:
    intent = "k-exec"
    await system.control(
        "POST",
        "/_sim/faults",
        {"rules": [{"kind": "delay", **SPOT_ORDER[system.dialect], "count": 1, "delay_ms": 1500}]},
    )
    try:
        await system.target(BTC, [order(intent, "buy", "56000.00", "0.01000")])

        async def written_ahead() -> bool:
            return any(
                e.data.intent_id == intent for e in await system.events(BTC, "OrderSubmitted")
            )

        await eventually(written_ahead, what="write-ahead recorded")
        system.kill("executor")
    finally:
        await system.control("DELETE", "/_sim/faults")
    await system.start("executor")
    await eventually(lambda: working(system, BTC, intent), what=f"{intent} working")
    await asyncio.sleep(2.5)
    assert len(await all_orders(system, BTC, intent)) == 1


@pytest.mark.both_dialects
async def test_gateway_killed_while_fills_happen(system: System) -> None:
    intent = "k-gw"
    coid = await working_alone(system, ETH, intent, "buy", "2700.00", "0.3000")
    system.kill("gateway")
    for quantity in ("0.1", "0.1"):
        await system.control("POST", "/_sim/fill", {"client_order_id": coid, "quantity": quantity})
    await system.start("gateway")
    await system.control("POST", "/_sim/fill", {"client_order_id": coid, "quantity": "0.1"})

    async def all_recorded() -> bool:
        fills = [f for f in await fills_once(system, ETH) if f.data.client_order_id == coid]
        return len(fills) == len(await venue_trades(system, coid)) == 3

    await eventually(all_recorded, what="every fill recorded once")
    assert len(await all_orders(system, ETH, intent)) == 1


@pytest.mark.both_dialects
async def test_fills_missed_by_a_dropped_websocket_come_from_rest(system: System) -> None:
    intent = "w-drop"
    coid = await working_alone(system, BTC, intent, "sell", "62000.00", "0.02000")
    await system.control("POST", "/_sim/faults", {"rules": [{"kind": "ws_drop", "count": 1}]})
    await system.control("POST", "/_sim/fill", {"client_order_id": coid, "quantity": "0.005"})

    async def recorded() -> bool:
        fills = [f for f in await fills_once(system, BTC) if f.data.client_order_id == coid]
        return len(fills) == len(await venue_trades(system, coid)) == 1

    await eventually(recorded, what="fill recorded after the drop")
    await system.control("DELETE", "/_sim/faults")
