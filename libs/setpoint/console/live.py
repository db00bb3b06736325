"""The console's live state: the log folded by the one projection runner, the differ's
key status and the services' health from NATS, and the listeners (server-sent event
streams) told of every change.

Contract:

* The intent, actual and portfolio stores are the services' own folds (`apply_intent`,
  `apply_actual`, `apply_portfolio`), fed by `ProjectionRunner` (rebuilt at start, then
  followed live). The last `TAIL` records are kept as they are, for the events page;
  nothing else is folded.
* `setpoint.status.<account>.<token>` (the differ's per-key status, on every change) is
  heard live; every `POLL_S` the console also asks as `setpoint status` does
  (`ops.status.ask`: the key statuses and each service's health). A key's `since` is when
  the differ first reported its present condition; its last `MARKS` conditions are kept
  for the timeline.
* `listen()` gives a queue of `(kind, json)` messages: `("event", row)` for every record
  folded live, `("overview", overview)` at most every `PUSH_S` when anything changed. A
  listener that does not keep up (`QUEUE` messages behind) is dropped: its stream ends
  and the browser reconnects. `close()` ends every stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import ValidationError

from setpoint.bus.messages import KeyStatus
from setpoint.bus.supervise import Supervisor
from setpoint.config import Settings
from setpoint.console.views import ConditionMark, event_row, overview, pnl_columns
from setpoint.core.model import Key
from setpoint.core.projections import (
    ActualState,
    IntentState,
    PortfolioState,
    apply_actual,
    apply_intent,
    apply_portfolio,
)
from setpoint.eventlog.port import EventLog, Recorded
from setpoint.eventlog.projection import ProjectionRunner
from setpoint.ops.status import ask
from setpoint.settings_core import purge_after

__all__ = ["STATUS_SUBJECTS", "LiveState", "Message"]

log = logging.getLogger(__name__)

TAIL = 2000
MARKS = 200
QUEUE = 5000
POLL_S = 2.0  # float-ok
PUSH_S = 0.25  # float-ok
STATUS_SUBJECTS = "setpoint.status.*.*"
"""Per-key status only (`setpoint.status.request` has one token fewer)."""
_INTENT_TYPES = frozenset({"TargetPublished", "DiffComputed"})

Message = tuple[str, Any] | None
"""What a listener receives: `(kind, body)`; None ends the stream."""


class LiveState:
    """See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        nc: NATS,
        event_log: EventLog,
        supervisor: Supervisor,
    ) -> None:
        self.settings, self.nc, self.log, self.supervisor = settings, nc, event_log, supervisor
        self.intent = IntentState.empty()
        self.actual = ActualState.empty(purge_after(settings))
        self.portfolio = PortfolioState.empty()
        self.applied = 0
        self.recent: deque[Recorded] = deque(maxlen=TAIL)
        self.statuses: dict[Key, KeyStatus] = {}
        self.since: dict[Key, datetime] = {}
        self.marks: dict[Key, deque[ConditionMark]] = {}
        self.services: list[dict[str, Any]] = []
        self.listeners: set[asyncio.Queue[Message]] = set()
        self.changed = asyncio.Event()
        self.runner = ProjectionRunner(
            event_log, self._apply, lambda: self.applied, name="log", supervisor=supervisor
        )
        self._live = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Rebuild from the log, follow it, hear the status subjects, poll and push."""
        await self.runner.rebuild()
        self.runner.start()
        self._live = True
        await self.nc.subscribe(STATUS_SUBJECTS, cb=self._on_status)
        await self.poll()
        self.supervisor.spawn("status", self._poll_forever)
        self.supervisor.spawn("push", self._push_forever)

    async def stop(self) -> None:
        self.close()
        await self.supervisor.stop()
        await self.runner.stop()

    def close(self) -> None:
        for queue in list(self.listeners):
            self._end(queue)

    # ------------------------------------------------------------------ the log

    def _apply(self, record: Recorded) -> None:
        event: Any = record.event
        if event.type in _INTENT_TYPES:
            self.intent = apply_intent(self.intent, record.position, event)
        self.actual = apply_actual(self.actual, record.position, event)
        self.portfolio = apply_portfolio(self.portfolio, record.position, event)
        self.applied = record.position
        self.recent.append(record)
        if self._live:
            self.broadcast(("event", event_row(record)))
            self.changed.set()

    # ------------------------------------------------------------------ NATS

    async def _on_status(self, msg: Msg) -> None:
        try:
            status = KeyStatus.model_validate_json(msg.data, strict=False)
        except ValidationError:
            log.warning("console: unreadable key status on %s", msg.subject)
            return
        self.note_status(status)
        self.changed.set()

    def note_status(self, status: KeyStatus) -> None:
        """Keep the key's latest status; a new condition (or reasons) starts its age."""
        key = Key(status.account, status.symbol)
        previous = self.statuses.get(key)
        if previous is not None and previous.updated_at > status.updated_at:
            return  # an older answer than the one we hold
        self.statuses[key] = status
        mark = ConditionMark(status.updated_at, status.condition.value, status.reasons)
        if previous is None or (previous.condition, previous.reasons) != (
            status.condition,
            status.reasons,
        ):
            self.since[key] = status.updated_at
            self.marks.setdefault(key, deque(maxlen=MARKS)).append(mark)

    async def poll(self) -> None:
        """Ask the differ and every service once (module docstring)."""
        body = await ask(self.nc, self.settings.nats.url, 0.5)
        self.services = body["services"]
        for raw in body["keys"] or []:
            self.note_status(KeyStatus.model_validate(raw, strict=False))
        self.changed.set()

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            await self.poll()

    async def _push_forever(self) -> None:
        while True:
            await self.changed.wait()
            self.changed.clear()
            if self.listeners:
                self.broadcast(("overview", self.overview()))
            await asyncio.sleep(PUSH_S)

    # ------------------------------------------------------------------ views

    def overview(self) -> dict[str, Any]:
        return overview(
            self.intent, self.actual, self.statuses, self.since, self.services,
            self.settings.accounts, pnl_columns(self.portfolio),
        )  # fmt: skip

    def conditions(self, key: Key) -> list[ConditionMark]:
        return list(self.marks.get(key, ()))

    def tail(self, keep: Callable[[dict[str, Any]], bool], limit: int) -> list[dict[str, Any]]:
        """The newest `limit` kept records of the tail, oldest first."""
        rows: list[dict[str, Any]] = []
        for record in reversed(self.recent):
            row = event_row(record)
            if keep(row):
                rows.append(row)
                if len(rows) >= limit:
                    break
        return rows[::-1]

    # ------------------------------------------------------------------ listeners

    def listen(self) -> asyncio.Queue[Message]:
        queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE)
        self.listeners.add(queue)
        return queue

    def forget(self, queue: asyncio.Queue[Message]) -> None:
        self.listeners.discard(queue)

    def broadcast(self, message: Message) -> None:
        for queue in list(self.listeners):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("console: a browser stream fell behind; closing it")
                self._end(queue)

    def _end(self, queue: asyncio.Queue[Message]) -> None:
        self.listeners.discard(queue)
        while True:  # make room for the end mark
            try:
                queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()


def sse(message: tuple[str, Any]) -> bytes:
    """One server-sent event: `event: <kind>` and its JSON on one data line."""
    kind, body = message
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"
