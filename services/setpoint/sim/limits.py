"""Per-endpoint, per-instrument request limits (OKX's model), for the simulator to enforce.

A limit of N requests per window on an endpoint admits at most N requests on it for one
instrument (or for the account, when the request names none) within any `window_ms`; the
next is refused until the oldest leaves the window. Endpoints without a limit are never
refused. A batch counts once per order, on each order's instrument.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping


class RateLimiter:
    """Sliding-window counters per (endpoint, instrument)."""

    def __init__(self, limits: Mapping[str, int], window_ms: int) -> None:
        self.limits = dict(limits)
        self.window_ms = window_ms
        self._seen: dict[tuple[str, str], deque[int]] = {}

    def admit(self, endpoint: str, instrument: str, now_ms: int) -> bool:
        """Count one request; False (and not counted) when it is over the limit."""
        limit = self.limits.get(endpoint)
        if limit is None:
            return True
        seen = self._seen.setdefault((endpoint, instrument), deque())
        while seen and seen[0] <= now_ms - self.window_ms:
            seen.popleft()
        if len(seen) >= limit:
            return False
        seen.append(now_ms)
        return True
