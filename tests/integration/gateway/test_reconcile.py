"""The gateway's reconciliation against the simulator (in-process, real JetStream log)."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from gateway_rig import Rig
from test_execution import SYMBOL, events, eventually, placed

from setpoint.core.events import (
    Action,
    ActionKind,
    DiffComputed,
    DiffComputedData,
    OrderStatus,
    OrderSubmitted,
    ReconcileTrigger,
    TargetPublished,
    TargetPublishedData,
)
from setpoint.core.ids import client_order_id
from setpoint.core.model import Key, OrderType, Producer, Side, TargetState, TimeInForce
from setpoint.eventlog import ANY
from setpoint.testing.synthetic import buy, place_action, submitted_data
from setpoint.venues.ratelimit import RateLimiter

pytestmark = [pytest.mark.nats, pytest.mark.sim]
PERIODIC = ReconcileTrigger.PERIODIC
PERP = "BTC/USDT:USDT"


async def with_target(rig: Rig) -> None:
    """Give the key a target so it is in the 'keys' zombie scope."""
    key = Key(rig.account, SYMBOL)
    target = TargetState(account=rig.account, symbol=SYMBOL, generation=1, strategy="it")
    event = TargetPublished.create(key, Producer.INTAKE, TargetPublishedData(target=target))
    await rig.log.append(key, Producer.INTAKE, [event], ANY)


async def reconcile_until(rig: Rig, check: object, rounds: int = 20) -> None:
    for _ in range(rounds):
        await rig.gateway.reconcile(PERIODIC)
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.3)
    raise AssertionError("not reconciled")


async def test_our_unknown_order_is_cancelled(rig: Rig) -> None:
    await with_target(rig)
    coid = client_order_id(rig.account, SYMBOL, "never", 1)
    await rig.control.order(SYMBOL, "buy", "limit", "0.01", "50000", client_order_id=coid)

    async def gone() -> bool:
        state = await rig.control.state()
        return all(
            o["status"] == "CANCELED" for o in state["orders"] if o["client_order_id"] == coid
        )

    await reconcile_until(rig, gone)


@pytest.mark.parametrize("rig", [{"zombie_policy": "adopt"}], indirect=True)
async def test_foreign_order_adopted(rig: Rig) -> None:
    await with_target(rig)
    await rig.control.order(SYMBOL, "sell", "limit", "0.01", "70000", client_order_id="hand-1")

    async def adopted() -> bool:
        return any(e.data.adopted for e in await events(rig, "OrderObserved"))

    await reconcile_until(rig, adopted)


async def test_venue_side_cancel_is_recorded(rig: Rig) -> None:
    action = await placed(rig, "vc")
    await rig.control.cancel(client_order_id=action.client_order_id)

    async def observed() -> bool:
        closed = (OrderStatus.CANCELED, OrderStatus.EXPIRED)
        return any(e.data.status in closed for e in await events(rig, "OrderObserved"))

    await reconcile_until(rig, observed)


async def test_fill_seen_on_stream_and_rest_is_recorded_once(rig: Rig) -> None:
    action = await placed(rig, "f1")
    await rig.control.faults({"kind": "ws_drop", "count": 1})
    await rig.control.fill(client_order_id=action.client_order_id, quantity="0.003")
    await rig.control.fill(client_order_id=action.client_order_id, quantity="0.002")
    for _ in range(3):
        await rig.gateway.reconcile(PERIODIC)
    fills = await eventually(lambda: _two(rig))
    assert Counter(f.data.trade_id for f in fills).most_common(1)[0][1] == 1
    assert sum(f.data.quantity for f in fills) == Decimal("0.005")


async def _two(rig: Rig) -> list[object] | None:
    fills = await events(rig, "FillObserved")
    return fills if len(fills) >= 2 else None


async def lost(rig: Rig, intent: str, time_in_force: TimeInForce = TimeInForce.GTC) -> Action:
    """A limit buy of `intent` submitted that never reached the venue, until reconciliation
    closes it as lost; its place action."""
    key = Key(rig.account, SYMBOL)
    action = place_action(key, buy(intent, "50000", "0.01", time_in_force=time_in_force))
    submitted = OrderSubmitted.create(key, Producer.EXECUTOR, submitted_data(action))
    await rig.log.append(key, Producer.EXECUTOR, [submitted], ANY)
    await asyncio.sleep(0.6)  # older than in_flight_timeout_s

    async def closed() -> bool:
        return any(e.data.reason == "lost" for e in await events(rig, "OrderCancelled"))

    await reconcile_until(rig, closed)
    return action


async def test_lost_in_flight_attempt_is_cancelled_and_closed(rig: Rig) -> None:
    await lost(rig, "lost")
    assert len(await events(rig, "OrderNotFound")) >= 1


async def test_fill_arrives_on_the_stream(rig: Rig) -> None:
    """No reconciliation runs here (interval 60 s): the websocket hint records the fill."""
    action = await placed(rig, "ws1")
    await rig.control.fill(client_order_id=action.client_order_id, quantity="0.002")
    fills = await eventually(lambda: events(rig, "FillObserved"))
    assert [f.data.source.value for f in fills] == ["ws"]
    assert fills[0].data.client_order_id == action.client_order_id


async def test_reconciliation_reads_wait_for_the_accounts_tokens(rig: Rig) -> None:
    """A bucket of one token on a clock that never moves: every venue read of the
    reconciliation past the first is told to wait (the sleep only records it)."""
    await with_target(rig)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    rig.gateway.venue.limiter = RateLimiter(1, 1, clock=lambda: 0.0, sleep=record)
    await rig.gateway.reconcile(PERIODIC)
    # open orders, trades of the symbol, balances: three reads at least, past one token
    assert len(waits) >= 2
    assert waits == sorted(waits)  # each one queues behind the one before


async def test_lost_ioc_attempt_does_not_consume_its_intent(rig: Rig) -> None:
    """Semantics §4: the venue never saw it, so the intent is placed again (attempt 2)."""
    action = await lost(rig, "lost-ioc", TimeInForce.IOC)
    await rig.gateway.caught_up()
    key = Key(rig.account, SYMBOL)
    record = rig.gateway.actual.order(key, action.client_order_id)
    assert record is not None
    assert record.lost
    assert not rig.gateway.actual.consumed(key, "lost-ioc")


async def test_a_trade_landing_while_the_position_is_read_counts_once(rig: Rig) -> None:
    """A perpetual trade between the trades read and the position read: the position read
    is not recorded (or agrees with the log already), and once the fill is in the log the
    position is the venue's, not one trade more."""
    key = Key(rig.account, PERP)
    coid = client_order_id(rig.account, PERP, "p1", 1)
    action = Action(
        kind=ActionKind.PLACE, intent_id="p1", attempt=1, client_order_id=coid, side=Side.BUY,
        type=OrderType.LIMIT, price=Decimal("59000"), quantity=Decimal("0.010"),
    )  # fmt: skip
    data = DiffComputedData(generation=1, target_event_id=None, actions=(action,))
    await rig.log.append(
        key, Producer.DIFFER, [DiffComputed.create(key, Producer.DIFFER, data)], ANY
    )
    await eventually(lambda: _perp_events(rig, "OrderPlaced"))
    await rig.gateway.reconcile(PERIODIC)  # the first observation: flat
    assert [e.data.quantity for e in await _perp_events(rig, "PositionObserved")] == [0]

    venue = rig.gateway.venue
    read_position = venue.positions

    async def racing(symbols: list[str]) -> object:
        await rig.control.fill(client_order_id=coid, quantity="0.004")
        return await read_position(symbols)

    venue.positions = racing  # type: ignore[method-assign,assignment]
    try:
        await rig.gateway.reconcile(PERIODIC)
    finally:
        venue.positions = read_position  # type: ignore[method-assign]
    assert len(await _perp_events(rig, "PositionObserved")) == 1  # nothing from that read
    await eventually(lambda: _perp_events(rig, "FillObserved"))
    await rig.gateway.reconcile(PERIODIC)
    await rig.gateway.caught_up()
    state = await rig.control.state()
    assert Decimal(state["positions"][PERP]["quantity"]) == Decimal("0.004")
    assert rig.gateway.actual.position_of(key) == Decimal("0.004")


