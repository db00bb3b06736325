"""The checking half of an offloaded audit: `python -m setpoint.ops.audit_worker`.

Started by `setpoint.ops.audit` (through `setpoint.eventlog.offload`), which reads the log
and sends frames on this process's stdin; this one parses and checks, in log order, with
exactly the code of the one-process audit. Frames, in order:

1. in: the `AuditLimits`;
2. in: any number of `(positions, subjects, payloads)` batches of raw log entries;
3. in: `None` (the read is over); out: the entries that did not parse, as
   `Quarantined`, in log order;
4. in: `[(position, detail), ...]`, every unreadable entry to report (the log's whole
   quarantine, as the one-process audit reports it); out: the `AuditReport`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

from setpoint.core.audit import AuditChecker, AuditLimits, AuditReport
from setpoint.core.events import EventParseError, parse_event
from setpoint.eventlog.offload import child_exit, child_frames, child_send, child_setup
from setpoint.eventlog.port import Quarantined

Batch = tuple[list[int], list[bytes], list[bytes]]


def check(frames: Iterator[Any]) -> tuple[AuditChecker, list[Quarantined]] | None:
    """Steps 1-2 of the module docstring: the checker after every batch, and what did not
    parse; None when the frames end early (the parent is gone)."""
    limits = next(frames, None)
    if not isinstance(limits, AuditLimits):
        return None
    checker = AuditChecker(limits)
    feed, parse = checker.feed, parse_event
    unreadable: list[Quarantined] = []
    for batch in frames:
        if batch is None:
            return checker, unreadable
        positions, subjects, payloads = batch
        for position, subject, payload in zip(positions, subjects, payloads, strict=True):
            try:
                event = parse(payload)
            except EventParseError as exc:
                unreadable.append(Quarantined(position, subject.decode(), exc.reason, payload))
                continue
            feed(position, event)
    return None


def finish(checker: AuditChecker, quarantined: list[tuple[int, str]]) -> AuditReport:
    """Step 4: report the unreadable entries, then the checker's verdict."""
    for position, detail in quarantined:
        checker.quarantined(position, detail)
    return checker.finish()


def main() -> int:
    child_setup()
    with child_exit():
        return _serve()


def _serve() -> int:
    gc.disable()  # the checker's state only grows: see eventlog.projection.gc_paused
    frames = child_frames()
    checked = check(frames)
    if checked is None:
        return 0
    checker, unreadable = checked
    child_send(unreadable)
    quarantined = next(frames, None)
    if quarantined is None:
        return 0
    child_send(finish(checker, quarantined))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
