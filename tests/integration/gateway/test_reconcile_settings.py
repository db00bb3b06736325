"""The reconciliation settings against the simulator: the in-flight check settles a place
whose answer was lost long before the next periodic run could."""

from __future__ import annotations

import pytest
from gateway_rig import Rig
from test_execution import SYMBOL, events, eventually, place, placed, venue_orders

from setpoint.core.events import ObservationSource, OrderStatus, OrderSubmitted, ReconcileTrigger
from setpoint.core.model import Key, Producer
from setpoint.eventlog import ANY
from setpoint.testing.synthetic import submitted_data

pytestmark = [pytest.mark.nats, pytest.mark.sim]

IN_FLIGHT_CHECKS = {
    "reconcile_interval_s": 3600,  # no periodic run within the test after the first
    "reconcile_startup_delay_s": 0,
    "in_flight_check_interval_s": 0.5,
    "in_flight_timeout_s": 0.5,
}


async def _ran(rig: Rig, trigger: ReconcileTrigger) -> bool:
    return rig.gateway.reconciler.runs[trigger] > 0


async def _reconciled(rig: Rig, trigger: ReconcileTrigger) -> bool:
    done = await events(rig, "ReconciliationCompleted")
    return any(e.data.trigger is trigger for e in done)


@pytest.mark.parametrize("rig", [IN_FLIGHT_CHECKS], indirect=True)
async def test_the_in_flight_check_settles_a_place_whose_answer_was_lost(rig: Rig) -> None:
    """The write-ahead is in the log and the venue booked the order, but its answer never
    came back (an executor killed between the two: nobody will ever answer or query it).
    The in-flight check, every 0.5 s, finds it while the next periodic run is an hour
    away; the first periodic run (at once: no startup delay) is over before it is sent."""
    await eventually(lambda: _ran(rig, ReconcileTrigger.PERIODIC))
    key = Key(rig.account, SYMBOL)
    action = place(rig.account, "answer-lost")
    coid = action.client_order_id
    submitted = OrderSubmitted.create(key, Producer.EXECUTOR, submitted_data(action))
    await rig.log.append(key, Producer.EXECUTOR, [submitted], ANY)
    await rig.control.order(SYMBOL, "buy", "limit", "0.01", "59000", client_order_id=coid)

    async def settled() -> bool:
        record = rig.gateway.actual.order(key, coid)
        return record is not None and record.status is OrderStatus.NEW

    await eventually(settled, within=30)
    # a symbol entering the scope is also reconciled at once (a `periodic` run over the
    # scope); the in-flight check is what reads a submission that went unanswered
    assert rig.gateway.reconciler.runs[ReconcileTrigger.IN_FLIGHT] >= 1
    assert await _reconciled(rig, ReconcileTrigger.IN_FLIGHT)
    observed = [e for e in await events(rig, "OrderObserved") if e.data.client_order_id == coid]
    assert observed[0].data.source is ObservationSource.REST
    record = rig.gateway.actual.order(key, coid)
    assert record is not None
    assert record.pending is None
    assert len(await venue_orders(rig, coid)) == 1


@pytest.mark.parametrize("rig", [IN_FLIGHT_CHECKS], indirect=True)
async def test_the_in_flight_check_leaves_answered_orders_alone(rig: Rig) -> None:
    """An order answered at once is never aged in flight: no in-flight run for it."""
    await eventually(lambda: _ran(rig, ReconcileTrigger.PERIODIC))
    await placed(rig, "answered")
    assert rig.gateway.aged_in_flight_symbols() == []
    assert rig.gateway.reconciler.runs[ReconcileTrigger.IN_FLIGHT] == 0
