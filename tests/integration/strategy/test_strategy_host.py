"""The strategy host against a real nats-server: tickers and log facts in, targets out.

A stand-in intake answers target requests the way the differ does (and appends
`TargetPublished`), so the host is exercised end to end on NATS without the differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from setpoint.bus import subjects
from setpoint.bus.messages import Health, Ticker
from setpoint.config import Settings, StrategyConfig
from setpoint.core.events import (
    Event,
    FillObserved,
    OrderSubmitted,
    OrderSubmittedData,
    TargetPublished,
    TargetPublishedData,
)
from setpoint.core.ids import client_order_id
from setpoint.core.model import Key, Producer, TargetOrder, TargetState
from setpoint.eventlog import ANY
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.strategy.grid import Grid
from setpoint.strategy.host import Host
from setpoint.strategy.runner import Runner
from setpoint.testing.synthetic import fill_data

pytestmark = [pytest.mark.nats, pytest.mark.timeout(60)]
SYMBOL = "BTC/USDT"


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_url)
    yield client
    await client.drain()


class Intake:
    """Accepts every target and logs it, like the differ's intake; keeps what it got."""

    def __init__(self, nc: NATS, eventlog: JetStreamEventLog) -> None:
        self.nc, self.eventlog = nc, eventlog
        self.targets: asyncio.Queue[tuple[TargetState, dict[str, str]]] = asyncio.Queue()

    async def on_target(self, msg: Msg) -> None:
        target = TargetState.model_validate_json(msg.data)
        event = TargetPublished.create(
            target.key, Producer.INTAKE, TargetPublishedData(target=target)
        )
        await self.eventlog.append(target.key, Producer.INTAKE, [event], ANY)
        await msg.respond(json.dumps({"accepted": True, "generation": target.generation}).encode())
        await self.targets.put((target, dict(msg.headers or {})))

    async def next(self) -> tuple[TargetState, dict[str, str]]:
        return await asyncio.wait_for(self.targets.get(), 20)


async def _fill(eventlog: JetStreamEventLog, key: Key, order: TargetOrder) -> None:
    assert key.symbol is not None
    coid = client_order_id(key.account, key.symbol, order.id, 1)
    submitted: Event = OrderSubmitted.create(
        key,
        Producer.EXECUTOR,
        OrderSubmittedData(
            client_order_id=coid,
            intent_id=order.id,
            attempt=1,
            side=order.side,
            type=order.type,
            price=order.price,
            quantity=order.quantity,
        ),
    )
    price = order.price or Decimal(1)
    data = fill_data(coid, "1", order.side, price, order.quantity, trade_id=f"t-{coid}")
    fill: Event = FillObserved.create(key, Producer.GATEWAY, data)
    await eventlog.append(key, Producer.EXECUTOR, [submitted], ANY)
    await eventlog.append(key, Producer.GATEWAY, [fill], ANY)


async def _health(nc: NATS, attempts: int = 20) -> Msg:
    """The host's health answer. Asked again on "no responders": seen once in CI, right
    after the host had flushed its health subscription and said ready."""
    for _ in range(attempts - 1):
        with contextlib.suppress(nats.errors.NoRespondersError):
            return await nc.request(subjects.health_subject("strategy"), b"", timeout=5)
        await asyncio.sleep(0.1)
    return await nc.request(subjects.health_subject("strategy"), b"", timeout=5)


