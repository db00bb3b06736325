"""The executor's appends, checked per (key, executor): write-ahead decisions and facts.

Contract:

* Appends are checked per (key, executor) against the position of the last executor
  event *folded* for the key (`folded`) or appended by this process: a decision made on a
  stale projection cannot pass the check.
* `record_stage` decides and appends a stage's write-ahead events one by one, in stage
  order, and calls `send(action, event)` as soon as an action's own event is recorded
  (never before). Each decision is read together with the position it is checked
  against, under the key's lock, nothing awaited in between. On a conflict (another
  executor appended since) it waits until it has folded the winner's events and decides
  again what is left of the stage (it then skips what the winner did); what was recorded
  stays recorded and sent. When it cannot catch up, or conflicts five times, it gives the
  stage up: False, and the actions not recorded by then were not sent.
* Partitioned (`owns`, `worker`: `bus.leases.KeyLeases`): a stage is given up (False,
  nothing more sent) as soon as the instance no longer holds the key's partition, and
  each write-ahead event names the tenure that decided it (`worker`, schema_version 2).
* `record_facts` appends facts (the venue's answers) with the same check; facts are true
  whoever acted since, so on a conflict they are appended anyway (unchecked), without
  advancing the expected position, so the next decision waits for the fold.
* Every event appended with the check is handed to `own(position, event)` once it is
  recorded (a write-ahead event after `send`): the executor folds it at once when its
  projection is right before it, so its own events are not decoded again from the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from setpoint.core.events import Action, Event, with_worker
from setpoint.core.model import Key, Producer
from setpoint.eventlog import ANY, NO_EVENTS, ConcurrencyConflict, EventLog

log = logging.getLogger(__name__)
CONFLICTS = 5

Decision = tuple[Event, bool] | None
"""An action decided now: its write-ahead event (True: to be sent) or its refusal
(False: only recorded); None when it is skipped."""


class WriteAhead:
    """See the module docstring. `caught_up(position)` waits until the projection has
    folded `position` (False when it could not)."""

    def __init__(
        self,
        event_log: EventLog,
        caught_up: Callable[[int], Awaitable[bool]],
        own: Callable[[int, Event], None] = lambda position, event: None,
        owns: Callable[[Key], bool] = lambda key: True,
        worker: Callable[[Key], str | None] = lambda key: None,
    ):
        self.log, self._caught_up, self._own = event_log, caught_up, own
        self._owns, self._worker = owns, worker
        self.expected: dict[Key, int] = {}
        self.locks: dict[Key, asyncio.Lock] = {}

    def folded(self, key: Key, position: int) -> None:
        """An executor event of `key` at `position` has been folded into the projection."""
        self.expected[key] = max(self.expected.get(key, NO_EVENTS), position)

    async def record_stage(
        self,
        key: Key,
        stage: Sequence[Action],
        decide: Callable[[Action], Decision],
        send: Callable[[Action, Event], None],
    ) -> bool:
        """Decide (`decide`, on the newest projection) and append the stage's events, see
        the module docstring. False when it could not get past the conflicts."""
        left = list(stage)
        for _ in range(CONFLICTS):
            try:
                while left:
                    if not self._owns(key):
                        return False  # the partition moved: its new holder goes on
                    decided = await self._decide_and_append(key, left[0], decide)
                    if decided is not None:
                        event, to_send, position = decided
                        if to_send:
                            send(left[0], event)
                        self._own(position, event)
                        if to_send:
                            await asyncio.sleep(0)  # let it reach the wire before the next
                    left.pop(0)
            except ConcurrencyConflict as conflict:
                log.info("another executor acted on %s; re-deciding", key)
                if not await self._caught_up(conflict.actual):
                    return False
                continue
            return True
        return False

    async def _decide_and_append(
        self, key: Key, action: Action, decide: Callable[[Action], Decision]
    ) -> tuple[Event, bool, int] | None:
        """Decide `action` and append the decision, checked against the position of the
        last executor event folded or appended when it decided: a decision made stale by
        another executor's append raises ConcurrencyConflict."""
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            expected = self.expected.get(key, NO_EVENTS)
            decided = decide(action)
            if decided is None:
                return None
            worker = self._worker(key)
            if worker is not None:
                decided = (with_worker(decided[0], worker), decided[1])
            positions = await self.log.append(key, Producer.EXECUTOR, [decided[0]], expected)
            self.folded(key, positions[-1])
            return decided[0], decided[1], positions[-1]

    async def record_facts(self, key: Key, events: list[Event]) -> None:
        """Append facts (venue answers), see the module docstring."""
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            try:
                positions = await self.log.append(
                    key, Producer.EXECUTOR, events, self.expected.get(key, NO_EVENTS)
                )
            except ConcurrencyConflict:
                await self.log.append(key, Producer.EXECUTOR, events, ANY)
                return
            self.folded(key, positions[-1])
            for position, event in zip(positions, events, strict=True):
                self._own(position, event)
