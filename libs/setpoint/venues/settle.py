"""Settling a request that maybe happened: look the order up, never send it again.

The one policy for an answer that leaves open whether a request took effect at the venue
(the outcomes are classified in `venues.errors`; this module only decides what follows):

* **when to look**: at the gateway, after a venue error that `maybe_happened` (TRANSIENT,
  DUPLICATE: `at_the_venue`); at the executor, after any failed gateway reply that is not
  a refusal (`REFUSED`: REJECTED, FATAL, RATE_LIMITED prove the venue did not act), so
  also a reply without an outcome and a NOT_FOUND (`in_the_reply`);
* **how**: the order is looked up by its client order id, at most `attempts` times
  (`QueryPolicy`): the gateway looks once at once (`GATEWAY`), the executor up to three
  times with pauses of 0.2 s, 0.4 s, 0.6 s, one after each look that did not find it, the
  last one included (`EXECUTOR`);
* **what it means**: the first look that finds the order settles the request, the venue's
  order is its answer; when none does, the request is unsettled: the caller records
  nothing terminal (never a rejection, never the same request again) and the order stays
  in flight until reconciliation resolves it. A look that fails counts as not found when
  the caller's look function says so (returns None); an exception it raises (no gateway
  to ask) ends the looking and reaches the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from setpoint.venues.errors import Outcome

T = TypeVar("T")

REFUSED = frozenset({Outcome.REJECTED, Outcome.FATAL, Outcome.RATE_LIMITED})
"""Failed answers that prove the venue did not take the request: nothing to look up."""


def at_the_venue(outcome: Outcome) -> bool:
    """True when a venue error leaves open whether the request happened: look it up."""
    return outcome.maybe_happened


def in_the_reply(outcome: Outcome | None) -> bool:
    """True when a failed gateway reply (with `outcome`, None when it has none) does not
    prove the request was refused: look it up."""
    return outcome not in REFUSED


@dataclass(frozen=True, slots=True)
class QueryPolicy:
    """How many looks settle a request, and the pause after each look that did not."""

    attempts: int
    pause_s: float  # float-ok: the pause after the n-th vain look is n * pause_s

    async def pause(self, attempt: int) -> None:
        """The pause after look number `attempt` (0-based) did not find the order."""
        if self.pause_s > 0:
            await asyncio.sleep(self.pause_s * (attempt + 1))


GATEWAY = QueryPolicy(attempts=1, pause_s=0.0)
EXECUTOR = QueryPolicy(attempts=3, pause_s=0.2)


async def settle(look: Callable[[], Awaitable[T | None]], policy: QueryPolicy) -> T | None:
    """What the first of at most `policy.attempts` calls of `look` finds (not None),
    pausing after each that finds nothing; None when none did (the request is unsettled)."""
    for attempt in range(policy.attempts):
        found = await look()
        if found is not None:
            return found
        await policy.pause(attempt)
    return None
