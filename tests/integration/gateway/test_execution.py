"""Executor + gateway in-process against the simulator and a real JetStream log."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from gateway_rig import Rig

from setpoint.core.events import (
    Action,
    ActionKind,
    DiffComputed,
    DiffComputedData,
    Event,
    ReconcileTrigger,
)
from setpoint.core.model import Key, Producer, Side, TimeInForce
from setpoint.eventlog import ANY
from setpoint.executor.service import Executor
from setpoint.testing.synthetic import buy, place_action

pytestmark = [pytest.mark.nats, pytest.mark.sim]
SYMBOL = "BTC/USDT"


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


def place(
    account: str, intent: str, price: str = "59000", qty: str = "0.01", attempt: int = 1
) -> Action:
    """The place action of a limit buy `intent` (attempt `attempt`) on SYMBOL."""
    return place_action(Key(account, SYMBOL), buy(intent, price, qty), attempt)


async def plan(rig: Rig, *actions: Action) -> DiffComputed:
    key = Key(rig.account, SYMBOL)
    event = DiffComputed.create(
        key,
        Producer.DIFFER,
        DiffComputedData(generation=1, target_event_id=None, actions=tuple(actions)),
    )
    await rig.log.append(key, Producer.DIFFER, [event], ANY)
    return event


async def placed(rig: Rig, intent: str) -> Action:
    """`intent` (a limit buy) planned, and an `OrderPlaced` in the log."""
    action = place(rig.account, intent)
    await plan(rig, action)
    await eventually(lambda: events(rig, "OrderPlaced"))
    return action


async def events(rig: Rig, kind: str) -> list[Event]:
    return [r.event for r in await rig.log.read(Key(rig.account, SYMBOL)) if r.event.type == kind]


async def venue_orders(rig: Rig, coid: str) -> list[dict[str, Any]]:
    state = await rig.control.state()
    return [o for o in state["orders"] if o["client_order_id"] == coid]


async def test_place_is_written_ahead_then_placed(rig: Rig) -> None:
    action = place(rig.account, "b1")
    await plan(rig, action)
    placed = await eventually(lambda: events(rig, "OrderPlaced"))
    submitted = await events(rig, "OrderSubmitted")
    assert [e.data.client_order_id for e in submitted] == [action.client_order_id]
    assert placed[0].causation_id == submitted[0].event_id
    assert len(await venue_orders(rig, action.client_order_id)) == 1


async def test_replayed_plan_does_not_place_twice(rig: Rig) -> None:
    action = await placed(rig, "b2")
    await plan(rig, action)  # the same action again, as a differ might repeat it
    await asyncio.sleep(0.5)
    assert len(await events(rig, "OrderSubmitted")) == 1
    assert len(await venue_orders(rig, action.client_order_id)) == 1


async def test_cancel_then_fill_recorded_once(rig: Rig) -> None:
    action = await placed(rig, "b3")
    await rig.control.fill(client_order_id=action.client_order_id, quantity="0.004")
    fills = await eventually(lambda: events(rig, "FillObserved"))
    cancel = Action(kind=ActionKind.CANCEL, intent_id="b3", client_order_id=action.client_order_id)
    await plan(rig, cancel)
    cancelled = await eventually(lambda: events(rig, "OrderCancelled"))
    assert cancelled[0].data.filled == Decimal("0.004")
    await rig.gateway.reconcile(ReconcileTrigger.PERIODIC)
    assert len(await events(rig, "FillObserved")) == len(fills) == 1


async def _requote(rig: Rig, new: Action) -> tuple[list[str], Action]:
    """Place `rq-old`, then a plan that cancels it and places `new`; the kinds of the
    plan's write-ahead events in log order, once both answers are in."""
    old = await placed(rig, "rq-old")
    cancel = Action(kind=ActionKind.CANCEL, intent_id="rq-old", client_order_id=old.client_order_id)
    await plan(rig, cancel, new)
    await eventually(lambda: events(rig, "OrderCancelled"))
    await eventually(lambda: len_at_least(events(rig, "OrderPlaced"), 2))
    records = await rig.log.read(Key(rig.account, SYMBOL))
    kinds = [r.event.type for r in records if r.event.type in ("OrderSubmitted", "CancelSubmitted")]
    return kinds[1:], old


async def len_at_least(pending: Awaitable[list[Event]], n: int) -> bool:
    return len(await pending) >= n


