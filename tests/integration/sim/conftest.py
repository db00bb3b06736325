"""Fixtures: the venue simulator in-process on a free port, and real ccxt clients on it.

`sim_server` (session) runs one simulator; `sim` resets it for each test (book, accounts,
faults) and gives the server; `control` drives `/_sim`; `binance` / `binance_pro` are
ccxt's async and pro binance pointed at it with a short timeout (2 s) so that timeout
faults stay quick. The `okx_*` fixtures are the same for a second simulator speaking the
OKX dialect, with ccxt's okx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest_asyncio

from setpoint.config import SimConfig
from setpoint.sim.app import SimServer
from setpoint.sim.testing import SimControl, markets_loaded, running_simulator
from setpoint.venues.conformance import make_binance, make_okx

TIMEOUT_MS = 2000


@asynccontextmanager
async def _fresh(server: SimServer) -> AsyncIterator[SimServer]:
    """`server` reset for one test (book, accounts), its faults cleared after it."""
    server.simulator.reset()
    yield server
    server.simulator.faults.clear()


@asynccontextmanager
async def _control(server: SimServer) -> AsyncIterator[SimControl]:
    client = SimControl(server.base_url)
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="session")
async def sim_server() -> AsyncIterator[SimServer]:
    async with running_simulator(SimConfig()) as server:
        yield server


@pytest_asyncio.fixture
async def sim(sim_server: SimServer) -> AsyncIterator[SimServer]:
    async with _fresh(sim_server) as server:
        yield server


@pytest_asyncio.fixture
async def control(sim: SimServer) -> AsyncIterator[SimControl]:
    async with _control(sim) as client:
        yield client


@pytest_asyncio.fixture
async def binance(sim: SimServer) -> AsyncIterator[Any]:
    exchange = make_binance(sim.base_url, "demo-key", "demo-secret", timeout_ms=TIMEOUT_MS)
    async with markets_loaded(exchange) as loaded:
        yield loaded


@pytest_asyncio.fixture
async def binance_pro(sim: SimServer) -> AsyncIterator[Any]:
    exchange = make_binance(
        sim.base_url, "demo-key", "demo-secret", pro=True, timeout_ms=TIMEOUT_MS
    )
    async with markets_loaded(exchange) as loaded:
        yield loaded


@pytest_asyncio.fixture(scope="session")
async def okx_server() -> AsyncIterator[SimServer]:
    async with running_simulator(SimConfig(dialect="okx")) as server:
        yield server


@pytest_asyncio.fixture
async def okx_sim(okx_server: SimServer) -> AsyncIterator[SimServer]:
    async with _fresh(okx_server) as server:
        yield server


@pytest_asyncio.fixture
async def okx_control(okx_sim: SimServer) -> AsyncIterator[SimControl]:
    async with _control(okx_sim) as client:
        yield client


@pytest_asyncio.fixture
async def okx(okx_sim: SimServer) -> AsyncIterator[Any]:
    async with markets_loaded(make_okx(okx_sim.base_url, timeout_ms=TIMEOUT_MS)) as loaded:
        yield loaded


@pytest_asyncio.fixture
async def okx_pro(okx_sim: SimServer) -> AsyncIterator[Any]:
    async with markets_loaded(
        make_okx(okx_sim.base_url, pro=True, timeout_ms=TIMEOUT_MS)
    ) as loaded:
        yield loaded
