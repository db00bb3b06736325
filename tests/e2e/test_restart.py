"""Restart of everything: projections rebuilt from the log, no venue action for a target
that had already converged."""

from __future__ import annotations

import asyncio

import pytest
from system import System, eventually
from test_convergence import BTC, all_working, order

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
ACTIONS = ("OrderSubmitted", "CancelSubmitted")


@pytest.mark.both_dialects(long=True)
async def test_restart_of_everything_changes_nothing(system: System) -> None:
    await system.target(
        BTC,
        [order("r-b1", "buy", "55000.00", "0.01000"), order("r-s1", "sell", "65000.00", "0.01000")],
    )
    await eventually(lambda: all_working(system, BTC, "r-b1", "r-s1"), what="converged")
    await asyncio.sleep(1.5)  # let cancels of the previous target's orders settle
    before_actions = [e for kind in ACTIONS for e in await system.events(BTC, kind)]
    before_orders = {o["order_id"] for o in await system.open_orders(BTC)}

    for service in ("executor", "differ", "gateway"):
        system.stop(service)
    await system.start("gateway", "differ", "executor")
    await asyncio.sleep(2.5)  # two reconcile intervals

    after_actions = [e for kind in ACTIONS for e in await system.events(BTC, kind)]
    assert len(after_actions) == len(before_actions)
    assert {o["order_id"] for o in await system.open_orders(BTC)} == before_orders
