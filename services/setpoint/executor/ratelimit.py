"""Per-account rate limit for venue actions: a token bucket.

`TokenBucket.reserve(now)` is pure bookkeeping (no clock, no sleep): it takes one token
and returns how long the caller must wait before using it. `RateLimiter` adds the clock
and the sleep. `penalize(now, seconds)` empties the bucket after the venue said "too
many requests", so that every caller backs off together.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens per second, at most `burst` stored. Starts full."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def reserve(self, now: float, cost: float = 1.0) -> float:
        """Take `cost` tokens; return the seconds to wait (0 when available now).
        Reservations queue: the n-th caller past the burst waits n/rate."""
        self._refill(now)
        self.tokens -= cost
        if self.tokens >= 0:
            return 0.0
        return -self.tokens / self.rate

    def penalize(self, now: float, seconds: float) -> None:
        """No token for the next `seconds` (after a rate-limit answer from the venue)."""
        self._refill(now)
        self.tokens = min(self.tokens, -seconds * self.rate)


class RateLimiter:
    """An asyncio front for a `TokenBucket` on the monotonic clock."""

    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        self.bucket = TokenBucket(rate_per_s, burst or max(1.0, rate_per_s))

    async def acquire(self, cost: float = 1.0) -> None:
        delay = self.bucket.reserve(time.monotonic(), cost)
        if delay > 0:
            await asyncio.sleep(delay)

    def penalize(self, seconds: float) -> None:
        self.bucket.penalize(time.monotonic(), seconds)
