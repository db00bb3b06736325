"""A per-key work queue: bursts collapse, a key never runs twice at once.

`mark(key)` asks for `work(key)` to run. If the key is idle it starts now; if it is
running, one more run follows the current one (however many marks arrived meanwhile).
Different keys run concurrently. Errors of a run are logged and do not stop the queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
log = logging.getLogger(__name__)


class KeyQueue(Generic[K]):
    def __init__(self, work: Callable[[K], Awaitable[None]]) -> None:
        self._work = work
        self._running: dict[K, asyncio.Task[None]] = {}
        self._again: set[K] = set()

    def mark(self, key: K) -> None:
        if key in self._running:
            self._again.add(key)
            return
        self._running[key] = asyncio.create_task(self._loop(key))

    async def _loop(self, key: K) -> None:
        try:
            while True:
                self._again.discard(key)
                try:
                    await self._work(key)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("work for %s failed", key)
                    await asyncio.sleep(0.5)
                if key not in self._again:
                    return
        finally:
            self._running.pop(key, None)

    def busy(self) -> int:
        return len(self._running)

    async def idle(self) -> None:
        """Wait until no key is running."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
