"""The executor under lost answers and lagging projections (real gateway, simulator and
JetStream log): a place whose answer is unknown stays in flight, and a decision made on a
stale projection never reaches the venue."""

from __future__ import annotations

import asyncio

import pytest
from gateway_rig import Rig
from test_execution import SYMBOL, events, eventually, place, plan, venue_orders

from setpoint.core.model import Key
from setpoint.executor.service import Executor

pytestmark = [pytest.mark.nats, pytest.mark.sim]


async def test_place_answer_lost_with_the_gateway_stays_in_flight(rig: Rig) -> None:
    """The venue books the order, the gateway dies before answering and no gateway is left
    to query: the attempt is not recorded as rejected (which would re-place the intent)."""
    await rig.control.faults(
        {"kind": "timeout_after_accept", "method": "POST", "path": "/api/v3/order",
         "count": 1, "delay_ms": 30000}
    )  # fmt: skip
    action = place(rig.account, "lost-gw")
    await plan(rig, action)
    await eventually(lambda: venue_orders(rig, action.client_order_id))
    await rig.gateway.stop()
    await asyncio.sleep(rig.executor.gateway.timeout_s + 1.0)  # request times out, query: nobody
    assert await events(rig, "OrderRejected") == []
    order = rig.executor.actual.order(Key(rig.account, SYMBOL), action.client_order_id)
    assert order is not None
    assert order.status is None  # still in flight: reconciliation will settle it
    assert len(await venue_orders(rig, action.client_order_id)) == 1


async def test_a_lagging_executor_never_acts_on_a_stale_projection(rig: Rig) -> None:
    """Executor B sees a plan that A already carried out (and whose order is filled, so the
    venue would accept the client id again) before it has folded A's events: its
    write-ahead conflicts and nothing is sent twice."""
    key = Key(rig.account, SYMBOL)
    action = place(rig.account, "stale")
    diff = await plan(rig, action)
    await eventually(lambda: events(rig, "OrderPlaced"))
    await rig.control.fill(client_order_id=action.client_order_id, quantity="0.01")
    await eventually(lambda: events(rig, "FillObserved"))
    lagging = Executor(rig.settings, rig.nc, rig.log)
    position = next(r.position for r in await rig.log.read(key) if r.event == diff)
    async for record in rig.log.read_all(1):  # B has folded up to the plan, not past it
        if record.position > position:
            break
        lagging._fold(record.position, record.event)
    try:
        lagging.queue.mark(key)
        await asyncio.sleep(1.0)
        assert len(await events(rig, "OrderSubmitted")) == 1
        assert len(await venue_orders(rig, action.client_order_id)) == 1
    finally:
        await lagging.stop()