async def test_a_requote_writes_ahead_and_sends_the_new_order_first(rig: Rig) -> None:
    """The balance covers the new order and it cannot trade against the old one: one
    stage, the place first (each action is sent once its own write-ahead is recorded)."""
    new = place(rig.account, "rq-new", price="58000")
    kinds, old = await _requote(rig, new)
    assert kinds == ["OrderSubmitted", "CancelSubmitted"]
    assert [o["status"] for o in await venue_orders(rig, old.client_order_id)] == ["CANCELED"]
    assert [o["status"] for o in await venue_orders(rig, new.client_order_id)] == ["NEW"]


async def test_a_new_order_that_could_match_the_cancelled_one_goes_after_it(rig: Rig) -> None:
    crossing = place(rig.account, "rq-sell", price="59000").model_copy(update={"side": Side.SELL})
    kinds, _ = await _requote(rig, crossing)
    assert kinds == ["CancelSubmitted", "OrderSubmitted"]


@pytest.mark.parametrize(
    "fault", ["timeout_after_accept", "drop_after_accept", "status_unknown_after_accept"]
)
async def test_maybe_happened_ends_with_one_order(rig: Rig, fault: str) -> None:
    await rig.control.faults(
        {"kind": fault, "method": "POST", "path": "/api/v3/order", "count": 1, "delay_ms": 3000}
    )
    action = place(rig.account, f"f-{fault}")
    await plan(rig, action)
    placed = await eventually(lambda: events(rig, "OrderPlaced"), within=20)
    assert placed[0].data.client_order_id == action.client_order_id
    assert len(await venue_orders(rig, action.client_order_id)) == 1


async def test_two_executors_never_both_act(rig: Rig) -> None:
    second = Executor(rig.settings, rig.nc, rig.log)
    await second.start()
    try:
        actions = [place(rig.account, f"race-{i}", price=f"{58000 + i}") for i in range(5)]
        await plan(rig, *actions)
        await eventually(lambda: _placed_all(rig, len(actions)))
        await asyncio.sleep(0.5)
        submitted = await events(rig, "OrderSubmitted")
        assert sorted(e.data.client_order_id for e in submitted) == sorted(
            a.client_order_id for a in actions
        )
        for action in actions:
            assert len(await venue_orders(rig, action.client_order_id)) == 1
    finally:
        await second.stop()


async def test_three_executors_streaming_a_long_stage_never_both_act(rig: Rig) -> None:
    """Write-ahead events go one by one, each sent once recorded: every decision must be
    checked against the position it was made at, or an executor that folded another's
    event between two of its appends would send that action again."""
    others = [Executor(rig.settings, rig.nc, rig.log) for _ in range(2)]
    for executor in others:
        await executor.start()
    try:
        actions = [place(rig.account, f"race3-{i}", price=f"{57000 + i}") for i in range(12)]
        await plan(rig, *actions)
        await eventually(lambda: _placed_all(rig, len(actions)), within=20)
        await asyncio.sleep(0.5)
        submitted = [e.data.client_order_id for e in await events(rig, "OrderSubmitted")]
        assert sorted(submitted) == sorted(a.client_order_id for a in actions)
    finally:
        for executor in others:
            await executor.stop()


async def _placed_all(rig: Rig, count: int) -> bool:
    return len(await events(rig, "OrderPlaced")) >= count


async def test_a_fill_before_the_gateway_folded_the_write_ahead_is_traced_to_its_target(
    rig: Rig,
) -> None:
    """An IOC that fills on arrival: the gateway records its trades while answering the
    place, possibly before its own projection holds the executor's write-ahead. It folds
    the log first, so the fill carries the order's correlation, not its own id (the fault
    soak found fills recorded with their own id after a restart)."""
    await rig.control.liquidity(SYMBOL, "sell", [["59990", "1"]])
    await rig.gateway.runner.stop()  # the gateway's projection falls behind the log
    asyncio.get_running_loop().call_later(0.5, rig.gateway.runner.start)
    action = place_action(
        Key(rig.account, SYMBOL), buy("ioc-1", "60010", "0.01", time_in_force=TimeInForce.IOC)
    )
    await plan(rig, action)
    [fill] = await eventually(lambda: events(rig, "FillObserved"))
    [submitted] = await events(rig, "OrderSubmitted")
    assert fill.correlation_id == submitted.correlation_id
    assert fill.correlation_id != fill.event_id
