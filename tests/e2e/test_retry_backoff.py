"""An order the account cannot afford is retried with a backoff, not in a tight loop.

The simulator refuses it for insufficient balance (`OrderRejected`, not terminal: the intent
is not consumed); the differ places it again after 1 s, 2 s, 4 s, … (decisions.md, "The
kernel"), so a few seconds hold a handful of attempts, not hundreds.
"""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
from system import System, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
ETH = "ETH/USDT"


async def test_unaffordable_order_backs_off(system: System) -> None:
    # 100 ETH at 2,900 USDT = 290,000 USDT; the simulated account holds 100,000
    await system.target(
        ETH, [{"id": "r-broke", "side": "buy", "price": "2900.00", "quantity": "100.0000"}]
    )

    async def rejected() -> bool:
        return any(
            e.data.client_order_id.startswith("sp-") and not e.data.terminal
            for e in await system.events(ETH, "OrderRejected")
        )

    await eventually(rejected, what="a non-terminal rejection")
    await asyncio.sleep(6)
    submitted = [
        e for e in await system.events(ETH, "OrderSubmitted") if e.data.intent_id == "r-broke"
    ]
    # attempts at about 0, 1, 3 (and 7) s: a handful, where it used to be hundreds
    assert 2 <= len(submitted) <= 5, [e.occurred_at for e in submitted]
    assert [e.data.attempt for e in submitted] == list(range(1, len(submitted) + 1))
    gaps = [(b.occurred_at - a.occurred_at).total_seconds() for a, b in pairwise(submitted)]
    assert all(gap >= 0.9 for gap in gaps), gaps
    await system.target(ETH, [])  # leave the key clean for the other tests
