"""The worker process plumbing of `setpoint.eventlog.offload`, with the audit worker as the
child: frames both ways, a child that fails or quits is an error, never a hang."""

from __future__ import annotations

import pytest

from setpoint.core.audit import AuditLimits, AuditReport
from setpoint.eventlog.offload import Worker, WorkerFailed
from setpoint.testing.synthetic import synthetic_log

WORKER = "setpoint.ops.audit_worker"


async def test_frames_go_both_ways_in_order() -> None:
    events = synthetic_log(300, seed=4)
    async with await Worker.start(WORKER) as worker:
        await worker.send(AuditLimits())
        payloads = [e.to_json() for e in events] + [b"{broken"]
        positions = list(range(1, len(payloads) + 1))
        subjects = [b"s.%d" % p for p in positions]
        for at in range(0, len(payloads), 100):
            window = slice(at, at + 100)
            await worker.send((positions[window], subjects[window], payloads[window]))
        await worker.send(None)
        [unreadable] = await worker.receive()
        assert (unreadable.position, unreadable.subject) == (len(payloads), f"s.{len(payloads)}")
        await worker.send([(unreadable.position, "broken")])
        report = await worker.receive()
    assert isinstance(report, AuditReport)
    assert report.events == len(events)
    assert [v.position for v in report.violations] == [len(payloads)]


async def test_a_child_that_fails_is_an_error_and_is_reaped() -> None:
    async with await Worker.start(WORKER) as worker:
        await worker.send(AuditLimits())
        await worker.send(("not", "a batch"))  # the child dies on it
        with pytest.raises(WorkerFailed, match="exited with status 1"):
            await _until_it_fails(worker)
    assert worker.returncode == 1


async def _until_it_fails(worker: Worker) -> None:
    for _ in range(100):  # the pipe may take a few frames before it breaks
        await worker.send(None)
        await worker.receive()


async def test_a_child_that_quits_early_is_an_error() -> None:
    async with await Worker.start(WORKER) as worker:
        await worker.send("not the limits")  # the child ends quietly
        with pytest.raises(WorkerFailed, match="exited with status 0"):
            await worker.receive()


async def test_closing_the_input_ends_the_child() -> None:
    async with await Worker.start(WORKER) as worker:
        await worker.send(AuditLimits())
    assert worker.returncode == 0
