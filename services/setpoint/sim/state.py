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
from setpoint.sim import persist
from setpoint.sim.countdown import ACCOUNT_WIDE, Countdowns
from setpoint.sim.engine import Engine
from setpoint.sim.faults import Faults
from setpoint.sim.limits import RateLimiter
from setpoint.sim.markets import make_market
from setpoint.sim.okx_auth import Credential
from setpoint.sim.okx_streams import OkxHub
from setpoint.sim.orders import Event
from setpoint.sim.streams import StreamHub

RANDOM_WALK_INTERVAL_S = 1.0
RANDOM_WALK_BPS = 5
LISTEN_KEY_SWEEP_S = 1.0
STATE_FLUSH_S = 1.0
COUNTDOWN_CHECK_S = 0.05


class Clock:
    """Wall-clock microseconds, strictly increasing from one reading to the next."""

    def __init__(self) -> None:
        self._last = 0

    def now_us(self) -> int:
        self._last = max(self._last + 1, time.time_ns() // 1000)
        return self._last

    def now_ms(self) -> int:
        return self.now_us() // 1000


POSITION_MODES = ("net_mode", "long_short_mode")


class Simulator:
    """Engine, streams and faults of one running simulator.

    `position_mode` is the account's setting as the venue reports it (OKX `posMode`,
    Binance `dualSidePosition`): `net_mode` (the default, the only one the engine trades)
    or `long_short_mode` (set through the control API to test a hedge-mode refusal)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock = Clock()
        self.keys = {config.api_key: config.api_secret}
        self.okx_keys = {config.api_key: Credential(config.api_secret, config.api_passphrase)}
        self.position_mode = POSITION_MODES[0]
        self.limits = RateLimiter(config.okx_rate_limits, config.okx_rate_window_ms)
        self.hub = StreamHub()
        self.okx_hub = OkxHub()
        self.faults = Faults(seed=config.random_walk_seed or 0)
        saved = None if config.state_file is None else persist.load(config.state_file)
        self.engine = saved if saved is not None else self._new_engine()
        self.countdowns = Countdowns()
        self._tasks: list[asyncio.Task[None]] = []
        self._publishing = asyncio.Lock()
        self._unsaved = False

    def _new_engine(self, first_ids: tuple[int, int] = (1, 1)) -> Engine:
        markets = [
            make_market(m.symbol, m.step, m.tick, m.min_notional) for m in self.config.markets
        ]
        return Engine(
            markets,
            balances=self.config.balances,
            futures_balances=self.config.futures_balances,
            prices=self.config.prices,
            first_ids=first_ids,
        )

    def reset(self) -> None:
        """Empty book and accounts to the configured start; faults cleared. Order and trade
        ids keep counting up (fills are deduplicated by trade id downstream)."""
        self.engine = self._new_engine(self.engine.next_ids)
        self.faults = Faults(seed=self.config.random_walk_seed or 0)
        self.countdowns = Countdowns()
        self.position_mode = POSITION_MODES[0]
        self.limits = RateLimiter(self.config.okx_rate_limits, self.config.okx_rate_window_ms)
        self.save()

    def save(self) -> None:
        """Write the engine to `sim.state_file`, if one is configured (sim/persist.py)."""
        if self.config.state_file is not None:
            persist.save(self.config.state_file, self.engine)

    async def publish(self, events: list[Event], cancel_ids: dict[int, str] | None = None) -> None:
        """Send one command's events to the streams. Call it right after the engine command,
        with no await in between: the (FIFO) lock then keeps the streams in engine order."""
        self._unsaved = True
        async with self._publishing:
            await self.hub.publish(events, self.engine, self.clock.now_ms(), cancel_ids)
            await self.okx_hub.publish(events, self.engine, self.clock.now_ms())

    async def drop_streams(self) -> None:
        """Close every open user-data stream, of both dialects (fault `ws_drop`)."""
        await self.hub.drop_all()
        await self.okx_hub.drop_all()

    async def expire_streams(self) -> None:
        """Fault `listen_key_expire`: Binance's listen keys expire; OKX has none, so its
        private streams are closed as by `ws_drop`."""
        await self.hub.expire_all(self.clock.now_ms())
        await self.okx_hub.drop_all()

    def start_background(self) -> None:
        """The listen-key sweeper, the dead-man switch's timers; with `random_walk_seed`
        set, the random walk (every price moves by up to +-5 bp each second); with
        `state_file` set, the state's writer (at most once a second, and at stop: a crash
        loses at most the last second; armed countdowns are not kept)."""
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._sweep_listen_keys()))
        self._tasks.append(asyncio.create_task(self._run_countdowns()))
        if self.config.state_file is not None:
            self._tasks.append(asyncio.create_task(self._flush_state()))
        if self.config.random_walk_seed is not None:
            self._tasks.append(asyncio.create_task(self._random_walk(self.config.random_walk_seed)))

    async def stop(self) -> None:
        self.save()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.hub.close()
        await self.okx_hub.drop_all()

    async def _flush_state(self) -> None:
        while True:
            await asyncio.sleep(STATE_FLUSH_S)
            if self._unsaved:
                self._unsaved = False
                self.save()

    async def _sweep_listen_keys(self) -> None:
        while True:
            await asyncio.sleep(LISTEN_KEY_SWEEP_S)
            await self.hub.expire_due(self.clock.now_ms())

    async def _run_countdowns(self) -> None:
        while True:
            await asyncio.sleep(COUNTDOWN_CHECK_S)
            for symbol in self.countdowns.due(self.clock.now_ms()):
                await self.cancel_all(None if symbol == ACCOUNT_WIDE else symbol)

    async def cancel_all(self, symbol: str | None) -> int:
        """Cancel every open order of `symbol` (None: of every symbol) when the dead-man
        switch ran out; how many."""
        cancelled = 0
        for order in self.engine.open_orders(symbol=symbol):
            _, events = self.engine.cancel(
                order.symbol, order_id=order.order_id, now_us=self.clock.now_us()
            )
            await self.publish(events)
            cancelled += 1
        return cancelled

    async def _random_walk(self, seed: int) -> None:
        rng = random.Random(seed)
        while True:
            await asyncio.sleep(RANDOM_WALK_INTERVAL_S)
            await self.publish(walk_step(self.engine, rng, self.clock.now_us()))


def walk_step(engine: Engine, rng: random.Random, now_us: int) -> list[Event]:
    """Move every market's price by a whole number of basis points in [-5, 5], on the tick;
    returns the events of the fills it caused."""
    events: list[Event] = []
    for market in engine.markets.all:
        last = engine.last_price(market.symbol)
        step = Decimal(rng.randint(-RANDOM_WALK_BPS, RANDOM_WALK_BPS)) / 10000
        price = round_to(last * (1 + step), market.tick, "nearest")
        if price > 0 and price != last:
            events += engine.move_price(market.symbol, price, now_us)
    return events


SIM = web.AppKey("sim", Simulator)