async def _perp_events(rig: Rig, kind: str) -> list[Any]:
    return [r.event for r in await rig.log.read(Key(rig.account, PERP)) if r.event.type == kind]


async def test_a_burst_longer_than_a_page_still_lets_the_position_be_recorded(rig: Rig) -> None:
    """Trades read in pages of 5 (standing for 1,000): after a burst of 12 trades of ours,
    a foreign trade on the account moves the position with no fill of ours. The read from
    the last fill less 10 minutes pages past the burst to the newest trade, so the position
    read settles and is recorded; capped at one page it stays unsettled (not recorded)."""
    reconciler = rig.gateway.reconciler
    reconciler.page = 5
    key = Key(rig.account, PERP)
    coid = client_order_id(rig.account, PERP, "burst", 1)
    action = Action(
        kind=ActionKind.PLACE, intent_id="burst", attempt=1, client_order_id=coid,
        side=Side.BUY, type=OrderType.LIMIT, price=Decimal("59000"), quantity=Decimal("0.012"),
    )  # fmt: skip
    data = DiffComputedData(generation=1, target_event_id=None, actions=(action,))
    await rig.log.append(
        key, Producer.DIFFER, [DiffComputed.create(key, Producer.DIFFER, data)], ANY
    )
    await eventually(lambda: _perp_events(rig, "OrderPlaced"))
    for _ in range(12):
        await rig.control.fill(client_order_id=coid, quantity="0.001")

    async def burst_recorded() -> bool:  # from the stream or the reconciliation's reads
        await rig.gateway.reconcile(PERIODIC)
        await rig.gateway.caught_up()
        fills = await _perp_events(rig, "FillObserved")
        return len(fills) == 12 and rig.gateway.actual.position_of(key) == Decimal("0.012")

    await eventually(burst_recorded)
    assert len(await _perp_events(rig, "PositionObserved")) == 1

    await rig.control.order(PERP, "sell", "limit", "0.005", "59000", client_order_id="hand-1")
    await rig.control.fill(client_order_id="hand-1", quantity="0.005")
    state = await rig.control.state()
    assert Decimal(state["positions"][PERP]["quantity"]) == Decimal("0.007")

    since = reconciler._since(PERP)
    assert since is not None
    read = await rig.gateway.venue.all_fills(PERP, since, page=5, pages=10)
    ids = [f.trade_id for f in read.fills]
    assert read.complete
    assert len(ids) == len(set(ids)) == 13  # each page's first row (the last one again) dropped
    times = [f.traded_at for f in read.fills if f.traded_at is not None]
    assert len(times) == 13
    assert times == sorted(times)  # oldest first
    assert not (await rig.gateway.venue.all_fills(PERP, since, page=5, pages=2)).complete

    reconciler.pages = 1  # the cap: the read stops at the burst's oldest page
    await rig.gateway.reconcile(PERIODIC)
    await rig.gateway.caught_up()
    assert rig.gateway.actual.position_of(key) == Decimal("0.012")

    reconciler.pages = 10
    await rig.gateway.reconcile(PERIODIC)
    await rig.gateway.caught_up()
    assert rig.gateway.actual.position_of(key) == Decimal("0.007")
    assert [e.data.quantity for e in await _perp_events(rig, "PositionObserved")][-1] == (
        Decimal("0.007")
    )


@pytest.mark.parametrize("rig", [{"reconcile_interval_s": 3600}], indirect=True)
async def test_a_new_key_is_reconciled_soon_after_its_first_target(rig: Rig) -> None:
    """A symbol entering the scope (a first target) gets its reconciliation without
    waiting for the interval (an hour here), so its status shows a last reconciliation
    from the start."""
    key = Key(rig.account, SYMBOL)
    assert rig.gateway.scope() == []
    await with_target(rig)

    async def reconciled() -> bool:
        return rig.gateway.actual.last_reconciliation(key) is not None

    await eventually(reconciled, within=60)
    (summary,) = [e for e in await events(rig, "ReconciliationCompleted")]
    assert summary.data.trigger is PERIODIC
