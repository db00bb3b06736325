"""The simulator's shared state: engine, streams, faults, clock, built from `SimConfig`.

One `Simulator` per server. Handlers reach it as `request.app[SIM]`. Every engine
command goes through `Simulator` so that its events reach the user-data streams.
"""

from __future__ import annotations

import asyncio
import random
import time
from decimal import Decimal

from aiohttp import web

from setpoint.config import SimConfig
from setpoint.core.numeric import round_to
from setpoint.sim.engine import Engine
from setpoint.sim.faults import Faults
from setpoint.sim.markets import DEFAULT_MARKETS
from setpoint.sim.orders import Event
from setpoint.sim.streams import StreamHub

RANDOM_WALK_INTERVAL_S = 1.0
RANDOM_WALK_BPS = 5


class Clock:
    """Wall-clock microseconds, strictly increasing from one reading to the next."""

    def __init__(self) -> None:
        self._last = 0

    def now_us(self) -> int:
        self._last = max(self._last + 1, time.time_ns() // 1000)
        return self._last

    def now_ms(self) -> int:
        return self.now_us() // 1000


class Simulator:
    """Engine, streams and faults of one running simulator."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock = Clock()
        self.keys = {config.api_key: config.api_secret}
        self.hub = StreamHub()
        self.faults = Faults(seed=config.random_walk_seed or 0)
        self.engine = self._new_engine()
        self._walk: asyncio.Task[None] | None = None

    def _new_engine(self) -> Engine:
        return Engine(
            DEFAULT_MARKETS,
            balances=self.config.balances,
            futures_balances=self.config.futures_balances,
            prices=self.config.prices,
        )

    def reset(self) -> None:
        """Empty book and accounts to the configured start; faults cleared."""
        self.engine = self._new_engine()
        self.faults = Faults(seed=self.config.random_walk_seed or 0)

    async def publish(self, events: list[Event], cancel_ids: dict[int, str] | None = None
                      ) -> None:
        await self.hub.publish(events, self.engine, self.clock.now_ms(), cancel_ids)

    def start_random_walk(self) -> None:
        """With `random_walk_seed` set, move every price by up to +-5 bp each second."""
        if self.config.random_walk_seed is not None and self._walk is None:
            self._walk = asyncio.create_task(self._random_walk(self.config.random_walk_seed))

    async def stop(self) -> None:
        if self._walk is not None:
            self._walk.cancel()
            await asyncio.gather(self._walk, return_exceptions=True)
            self._walk = None
        await self.hub.close()

    async def _random_walk(self, seed: int) -> None:
        rng = random.Random(seed)
        while True:
            await asyncio.sleep(RANDOM_WALK_INTERVAL_S)
            for market in self.engine.markets.all:
                last = self.engine.last_price(market.symbol)
                step = Decimal(rng.randint(-RANDOM_WALK_BPS, RANDOM_WALK_BPS)) / 10000
                price = round_to(last * (1 + step), market.tick, "nearest")
                if price > 0 and price != last:
                    events = self.engine.move_price(market.symbol, price, self.clock.now_us())
                    await self.publish(events)


SIM = web.AppKey("sim", Simulator)
