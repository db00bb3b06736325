"""`setpoint run sim` as a process: it prints `ready`, serves ccxt, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from setpoint.bus.embedded import free_port
from setpoint.venues.conformance import make_binance, make_okx

pytestmark = pytest.mark.sim


@asynccontextmanager
async def sim_process(tmp_path: Path, toml: str, *args: str) -> AsyncIterator[bytes]:
    """`setpoint run sim *args` with `toml` as its config: its `ready` line; after the
    block it must stop cleanly on SIGTERM."""
    config = tmp_path / "setpoint.toml"
    config.write_text(toml)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "setpoint", "--config", str(config), "run", "sim", *args,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert b"ready" in line
        yield line
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0


async def free_usdt(exchange: Any) -> Any:
    """The free USDT of the account behind `exchange` (then closed)."""
    try:
        balance = await exchange.fetch_balance()
    finally:
        await exchange.close()
    return balance["USDT"]["free"]


async def test_run_sim_serves_until_terminated(tmp_path: Path) -> None:
    port = free_port()
    toml = '[sim]\nbalances = { USDT = "42" }\n'
    async with sim_process(tmp_path, toml, "--port", str(port)) as line:
        assert str(port).encode() in line
        exchange = make_binance(f"http://127.0.0.1:{port}", "demo-key", "demo-secret")
        assert await free_usdt(exchange) == 42


async def test_run_sim_speaks_the_okx_dialect(tmp_path: Path) -> None:
    toml = '[sim]\nbalances = { USDT = "42" }\nfutures_balances = {}\n'
    port = free_port()
    async with sim_process(tmp_path, toml, "--dialect", "okx", "--port", str(port)) as line:
        assert b"okx" in line
        assert await free_usdt(make_okx(f"http://127.0.0.1:{port}")) == 42


async def test_run_sim_refuses_an_unknown_dialect() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "setpoint", "run", "sim", "--dialect", "kraken",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"invalid choice: 'kraken'" in err


async def test_run_sim_runs_a_named_simulator_of_the_config(tmp_path: Path) -> None:
    port = free_port()
    toml = (
        f'[sims.second]\nport = {port}\ndialect = "okx"\n'
        'balances = { USDT = "7" }\nfutures_balances = {}\n'
    )
    async with sim_process(tmp_path, toml, "--sim", "second") as line:
        assert str(port).encode() in line
        assert await free_usdt(make_okx(f"http://127.0.0.1:{port}")) == 7


async def test_run_sim_refuses_a_simulator_not_configured(tmp_path: Path) -> None:
    config = tmp_path / "setpoint.toml"
    config.write_text('[sims.second]\nport = 18766\ndialect = "okx"\n')
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "setpoint", "--config", str(config), "run", "sim", "--sim", "third",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"no simulator 'third' in [sims] (configured: second)" in err
