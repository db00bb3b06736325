"""`setpoint kill --flatten` through real processes (nats-server, simulator, gateway,
executor, differ) on a mixed spot + perpetual account: our orders are cancelled, the spot
key sells what its fills bought, the perpetual is closed with reduce-only IOC orders; with
too little liquidity the command reports what is left and exits 1 while the system keeps
retrying, and once liquidity returns the account ends flat (the venue's own trades and
positions say so). Foreign orders survive a plain `--flatten` and go with `--all`;
`--resume` returns the account to normal.

One system of its own: the flatten holds its account until the resume."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from system import System, eventually, order, running

from setpoint.core.events import OrderSubmitted

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    async with running(System(tmp_path_factory.mktemp("e2e-flatten"))) as flattening:
        yield flattening


def kill(system: System, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "setpoint", "--config", str(system.config), "kill"]
    return subprocess.run(
        [*command, "--account", "e2e", *flags],
        capture_output=True, text=True, timeout=300, check=False, cwd=system.root,
        env=system.env,
    )  # fmt: skip


async def our_net(system: System, symbol: str) -> Decimal:
    """The net quantity of our trades on `symbol`, in the venue's own words."""
    trades = (await system.venue())["trades"]
    ours = [t for t in trades if t["symbol"] == symbol and t["client_order_id"]]
    return sum(
        (Decimal(t["quantity"]) * (1 if t["side"] == "buy" else -1) for t in ours), Decimal(0)
    )


async def perp_position(system: System) -> Decimal:
    found = (await system.venue())["positions"].get(PERP)
    return Decimal(found["quantity"]) if found else Decimal(0)


async def fill_first(system: System, symbol: str, qty: str) -> None:
    live = await eventually(lambda: system.open_orders(symbol), what=f"an order on {symbol}")
    await system.control(
        "POST", "/_sim/fill", {"client_order_id": live[0]["client_order_id"], "quantity": qty}
    )


async def counted(system: System, symbol: str, n: int) -> bool:
    return len(await system.open_orders(symbol)) == n


async def test_flatten_reports_what_is_left_then_closes_when_liquidity_returns(
    system: System,
) -> None:
    # long 0.002 spot and short 0.003 perpetual, each with orders of ours resting
    await system.target(SPOT, [order("b0", "buy", "59000.00", "0.002")])
    await fill_first(system, SPOT, "0.002")
    await system.target(PERP, [order("s0", "sell", "61000.00", "0.003")])
    await fill_first(system, PERP, "0.003")
    await eventually(lambda: _equal(perp_position(system), Decimal("-0.003")), what="short perp")
    await system.target(
        SPOT, [order("bid", "buy", "58000.00", "0.001"), order("ask", "sell", "62000.00", "0.001")]
    )
    await system.target(PERP, [order("pbid", "buy", "58000.00", "0.001")])
    await eventually(lambda: counted(system, SPOT, 2), what="two spot orders")
    await eventually(lambda: counted(system, PERP, 1), what="one perp order")
    foreign = {
        "symbol": SPOT,
        "side": "buy",  # a buy: it locks quote, not the base the flatten sells
        "type": "limit",
        "price": "50000.00",
        "quantity": "0.001",
    }
    await system.control("POST", "/_sim/orders", foreign)
    # bids for half the spot position; no asks at all for the perpetual
    await system.control(
        "POST",
        "/_sim/liquidity",
        {"symbol": SPOT, "side": "buy", "levels": [["60000.00", "0.001"]]},
    )
    await system.control("POST", "/_sim/liquidity", {"symbol": PERP, "side": "sell", "levels": []})

    first = await asyncio.to_thread(kill, system, "--flatten", "--wait", "12")
    assert first.returncode == 1, first.stdout + first.stderr
    last = first.stdout.strip().splitlines()[-1]
    assert last.startswith("not flat after"), first.stdout
    assert "BTC/USDT:USDT remaining -0.003" in last
    assert "BTC/USDT remaining 0.001" in last
    assert "no fill within the band" in first.stdout  # retried, and said so
    assert await our_net(system, SPOT) == Decimal("0.001")  # half sold, never more
    assert [o["price"] for o in await system.open_orders(SPOT)] == ["50000"]  # foreign stays
    assert await system.open_orders(PERP) == []

    await system.control(
        "POST", "/_sim/liquidity", {"symbol": SPOT, "side": "buy", "levels": [["60000.00", "1"]]}
    )
    await system.control(
        "POST", "/_sim/liquidity", {"symbol": PERP, "side": "sell", "levels": [["60000.00", "1"]]}
    )
    second = await asyncio.to_thread(kill, system, "--flatten", "--wait", "150")
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.strip().splitlines()[-1].startswith("flat: account e2e")
    assert await perp_position(system) == 0
    assert await our_net(system, SPOT) == 0
    closes = [
        e for e in await system.events(PERP, "OrderSubmitted")
        if isinstance(e, OrderSubmitted) and e.data.position_order
    ]  # fmt: skip
    assert closes
    assert all(e.data.reduce_only for e in closes)
    assert [o["price"] for o in await system.open_orders(SPOT)] == ["50000"]


async def test_flatten_all_cancels_foreign_orders_and_resume_returns_to_normal(
    system: System,
) -> None:
    assert len(await system.open_orders(SPOT)) == 1  # the foreign order of the test above
    done = await asyncio.to_thread(kill, system, "--flatten", "--all", "--wait", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "foreign orders: 0 left" in done.stdout
    assert await system.open_orders(SPOT) == []

    resumed = await asyncio.to_thread(kill, system, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert '"mode": "normal"' in resumed.stdout
    await system.target(SPOT, [order("again", "buy", "58000.00", "0.001")])
    await eventually(lambda: counted(system, SPOT, 1), what="a new order after the resume")
    audit = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "setpoint", "--config", str(system.config), "audit", "--json"],
        capture_output=True, text=True, timeout=120, check=False, cwd=system.root,
    )  # fmt: skip
    report = json.loads(audit.stdout)
    assert report["clean"], report["violations"]  # no fill grew or flipped a position


def test_kill_help_says_the_difference() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "setpoint", "kill", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    text = " ".join(done.stdout.split())
    assert "--flatten" in text
    assert "plain kill only stops what would grow a position" in text


def test_all_without_flatten_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "setpoint", "kill", "--account", "x", "--all"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "setpoint kill: --all only goes with --flatten"


async def _equal(pending: Any, expected: Any) -> bool:
    return bool(await pending == expected)
