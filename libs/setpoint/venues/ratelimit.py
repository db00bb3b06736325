"""Per-account rate limits for venue calls: a token bucket, and the venue's own counting.

`TokenBucket.reserve(now)` is pure bookkeeping (no clock, no sleep): it takes one token
and returns how long the caller must wait before using it. `RateLimiter` adds the clock
and the sleep. `penalize(now, seconds)` empties the bucket after the venue said "too
many requests", so that every caller backs off together.

Users: the executor paces its commands per account; the gateway paces its own calls
(reconciliation, trades after a fill, tickers) with one limiter per account and counts the
executor's commands in it without making them wait (`RateLimiter.charge`).

The venue's own counting (`RateModel`, one per venue in `venues.capabilities`): each REST
request (`Request`: ccxt's api section, method, path, params) costs `Charge`s against the
venue's `Limit`s, and `Pacer` keeps one `SlidingWindow` per (limit, scope) so that no
interval of a limit's window ever carries more than its capacity (which satisfies a venue
that counts per fixed window, as Binance does per clock minute, and one that slides):

* `WeightModel` (Binance): request weight per minute per API family (spot, USD-M), the
  weight of each endpoint from a table (with its no-symbol weight), order placements also
  against the order-count limit; the venue's `X-MBX-USED-WEIGHT-1M` answer header is
  trusted over our own count (`observed`).
* `EndpointModel` (OKX): a limit per endpoint, counted per instrument (`instId`) where the
  venue counts so.
* `CallModel` (any other ccxt venue): one limit on calls, from ccxt's `rateLimit`.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "RATE_LIMIT_PENALTY_S",
    "CallModel",
    "Charge",
    "EndpointModel",
    "Limit",
    "Pacer",
    "RateLimiter",
    "RateModel",
    "Request",
    "SlidingWindow",
    "TokenBucket",
    "WeightModel",
]

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


# ---------------------------------------------------------------------- the venue's counting


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `capacity` units per `window_s` seconds; one count per scope value (the
    instrument) when `per_instrument`, else one for the account."""

    name: str
    capacity: int
    window_s: float  # float-ok
    per_instrument: bool = False

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.window_s <= 0:
            raise ValueError(f"limit {self.name}: capacity >= 1 and window_s > 0 required")


@dataclass(frozen=True, slots=True)
class Charge:
    """`cost` units against `limit` (in the count of `scope`)."""

    limit: Limit
    cost: int
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    """A REST request as ccxt names it: api section (`private`, `fapiPrivate`...), HTTP
    method, path (`openOrders`, `trade/order`) and parameters."""

    section: str
    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)


class RateModel(Protocol):
    """How a venue counts requests (module docstring)."""

    @property
    def kind(self) -> str: ...

    def charges(self, request: Request) -> tuple[Charge, ...]: ...

    def all_limits(self) -> tuple[Limit, ...]:
        """Every limit the model counts against."""
        ...

    def observed(self, request: Request, headers: Mapping[str, str]) -> tuple[Charge, ...]:
        """What the venue says is already used (from its answer's headers), per count."""
        ...


def _family(section: str) -> str:
    """Binance's API family of a ccxt api section: USD-M (`fapi...`) or spot."""
    return "linear" if section.startswith("fapi") else "spot"


def _has_symbol(params: Mapping[str, Any]) -> bool:
    return bool(params.get("symbol"))


@dataclass(frozen=True, slots=True)
class WeightModel:
    """Binance: request weight per minute and order count per family (module docstring).

    `weights`: (family, METHOD, path) -> (weight, weight without a symbol); `orders`: the
    (family, METHOD, path) that place or change an order."""

    weight: Mapping[str, Limit]
    order_count: Mapping[str, Limit]
    weights: Mapping[tuple[str, str, str], tuple[int, int]]
    orders: frozenset[tuple[str, str, str]]
    header: str = "x-mbx-used-weight-1m"
    kind: str = "weight"

    def charges(self, request: Request) -> tuple[Charge, ...]:
        family = _family(request.section)
        ref = (family, request.method.upper(), request.path)
        weight, no_symbol = self.weights.get(ref, (1, 1))
        cost = weight if _has_symbol(request.params) else no_symbol
        out = [Charge(self.weight[family], cost)]
        if ref in self.orders:
            out.append(Charge(self.order_count[family], 1))
        return tuple(out)

    def all_limits(self) -> tuple[Limit, ...]:
        return (*self.weight.values(), *self.order_count.values())

    def observed(self, request: Request, headers: Mapping[str, str]) -> tuple[Charge, ...]:
        lowered = {k.lower(): v for k, v in headers.items()}
        used = lowered.get(self.header)
        if used is None or not used.isdigit():
            return ()
        return (Charge(self.weight[_family(request.section)], int(used)),)


