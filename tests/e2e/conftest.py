"""One running system (nats-server, simulator, gateway, differ, executor as processes)
shared by the execution-path e2e tests; each test uses its own symbol or intents. A test
that disturbs the system it runs on (restarting its server) takes one of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from system import System, running


@pytest.fixture(scope="session")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    async with running(System(tmp_path_factory.mktemp("e2e-system"))) as shared:
        yield shared


@pytest.fixture
async def own_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """A system of its own: restarting the server of the shared one would disturb others."""
    async with running(System(tmp_path_factory.mktemp("nats-restart"))) as own:
        yield own
