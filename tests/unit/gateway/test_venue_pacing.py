"""The gateway's venue calls share the account's token bucket (`Venue` with a limiter).

The limiter runs on a clock and a sleep of the test's own: the test reads how long each
call was told to wait, never how long anything took. The venue calls are plain
coroutines standing for ccxt's (what they return does not matter here); the rate-limit
answer is ccxt's own exception class, classified as in production."""

from __future__ import annotations

import asyncio

import ccxt.async_support as ccxt_async
import pytest
from tests.clocks import Clock

from setpoint.gateway.venue import Venue, VenueError
from setpoint.venues.errors import Outcome
from setpoint.venues.ratelimit import RATE_LIMIT_PENALTY_S, RateLimiter


def venue(rate: float, burst: float) -> tuple[Venue, Clock]:
    clock = Clock(100.0)
    limiter = RateLimiter(rate, burst, clock=clock, sleep=clock.sleep)
    return Venue(rest=None, redactions=(), limiter=limiter), clock


async def answer() -> str:
    return "ok"


async def too_many_requests() -> str:
    raise ccxt_async.RateLimitExceeded("binance 429 Too Many Requests")


async def test_own_calls_wait_for_tokens_beyond_the_burst() -> None:
    gw, clock = venue(rate=2, burst=2)
    for _ in range(4):
        assert await gw.call(answer()) == "ok"
    assert clock.waits == [pytest.approx(0.5), pytest.approx(0.5)]


async def test_executor_commands_never_wait_but_take_their_tokens() -> None:
    gw, clock = venue(rate=2, burst=2)
    for _ in range(3):
        assert await gw.call(answer(), pace=False) == "ok"
    assert clock.waits == []  # paced by the executor already
    await gw.call(answer())  # the gateway's own call leaves room for them
    assert clock.waits == [pytest.approx(1.0)]


async def test_a_rate_limit_answer_makes_every_caller_back_off() -> None:
    gw, clock = venue(rate=10, burst=10)
    with pytest.raises(VenueError) as raised:
        await gw.call(too_many_requests())
    assert raised.value.outcome is Outcome.RATE_LIMITED
    await gw.call(answer())
    assert clock.waits == [pytest.approx(RATE_LIMIT_PENALTY_S + 0.1)]


async def test_a_call_cancelled_while_waiting_never_starts() -> None:
    started: list[str] = []

    async def place() -> str:
        started.append("place")
        return "ok"

    blocked = asyncio.Event()

    async def never(_: float) -> None:
        await blocked.wait()

    limiter = RateLimiter(1, 1, clock=lambda: 0.0, sleep=never)
    gw = Venue(rest=None, redactions=(), limiter=limiter)
    await gw.call(answer())
    waiting = asyncio.ensure_future(gw.call(place()))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert started == []


async def test_without_a_limiter_nothing_waits() -> None:
    gw = Venue(rest=None, redactions=())
    assert [await gw.call(answer()) for _ in range(100)] == ["ok"] * 100
