"""Rolling upgrades: a service that meets an event of a newer `schema_version` stops with a
clear message; the offline readers (replay, audit) keep quarantining it; version 1 and the
worker-naming version 2 both read."""

from __future__ import annotations

import asyncio

import pytest

from setpoint.bus.supervise import TaskState
from setpoint.core.events import (
    DiffComputed,
    DiffComputedData,
    OrderPlaced,
    OrderPlacedData,
    newer_schema,
    parse_event,
)
from setpoint.core.model import Key, Producer
from setpoint.errors import NewerSchema
from setpoint.eventlog import ANY, Recorded
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.eventlog.projection import ProjectionRunner

KEY = Key("demo", "BTC/USDT")
SUBJECT = "setpoint.evt.demo.BTC-USDT.gateway.OrderPlaced"


def placed(n: int) -> OrderPlaced:
    data = OrderPlacedData(client_order_id=f"c{n}", order_id=f"o{n}")
    return OrderPlaced.create(KEY, Producer.GATEWAY, data)


def from_the_future(version: int = 3) -> bytes:
    return (
        placed(9).to_json().replace(b'"schema_version":1', f'"schema_version":{version}'.encode())
    )


def test_only_a_version_above_the_known_ones_counts_as_newer() -> None:
    assert newer_schema(from_the_future(3)) == 3
    assert newer_schema(from_the_future(1)) is None
    assert newer_schema(from_the_future(2)) is None
    assert newer_schema(b"{not json") is None
    assert newer_schema(b"[1, 2]") is None
    assert newer_schema(from_the_future(1).replace(b'"OrderPlaced"', b'"OrderTeleported"')) is None


def test_a_decision_naming_its_worker_is_version_2_and_one_without_stays_version_1() -> None:
    data = DiffComputedData(generation=1, target_event_id=None)
    plain = DiffComputed.create(KEY, Producer.DIFFER, data)
    named = DiffComputed.create(KEY, Producer.DIFFER, data, worker="differ-a#7")
    assert plain.schema_version == 1
    assert b"worker" not in plain.to_json()
    assert named.schema_version == 2
    assert named.worker == "differ-a#7"
    assert parse_event(named.to_json()) == named
    assert parse_event(plain.to_json()).worker is None  # version 1 upcasts: no worker


async def test_a_service_rebuilding_over_a_newer_event_stops_with_a_clear_message() -> None:
    log = InMemoryEventLog()
    await log.append(KEY, Producer.GATEWAY, [placed(1)], ANY)
    log.inject_raw(SUBJECT, from_the_future())
    folded: list[Recorded] = []
    runner = ProjectionRunner(log, folded.append, lambda: len(folded), name="log")
    with pytest.raises(NewerSchema) as raised:
        await runner.rebuild()
    assert str(raised.value) == (
        f"log entry 2 on {SUBJECT} has schema_version 3, newer than this release of "
        "Setpoint reads (up to 2); upgrade this service (during a rolling upgrade, "
        "upgrade every reader before the writers)"
    )
    assert [r.position for r in folded] == [1]


async def test_a_following_service_fails_on_a_newer_event_and_is_never_resumed() -> None:
    log = InMemoryEventLog()
    positions: list[int] = []
    failures: list[BaseException] = []
    runner = ProjectionRunner(
        log, lambda r: positions.append(r.position), lambda: positions[-1] if positions else 0,
        name="log", on_failed=failures.append,
    )  # fmt: skip
    await runner.rebuild()
    runner.start()
    await log.append(KEY, Producer.GATEWAY, [placed(1)], ANY)
    log.inject_raw(SUBJECT, from_the_future())
    await log.append(KEY, Producer.GATEWAY, [placed(2)], ANY)
    for _ in range(200):
        if failures:
            break
        await asyncio.sleep(0.01)
    assert positions == [1]
    assert isinstance(failures[0], NewerSchema)
    assert runner.status.state is TaskState.FAILED
    await runner.stop()


async def test_offline_readers_still_quarantine_a_newer_event_and_read_on() -> None:
    log = InMemoryEventLog()
    log.inject_raw(SUBJECT, from_the_future())
    await log.append(KEY, Producer.GATEWAY, [placed(1)], ANY)
    assert [r.position async for r in log.read_all()] == [2]
    assert [q.position for q in log.quarantine] == [1]
