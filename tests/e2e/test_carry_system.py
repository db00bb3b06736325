"""The funding carry against the simulator, every service a process: the spot IOC meets
only 42% of its quantity in the book, and the perpetual ends up short exactly that much.

The processes are started with `setpoint up`'s supervisor, one by one, so that the book
can be filled before the strategy starts (the simulator's funding rate is a constant
0.0001, above this test's entry threshold: the strategy enters at once).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest

from setpoint.bus.embedded import EmbeddedNats, answers, free_port
from setpoint.ops.supervisor import ChildSpec, Supervisor

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


def _config(nats_port: int, sim_port: int) -> str:
    return f"""
[nats]
url = "nats://127.0.0.1:{nats_port}"
embedded = false

[accounts.demo]
exchange = "binance"
base_url = "http://127.0.0.1:{sim_port}"

[sim]
port = {sim_port}

[strategies.carry-1]
kind = "carry"
account = "demo"
symbol = "{SPOT}"
params = {{ quantity = "1.0", entry_funding = "0.00005", exit_funding = "-1", cooldown_s = 3600 }}
"""


def _sim(port: int, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = Request(
        f"http://127.0.0.1:{port}{path}", data=data, headers={"content-type": "application/json"}
    )
    with urlopen(request, timeout=5) as reply:
        return json.loads(reply.read())


def _wait(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {within}s")


@pytest.fixture
def system(tmp_path: Path) -> Iterator[tuple[Supervisor, int, Path]]:
    nats_port, sim_port = free_port(), free_port()
    config = tmp_path / "setpoint.toml"
    config.write_text(_config(nats_port, sim_port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETPOINT_")}
    env |= {
        "SETPOINT_CONFIG": str(config),
        "SETPOINT_DEMO_KEY": "demo-key",
        "SETPOINT_DEMO_SECRET": "demo-secret",
    }
    server = EmbeddedNats(f"nats://127.0.0.1:{nats_port}", tmp_path / "nats")
    server.start()
    supervisor = Supervisor()
    try:
        supervisor.add(_child(tmp_path, env, "sim"))
        _wait(lambda: answers(f"tcp://127.0.0.1:{sim_port}", 0.2), 60, "the simulator")
        yield supervisor, sim_port, tmp_path
    finally:
        supervisor.stop(grace_s=5)
        server.stop()


def _child(tmp_path: Path, env: dict[str, str], service: str) -> ChildSpec:
    argv = (sys.executable, "-m", "setpoint", "run", service)
    return ChildSpec(service, argv, tmp_path / f"{service}.log", env, tmp_path)


def _position(sim_port: int) -> Decimal | None:
    position = _sim(sim_port, "/_sim/state")["positions"].get(PERP)
    return Decimal(position["quantity"]) if position else None


def test_a_42_percent_spot_fill_is_hedged_by_exactly_42_percent(
    system: tuple[Supervisor, int, Path],
) -> None:
    supervisor, sim_port, tmp_path = system
    _sim(
        sim_port,
        "/_sim/liquidity",
        {"symbol": SPOT, "side": "sell", "levels": [["60000.00", "0.42"]]},
    )
    _sim(
        sim_port, "/_sim/liquidity", {"symbol": PERP, "side": "buy", "levels": [["60000.00", "10"]]}
    )
    env = supervisor.children["sim"].spec.env
    assert env is not None
    for service in ("gateway", "executor", "differ", "strategy"):
        supervisor.add(_child(tmp_path, env, service))

    def hedged() -> bool:
        for note in supervisor.poll():
            print(note)
        position = _position(sim_port)
        assert position is None or position >= Decimal("-0.42"), f"over-hedged: {position}"
        return position == Decimal("-0.42")

    _wait(hedged, 60, "a perp position of -0.42")
    state = _sim(sim_port, "/_sim/state")
    spot_orders = [o for o in state["orders"] if o["symbol"] == SPOT]
    assert len(spot_orders) == 1  # one IOC entry, not retried for the missing 58%
    (entry,) = spot_orders
    assert (entry["side"], entry["time_in_force"]) == ("buy", "IOC")
    assert Decimal(entry["filled"]) == Decimal("0.42")
    spot_bought = sum(Decimal(t["quantity"]) for t in state["trades"] if t["symbol"] == SPOT)
    assert spot_bought == Decimal("0.42")
    assert all(child.restarts == 0 for child in supervisor.children.values())
