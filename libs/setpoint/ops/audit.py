"""`setpoint audit [--json]`: replay the whole log and check its invariants.

Streams the log once (`EventLog.read_all`) through `core.audit.AuditChecker` (bounded
memory), adds every entry the log quarantined while reading, and prints the report: a
summary and a table of violations by default, or the JSON of docs/operations.md ("audit")
with `--json`: `{"clean", "events", "counts": {"targets", "intents", "orders", "fills"},
"violations": [{"invariant", "position", "detail"}]}` plus `"in_flight"` (orders submitted
and not yet answered at the end of the log; listed, not violations).

With `--workers 1` (the default on a machine with two or more CPUs when the log is a
JetStream log of at least `OFFLOAD_MIN_EVENTS` entries, `--workers auto`), this process
only reads raw entries from JetStream and a second process (`setpoint.ops.audit_worker`,
through `setpoint.eventlog.offload`) parses and checks them, in log order, with the same
code: the report is the same, the read and the check run on two cores at once. With
`--workers 0`, or on one CPU, or for a short log (where starting a process costs more than
it saves), everything happens in this process.

Exit status: 0 when clean, 1 when any invariant is broken.
"""

from __future__ import annotations

import argparse
from contextlib import aclosing
from datetime import timedelta

from rich.console import Console
from rich.table import Table

from setpoint.core.audit import AuditChecker, AuditLimits, AuditReport
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.offload import Worker, usable_cpus
from setpoint.eventlog.port import EventLog
from setpoint.eventlog.projection import gc_paused
from setpoint.ops import output
from setpoint.ops.exits import FAILED, OK
from setpoint.ops.logread import opened_log, print_json, run_on_log, stream
from setpoint.ops.progress import LogProgress

OFFLOAD_MIN_EVENTS = 100_000
"""Below this many log entries `--workers auto` audits in one process: a second one takes
about 0.3 s to start (its imports), which the split saves back (about 6 us per event on
an idle machine) only from about 50,000 entries on."""
SEND_EVENTS = 4096
"""Raw entries per frame sent to the worker process."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (docs/operations.md)")
    parser.add_argument(
        "--stale-after",
        type=float,
        default=600,
        metavar="SECONDS",
        help="log time after which an unanswered submission is a violation (default 600)",
    )
    parser.add_argument(
        "--position-settle",
        type=float,
        default=120,
        metavar="SECONDS",
        help="log time a position difference may last before it is a violation (default 120)",
    )
    parser.add_argument(
        "--workers",
        choices=("auto", "0", "1"),
        default="auto",
        help="processes that parse and check besides the one that reads: 0 (all in this "
        "process) or 1; auto (default): 1 on two or more CPUs for a JetStream log of "
        f"{OFFLOAD_MIN_EVENTS:,}+ entries",
    )


def main(config: str | None, args: argparse.Namespace) -> int:
    limits = AuditLimits(
        stale_after=timedelta(seconds=args.stale_after),
        position_settle=timedelta(seconds=args.position_settle),
    )
    workers = None if args.workers == "auto" else int(args.workers)
    report = run_on_log("audit", _run(config, limits, workers))
    if args.json:
        print_json(report.to_json())
    else:
        render(report)
    return OK if report.clean else FAILED


async def _run(config: str | None, limits: AuditLimits, workers: int | None) -> AuditReport:
    async with opened_log(config) as log:
        return await audit(log, limits, workers=workers)


async def audit(
    log: EventLog,
    limits: AuditLimits | None = None,
    *,
    progress: bool | None = None,
    workers: int | None = None,
) -> AuditReport:
    """Check the whole log (as of the start of the read) and return the report.

    `workers`: 0 checks in this process, 1 in a second one (JetStream logs only; the same
    report), None chooses (module docstring)."""
    if await _offload(log, workers):
        assert isinstance(log, JetStreamEventLog)
        return await audit_offloaded(log, limits or AuditLimits(), progress=progress)
    return await audit_here(log, limits, progress=progress)


async def _offload(log: EventLog, workers: int | None) -> bool:
    if not isinstance(log, JetStreamEventLog) or workers == 0:
        return False
    if workers is not None:
        return True
    return usable_cpus() >= 2 and await log.head() >= OFFLOAD_MIN_EVENTS


async def audit_here(
    log: EventLog, limits: AuditLimits | None = None, *, progress: bool | None = None
) -> AuditReport:
    """`audit` in this process alone."""
    checker = AuditChecker(limits)
    feed = checker.feed
    with gc_paused():  # the checker's state only grows while reading: see gc_paused
        async with aclosing(stream(log, "audit", progress=progress)) as records:
            async for record in records:
                feed(record.position, record.event)
    for position, detail in _unreadable(log):
        checker.quarantined(position, detail)
    return checker.finish()


def _unreadable(log: EventLog) -> list[tuple[int, str]]:
    """Every entry this log object could not read, once each, as the audit reports it."""
    seen: set[int] = set()
    found = []
    for entry in log.quarantine:
        if entry.position not in seen:
            seen.add(entry.position)
            found.append((entry.position, f"{entry.reason} (subject {entry.subject})"))
    return found


async def audit_offloaded(
    log: JetStreamEventLog, limits: AuditLimits, *, progress: bool | None = None
) -> AuditReport:
    """`audit` with the parsing and checking in a second process (module docstring and
    `ops.audit_worker`); the same report as `audit_here`."""
    total = await log.head()
    async with await Worker.start("setpoint.ops.audit_worker") as worker:
        await worker.send(limits)
        with LogProgress("audit", total, enabled=progress) as bar:
            await _send_entries(log, worker, bar)
        await worker.send(None)
        for entry in await worker.receive():
            log.record_unreadable(entry)
        await worker.send(_unreadable(log))
        report: AuditReport = await worker.receive()
    return report


async def _send_entries(log: JetStreamEventLog, worker: Worker, bar: LogProgress) -> None:
    """Every raw entry of the log to the worker, `SEND_EVENTS` or so per frame."""
    positions: list[int] = []
    subjects: list[bytes] = []
    payloads: list[bytes] = []
    async with aclosing(log.read_all_raw()) as batches:
        async for batch in batches:
            positions += [raw.sequence for raw in batch]
            subjects += [raw.subject for raw in batch]
            payloads += [raw.data for raw in batch]
            if len(positions) >= SEND_EVENTS:
                await worker.send((positions, subjects, payloads))
                bar.at(positions[-1])
                positions, subjects, payloads = [], [], []
    if positions:
        await worker.send((positions, subjects, payloads))


def render(report: AuditReport, console: Console | None = None) -> None:
    """The report for a person: the verdict, the counts, each violation, the in-flight."""
    out = console or output.console()
    c = report.counts
    verdict = "[green]clean[/green]" if report.clean else "[red]NOT clean[/red]"
    out.print(
        f"audit: {verdict} - {report.events} events, {c.targets} targets, {c.intents} "
        f"intents, {c.orders} orders, {c.fills} fills, {len(report.violations)} violations",
        soft_wrap=True,
    )
    if report.violations:
        table = Table("position", "invariant", "detail", title="violations")
        for v in report.violations:
            table.add_row(str(v.position), v.invariant, v.detail)
        out.print(table)
    if report.in_flight:
        table = Table("position", "client order id", "key", "submitted at", title="in flight")
        for o in report.in_flight:
            key = f"{o.account} {o.symbol}"
            table.add_row(str(o.position), o.client_order_id, key, o.submitted_at.isoformat())
        out.print(table)
