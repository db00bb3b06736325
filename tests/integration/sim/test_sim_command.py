"""`setpoint run sim` as a process: it prints `ready`, serves ccxt, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from setpoint.bus.embedded import free_port
from setpoint.venues.conformance import make_binance, make_okx

pytestmark = pytest.mark.sim


async def test_run_sim_serves_until_terminated(tmp_path: Path) -> None:
    config = tmp_path / "setpoint.toml"
    config.write_text('[sim]\nbalances = { USDT = "42" }\n')
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "setpoint",
        "--config",
        str(config),
        "run",
        "sim",
        "--port",
        str(port),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert b"ready" in line
        assert str(port).encode() in line
        exchange = make_binance(f"http://127.0.0.1:{port}", "demo-key", "demo-secret")
        try:
            balance = await exchange.fetch_balance()
        finally:
            await exchange.close()
        assert balance["USDT"]["free"] == 42
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0


async def test_run_sim_speaks_the_okx_dialect(tmp_path: Path) -> None:
    config = tmp_path / "setpoint.toml"
    config.write_text('[sim]\nbalances = { USDT = "42" }\nfutures_balances = {}\n')
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "setpoint", "--config", str(config),
        "run", "sim", "--dialect", "okx", "--port", str(port),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert b"ready" in line
        assert b"okx" in line
        exchange = make_okx(f"http://127.0.0.1:{port}")
        try:
            balance = await exchange.fetch_balance()
        finally:
            await exchange.close()
        assert balance["USDT"]["free"] == 42
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0


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
    config = tmp_path / "setpoint.toml"
    config.write_text(
        f'[sims.second]\nport = {port}\ndialect = "okx"\n'
        'balances = { USDT = "7" }\nfutures_balances = {}\n'
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "setpoint", "--config", str(config), "run", "sim", "--sim", "second",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert b"ready" in line
        assert str(port).encode() in line
        exchange = make_okx(f"http://127.0.0.1:{port}")
        try:
            balance = await exchange.fetch_balance()
        finally:
            await exchange.close()
        assert balance["USDT"]["free"] == 7
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0


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
