"""The audit with a second process (`--workers 1`) gives exactly the report of the
one-process audit, on a JetStream log that breaks invariants and holds unreadable entries;
and the worker process never outlives the audit."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from ops_cli import setpoint

from setpoint.bus.embedded import EmbeddedNats, free_port
from setpoint.bus.subjects import event_subject
from setpoint.core.audit import NO_QUARANTINE, AuditLimits, AuditReport
from setpoint.core.events import Event
from setpoint.core.model import Key, Producer, Side, TargetOrder
from setpoint.eventlog import offload
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.ops import audit as audit_cmd
from setpoint.ops.audit import audit
from setpoint.testing.synthetic import ChainBuilder, buy, synthetic_log, write

pytestmark = pytest.mark.nats

SPOT = Key("alpha", "BTC/USDT")
PERP = Key("alpha", "BTC/USDT:USDT")
D = Decimal
BAD = (
    b"{not json",
    b'{"type": "OrderTeleported"}',
    b"",
    "\u00e9".encode("latin-1"),
)


def _broken_chains() -> list[Event]:
    """Every kind of violation the checker knows, plus an order in flight at the end."""
    b = ChainBuilder()
    _, placed = b.placed(b.submitted(SPOT, buy()))
    first = b.fill(placed, D("0.004"))
    b.fill(placed, D("0.004"), trade_id=first.data.trade_id)  # the same fill twice
    b.fill(placed, D("0.009"))  # more than the order's quantity
    second = buy(price="60010")
    b.planned(b.target(SPOT, (second,)), second, attempt=2)  # a second live order for the intent
    _, pplaced = b.placed(b.submitted(PERP, buy("p1")))
    b.position(PERP, D("0"))
    b.fill(pplaced, D("0.004"))
    b.advance(timedelta(minutes=3))
    b.position(PERP, D("0.007"))  # drifts from the fills
    b.advance(timedelta(minutes=3))
    b.position(PERP, D("0.007"))
    late = TargetOrder(id="b9", side=Side.SELL, price=D("61000"), quantity=D("0.010"))
    b.submitted(SPOT, late)  # left unanswered: stale
    b.advance(timedelta(minutes=11))
    b.reconciled(SPOT, 0)
    last = TargetOrder(id="b10", side=Side.SELL, price=D("61000"), quantity=D("0.010"))
    b.submitted(SPOT, last)  # in flight at the end
    return b.events


@pytest.fixture(scope="module")
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_url, name="test-audit-offload")
    yield client
    await client.drain()


@pytest.fixture(scope="module")
async def broken_log(nc: NATS) -> AsyncIterator[tuple[str, str]]:
    """(stream, subject root) of a log: a clean workload with broken chains and
    unreadable entries spread through it."""
    suffix = uuid.uuid4().hex[:10]
    stream, root = f"AO_{suffix}", f"ao{suffix}.evt"
    log = await JetStreamEventLog.open(nc, stream=stream, subject_root=root)
    clean = synthetic_log(6_000, seed=11)
    broken = _broken_chains()
    subject = root + event_subject(SPOT, Producer.GATEWAY, "FillObserved").removeprefix(
        "setpoint.evt"
    )
    js = nc.jetstream()
    third = len(clean) // 3
    for index, part in enumerate((clean[:third], broken, clean[third:])):
        await write(log, part, batch=64)
        for raw in BAD[index::3]:
            await js.publish(subject, raw)
    await log.close()
    yield stream, root
    await js.delete_stream(stream)


async def _audit(nc: NATS, where: tuple[str, str], workers: int) -> AuditReport:
    stream, root = where
    log = await JetStreamEventLog.open(nc, stream=stream, subject_root=root)
    try:
        return await audit(log, AuditLimits(), progress=False, workers=workers)
    finally:
        await log.close()


async def test_both_ways_give_the_same_report(nc: NATS, broken_log: tuple[str, str]) -> None:
    here = await _audit(nc, broken_log, workers=0)
    there = await _audit(nc, broken_log, workers=1)
    assert there == here
    assert there.to_json() == here.to_json()
    invariants = {v.invariant for v in here.violations}
    assert len(invariants) >= 5, invariants  # the log breaks many invariants
    assert sum(v.invariant == NO_QUARANTINE for v in here.violations) == len(BAD)
    assert here.in_flight
    assert here.events > 6_000


async def test_a_second_audit_on_the_same_log_object_is_the_same(
    nc: NATS, broken_log: tuple[str, str]
) -> None:
    stream, root = broken_log
    log = await JetStreamEventLog.open(nc, stream=stream, subject_root=root)
    try:
        first = await audit(log, progress=False, workers=1)
        quarantined = list(log.quarantine)
        assert [q.position for q in quarantined] == sorted(q.position for q in quarantined)
        assert len(quarantined) == len(BAD)
        assert await audit(log, progress=False, workers=0) == first
        assert await audit(log, progress=True, workers=1) == first  # with the progress bar
        assert log.quarantine == quarantined
    finally:
        await log.close()


async def test_an_empty_log_offloaded_is_clean(nc: NATS) -> None:
    suffix = uuid.uuid4().hex[:10]
    log = await JetStreamEventLog.open(nc, stream=f"AE_{suffix}", subject_root=f"ae{suffix}.evt")
    try:
        report = await audit(log, progress=False, workers=1)
        assert report.clean
        assert report.events == 0
    finally:
        await log.close()
        await nc.jetstream().delete_stream(log.stream)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_cancelled_audit_leaves_no_worker_behind(
    nc: NATS, broken_log: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[offload.Worker] = []
    running = asyncio.Event()
    real_start = offload.Worker.start

    async def start(module: str, **options: int) -> offload.Worker:
        worker = await real_start(module, **options)
        started.append(worker)
        running.set()
        return worker

    monkeypatch.setattr(audit_cmd.Worker, "start", start)
    monkeypatch.setattr(audit_cmd, "SEND_EVENTS", 64)
    task = asyncio.create_task(_audit(nc, broken_log, workers=1))
    await running.wait()
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _alive(started[0].pid)


async def test_the_command_takes_workers(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    server = EmbeddedNats(url, tmp_path / "store")
    server.start()
    try:
        client = await nats.connect(url)
        log = await JetStreamEventLog.open(client, owns_connection=True)
        await write(log, _broken_chains())
        await log.close()
        config = tmp_path / "setpoint.toml"
        config.write_text(
            f'[nats]\nurl = "{url}"\nembedded = false\n\n[eventlog]\nbackend = "jetstream"\n'
        )
        here = await setpoint(config, "audit", "--json", "--workers", "0")
        there = await setpoint(config, "audit", "--json", "--workers", "1")
    finally:
        server.stop()
    assert here == there
    assert here[0] == 1
