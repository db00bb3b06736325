"""`setpoint audit [--json]`: replay the whole log and check its invariants.

Streams the log once (`EventLog.read_all`) through `core.audit.AuditChecker` (bounded
memory), adds every entry the log quarantined while reading, and prints the report: a
summary and a table of violations by default, or the JSON of CONTRACTS.md ("Command line")
with `--json`: `{"clean", "events", "counts": {"targets", "intents", "orders", "fills"},
"violations": [{"invariant", "position", "detail"}]}` plus `"in_flight"` (orders submitted
and not yet answered at the end of the log; listed, not violations).

Exit status: 0 when clean, 1 when any invariant is broken.
"""

from __future__ import annotations

import argparse
from contextlib import aclosing
from datetime import timedelta

from rich.console import Console
from rich.table import Table

from setpoint.core.audit import AuditChecker, AuditLimits, AuditReport
from setpoint.core.projections import gc_paused
from setpoint.eventlog.port import EventLog
from setpoint.ops.logread import opened_log, print_json, run_on_log, stream


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (CONTRACTS.md)")
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


def main(config: str | None, args: argparse.Namespace) -> int:
    limits = AuditLimits(
        stale_after=timedelta(seconds=args.stale_after),
        position_settle=timedelta(seconds=args.position_settle),
    )
    report = run_on_log("audit", _run(config, limits))
    if args.json:
        print_json(report.to_json())
    else:
        render(report)
    return 0 if report.clean else 1


async def _run(config: str | None, limits: AuditLimits) -> AuditReport:
    async with opened_log(config) as log:
        return await audit(log, limits)


async def audit(
    log: EventLog, limits: AuditLimits | None = None, *, progress: bool | None = None
) -> AuditReport:
    """Check the whole log (as of the start of the read) and return the report."""
    checker = AuditChecker(limits)
    feed = checker.feed
    with gc_paused():  # the checker's state only grows while reading: see gc_paused
        async with aclosing(stream(log, "audit", progress=progress)) as records:
            async for record in records:
                feed(record.position, record.event)
    seen: set[int] = set()
    for entry in log.quarantine:  # every entry this log object could not read
        if entry.position not in seen:
            seen.add(entry.position)
            checker.quarantined(entry.position, f"{entry.reason} (subject {entry.subject})")
    return checker.finish()


def render(report: AuditReport, console: Console | None = None) -> None:
    """The report for a person: the verdict, the counts, each violation, the in-flight."""
    out = console or Console()
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
