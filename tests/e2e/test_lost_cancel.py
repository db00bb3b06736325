"""An amend whose cancel reached no gateway: the executor, restarted before the gateway,
writes the cancel ahead and finds nobody to send it to. Reconciliation later finds the old
order still open, clears the stale cancel, and the amend must then be carried out: the
cancel sent again, the new order placed (semantics §4).

The bug this pins (seen with commit 8b10bd6): the differ took the re-planned amend for its
last decision still being carried out, so nothing was ever sent again and the key stayed
drifting with the old order working.
"""

from __future__ import annotations

import asyncio

import pytest
from system import System, eventually
from test_convergence import BTC, all_orders, order, working

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.mark.both_dialects(long=True)
async def test_amend_whose_cancel_reached_no_gateway_is_carried_out(system: System) -> None:
    intent = "lc-b1"
    await system.target(BTC, [order(intent, "buy", "56000.00", "0.01000")])

    async def alone() -> bool:  # the key's earlier orders gone: the next plan is the amend only
        live = await system.open_orders(BTC)
        return len(live) == 1 and live == await working(system, BTC, intent)

    await eventually(alone, what=f"{intent} alone at 56000")
    [old] = await working(system, BTC, intent)
    await asyncio.sleep(1.5)  # let the last answers be recorded
    system.kill("executor")
    system.kill("gateway")
    try:
        await system.target(BTC, [order(intent, "buy", "56100.00", "0.01000")])
        await system.start("executor")  # first: its cancel finds no gateway

        async def cancel_written() -> bool:
            cancels = await system.events(BTC, "CancelSubmitted")
            return any(c.data.client_order_id == old["client_order_id"] for c in cancels)

        await eventually(cancel_written, what="the amend's cancel written ahead")
    finally:
        await system.start("gateway")

    async def amended() -> bool:
        live = await working(system, BTC, intent)
        return len(live) == 1 and float(live[0]["price"]) == 56100.0

    # stale after max(in_flight_timeout_s, 5 s), then one reconcile interval and one plan
    await eventually(amended, within=30, what=f"{intent} amended to 56100")
    await asyncio.sleep(2.5)  # two reconcile intervals: nothing more may happen
    assert len(await working(system, BTC, intent)) == 1
    assert len(await all_orders(system, BTC, intent)) == 2, "the old order and the new one"
