"""Every long-running task of a service, supervised; health that means working.

Contract:

* `Supervisor.spawn(name, factory)` runs `factory()` in a task. When it raises an
  `Exception`, the task is resumed: `factory()` is called again after a backoff
  (`RESUME_BASE_S` doubling up to `RESUME_CAP_S`); the outage is logged once when it
  begins and once when the task has run `SETTLE_S` without failing again. Meanwhile its
  state is `RESUMING` with the moment and the error. With `resume=False` the first error
  is fatal instead: the state becomes `FAILED` and `on_failed(name, error)` is called
  (the service then ends its process with a clear message, so `setpoint up` or compose
  starts it again). A factory that returns ends its task (`STOPPED`); so does `stop()`.
* `watch(follower)` adds a log follower (a `ProjectionRunner`) whose own state and whose
  `caught_up` the health answer includes.
* `health()` is the answer on `setpoint.health.<service>`: `ready` is true only while the
  service said it is ready (`set_ready`), every task is working (following, not resuming,
  not failed) and every follower holds the head of the log within `CATCH_UP_S` (so an
  idle system stays ready and a deaf one does not). `tasks` names each task's state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from typing import Final, Protocol

from setpoint.bus.messages import Health
from setpoint.bus.workqueue import backoff_delay
from setpoint.core.errors import SetpointError

__all__ = [
    "CATCH_UP_S",
    "Follower",
    "Supervisor",
    "TaskState",
    "TaskStatus",
    "service_version",
]

log = logging.getLogger(__name__)

RESUME_BASE_S: Final = 0.05
RESUME_CAP_S: Final = 5.0
SETTLE_S: Final = 1.0
CATCH_UP_S: Final = 0.3
"""How long a health answer waits for a follower to reach the log's head (callers ask
with a 0.5 s timeout)."""


class TaskState(StrEnum):
    """What a long-running task is doing, as health reports it."""

    FOLLOWING = "following"
    RESUMING = "resuming"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One task's state: `since` is when it entered it, `detail` the error behind a resume
    or a failure."""

    name: str
    state: TaskState
    since: datetime
    detail: str | None = None

    @property
    def working(self) -> bool:
        return self.state is TaskState.FOLLOWING

    def describe(self) -> str:
        """`following`, or e.g. `resuming since 2026-12-06T21:40:00Z (no answer ...)`."""
        if self.state is TaskState.FOLLOWING:
            return self.state.value
        text = f"{self.state.value} since {self.since.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        return text if self.detail is None else f"{text} ({self.detail})"


def status(name: str, state: TaskState, detail: str | None = None) -> TaskStatus:
    return TaskStatus(name, state, datetime.now(UTC), detail)


class Follower(Protocol):
    """A log follower as health sees it (`eventlog.projection.ProjectionRunner`)."""

    @property
    def status(self) -> TaskStatus: ...

    @property
    def position(self) -> int: ...

    async def caught_up(self, within_s: float) -> bool: ...  # float-ok


def service_version() -> str:
    """The installed setpoint version (`0+unknown` outside an install): what health reports
    and telemetry (resource, tracers, meter) name."""
    try:
        return version("setpoint")
    except PackageNotFoundError:  # pragma: no cover - only outside an install
        return "0+unknown"


@dataclass(slots=True)
class _Supervised:
    """One supervised task across its resumes."""

    name: str
    factory: Callable[[], Awaitable[None]]
    resume: bool
    failures: int = 0
    settled: asyncio.TimerHandle | None = None


