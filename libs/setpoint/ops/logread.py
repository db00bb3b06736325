"""Reading the log for the operator commands: open it from the configuration, stream it
with a progress bar on stderr, and print JSON the same way everywhere."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from setpoint.config import load_settings
from setpoint.eventlog.port import EventLog, Recorded
from setpoint.ops.exits import CANNOT_READ as CANNOT_READ
from setpoint.ops.exits import READ_ERRORS, exit_status
from setpoint.ops.progress import LogProgress

T = TypeVar("T")


def run_on_log(command: str, work: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(work)`; a log that cannot be opened or read ends the command with one
    line on stderr and exit status CANNOT_READ (`exits.READ_ERRORS`), not a traceback."""
    try:
        return asyncio.run(work)
    except READ_ERRORS as exc:
        print(f"setpoint {command}: cannot read the event log: {exc}", file=sys.stderr)
        raise SystemExit(exit_status(exc)) from None


@asynccontextmanager
async def opened_log(config: str | None) -> AsyncIterator[EventLog]:
    """The event log of the configuration in force, closed on exit."""
    from setpoint.bus.credentials import operator_options
    from setpoint.eventlog.factory import open_event_log

    settings = load_settings(config)
    log = await open_event_log(settings, **operator_options(settings.nats))
    try:
        yield log
    finally:
        await log.close()


async def stream(
    log: EventLog, label: str, *, progress: bool | None = None
) -> AsyncGenerator[Recorded, None]:
    """Every record of `log` from position 1 through the head as of the start (the fast
    path, `read_all`), with a progress bar on stderr (`progress` None: when a terminal)."""
    total = await log.head()
    with LogProgress(label, total, enabled=progress) as bar:
        async for record in log.read_all():
            bar.at(record.position)
            yield record


def parse_time(text: str) -> datetime:
    """RFC 3339 / ISO 8601 (`Z` allowed); a time without a zone is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def print_json(body: Any) -> None:
    """One JSON document on stdout (decimals as strings, times in RFC 3339)."""
    sys.stdout.write(orjson.dumps(body, default=_default, option=orjson.OPT_INDENT_2).decode())
    sys.stdout.write("\n")
    sys.stdout.flush()


def _default(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON")


def dec(value: Any) -> str | None:
    """A Decimal as its plain string (JSON form); None stays None."""
    return None if value is None else format(value, "f")
