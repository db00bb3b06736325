"""Risk through real processes (nats-server, simulator, gateway, executor, differ): the
account's limits refuse with a `RiskRejected` on the log, and `setpoint kill` never lets a
position flip (the venue's own trades prove it, and `setpoint audit` agrees).

One system of its own: the kill puts its account in liquidate-only."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from system import ACCOUNT, System, eventually, order, running

from setpoint.bus.subjects import control_subject
from setpoint.core.events import FillObserved, RiskRejected
from setpoint.ops.kill import kill_request

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
BTC, ETH = "BTC/USDT", "ETH/USDT"
LIMITS: dict[str, object] = {"max_position": "0.01"}


@pytest.fixture(scope="module")
async def risky(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    async with running(System(tmp_path_factory.mktemp("e2e-risk"), account=LIMITS)) as limited:
        yield limited


async def live_intents(system: System, symbol: str) -> dict[str, Decimal]:
    """Our intents working at the venue on `symbol` -> remaining quantity (by the events'
    client ids: the intent of each order is on the log)."""
    submitted = {
        e.data.client_order_id: e.data.intent_id
        for e in await system.events(symbol, "OrderSubmitted")
    }
    out: dict[str, Decimal] = {}
    for o in await system.open_orders(symbol):
        intent = submitted.get(o["client_order_id"])
        if intent is not None:
            out[intent] = Decimal(o["quantity"]) - Decimal(o["filled"])
    return out


async def position(system: System, symbol: str) -> Decimal:
    fills = await system.events(symbol, "FillObserved")
    signed = [f.data.quantity * f.data.side.sign for f in fills if isinstance(f, FillObserved)]
    return sum(signed, Decimal(0))


async def test_a_limit_refusal_is_on_the_log(risky: System) -> None:
    await risky.target(ETH, [order("too-big", "buy", "2900.00", "0.0200")])

    async def refused() -> list[Any]:
        return [
            e
            for e in await risky.events(ETH, "RiskRejected")
            if isinstance(e, RiskRejected) and e.data.intent_id == "too-big"
        ]

    found = await eventually(refused, what="RiskRejected for too-big")
    assert found[0].data.rule == "max_position"
    assert found[0].data.detail == "position 0.0200 above 0.01"
    assert await live_intents(risky, ETH) == {}


async def test_kill_never_lets_four_sells_flip_a_long(risky: System) -> None:
    await risky.target(BTC, [order("long", "buy", "59000.00", "0.00100")])
    live = await eventually(lambda: risky.open_orders(BTC), what="the buy working")
    fill = {"client_order_id": live[0]["client_order_id"], "quantity": "0.001"}
    await risky.control("POST", "/_sim/fill", fill)
    await eventually(lambda: _equals(position(risky, BTC), Decimal("0.001")), what="long")
    sells = [order(f"exit-{n}", "sell", f"6{n}000.00", "0.00100") for n in range(1, 5)]
    await risky.target(BTC, [order("bid", "buy", "58000.00", "0.00100"), *sells])
    await eventually(lambda: _count(live_intents(risky, BTC), 5), what="five orders working")

    assert risky.nc is not None
    reply = await risky.nc.request(
        control_subject(ACCOUNT, "kill"), kill_request(False, "e2e"), timeout=10
    )
    assert json.loads(reply.data)["ok"]
    kept = {"exit-1": Decimal("0.001")}  # the one nearest the market, of the position's size
    await eventually(lambda: _equals(live_intents(risky, BTC), kept), what="one sell left")

    await risky.control("POST", "/_sim/price", {"symbol": BTC, "price": "65000"})
    await eventually(lambda: _equals(position(risky, BTC), Decimal(0)), what="flat")
    await asyncio.sleep(2.5)  # two reconcile intervals: nothing else may trade
    assert await position(risky, BTC) == 0
    assert await live_intents(risky, BTC) == {}
    venue = await risky.venue()
    ours = [t for t in venue["trades"] if t["symbol"] == BTC and t["client_order_id"]]
    net = sum(Decimal(t["quantity"]) * (1 if t["side"] == "buy" else -1) for t in ours)
    assert (len(ours), net) == (2, 0)  # the venue's own word: one buy, one sell
    report = await asyncio.to_thread(_audit, risky.config)
    assert report["clean"], report["violations"]


async def _equals(pending: Any, expected: Any) -> bool:
    return bool(await pending == expected)


async def _count(pending: Any, n: int) -> bool:
    return len(await pending) == n


def _audit(config: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "setpoint", "--config", str(config), "audit", "--json"],
        capture_output=True,
        timeout=120,
        check=False,
        cwd=config.parent,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result
