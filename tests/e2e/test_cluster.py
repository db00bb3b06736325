"""The whole system on a three-server JetStream cluster (stream replicas 3) while the stream
leader's server is SIGKILLed and started again, under a steady run of targets on eight
keys: afterwards 0 events lost (every target the differ acknowledged is in the log), 0
duplicate orders at the venue (no intent placed twice), every key converged, `setpoint
audit` clean, and every service still running. The short variant kills the leader once;
the `long` one kills whichever server leads, again and again.

Nothing here asserts timing: deadlines only bound the waits.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.errors import Error as NatsError
from system import ACCOUNT, System, eventually
from test_convergence import all_orders, order

from setpoint.bus import subjects
from setpoint.bus.cluster import EmbeddedCluster, free_cluster_url, stream_leader
from setpoint.core.events import TargetPublished
from setpoint.eventlog.jetstream import JetStreamEventLog

pytestmark = [pytest.mark.e2e]

EXTRA = ("SOL/USDT", "XRP/USDT", "ADA/USDT", "DOT/USDT", "LTC/USDT")
KEYS = ("BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", *EXTRA)
MARKETS = "\n".join(
    [
        '[[sim.markets]]\nsymbol = "BTC/USDT"\nstep = "0.00001"',
        '[[sim.markets]]\nsymbol = "ETH/USDT"\nstep = "0.0001"',
        '[[sim.markets]]\nsymbol = "BTC/USDT:USDT"\nstep = "0.00001"',
        *(f'[[sim.markets]]\nsymbol = "{symbol}"\nstep = "0.001"' for symbol in EXTRA),
    ]
)
PRICES = {"BTC/USDT": ("40000.00", "0.00100"), "ETH/USDT": ("1500.00", "0.0100"),
          "BTC/USDT:USDT": ("40000.00", "0.00100")}  # fmt: skip
"""Bids far below the simulator's market, so that they rest (price, quantity)."""


class ClusterSystem(System):
    """`System` on a local cluster of three servers; the log's stream has three copies."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, sim_extra=MARKETS)
        self.cluster = EmbeddedCluster(free_cluster_url(3), 3, root / "cluster")
        text = self.config.read_text()
        text = text.replace(f'url = "{self.nats_url}"', f'url = "{self.cluster.url}"')
        text = text.replace('backend = "jetstream"', 'backend = "jetstream"\nreplicas = 3')
        self.config.write_text(text)
        self.nats_url = self.cluster.url

    async def up(self) -> None:
        await asyncio.to_thread(self.cluster.start)
        await self.start("sim")
        await self.start("gateway", "differ", "executor")
        self.nc = await nats.connect(self.nats_url.split(","), max_reconnect_attempts=-1)
        self.log = await JetStreamEventLog.open(self.nc, replicas=3)
        import aiohttp

        self.http = aiohttp.ClientSession()

    async def down(self) -> None:
        for service in ("executor", "differ", "gateway", "sim"):
            self.stop(service)
        await self.down_clients()
        self.cluster.stop()

    def leader(self) -> str | None:
        for node in self.cluster.nodes:
            if self.cluster.servers[node.name].process is not None:
                found = stream_leader(node, "SETPOINT")
                if found is not None:
                    return found
        return None


@pytest.fixture
async def cluster_system(tmp_path_factory: pytest.TempPathFactory) -> Any:
    running = ClusterSystem(tmp_path_factory.mktemp("cluster-system"))
    try:
        await running.up()
        yield running
    finally:
        await running.down()


def bid(symbol: str, intent: str, rung: int) -> dict[str, Any]:
    price, qty = PRICES.get(symbol, ("10.00", "1.000"))
    below = (int(price.split(".")[0]) // 100) * rung
    return order(intent, "buy", f"{int(price.split('.')[0]) - below}.00", qty)


class Driver:
    """Publishes a new target per key per round (two fresh intents each: the old ones are
    cancelled, the new placed) and remembers what the differ acknowledged."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.acknowledged: dict[str, list[int]] = {symbol: [] for symbol in KEYS}
        self.intents: dict[str, list[str]] = {symbol: [] for symbol in KEYS}
        self.last: dict[str, list[str]] = {}
        self.round = 0

    async def publish(self, symbol: str) -> None:
        system = self.system
        assert system.nc is not None
        system.generation += 1
        generation, n = system.generation, self.round
        intents = [f"r{n}-{symbol.replace('/', '').replace(':', '')}-{k}" for k in (1, 2)]
        body = {
            "account": ACCOUNT, "symbol": symbol, "generation": generation, "strategy": "e2e",
            "position": None, "expires_at": None,
            "orders": [bid(symbol, intent, k + 1) for k, intent in enumerate(intents)],
        }  # fmt: skip
        for spec in body["orders"]:
            spec.update(type="limit", time_in_force="GTC", post_only=False, reduce_only=False,
                        oco_group=None)  # fmt: skip
        self.intents[symbol] += intents
        try:
            reply = await system.nc.request(
                subjects.target_subject(ACCOUNT, symbol), json.dumps(body).encode(), timeout=20
            )
        except NatsError:  # no answer: it may or may not be in the log; not acknowledged
            return
        answer = json.loads(reply.data)
        if answer.get("accepted"):
            self.acknowledged[symbol].append(generation)
            self.last[symbol] = intents

    async def rounds(self, count: int) -> None:
        for _ in range(count):
            await asyncio.gather(*(self.publish(symbol) for symbol in KEYS))
            self.round += 1
            await asyncio.sleep(0.3)


