"""In-process wiring for gateway/executor integration tests: a real nats-server (session
fixture), a JetStream log of the test's own, the simulator in-process, and the real
Gateway and Executor classes. No mocks."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest

from setpoint.config import AccountConfig, Settings, StrategyConfig
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.executor.service import Executor
from setpoint.gateway.service import Gateway
from setpoint.gateway.venue import Venue
from setpoint.sim.app import SimServer
from setpoint.sim.testing import SimControl, running_simulator
from setpoint.venues.exchange import create_rest, create_stream, credentials
from setpoint.venues.ratelimit import RateLimiter

os.environ.setdefault("SETPOINT_IT_KEY", "demo-key")
os.environ.setdefault("SETPOINT_IT_SECRET", "demo-secret")


@dataclass
class Rig:
    account: str
    settings: Settings
    log: JetStreamEventLog
    nc: Any
    sim: SimServer
    control: SimControl
    gateway: Gateway
    executor: Executor


def account_config(base_url: str, **overrides: Any) -> AccountConfig:
    values: dict[str, Any] = {
        "base_url": base_url,
        "api_key": "env:SETPOINT_IT_KEY",
        "secret": "env:SETPOINT_IT_SECRET",
        "reconcile_interval_s": 60,
        "reconcile_startup_delay_s": 60,  # the first periodic run as before: after 60 s
        "venue_timeout_s": 1.0,
        "in_flight_timeout_s": 0.5,
        "not_found_retries": 2,
        "not_found_min_age_s": 0.2,
        "rate_limit_per_s": 1000,
    }
    values.update(overrides)
    return AccountConfig(**values)


@pytest.fixture
async def rig(nats_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    overrides = dict(getattr(request, "param", {}))
    strategies = overrides.pop("strategies", {})  # name -> StrategyConfig fields, no account
    tag = uuid.uuid4().hex[:8]
    account = f"it{tag}"
    nc = await nats.connect(nats_url)
    log = await JetStreamEventLog.open(nc, stream=f"IT{tag}", subject_root=f"it{tag}.evt")
    async with running_simulator() as sim:
        cfg = account_config(sim.base_url, **overrides)
        settings = Settings(
            accounts={account: cfg},
            strategies={
                name: StrategyConfig(account=account, **fields)
                for name, fields in strategies.items()
            },
        )
        creds = credentials(cfg)
        rest = create_rest(cfg, creds, timeout_ms=1000, traced=True)
        stream = create_stream(cfg, creds, timeout_ms=1000)
        venue = Venue(rest, creds.redactions, RateLimiter(cfg.rate_limit_per_s))
        gateway = Gateway(settings, account, nc, log, venue, stream)
        executor = Executor(settings, nc, log)
        control = SimControl(sim.base_url)
        await gateway.start()
        await executor.start()
        try:
            yield Rig(account, settings, log, nc, sim, control, gateway, executor)
        finally:
            await executor.stop()
            await gateway.stop()
            await gateway.close()
            await control.close()
    await nc.close()
