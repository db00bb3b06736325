"""A foreign order at the venue under each zombie policy (restarting the gateway with the
policy overridden through the environment, as an operator would)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from system import System, eventually
from test_convergence import ETH, order, working

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
POLICY_ENV = "SETPOINT_ACCOUNTS__E2E__ZOMBIE_POLICY"
_numbers = itertools.count(1)


async def foreign_order(system: System) -> dict[str, Any]:
    coid = f"manual-{next(_numbers)}"
    await system.control(
        "POST",
        "/_sim/orders",
        {
            "symbol": ETH,
            "side": "buy",
            "type": "limit",
            "price": "2500.00",
            "quantity": "0.0100",
            "client_order_id": coid,
        },
    )
    return next(o for o in await system.open_orders(ETH) if o["client_order_id"] == coid)


async def still_open(system: System, order_id: str) -> bool:
    return any(o["order_id"] == order_id for o in await system.open_orders(ETH))


async def restart_gateway(system: System, policy: str | None) -> None:
    system.stop("gateway")
    await system.start("gateway", env={POLICY_ENV: policy} if policy else None)


@pytest.fixture
async def eth_target(system: System) -> None:
    await system.target(ETH, [order("z-b1", "buy", "2600.00", "0.0100")])
    await eventually(lambda: working(system, ETH, "z-b1"), what="z-b1 working")


@pytest.mark.both_dialects
async def test_foreign_order_is_ignored_by_default(system: System, eth_target: None) -> None:
    foreign = await foreign_order(system)
    await asyncio.sleep(2.5)  # two reconcile intervals
    assert await still_open(system, foreign["order_id"])
    adopted = [
        e
        for e in await system.events(ETH, "OrderObserved")
        if e.data.order_id == foreign["order_id"] and e.data.adopted
    ]
    assert not adopted
    await system.control("POST", "/_sim/cancel", {"order_id": foreign["order_id"]})


@pytest.mark.both_dialects(long=True)
async def test_foreign_order_adopted(system: System, eth_target: None) -> None:
    foreign = await foreign_order(system)
    await restart_gateway(system, "adopt")
    try:

        async def adopted() -> bool:
            return any(
                e.data.order_id == foreign["order_id"] and e.data.adopted
                for e in await system.events(ETH, "OrderObserved")
            )

        await eventually(adopted, what="foreign order adopted")
    finally:
        await system.control("POST", "/_sim/cancel", {"order_id": foreign["order_id"]})
        await restart_gateway(system, None)


@pytest.mark.both_dialects
async def test_foreign_order_cancelled(system: System, eth_target: None) -> None:
    await restart_gateway(system, "cancel")
    try:
        foreign = await foreign_order(system)

        async def gone() -> bool:
            return not await still_open(system, foreign["order_id"])

        await eventually(gone, what="foreign order cancelled")
        assert await working(system, ETH, "z-b1")
    finally:
        await restart_gateway(system, None)
