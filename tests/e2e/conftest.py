"""One running system (nats-server, simulator, gateway, differ, executor as processes)
shared by the execution-path e2e tests; each test uses its own symbol or intents."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from system import System


@pytest.fixture(scope="session")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = System(tmp_path_factory.mktemp("e2e-system"))
    try:
        await running.up()
        yield running
    finally:
        await running.down()
