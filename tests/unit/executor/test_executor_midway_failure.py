"""A plan whose log append fails midway (not a conflict: the log is unavailable) after
part of its stage went out is run again, so the rest of the stage is not lost: the bid
was placed, the ask it replaces must still be cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

import pytest
from tests.unit.core.strategies import KEY, MARKET, order
from tests.unit.core.test_scenarios import started

from setpoint.config import Settings
from setpoint.core.events import (
    AssetBalance,
    BalanceObserved,
    BalanceObservedData,
    CancelSubmitted,
    DiffComputed,
    DiffComputedData,
    Event,
    MarketsLoaded,
    MarketsLoadedData,
)
from setpoint.core.model import Key, Producer
from setpoint.eventlog import ANY
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.eventlog.port import LogUnavailable
from setpoint.executor import service
from setpoint.executor.service import Executor
from setpoint.venues.commands import CancelCommand, Command, CommandReply, PlaceCommand


class Gateway:
    """Records commands; answers "unknown" (the orders stay in flight)."""

    def __init__(self) -> None:
        self.sent: list[Command] = []

    async def send(self, account: str, command: Command) -> CommandReply:
        self.sent.append(command)
        return CommandReply(ok=False)

    async def close(self) -> None:
        pass


class FlakyLog(InMemoryEventLog):
    """Refuses the first CancelSubmitted append as if the server were away."""

    failed = False

    async def append(
        self, key: Key, producer: Producer, events: Sequence[Event], expected: int
    ) -> list[int]:
        if not self.failed and any(isinstance(e, CancelSubmitted) for e in events):
            self.failed = True
            raise LogUnavailable("nats: timeout")
        return await super().append(key, producer, events, expected)


async def test_a_stage_cut_short_by_a_log_failure_is_completed_on_the_next_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "RETRY_FAILED_PLAN_S", 0.01)
    history, _ = started(order("a", side="sell", price="101.00"))  # the ask rests
    history.publish([order("b", side="buy", price="99.00")])  # now: the bid only
    plan = history.plan()
    assert sorted(a.kind.value for a in plan.actions) == ["cancel", "place"]

    log = FlakyLog()
    for rec in history.records:
        await log.append(rec.event.key, rec.event.producer, [rec.event], ANY)
    markets = MarketsLoadedData(exchange="binance", markets=(MARKET,))
    balances = BalanceObservedData(
        balances=(
            AssetBalance(asset="USDT", free=Decimal(1000)),
            AssetBalance(asset="BTC", free=Decimal(5)),
        )
    )
    plan_event = DiffComputed.create(
        KEY,
        Producer.DIFFER,
        DiffComputedData(generation=2, target_event_id=None, actions=plan.actions),
    )
    for producer, event in (
        (Producer.GATEWAY, MarketsLoaded.create(KEY, Producer.GATEWAY, markets)),
        (Producer.GATEWAY, BalanceObserved.create(KEY, Producer.GATEWAY, balances)),
        (Producer.DIFFER, plan_event),
    ):
        await log.append(KEY, producer, [event], ANY)

    executor = Executor(Settings(accounts={"demo": {}}), None, log)  # type: ignore[arg-type]
    gateway = Gateway()
    executor.gateway = gateway  # type: ignore[assignment]
    await executor.runner.rebuild()
    executor.runner.start()
    try:
        executor.queue.mark(KEY)
        for _ in range(200):
            if any(isinstance(c, CancelCommand) for c in gateway.sent):
                break
            await asyncio.sleep(0.01)
        assert log.failed
        assert [type(c) for c in gateway.sent].count(PlaceCommand) == 1  # never twice
        assert any(isinstance(c, CancelCommand) for c in gateway.sent)
    finally:
        await executor.stop()