class Supervisor:
    """See the module docstring."""

    def __init__(
        self, service: str, on_failed: Callable[[str, BaseException], None] | None = None
    ) -> None:
        self.service = service
        self.started_at = datetime.now(UTC)
        self._on_failed = on_failed
        self._tasks: dict[str, asyncio.Future[None]] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}
        """Tasks waiting out their backoff before they are resumed."""
        self._status: dict[str, TaskStatus] = {}
        self._followers: list[Follower] = []
        self._ready = False

    def spawn(
        self, name: str, factory: Callable[[], Awaitable[None]], *, resume: bool = True
    ) -> None:
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} runs already")
        self._status[name] = status(name, TaskState.FOLLOWING)
        self._run(_Supervised(name, factory, resume))

    def watch(self, follower: Follower) -> None:
        self._followers.append(follower)

    def set_ready(self, ready: bool = True) -> None:
        self._ready = ready

    def fail(self, name: str, exc: BaseException) -> None:
        """Mark `name` failed (a task or a follower that cannot go on) and report it."""
        log.critical("%s: %s failed; this process must stop: %s", self.service, name, exc)
        self._status[name] = status(name, TaskState.FAILED, f"{type(exc).__name__}: {exc}")
        if self._on_failed is not None:
            self._on_failed(name, exc)

    def _run(self, supervised: _Supervised) -> None:
        """Run the factory's coroutine as the task itself: its end is handled by a done
        callback, so no supervising frame is resumed with it at every step."""
        awaitable = supervised.factory()
        task = (
            asyncio.create_task(awaitable, name=supervised.name)
            if asyncio.iscoroutine(awaitable)
            else asyncio.ensure_future(awaitable)
        )
        self._tasks[supervised.name] = task
        task.add_done_callback(lambda done: self._ended(supervised, done))

    def _ended(self, supervised: _Supervised, task: asyncio.Future[None]) -> None:
        """The task ended: stopped (returned), resumed after a backoff (an `Exception`,
        `resume`) or failed (module docstring)."""
        name = supervised.name
        if self._tasks.get(name) is not task or task.cancelled():
            return  # stopped by `stop()` (or cancelled from outside, as a task would be)
        exc = task.exception()
        if exc is None:
            self._status[name] = status(name, TaskState.STOPPED)
            return
        if not isinstance(exc, Exception):
            return  # KeyboardInterrupt, SystemExit: the task raised it out of the loop
        if supervised.settled is not None:
            supervised.settled.cancel()
        if not supervised.resume:
            log.error("%s: task %s failed", self.service, name, exc_info=exc)
            self.fail(name, exc)
            return
        supervised.failures = self._resuming(name, supervised.failures, exc)
        delay = backoff_delay(supervised.failures - 1, RESUME_BASE_S, RESUME_CAP_S)
        self._pending[name] = asyncio.get_running_loop().call_later(delay, self._resume, supervised)

    def _resume(self, supervised: _Supervised) -> None:
        self._pending.pop(supervised.name, None)
        supervised.settled = asyncio.get_running_loop().call_later(
            SETTLE_S, self._settled, supervised.name, supervised.failures
        )
        self._run(supervised)

    def _resuming(self, name: str, failures: int, exc: Exception) -> int:
        current = self._status[name]
        if current.state is not TaskState.RESUMING:  # once per outage
            why = f"{type(exc).__name__}: {exc}"
            log.warning("%s: %s broke (%s); resuming", self.service, name, why,
                        exc_info=exc if _unexpected(exc) else None)  # fmt: skip
            self._status[name] = status(name, TaskState.RESUMING, why)
            return 1
        return failures + 1

    def _settled(self, name: str, failures: int) -> None:
        if self._status[name].state is TaskState.RESUMING:
            log.warning("%s: %s resumed after %d attempt(s)", self.service, name, failures)
            self._status[name] = status(name, TaskState.FOLLOWING)

    def statuses(self) -> list[TaskStatus]:
        return [*(f.status for f in self._followers), *self._status.values()]

    async def health(self) -> Health:
        """The health answer (module docstring)."""
        statuses = self.statuses()
        working = self._ready and all(s.working for s in statuses)
        behind: list[str] = []
        if working:
            results = await asyncio.gather(*(f.caught_up(CATCH_UP_S) for f in self._followers))
            behind = [f.status.name for f, ok in zip(self._followers, results, strict=True)
                      if not ok]  # fmt: skip
        tasks = {s.name: s.describe() for s in statuses}
        for name in behind:
            tasks[name] = "behind the log"
        return Health(
            service=self.service,
            ready=working and not behind,
            version=service_version(),
            started_at=self.started_at,
            tasks=tasks,
            position=max((f.position for f in self._followers), default=None),
        )

    async def stop(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for name in self._tasks:
            self._status[name] = status(name, TaskState.STOPPED)
        self._tasks.clear()


def _unexpected(exc: Exception) -> bool:
    """A traceback is worth logging for errors that are neither about connectivity nor
    Setpoint's own (which say what happened)."""
    return not isinstance(exc, (ConnectionError, TimeoutError, OSError, SetpointError))
