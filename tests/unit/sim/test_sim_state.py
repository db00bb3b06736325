"""The simulator's configuration-driven state: markets from config, the random walk."""

from __future__ import annotations

import random
from decimal import Decimal as D

from setpoint.config import SimConfig, SimMarketConfig
from setpoint.sim.markets import Kind
from setpoint.sim.state import Simulator, walk_step


def test_markets_come_from_the_config() -> None:
    config = SimConfig(
        markets=[
            SimMarketConfig(symbol="SOL/USDT", step=D("0.001"), tick=D("0.001")),
            SimMarketConfig(symbol="SOL/USDT:USDT", step=D("0.01"), min_notional=D("10")),
        ],
        prices={"SOL/USDT": D("150"), "SOL/USDT:USDT": D("150")},
    )
    engine = Simulator(config).engine
    spot, perp = engine.market("SOL/USDT"), engine.market("SOL/USDT:USDT")
    assert (spot.kind, spot.venue_id, spot.tick) == (Kind.SPOT, "SOLUSDT", D("0.001"))
    assert (perp.kind, perp.min_notional, perp.quote) == (Kind.PERP, D("10"), "USDT")


def test_random_walk_is_seeded_small_and_on_the_tick() -> None:
    paths = []
    for _ in range(2):
        engine = Simulator(SimConfig(random_walk_seed=11)).engine
        rng = random.Random(11)
        path = []
        for now in range(50):
            before = engine.last_price("BTC/USDT")
            walk_step(engine, rng, now)
            after = engine.last_price("BTC/USDT")
            assert abs(after - before) <= before * D("0.0005") + D("0.01")
            assert after % D("0.01") == 0
            path.append(after)
        paths.append(path)
    assert paths[0] == paths[1]
    assert len(set(paths[0])) > 1