@dataclass(frozen=True, slots=True)
class EndpointModel:
    """OKX: a limit per endpoint (`METHOD path`), per instrument where `per_instrument`;
    an endpoint without a limit of its own counts against `default`."""

    limits: Mapping[str, Limit]
    default: Limit
    scope_param: str = "instId"
    kind: str = "endpoint"

    def charges(self, request: Request) -> tuple[Charge, ...]:
        limit = self.limits.get(f"{request.method.upper()} {request.path}", self.default)
        scope = str(request.params.get(self.scope_param) or "") if limit.per_instrument else ""
        return (Charge(limit, 1, scope),)

    def all_limits(self) -> tuple[Limit, ...]:
        return (*self.limits.values(), self.default)

    def observed(self, request: Request, headers: Mapping[str, str]) -> tuple[Charge, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class CallModel:
    """One count of calls for the account (a venue we know nothing more about)."""

    limit: Limit
    kind: str = "calls"

    def charges(self, request: Request) -> tuple[Charge, ...]:
        return (Charge(self.limit, 1),)

    def all_limits(self) -> tuple[Limit, ...]:
        return (self.limit,)

    def observed(self, request: Request, headers: Mapping[str, str]) -> tuple[Charge, ...]:
        return ()


@dataclass(slots=True)
class SlidingWindow:
    """Reservations of one count: no interval of `window_s` holds more than `capacity`.
    Pure bookkeeping on a clock the caller passes (`now`). `entries` stay sorted and
    `total` is the sum of their costs, so a booking that fits is decided without a pass
    over the window (bookings leave from the front as the window moves on)."""

    capacity: int
    window_s: float  # float-ok
    entries: list[tuple[float, int]] = field(default_factory=list)  # float-ok
    total: int = 0

    def _leave(self, now: float) -> None:  # float-ok
        """Drop the bookings no longer inside the window ending at `now`."""
        gone = bisect.bisect_right(self.entries, (now - self.window_s, math.inf))
        if gone:
            self.total -= sum(cost for _, cost in self.entries[:gone])
            del self.entries[:gone]

    def _book(self, at: float, cost: int) -> None:  # float-ok
        bisect.insort(self.entries, (at, cost))
        self.total += cost

    def reserve(self, now: float, cost: int) -> float:  # float-ok
        """Book `cost` (at most the capacity) at the earliest time from `now` it fits;
        return the seconds until then."""
        self._leave(now)
        cost = min(cost, self.capacity)
        at, held = now, self.total
        # full now: bookings leave in the order of their times, each at its own end
        # (`t + window_s`, the same float sum as `_leave`); one pass from the front
        for t, booked in self.entries:
            if held + cost <= self.capacity:
                break
            held -= booked
            at = max(at, t + self.window_s)
        self._book(at, cost)
        return at - now

    def record(self, now: float, cost: int) -> None:  # float-ok
        """Count `cost` sent now without looking for room: a request paced elsewhere goes
        out now, so it is booked now (a full window holds back the next `reserve`), never
        ahead of time, where bookings would pile up faster than they leave."""
        self._leave(now)
        self._book(now, min(cost, self.capacity))

    def used(self, now: float) -> int:  # float-ok
        self._leave(now)
        return self.total

    def at_least(self, now: float, used: int) -> None:  # float-ok
        """The venue says `used` is already counted: book the difference now."""
        missing = min(used, self.capacity) - self.used(now)
        if missing > 0:
            self._book(now, missing)


class Pacer:
    """The venue's counts of one account (`model`) plus any `extra` limits of our own,
    on the monotonic clock (`clock` and `sleep` are there for tests). `capacities`
    replaces the capacity of a limit by name, for an account the venue allows more (or
    that must use less) than its published default.

    `acquire(request)` waits until every charge of the request fits; `charge(request)`
    books them without waiting (a call paced elsewhere); `observe` trusts the venue's
    own count; `penalize` holds every count back after a "too many requests"."""

    def __init__(
        self,
        model: RateModel,
        extra: tuple[Limit, ...] = (),
        *,
        capacities: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.model, self.extra = model, extra
        self.capacities = dict(capacities or {})
        self.windows: dict[tuple[str, str], SlidingWindow] = {}
        self.blocked_until = 0.0  # float-ok: monotonic seconds
        self._clock, self._sleep = clock, sleep

    def _window(self, charge: Charge) -> SlidingWindow:
        ref = (charge.limit.name, charge.scope)
        found = self.windows.get(ref)
        if found is None:
            capacity = self.capacities.get(charge.limit.name, charge.limit.capacity)
            found = SlidingWindow(capacity, charge.limit.window_s)
            self.windows[ref] = found
        return found

    def charges(self, request: Request) -> tuple[Charge, ...]:
        return self.model.charges(request) + tuple(Charge(limit, 1) for limit in self.extra)

    def book(self, request: Request) -> float:  # float-ok
        """Book the request's charges; the seconds to wait before sending it."""
        now = self._clock()
        start = max(now, self.blocked_until)
        waits = [self._window(c).reserve(start, c.cost) for c in self.charges(request)]
        return start - now + max(waits, default=0.0)

    async def acquire(self, request: Request) -> None:
        delay = self.book(request)
        if delay > 0:
            await self._sleep(delay)

    def charge(self, request: Request) -> None:
        """Count a request paced elsewhere (`SlidingWindow.record`): it never waits."""
        now = self._clock()
        for c in self.charges(request):
            self._window(c).record(now, c.cost)

    def observe(self, request: Request, headers: Mapping[str, str]) -> None:
        now = self._clock()
        for charge in self.model.observed(request, headers):
            self._window(charge).at_least(now, charge.cost)

    def penalize(self, seconds: float = RATE_LIMIT_PENALTY_S) -> None:  # float-ok
        self.blocked_until = max(self.blocked_until, self._clock() + seconds)
