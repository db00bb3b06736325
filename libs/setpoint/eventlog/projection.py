"""The one projection runner: rebuild a projection from the log, then follow it live.

Every service keeps its state as a fold of the log (the differ's view, the executor's and
the gateway's actual store, the strategies' own views). `ProjectionRunner` is the one
loop that feeds such a fold, through the `EventLog` port only, so it works on every
backend the port has.

Contract:

* `rebuild()` folds every entry from the projection's position up to the head of the log
  as it was when the call began (the cyclic GC paused meanwhile, see `gc_paused`) and
  returns the position reached; a log that does not answer meanwhile is read again from
  the projection's position after a backoff.
* `start()` (after `rebuild`) follows the log from the next position in a task: each
  record is passed to `apply` once, in log order, with no gap. Records at or below
  `applied()` are skipped (the projection may fold its own appends at once, ahead of the
  subscription; see `EventLog.follow`).
* A broken subscription (`EventLogError`: the server restarted, the connection is back
  after an outage, a consumer was lost) is resumed from `applied() + 1` after a backoff
  (`RESUME_BASE_S` doubling up to `RESUME_CAP_S`). The outage is logged once when it starts
  and once when it ends; meanwhile `state` is `RESUMING` with the moment it began.
* An entry of a newer `schema_version` than this release reads (a rolling upgrade that
  started with the writers) raises `NewerSchema` from `rebuild` and fails the follower:
  the runner sets the log's `refuse_newer`, so no service reads past it.
* Any other exception raised while following (a bug in a fold) is not resumed: `state`
  becomes `FAILED`, the error is logged with its traceback and `on_failed` is called (a
  service then stops its process with a clear message, so its supervisor restarts it).
  A projection that may have folded half an event is never trusted again.
* `wait(position, within_s)` returns True once `applied() >= position`, False after
  `within_s`. `notify()` must be called by a projection that folds records itself (its
  own appends), so that waiters see them.
* `caught_up(within_s)` waits for the head of the log as it is now: True when the
  projection holds every entry that existed when it was asked. `live()` says whether the
  follower is running and not resuming.
* Snapshots (`use_snapshots`, `eventlog.snapshots`): `rebuild` from position 0 first
  restores the newest snapshot that matches (`eventlog.snapshots.Snapshots.load`: else it
  is ignored, logged once, and the whole log folded), then folds only the entries after
  its position. Once the projection has moved `every` events past the last snapshot
  (after `rebuild`, and while following) the state is captured (`capture()`, at once, in
  the loop: immutable values) and written by a background task, one at a time; the
  follower never waits for it.
* Metrics: while the process exports them (`telemetry.metering()`), the follower asks
  the log for its head every `LAG_PROBE_S` and `setpoint_eventlog_consumer_lag_events`
  reports the head minus the projection's position (the largest of the process's runners).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from setpoint.bus import telemetry
from setpoint.bus.supervise import (
    RESUME_BASE_S,
    RESUME_CAP_S,
    SETTLE_S,
    Supervisor,
    TaskState,
    TaskStatus,
    status,
)
from setpoint.bus.workqueue import backoff_delay
from setpoint.eventlog.port import EventLog, EventLogError, LogMisconfigured, Recorded
from setpoint.eventlog.snapshots import Snapshots

__all__ = ["ProjectionRunner", "gc_paused"]

log = logging.getLogger(__name__)
LAG_PROBE_S = 5.0  # float-ok: how often the log's head is asked for the consumer lag


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a long fold (a replay or a catch-up), and
    restore it after (a nested use leaves it to the outermost).

    The folds make only acyclic immutable values, which reference counting frees; but the
    state they build is large and long-lived, so with the collector on every full
    collection walks all of it again (about a third of a replay's time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class ProjectionRunner:
    """See the module docstring.

    `apply(record)` folds one record; `applied()` is the position the projection holds."""

    def __init__(
        self,
        event_log: EventLog,
        apply: Callable[[Recorded], None],
        applied: Callable[[], int],
        *,
        name: str,
        on_failed: Callable[[BaseException], None] | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.log, self._apply, self._applied = event_log, apply, applied
        event_log.refuse_newer = True
        self.name = name
        if supervisor is not None and on_failed is None:
            on_failed = partial(supervisor.fail, name)
        self._on_failed = on_failed
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._counter = 0
        self._task: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._failures = 0
        self.status: TaskStatus = status(name, TaskState.STOPPED)
        self._head = 0
        self._lag_probe: asyncio.Task[None] | None = None
        self._snapshots: Snapshots | None = None
        self._capture: Callable[[], Any] = lambda: None
        self._restore: Callable[[Any], None] = lambda state: None
        self._snapshot_task: asyncio.Task[bool] | None = None
        telemetry.metrics().gauges.observe("consumer_lag", self._consumer_lag)
        if supervisor is not None:
            supervisor.watch(self)

    def use_snapshots(
        self,
        snapshots: Snapshots | None,
        capture: Callable[[], Any],
        restore: Callable[[Any], None],
    ) -> None:
        """Start from and keep snapshots (module docstring): `capture()` returns the
        projection's state as it is (what `restore(state)` puts back, at the position
        `applied()` had when it was captured). None (snapshots off): nothing changes."""
        if snapshots is not None:
            self._snapshots, self._capture, self._restore = snapshots, capture, restore

    # ------------------------------------------------------------------ reading

    @property
    def position(self) -> int:
        return self._applied()

    async def rebuild(self) -> int:
        """Fold the log up to its head as of now (module docstring). While the log does not
        answer (a server restarting as the service starts), the read is resumed from the
        projection's position after a backoff, logged once."""
        if self._snapshots is not None and self._applied() == 0:
            await self._from_snapshot(self._snapshots)
        failures = 0
        while True:
            try:
                await self._rebuild_once()
                break
            except LogMisconfigured:
                raise
            except EventLogError as exc:
                if not failures:
                    log.warning("%s: the log does not answer (%s); reading it again",
                                self.name, exc)  # fmt: skip
                await asyncio.sleep(backoff_delay(failures, RESUME_BASE_S, RESUME_CAP_S))
                failures += 1
        self.notify()
        return self._applied()

    def _snapshot_if_due(self) -> None:
        """Capture the state now and write it in the background when a snapshot is due
        and none is being written (module docstring)."""
        snapshots, task = self._snapshots, self._snapshot_task
        position = self._applied()
        if snapshots is None or not snapshots.due(position) or (task and not task.done()):
            return
        state = self._capture()
        self._snapshot_task = asyncio.create_task(
            snapshots.save(self.log, position, state), name=f"snapshot {self.name}"
        )

    async def snapshot_written(self) -> bool:
        """Wait for the snapshot being written, if any: True when one was written."""
        task = self._snapshot_task
        return task is not None and await asyncio.shield(task)

    async def _from_snapshot(self, snapshots: Snapshots) -> None:
        """Restore the newest valid snapshot; one whose state does not fit `restore` (a
        body of the right format but another shape) is ignored as any mismatch is."""
        loaded = await snapshots.load(self.log)
        if loaded is None:
            return
        try:
            self._restore(loaded[1])
        except (TypeError, ValueError) as exc:  # SnapshotFormatError is a ValueError
            if self._applied() != 0:  # half restored: never fold on from it
                raise
            snapshots.position = 0
            log.warning("%s: snapshot ignored (%r); rebuilding from the log", self.name, exc)

    async def _rebuild_once(self) -> None:
        head = await self.log.head()
        with gc_paused():
            async for record in self.log.read_all(self._applied() + 1):
                if record.position > head:
                    break
                self._apply(record)

    def start(self) -> None:
        """Follow the log live from `applied() + 1` in a task (module docstring)."""
        if self._task is None:
            self._set(TaskState.FOLLOWING)
            self._task = asyncio.create_task(self._follow(), name=f"follow {self.name}")
            if telemetry.metering():
                self._lag_probe = asyncio.create_task(self._probe_head(), name="log head")

    async def stop(self) -> None:
        task, self._task = self._task, None
        for pending in (task, self._probe, self._lag_probe, self._snapshot_task):
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
        self._set(TaskState.STOPPED)
        for _, _, future in self._waiters:
            future.cancel()
        self._waiters.clear()

    async def _follow(self) -> None:
        while True:
            try:
                async for record in self.log.follow(self._applied() + 1, self._applied):
                    self._apply(record)
                    self.notify()
                    if self._failures:
                        self._recovered()
            except EventLogError as exc:
                self._broken(exc)
                await asyncio.sleep(backoff_delay(self._failures - 1, RESUME_BASE_S, RESUME_CAP_S))
                if self._probe is None or self._probe.done():
                    self._probe = asyncio.create_task(self._until_answered())
            except Exception as exc:  # a bug in a fold: never resumed (module docstring)
                self._failed(exc)
                return

    async def _probe_head(self) -> None:
        """The log's head every `LAG_PROBE_S` (for the consumer lag); a log that does not
        answer keeps the last head known."""
        while True:
            with contextlib.suppress(TimeoutError, EventLogError):
                async with asyncio.timeout(LAG_PROBE_S):
                    self._head = await self.log.head()
            await asyncio.sleep(LAG_PROBE_S)

    def _consumer_lag(self) -> list[telemetry.Reading]:
        return [(float(max(0, self._head - self._applied())), {})]  # float-ok

    async def _until_answered(self) -> None:
        """After an outage, the follower counts as live again once the log answers and no
        new failure came for `SETTLE_S`: an idle log brings no record that would say so."""
        while self._failures:
            failures = self._failures
            await asyncio.sleep(SETTLE_S)
            try:
                async with asyncio.timeout(SETTLE_S * 2):
                    await self.log.head()
            except (TimeoutError, EventLogError):
                continue
            if self._failures == failures:
                self._recovered()

    def _broken(self, exc: EventLogError) -> None:
        self._failures += 1
        if self._failures == 1:  # once per outage
            log.warning(
                "%s: log subscription lost at position %d (%s); resuming",
                self.name, self._applied(), exc,
            )  # fmt: skip
            self._set(TaskState.RESUMING, str(exc))

    def _recovered(self) -> None:
        if not self._failures:
            return
        log.warning(
            "%s: log subscription resumed at position %d after %d attempt(s)",
            self.name, self._applied(), self._failures,
        )  # fmt: skip
        self._failures = 0
        self._set(TaskState.FOLLOWING)

    def _failed(self, exc: BaseException) -> None:
        log.critical("%s: following the log failed; this process must stop", self.name,
                     exc_info=exc)  # fmt: skip
        self._set(TaskState.FAILED, f"{type(exc).__name__}: {exc}")
        if self._on_failed is not None:
            self._on_failed(exc)

    def _set(self, state: TaskState, detail: str | None = None) -> None:
        self.status = status(self.name, state, detail)

    # ------------------------------------------------------------------ waiting

    def notify(self) -> None:
        """Wake the waiters whose position the projection now holds (and write a snapshot
        when one is due: the projection's own folds come here too)."""
        if self._snapshots is not None:
            self._snapshot_if_due()
        if not self._waiters:
            return
        applied = self._applied()
        while self._waiters and self._waiters[0][0] <= applied:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)

    async def wait(self, position: int, within_s: float) -> bool:  # float-ok
        """True once the projection holds `position`; False after `within_s` seconds."""
        if self._applied() >= position:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._counter += 1
        heapq.heappush(self._waiters, (position, self._counter, future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), within_s)
        if not future.done():
            future.cancel()  # dropped from the heap when its turn comes
        return self._applied() >= position

    async def caught_up(self, within_s: float) -> bool:  # float-ok
        """True when the projection holds the head of the log as of this call within
        `within_s` (False too when the log does not answer)."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(within_s):
                head = await self.log.head()
        except (TimeoutError, EventLogError):
            return False
        return await self.wait(head, max(0.0, within_s - (time.monotonic() - started)))

    def live(self) -> bool:
        task = self._task
        return task is not None and not task.done() and self.status.working
