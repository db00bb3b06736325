"""The "maybe happened, so look it up" policy: when to look, how often, what it means."""

from __future__ import annotations

import time

import pytest

from setpoint.errors import GatewayUnavailable
from setpoint.venues import settle
from setpoint.venues.errors import Outcome


class Looks:
    """Answers None `misses` times, then "found"; counts the looks."""

    def __init__(self, misses: int) -> None:
        self.misses, self.count = misses, 0

    async def __call__(self) -> str | None:
        self.count += 1
        return "found" if self.count > self.misses else None


def test_the_gateway_looks_after_what_maybe_happened_only() -> None:
    looked = {o for o in Outcome if settle.at_the_venue(o)}
    assert looked == {Outcome.TRANSIENT, Outcome.DUPLICATE}


def test_the_executor_looks_after_any_failed_reply_but_a_refusal() -> None:
    assert settle.in_the_reply(None)
    looked = {o for o in Outcome if settle.in_the_reply(o)}
    assert looked == {Outcome.TRANSIENT, Outcome.DUPLICATE, Outcome.NOT_FOUND}
    assert {Outcome.REJECTED, Outcome.FATAL, Outcome.RATE_LIMITED} == settle.REFUSED


def test_the_policies_of_the_gateway_and_the_executor() -> None:
    assert settle.QueryPolicy(attempts=1, pause_s=0.0) == settle.GATEWAY
    assert settle.QueryPolicy(attempts=3, pause_s=0.2) == settle.EXECUTOR


@pytest.mark.parametrize(("misses", "looks", "found"), [(0, 1, "found"), (2, 3, "found")])
async def test_the_first_look_that_finds_the_order_settles_it(
    misses: int, looks: int, found: str
) -> None:
    look = Looks(misses)
    assert await settle.settle(look, settle.QueryPolicy(attempts=3, pause_s=0.001)) == found
    assert look.count == looks


async def test_unsettled_after_every_attempt_with_a_pause_after_each() -> None:
    look = Looks(misses=10)
    started = time.perf_counter()
    assert await settle.settle(look, settle.QueryPolicy(attempts=3, pause_s=0.02)) is None
    assert look.count == 3
    assert time.perf_counter() - started >= 0.02 + 0.04 + 0.06 - 0.005


async def test_the_gateway_looks_once_without_pausing() -> None:
    look = Looks(misses=1)
    started = time.perf_counter()
    assert await settle.settle(look, settle.GATEWAY) is None
    assert look.count == 1
    assert time.perf_counter() - started < 0.1


async def test_a_look_that_raises_ends_the_looking() -> None:
    count = 0

    async def nobody() -> str | None:
        nonlocal count
        count += 1
        raise GatewayUnavailable("no gateway for account demo")

    with pytest.raises(GatewayUnavailable):
        await settle.settle(nobody, settle.EXECUTOR)
    assert count == 1
