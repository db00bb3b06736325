"""The differ service on the in-memory log (no NATS): intake, kill, the decision loop, two
instances racing on one log, restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from setpoint.bus.messages import Condition
from setpoint.config import Settings
from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    DiffComputed,
    OrderPlaced,
    OrderPlacedData,
    OrderRejected,
    OrderRejectedData,
    OrderSubmitted,
    RiskRejected,
    TargetPublished,
    TargetRejected,
)
from setpoint.core.model import Key, Producer
from setpoint.differ.service import DifferService
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.eventlog.port import ANY, LogUnavailable, Recorded
from setpoint.testing.synthetic import market, markets_loaded, submitted_data

KEY = Key("demo", "BTC/USDT")
BTC = market("BTC/USDT")
SETTINGS = Settings(accounts={"demo": {}})


def body(generation: int, *intents: str) -> bytes:
    orders = [
        {"id": i, "side": "buy", "type": "limit", "price": "60000.00", "quantity": "0.001"}
        for i in intents
    ]
    return json.dumps(
        {
            "account": "demo",
            "symbol": "BTC/USDT",
            "generation": generation,
            "strategy": "t",
            "orders": orders,
        }
    ).encode()


@pytest.fixture
async def log() -> InMemoryEventLog:
    memory = InMemoryEventLog()
    event = markets_loaded("demo", BTC)
    await memory.append(event.key, Producer.GATEWAY, [event], ANY)
    return memory


class Services:
    def __init__(self, log: InMemoryEventLog) -> None:
        self.log = log
        self.running: list[DifferService] = []

    async def start(self, name: str = "differ") -> DifferService:
        service = DifferService(SETTINGS, self.log, None, tick_s=3600, name=name)
        self.running.append(service)
        await service.start()
        return service

    async def deciding(self, *intents: str, name: str = "differ") -> DifferService:
        """A differ started, given generation 1 of a target of buys `intents`, settled."""
        differ = await self.start(name)
        await differ.intake("demo", "BTC-USDT", body(1, *intents))
        await settle(differ)
        return differ


@pytest.fixture
async def services(log: InMemoryEventLog) -> AsyncIterator[Services]:
    made = Services(log)
    yield made
    for service in made.running:
        await service.stop()


async def events(log: InMemoryEventLog, kind: type, key: Key = KEY) -> list[Any]:
    return [r.event for r in await log.read(key) if isinstance(r.event, kind)]


async def settle(*running: DifferService) -> None:
    """Until every service has applied the whole log and has nothing left to decide."""
    log = running[0].log
    for _ in range(20):
        head = await log.head()
        for service in running:
            await service.view.wait_for(head)
            await service.queue.settled()
        if await log.head() == head:
            return
    raise AssertionError("the services never settled")


async def test_an_accepted_target_is_decided_once(services: Services) -> None:
    differ = await services.start()
    assert await differ.intake("demo", "BTC-USDT", body(1, "b1")) == {
        "accepted": True,
        "generation": 1,
    }
    await settle(differ)
    [published] = await events(services.log, TargetPublished)
    [diff] = await events(services.log, DiffComputed)
    assert diff.correlation_id == published.event_id == diff.data.target_event_id
    assert [a.intent_id for a in diff.data.actions] == ["b1"]
    differ.queue.add(KEY)
    await settle(differ)
    assert len(await events(services.log, DiffComputed)) == 1, "same plan, not recorded again"


async def test_a_rejected_target_is_logged_and_changes_nothing(services: Services) -> None:
    differ = await services.start()
    await differ.intake("demo", "BTC-USDT", body(2, "b1"))
    await settle(differ)
    before = (differ.view.intent, await services.log.head())
    reply = await differ.intake("demo", "BTC-USDT", body(2, "b9"))
    stale = "generation: 2 is stale: not above the last accepted generation 2"
    assert reply == {"accepted": False, "error": stale, "errors": [stale]}
    await settle(differ)
    [rejected] = await events(services.log, TargetRejected)
    assert rejected.data.generation == 2
    assert rejected.data.strategy == "t"
    assert await services.log.head() == before[1] + 1
    assert differ.view.intent.targets == before[0].targets
    assert len(await events(services.log, DiffComputed)) == 1


async def test_an_unknown_account_is_not_logged(services: Services) -> None:
    differ = await services.start()
    head = await services.log.head()
    reply = await differ.intake("ghost", "BTC-USDT", b"junk")
    assert reply["accepted"] is False
    assert differ.counters["unknown_account"] == 1
    assert await services.log.head() == head


async def test_a_lost_intake_race_reads_the_log_and_validates_again(services: Services) -> None:
    first = await services.start("a")
    second = await services.start("b")
    assert (await first.intake("demo", "BTC-USDT", body(1, "b1")))["accepted"]
    # `second` has not seen generation 1 yet: its append conflicts, it re-reads the key
    reply = await second.intake("demo", "BTC-USDT", body(1, "b1"))
    assert reply["error"].startswith("generation: 1 is stale")
    assert (await second.intake("demo", "BTC-USDT", body(2, "b2")))["accepted"]
    await settle(first, second)
    assert [e.data.target.generation for e in await events(services.log, TargetPublished)] == [1, 2]


async def test_two_differs_on_one_log_record_each_decision_once(services: Services) -> None:
    first = await services.start("a")
    second = await services.start("b")
    for generation in range(1, 6):
        intents = [f"b{g}" for g in range(1, generation + 1)]
        await first.intake("demo", "BTC-USDT", body(generation, *intents))
        await settle(first, second)
    diffs = await events(services.log, DiffComputed)
    plans = [(d.data.generation, d.data.actions) for d in diffs]
    assert len(plans) == len(set(plans)) == 5, plans
    assert [d.data.generation for d in diffs] == [1, 2, 3, 4, 5]
    assert first.counters["decisions"] + second.counters["decisions"] == 5
    print("lost races", first.counters["lost_races"], second.counters["lost_races"])


async def test_a_restart_rebuilds_from_the_log_and_does_not_decide_again(
    services: Services,
) -> None:
    first = await services.deciding("b1", "b2")
    await first.stop()
    head = await services.log.head()
    again = await services.start("restarted")
    await settle(again)
    assert await services.log.head() == head
    assert again.view.facts(KEY).decision == first.view.facts(KEY).decision


async def test_kill_and_resume(services: Services) -> None:
    differ = await services.start()
    reply = await differ.kill("demo", b'{"mode": "liquidate_only", "reason": "drill"}')
    assert reply["ok"]
    assert reply["mode"] == "liquidate_only"
    assert (await differ.kill("demo", b'{"mode": "normal"}'))["mode"] == "normal"
    assert (await differ.kill("demo", b'{"mode": "panic"}'))["ok"] is False
    assert (await differ.kill("ghost", b"{}"))["ok"] is False
    modes = await events(services.log, AccountModeChanged, Key("demo", None))
    assert [m.data.mode for m in modes] == [AccountMode.LIQUIDATE_ONLY, AccountMode.NORMAL]
    assert all(m.producer is Producer.INTAKE for m in modes)
    await settle(differ)
    assert differ.view.mode("demo") is AccountMode.NORMAL


async def test_a_risk_limit_refusal_is_recorded_and_degrades_the_key(log: InMemoryEventLog) -> None:
    settings = Settings(accounts={"demo": {"max_order_notional": "50"}})
    differ = DifferService(settings, log, None, tick_s=3600)
    await differ.start()
    try:
        await differ.intake("demo", "BTC-USDT", body(1, "b1"))
        await settle(differ)
        [diff] = await events(log, DiffComputed)
        assert diff.data.actions == ()
        assert [r.rule for r in diff.data.risk] == ["max_order_notional"]
        [refused] = await events(log, RiskRejected)
        assert refused.data.intent_id == "b1"
        assert refused.causation_id == diff.event_id
        assert refused.correlation_id == diff.correlation_id
        status = differ.status(KEY)
        assert status.condition is Condition.DEGRADED
        assert status.reasons == ("RiskRejected",)
    finally:
        await differ.stop()


async def test_an_expired_target_holds_no_orders(log: InMemoryEventLog) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    differ = DifferService(SETTINGS, log, None, tick_s=3600, clock=lambda: now[0])
    await differ.start()
    try:
        raw = json.loads(body(1, "b1"))
        raw["expires_at"] = "2030-01-01T00:00:10Z"
        await differ.intake("demo", "BTC-USDT", json.dumps(raw).encode())
        await settle(differ)
        assert [len(d.data.actions) for d in await events(log, DiffComputed)] == [1]
        now[0] += timedelta(seconds=11)
        differ.queue.add(KEY)
        await settle(differ)
        last = (await events(log, DiffComputed))[-1]
        assert last.data.actions == ()
        assert [r.rule for r in last.data.risk] == ["expired"]
        assert "TargetExpired" in differ.status(KEY).reasons
    finally:
        await differ.stop()


async def test_liquidate_only_leaves_out_orders_that_do_not_reduce(services: Services) -> None:
    differ = await services.start()
    await differ.kill("demo", b'{"mode": "liquidate_only"}')
    await differ.intake("demo", "BTC-USDT", body(1, "b1"))
    await settle(differ)
    [diff] = await events(services.log, DiffComputed)
    assert diff.data.actions == ()
    assert [r.rule for r in diff.data.risk] == ["liquidate_only"]
    status = differ.status(KEY)
    assert status.condition is not Condition.DEGRADED
    assert "LiquidateOnly" in status.reasons
    await differ.kill("demo", b'{"mode": "normal"}')
    await settle(differ)
    assert [a.intent_id for a in (await events(services.log, DiffComputed))[-1].data.actions] == [
        "b1"
    ]


async def test_executing_a_plan_records_no_new_decision_until_converged(
    services: Services,
) -> None:
    differ = await services.deciding("b1", "b2")
    [diff] = await events(services.log, DiffComputed)
    executor = 0
    for action in diff.data.actions:
        submitted = OrderSubmitted.create(
            KEY, Producer.EXECUTOR, submitted_data(action),
            correlation_id=diff.correlation_id, causation_id=diff.event_id,
        )  # fmt: skip
        [executor] = await services.log.append(KEY, Producer.EXECUTOR, [submitted], executor)
        await settle(differ)
    assert len(await events(services.log, DiffComputed)) == 1, "a shrinking plan is not news"
    assert "OrdersInFlight" in differ.status(KEY).reasons
    for n, action in enumerate(diff.data.actions):
        placed = OrderPlaced.create(
            KEY, Producer.EXECUTOR,
            OrderPlacedData(client_order_id=action.client_order_id, order_id=str(n)),
            correlation_id=diff.correlation_id,
        )  # fmt: skip
        [executor] = await services.log.append(KEY, Producer.EXECUTOR, [placed], executor)
    await settle(differ)
    diffs = await events(services.log, DiffComputed)
    assert [(len(d.data.actions), d.data.converged) for d in diffs] == [(2, False), (0, True)]
    status = differ.status(KEY)
    assert status.condition is Condition.CONVERGED
    assert (status.open_orders_target, status.open_orders_venue) == (2, 2)


class FlakyLog(InMemoryEventLog):
    """Its first live subscription breaks at once, as a lost connection would."""

    def __init__(self) -> None:
        super().__init__()
        self.subscriptions = 0

    async def subscribe(self, from_position: int = 1) -> AsyncIterator[Recorded]:
        self.subscriptions += 1
        if self.subscriptions == 1:
            raise LogUnavailable("connection lost")
        async for record in super().subscribe(from_position):
            yield record


async def test_a_broken_subscription_is_resumed_where_the_view_is() -> None:
    log = FlakyLog()
    differ = DifferService(SETTINGS, log, None, tick_s=3600)
    await differ.start()
    try:
        event = markets_loaded("demo", BTC, exchange="x")
        [position] = await log.append(event.key, Producer.GATEWAY, [event], ANY)
        await asyncio.wait_for(differ.view.wait_for(position), 10)
        assert log.subscriptions == 2
        assert differ.view.markets("demo") is not None
    finally:
        await differ.stop()


async def test_a_non_terminal_rejection_is_placed_again_after_its_backoff(
    services: Services,
) -> None:
    """Insufficient funds: no new attempt until the backoff ends (1 s for the first
    rejection), then one, with no event in between: the differ wakes itself up (the
    periodic tick is an hour here). Meanwhile the key is degraded with `RetryBackoff`."""
    differ = await services.deciding("b1")
    [diff] = await events(services.log, DiffComputed)
    [action] = diff.data.actions
    submitted = OrderSubmitted.create(KEY, Producer.EXECUTOR, submitted_data(action))
    rejected = OrderRejected.create(
        KEY, Producer.EXECUTOR,
        OrderRejectedData(
            client_order_id=action.client_order_id, reason="insufficient balance",
            terminal=False,
        ),
    )  # fmt: skip
    await services.log.append(KEY, Producer.EXECUTOR, [submitted, rejected], ANY)
    await settle(differ)
    waiting = (await events(services.log, DiffComputed))[-1]
    assert waiting.data.actions == ()
    assert [r.rule for r in waiting.data.risk] == ["retry_backoff"]
    status = differ.status(KEY)
    assert (status.condition, status.reasons) == (Condition.DEGRADED, ("RetryBackoff",))
    for _ in range(40):
        await asyncio.sleep(0.05)
        if (await events(services.log, DiffComputed))[-1].data.actions:
            break
    await settle(differ)
    diffs = await events(services.log, DiffComputed)
    assert [(a.intent_id, a.attempt) for a in diffs[-1].data.actions] == [("b1", 2)]
    assert len(diffs) == 3
    assert diffs[-1].occurred_at >= rejected.occurred_at + timedelta(seconds=1)


async def test_a_restarted_differ_starts_from_its_snapshot_and_decides_nothing_new(
    log: InMemoryEventLog,
) -> None:
    settings = Settings(accounts={"demo": {}}, eventlog={"snapshot_every": 2})
    first = DifferService(settings, log, None, tick_s=3600)
    await first.start()
    await first.intake("demo", "BTC-USDT", body(1, "b1", "b2"))
    await settle(first)
    assert await first.runner.caught_up(10)
    await first.runner.snapshot_written()
    await first.stop()
    taken = first.view.capture()
    decisions = len(await events(log, DiffComputed))
    again = DifferService(settings, log, None, tick_s=3600)
    await again.start()
    try:
        assert again.runner._snapshots is not None
        assert again.runner._snapshots.position > 0  # restored, not rebuilt
        await settle(again)
        assert again.view.capture()[:4] == taken[:4]
        assert len(await events(log, DiffComputed)) == decisions
    finally:
        await again.stop()