async def statuses(system: System) -> dict[str, dict[str, Any]] | None:
    assert system.nc is not None
    try:
        reply = await system.nc.request(subjects.STATUS_REQUEST, b"", timeout=5)
    except NatsError:
        return None
    return {key["symbol"]: key for key in json.loads(reply.data)["keys"]}


async def run_with_leader_kills(system: ClusterSystem, kills: int, rounds_between: int) -> None:
    driver = Driver(system)
    await driver.rounds(rounds_between)
    for _ in range(kills):
        leader = await asyncio.to_thread(system.leader)
        assert leader is not None, "the stream has no leader"
        await asyncio.to_thread(system.cluster.kill, leader)
        await driver.rounds(rounds_between)  # targets keep coming while it is down
        await asyncio.to_thread(system.cluster.restart, leader)
        await driver.rounds(rounds_between)
    await check_outcome(system, driver)


async def check_outcome(system: ClusterSystem, driver: Driver) -> None:
    assert all(driver.acknowledged[symbol] for symbol in KEYS), driver.acknowledged

    async def converged() -> bool:
        found = await statuses(system)
        if found is None:
            return False
        return all(
            found.get(symbol, {}).get("condition") == "converged"
            and found[symbol]["generation"] == max(driver.acknowledged[symbol])
            and found[symbol]["open_orders_venue"] == 2
            for symbol in KEYS
        )

    await eventually(converged, 120, "every key converged on its last acknowledged target")
    for symbol in KEYS:  # 0 events lost: every acknowledged target is in the log
        published = await system.events(symbol, "TargetPublished")
        generations = [
            e.data.target.generation for e in published if isinstance(e, TargetPublished)
        ]
        assert sorted(set(generations)) == sorted(generations), symbol  # none twice
        assert set(driver.acknowledged[symbol]) <= set(generations), symbol
        for intent in driver.intents[symbol]:  # 0 duplicate orders: no intent placed twice
            assert len(await all_orders(system, symbol, intent)) <= 1, intent
        for intent in driver.last[symbol]:
            assert len(await all_orders(system, symbol, intent)) == 1, intent
    for service in ("gateway", "executor", "differ"):
        assert system.processes[service].poll() is None, f"{service} exited"
    await system.audit()


@pytest.mark.timeout(420)
async def test_a_sigkill_of_the_stream_leader_loses_nothing(
    cluster_system: ClusterSystem,
) -> None:
    await run_with_leader_kills(cluster_system, kills=1, rounds_between=3)


@pytest.mark.long
@pytest.mark.timeout(1800)
async def test_repeated_leader_kills_lose_nothing(cluster_system: ClusterSystem) -> None:
    await run_with_leader_kills(cluster_system, kills=6, rounds_between=4)
