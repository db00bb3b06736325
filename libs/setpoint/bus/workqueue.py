"""The one per-key work queue, in the manner of Kubernetes client-go's workqueue.

Contract of `WorkQueue` (the differ's workers take keys from one):

* `add(key)` marks the key dirty. A key that is already waiting is not queued twice
  (bursts collapse into one run); a key being processed is queued again only when its
  worker calls `done(key)`, so one key is never processed by two workers at once.
* `get()` waits for the next key, in first-added order, and marks it processing; every
  `get` must be followed by `done(key)`.
* `add_after(key, delay)` adds the key once `delay` seconds have passed (timers, retries).
* `retry(key)` adds the key after an exponential backoff that grows per key with each
  consecutive failure (`base * 2**failures`, capped at `cap`); `forget(key)` resets it
  after a success.
* `settled()` returns once no key is waiting or being processed (keys due later by
  `add_after` / `retry` do not count).
* `shut_down()` wakes every waiting `get()`, which then raises `QueueShutDown`.
* `keys()` yields what `get()` hands out until the queue is shut down; `run(key, work,
  failed)` is a worker's turn with one of them: `work(key)`, then `forget` on success or,
  when it raises, `retry` with `failed(key, delay)` told (inside the `except`), and
  `done(key)` in any case. Every worker loop is `async for key in queue.keys(): await
  queue.run(key, ...)`.

`KeyRunner` drives a `WorkQueue` with one task per key (different keys run concurrently,
one key never twice at once; the executor's plans): `mark(key)` asks for `work(key)` to
run; marks that arrive while the key runs collapse into one run after it. A run that
raises is logged and the key is retried after its backoff; a run that returns resets it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from setpoint.core.errors import QueueShutDown as QueueShutDown
from setpoint.core.errors import SetpointError

K = TypeVar("K", bound=Hashable)
log = logging.getLogger(__name__)


def backoff_delay(failures: int, base: float, cap: float) -> float:  # float-ok
    """Delay before retry number `failures + 1`: `base * 2**failures`, at most `cap`."""
    if failures >= 64:
        return cap
    return float(min(cap, base * (2**failures)))  # float-ok


class WorkQueue(Generic[K]):
    """See the module docstring."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 30.0) -> None:  # float-ok
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._shut_down = False
        self.base_delay, self.max_delay = base_delay, max_delay

    def __len__(self) -> int:
        """Keys waiting to be processed (not counting those in progress)."""
        return len(self._queue)

    def add(self, key: K) -> None:
        if self._shut_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._idle.clear()
        if key not in self._processing:
            self._queue.append(key)
            self._ready.set()

    async def get(self) -> K:
        while not self._queue:
            if self._shut_down:
                raise QueueShutDown
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    async def keys(self) -> AsyncIterator[K]:
        """The keys `get` hands out, one by one, until the queue is shut down."""
        while True:
            try:
                yield await self.get()
            except QueueShutDown:
                return

    async def run(
        self, key: K, work: Callable[[K], Awaitable[None]], failed: Callable[[K, float], None]
    ) -> None:
        """A worker's turn with `key` (from `get`): see the module docstring."""
        try:
            await work(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            failed(key, self.retry(key))
        else:
            self.forget(key)
        finally:
            self.done(key)

    def done(self, key: K) -> None:
        """The worker finished `key`; if it was added meanwhile, it is queued now."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._ready.set()
        elif not self._dirty and not self._processing:
            self._idle.set()

    async def settled(self) -> None:
        """Return once nothing is waiting or in progress."""
        await self._idle.wait()

    def add_after(self, key: K, delay: float) -> None:  # float-ok
        if self._shut_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self._timers.discard(handle)
            self.add(key)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def retry(self, key: K) -> float:  # float-ok
        """Add `key` again after its backoff; returns the delay chosen."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = backoff_delay(failures, self.base_delay, self.max_delay)
        self.add_after(key, delay)
        return delay

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def shut_down(self) -> None:
        self._shut_down = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._ready.set()
        self._idle.set()


def report_failure(logger: logging.Logger, what: str, delay: float) -> None:  # float-ok
    """Inside the `except` of a turn that failed and is retried: one line for Setpoint's own
    errors (they say what happened: the log or a gateway did not answer, a lost race), the
    traceback for anything else (a bug)."""
    exc = sys.exc_info()[1]
    if isinstance(exc, SetpointError):
        why = f"{type(exc).__name__}: {exc}"
        logger.warning("%s failed (%s); again in %.2f s", what, why, delay)
    else:
        logger.exception("%s failed; again in %.2f s", what, delay)


class KeyRunner(Generic[K]):
    """See the module docstring. The dispatcher starts with the first `mark`."""

    def __init__(
        self,
        work: Callable[[K], Awaitable[None]],
        *,
        base_delay: float = 0.5,  # float-ok
        max_delay: float = 30.0,  # float-ok
    ) -> None:
        self._work = work
        self.queue: WorkQueue[K] = WorkQueue(base_delay, max_delay)
        self._dispatcher: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def mark(self, key: K) -> None:
        self.queue.add(key)
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch())

    async def _dispatch(self) -> None:
        async for key in self.queue.keys():
            task = asyncio.create_task(self.queue.run(key, self._work, self._failed))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    @staticmethod
    def _failed(key: K, delay: float) -> None:  # float-ok
        report_failure(log, f"work for {key}", delay)

    def busy(self) -> int:
        """Keys running now."""
        return len(self._running)

    async def idle(self) -> None:
        """Wait until no key is waiting or running."""
        await self.queue.settled()

    async def stop(self) -> None:
        self.queue.shut_down()
        tasks = [t for t in (self._dispatcher, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
