"""A clock of the test's own for code that takes `clock` and `sleep` callables: time moves
only when someone sleeps, and the test reads how long each sleep was asked for (never how
long anything took)."""

from __future__ import annotations


class Clock:
    """Time that moves only when someone sleeps; `waits` records every sleep."""

    def __init__(self, now: float = 1000.0) -> None:  # float-ok
        self.now = now
        self.waits: list[float] = []  # float-ok

    def __call__(self) -> float:  # float-ok
        return self.now

    async def sleep(self, seconds: float) -> None:  # float-ok
        self.waits.append(seconds)
        self.now += seconds
