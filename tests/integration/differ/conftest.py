"""The `env` fixture: one test's world for the differ (see differ_env.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from differ_env import Env


@pytest.fixture
async def env(nats_url: str) -> AsyncIterator[Env]:
    world = Env(nats_url)
    try:
        yield world
    finally:
        await world.close()