async def test_grid_publishes_then_flips_a_filled_rung(nats_url: str, nc: NATS) -> None:
    account = f"acct{uuid.uuid4().hex[:8]}"
    key = Key(account, SYMBOL)
    settings = Settings(nats={"url": nats_url, "embedded": False})  # type: ignore[arg-type]
    eventlog = await JetStreamEventLog.open(nc)
    intake = Intake(nc, eventlog)
    await nc.subscribe(subjects.target_subject(account, SYMBOL), cb=intake.on_target)

    config = StrategyConfig(
        kind="grid",
        account=account,
        symbol=SYMBOL,
        params={"levels": 1, "spacing_bps": "10", "quantity": "0.001"},
    )
    host = Host(settings, [Runner("grid-t", config, Grid())])
    host_nc = await nats.connect(nats_url)
    stop = asyncio.Event()
    await host.start(host_nc)
    running = asyncio.create_task(host.run(stop))
    try:
        reply = await _health(nc)
        assert Health.model_validate_json(reply.data).ready

        claim, _ = await intake.next()  # no price yet: an empty target claims the key
        assert (claim.generation, claim.orders) == (1, ())
        ticker = Ticker(account=account, symbol=SYMBOL, last=Decimal("60000"), at=datetime.now(UTC))
        await nc.publish(
            subjects.ticker_subject(account, SYMBOL), ticker.model_dump_json().encode()
        )
        first, headers = await intake.next()
        assert first.generation == 2
        assert [(o.side.value, o.price) for o in first.orders] == [
            ("buy", Decimal("59940.00")),
            ("sell", Decimal("60060.00")),
        ]
        assert headers.get("traceparent") is None or headers["traceparent"].startswith("00-")

        await _fill(eventlog, key, first.orders[0])
        second, _ = await intake.next()
        assert second.generation == 3
        assert [(o.side.value, o.price) for o in second.orders] == [
            ("sell", Decimal("60000.00")),
            ("sell", Decimal("60060.00")),
        ]
        assert second.orders[0].id not in {o.id for o in first.orders}
    finally:
        stop.set()
        await running
        await host_nc.drain()


async def test_restart_resumes_generation_and_does_not_republish(nats_url: str, nc: NATS) -> None:
    account = f"acct{uuid.uuid4().hex[:8]}"
    settings = Settings(nats={"url": nats_url, "embedded": False})  # type: ignore[arg-type]
    eventlog = await JetStreamEventLog.open(nc)
    intake = Intake(nc, eventlog)
    await nc.subscribe(subjects.target_subject(account, SYMBOL), cb=intake.on_target)
    config = StrategyConfig(kind="grid", account=account, symbol=SYMBOL, params={"levels": 1})
    ticker = Ticker(account=account, symbol=SYMBOL, last=Decimal("60000"), at=datetime.now(UTC))

    for run in range(2):
        host = Host(settings, [Runner("grid-r", config, Grid())])
        host_nc = await nats.connect(nats_url)
        await host.start(host_nc)
        stop = asyncio.Event()
        running = asyncio.create_task(host.run(stop))
        if run == 0:
            await intake.next()  # the empty claim
            await nc.publish(
                subjects.ticker_subject(account, SYMBOL), ticker.model_dump_json().encode()
            )
            target, _ = await intake.next()
            assert target.generation == 2
            assert target.orders
        else:
            runner = host.runners[0]
            assert runner.generation[SYMBOL] == 2
            targets = runner.step(datetime.now(UTC))
            assert targets == []  # the resumed grid wants what the log already holds
        stop.set()
        await running
        await host_nc.drain()
    assert intake.targets.empty()


async def test_ready_when_the_log_has_nothing_for_its_keys(nats_url: str, nc: NATS) -> None:
    """Other keys' events in the stream, none for ours: the replay is over at once."""
    eventlog = await JetStreamEventLog.open(nc)
    other = Key(f"other{uuid.uuid4().hex[:8]}", SYMBOL)
    target = TargetState(account=other.account, symbol=SYMBOL, generation=1, strategy="x")
    event = TargetPublished.create(other, Producer.INTAKE, TargetPublishedData(target=target))
    await eventlog.append(other, Producer.INTAKE, [event], ANY)

    account = f"acct{uuid.uuid4().hex[:8]}"
    settings = Settings(nats={"url": nats_url, "embedded": False})  # type: ignore[arg-type]
    config = StrategyConfig(kind="grid", account=account, symbol=SYMBOL)
    host = Host(settings, [Runner("grid-e", config, Grid())])
    host_nc = await nats.connect(nats_url)
    try:
        await asyncio.wait_for(host.start(host_nc), 15)
        assert host.ready
    finally:
        await host_nc.drain()
