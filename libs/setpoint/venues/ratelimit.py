"""Per-account rate limit for venue calls: a token bucket.

`TokenBucket.reserve(now)` is pure bookkeeping (no clock, no sleep): it takes one token
and returns how long the caller must wait before using it. `RateLimiter` adds the clock
and the sleep. `penalize(now, seconds)` empties the bucket after the venue said "too
many requests", so that every caller backs off together.

Users: the executor paces its commands per account; the gateway paces its own calls
(reconciliation, trades after a fill, tickers) with one limiter per account and counts the
executor's commands in it without making them wait (`RateLimiter.charge`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["RATE_LIMIT_PENALTY_S", "RateLimiter", "TokenBucket"]

RATE_LIMIT_PENALTY_S = 1.0
"""How long every caller of an account waits after the venue answered "too many requests"."""


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens per second, at most `burst` stored. Starts full."""

    rate: float  # float-ok
    burst: float  # float-ok
    tokens: float = field(default=-1.0)  # float-ok
    updated: float = 0.0  # float-ok

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:  # float-ok
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def reserve(self, now: float, cost: float = 1.0) -> float:  # float-ok
        """Take `cost` tokens; return the seconds to wait (0 when available now).
        Reservations queue: the n-th caller past the burst waits n/rate."""
        self._refill(now)
        self.tokens -= cost
        if self.tokens >= 0:
            return 0.0
        return -self.tokens / self.rate

    def penalize(self, now: float, seconds: float) -> None:  # float-ok
        """No token for the next `seconds` (after a rate-limit answer from the venue)."""
        self._refill(now)
        self.tokens = min(self.tokens, -seconds * self.rate)


class RateLimiter:
    """An asyncio front for a `TokenBucket` on the monotonic clock (`clock` and `sleep`
    are there for tests)."""

    def __init__(
        self,
        rate_per_s: float,  # float-ok
        burst: float | None = None,  # float-ok
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bucket = TokenBucket(rate_per_s, burst or max(1.0, rate_per_s), updated=clock())
        self._clock, self._sleep = clock, sleep

    async def acquire(self, cost: float = 1.0) -> None:  # float-ok
        """Take a token, waiting until it is due."""
        delay = self.bucket.reserve(self._clock(), cost)
        if delay > 0:
            await self._sleep(delay)

    def charge(self, cost: float = 1.0) -> None:  # float-ok
        """Count a call that was paced elsewhere: take its token without waiting, so that
        the callers who do wait leave room for it."""
        self.bucket.reserve(self._clock(), cost)

    def penalize(self, seconds: float = RATE_LIMIT_PENALTY_S) -> None:  # float-ok
        self.bucket.penalize(self._clock(), seconds)
