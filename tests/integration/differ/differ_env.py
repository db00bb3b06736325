"""Helpers for the differ against a real nats-server: a JetStream log of its own per test
(its own stream and subject root on the session server), settings naming the test's
accounts, and a factory of running `DifferService`s that are stopped at teardown."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from setpoint.config import Settings
from setpoint.core.model import Key, Producer
from setpoint.differ.service import DifferService
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.port import ANY
from setpoint.testing.synthetic import market, markets_loaded

BTC = market("BTC/USDT", min_quantity=Decimal("0.00001"))
ETH = market("ETH/USDT", step=Decimal("0.0001"), min_quantity=Decimal("0.00001"))


class Env:
    """One test's world: an account name, settings, and where its log lives."""

    def __init__(self, nats_url: str) -> None:
        tag = uuid.uuid4().hex[:10]
        self.url = nats_url
        self.account = f"acct{tag}"
        self.stream = f"T{tag}"
        self.root = f"t{tag}.evt"
        self.settings = Settings(
            nats={"url": nats_url, "embedded": False},
            accounts={self.account: {"max_orders_per_target": 5}},
        )
        self.clients: list[NATS] = []
        self.services: list[DifferService] = []

    def key(self, symbol: str = "BTC/USDT") -> Key:
        return Key(self.account, symbol)

    async def open_log(self) -> JetStreamEventLog:
        nc = await nats.connect(self.url)
        self.clients.append(nc)
        return await JetStreamEventLog.open(nc, stream=self.stream, subject_root=self.root)

    async def start_differ(self, name: str = "differ") -> DifferService:
        nc = await nats.connect(self.url)
        self.clients.append(nc)
        service = DifferService(self.settings, await self.open_log(), nc, tick_s=3600, name=name)
        self.services.append(service)
        await service.start()
        return service

    async def load_markets(self, log: JetStreamEventLog) -> None:
        event = markets_loaded(self.account, BTC, ETH)
        await log.append(event.key, Producer.GATEWAY, [event], ANY)

    async def request(self, subject: str, body: bytes) -> dict[str, Any]:
        """A NATS request from a client of its own; the decoded JSON reply."""
        if not self.clients:
            self.clients.append(await nats.connect(self.url))
        reply = await self.clients[0].request(subject, body, timeout=10)
        decoded: dict[str, Any] = json.loads(reply.data)
        return decoded

    @staticmethod
    async def eventually(
        check: Callable[[], Awaitable[bool]], what: str, within: float = 10
    ) -> None:
        """Poll `check` until true; a hang guard (not a timing assertion) fails after `within`."""
        deadline = asyncio.get_running_loop().time() + within
        while not await check():
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"never happened: {what}")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        for service in self.services:
            await service.stop()
        for client in self.clients:
            await client.close()
