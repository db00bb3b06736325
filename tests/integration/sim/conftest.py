"""Fixtures: the venue simulator in-process on a free port, and real ccxt clients on it.

`sim_server` (session) runs one simulator; `sim` resets it for each test (book, accounts,
faults) and gives the server; `control` drives `/_sim`; `binance` / `binance_pro` are
ccxt's async and pro binance pointed at it with a short timeout (2 s) so that timeout
faults stay quick. The `okx_*` fixtures are the same for a second simulator speaking the
OKX dialect, with ccxt's okx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from setpoint.config import SimConfig
from setpoint.sim.app import SimServer
from setpoint.sim.testing import SimControl, running_simulator
from setpoint.venues.conformance import make_binance, make_okx

TIMEOUT_MS = 2000


@pytest_asyncio.fixture(scope="session")
async def sim_server() -> AsyncIterator[SimServer]:
    async with running_simulator(SimConfig()) as server:
        yield server


@pytest_asyncio.fixture
async def sim(sim_server: SimServer) -> AsyncIterator[SimServer]:
    sim_server.simulator.reset()
    yield sim_server
    sim_server.simulator.faults.clear()


@pytest_asyncio.fixture
async def control(sim: SimServer) -> AsyncIterator[SimControl]:
    client = SimControl(sim.base_url)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def binance(sim: SimServer) -> AsyncIterator[Any]:
    exchange = make_binance(sim.base_url, "demo-key", "demo-secret", timeout_ms=TIMEOUT_MS)
    await exchange.load_markets()
    yield exchange
    await exchange.close()


@pytest_asyncio.fixture
async def binance_pro(sim: SimServer) -> AsyncIterator[Any]:
    exchange = make_binance(
        sim.base_url, "demo-key", "demo-secret", pro=True, timeout_ms=TIMEOUT_MS
    )
    await exchange.load_markets()
    yield exchange
    await exchange.close()


@pytest_asyncio.fixture(scope="session")
async def okx_server() -> AsyncIterator[SimServer]:
    async with running_simulator(SimConfig(dialect="okx")) as server:
        yield server


@pytest_asyncio.fixture
async def okx_sim(okx_server: SimServer) -> AsyncIterator[SimServer]:
    okx_server.simulator.reset()
    yield okx_server
    okx_server.simulator.faults.clear()


@pytest_asyncio.fixture
async def okx_control(okx_sim: SimServer) -> AsyncIterator[SimControl]:
    client = SimControl(okx_sim.base_url)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def okx(okx_sim: SimServer) -> AsyncIterator[Any]:
    exchange = make_okx(okx_sim.base_url, timeout_ms=TIMEOUT_MS)
    await exchange.load_markets()
    yield exchange
    await exchange.close()


@pytest_asyncio.fixture
async def okx_pro(okx_sim: SimServer) -> AsyncIterator[Any]:
    exchange = make_okx(okx_sim.base_url, pro=True, timeout_ms=TIMEOUT_MS)
    await exchange.load_markets()
    yield exchange
    await exchange.close()
