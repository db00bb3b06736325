"""The futures wallet, the portfolio and the venue's dead-man switch, with every service
its own process against the simulator (real ccxt inside the gateway).

* The gateway records `MarginObserved` (wallet, margins, the position with its mark,
  leverage and liquidation price); `setpoint status --json` shows the portfolio the differ
  folds (realised PnL less the fee, unrealised PnL at the mark) and the same figures after
  the differ restarts.
* With `dead_man_switch` on, SIGKILL of every service (gateway, executor, differ) leaves
  our resting perpetual order to the venue's countdown: the simulator cancels it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from system import ACCOUNT, System, eventually, running

from setpoint.core.events import MarginObserved

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
PERP = "BTC/USDT:USDT"
SAFETY = {"dead_man_switch": True, "dead_man_countdown_s": 2, "account_state_interval_s": 0.5}


@pytest.fixture
async def safe_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    async with running(System(tmp_path_factory.mktemp("account-safety"), account=SAFETY)) as safe:
        yield safe


async def status(system: System) -> dict[str, Any]:
    command = [sys.executable, "-m", "setpoint", "--config", str(system.config), "status",
               "--json", "--timeout", "2"]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, command, env=system.env, cwd=system.root, capture_output=True, timeout=60
    )
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def perp_of(body: dict[str, Any]) -> dict[str, Any] | None:
    for account in body.get("portfolio") or ():
        for key in account["keys"] if account["account"] == ACCOUNT else ():
            if key["symbol"] == PERP and key["mark"] == "59500":
                return account | {"key": key}
    return None


async def test_margin_facts_and_the_portfolio_survive_a_restart(safe_system: System) -> None:
    system = safe_system
    await system.target(PERP, [{"id": "m-b1", "price": "59000.00", "quantity": "0.01000"}])
    await eventually(lambda: system.open_orders(PERP), what="order at the venue")
    await system.control("POST", "/_sim/price", {"symbol": PERP, "price": "58990"})
    await system.control("POST", "/_sim/price", {"symbol": PERP, "price": "59500"})

    async def observed() -> MarginObserved | None:
        for event in reversed(await system.events(None, "MarginObserved")):
            assert isinstance(event, MarginObserved)
            rows = [p for p in event.data.positions if p.mark_price == 59500]
            if rows:
                return event
        return None

    fact = (await eventually(observed, 30, "MarginObserved at the new mark")).data
    [position] = fact.positions
    assert (position.quantity, position.entry_price, position.leverage) == (
        Decimal("0.01"), 59000, 20,
    )  # fmt: skip
    assert position.unrealized_pnl == 5
    assert fact.wallet_balance == Decimal("100000") - Decimal("0.118")  # the maker fee
    assert fact.maintenance_margin == Decimal("2.38")  # 0.4% of 595
    before = await eventually(lambda: _perp_status(system), 30, "the portfolio in status")
    assert before["key"]["position"] == "0.01"
    assert before["key"]["realized_pnl"] == "-0.118"
    assert before["key"]["unrealized_pnl"] == "5"
    assert before["available_margin"] is not None

    system.kill("differ")
    await system.start("differ")
    after = await eventually(lambda: _perp_status(system), 30, "the portfolio after restart")
    assert after["key"] == before["key"]
    assert after["equity"] == before["equity"]


async def _perp_status(system: System) -> dict[str, Any] | None:
    return perp_of(await status(system))


async def test_the_venue_cancels_our_orders_when_every_service_dies(safe_system: System) -> None:
    system = safe_system
    await system.target(PERP, [{"id": "d-b1", "price": "50000.00", "quantity": "0.01000"}])
    [order] = await eventually(lambda: system.open_orders(PERP), what="order at the venue")

    async def armed() -> bool:
        return PERP in (await system.venue())["countdowns"]

    await eventually(armed, what="the dead-man switch armed")
    for service in ("gateway", "executor", "differ"):
        system.kill(service)

    async def cancelled() -> bool:
        state = await system.venue()
        mine = [o for o in state["orders"] if o["order_id"] == order["order_id"]]
        return bool(mine) and mine[0]["status"] == "CANCELED"

    await eventually(cancelled, 30, "the venue's cancel")
    assert (await system.venue())["countdowns"] == {}
