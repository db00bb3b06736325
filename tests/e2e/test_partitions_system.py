"""Several instances with leases (docs/architecture.md, "Running on several machines"), as
processes against the simulator and one nats-server:

* two differs and two executors over many keys; one of each is SIGKILLed right after a
  new generation of every key was published: the survivors take its partitions, every
  key converges, no order is placed twice, and `setpoint audit` is clean (among its
  invariants: no two tenures' decisions interleave on a key);
* an active and a standby gateway; the active is SIGKILLed while orders are placed and
  filled: the standby takes over, every trade at the venue is recorded once, and no
  intent ever has two live orders.

The short variants run in CI; `long` ones use more keys and rounds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from system import ACCOUNT, System, eventually
from test_convergence import order, working

from setpoint.core.ids import account_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
LEASES = {"SETPOINT_LEASES__ENABLED": "true", "SETPOINT_LEASES__TTL_S": "3"}


def symbols(count: int) -> list[str]:
    return [f"K{i:02d}/USDT" for i in range(count)]


def markets(count: int) -> str:
    """[sim] lines: `count` spot markets at 100 USDT, and balances for their orders."""
    prices = ", ".join(f'"{s}" = "100"' for s in symbols(count))
    blocks = "".join(f'\n[[sim.markets]]\nsymbol = "{s}"\nstep = "0.01"\n' for s in symbols(count))
    return f'balances = {{ USDT = "1000000" }}\nprices = {{ {prices} }}\n{blocks}'


async def running(root: Path, keys: int, *, gateways: int = 1) -> System:
    system = System(root, sim_extra=markets(keys))
    system.env.update(LEASES)
    try:
        await _start(system, gateways)
    except BaseException:
        await system.down()
        raise
    return system


async def _start(system: System, gateways: int) -> None:
    system.nats_server.start()
    await system.start("sim")
    system.spawn("gateway", name="gateway")
    await system.wait_ready("gateway")
    for n in range(1, gateways):
        system.spawn("gateway", name=f"gateway-{n}")
    for name in ("differ", "differ-b"):
        system.spawn("differ", name=name)
    for name in ("executor", "executor-b"):
        system.spawn("executor", name=name)
    for name in ("differ", "differ-b", "executor", "executor-b"):
        await system.wait_ready(name)
    for name in ("differ", "differ-b", "executor", "executor-b"):  # the first takes all,
        # then hands the second its share: the kill below must hit one that holds some
        await eventually(lambda n=name: holds_partitions(system, n), 60, f"{name} holds some")
    await system.up_clients()


async def holds_partitions(system: System, name: str) -> bool:
    service = name.removesuffix("-b")
    text = system.output(name).read_text(errors="replace")
    return re.search(rf"{service} lease p\d+ taken", text) is not None


async def publish(system: System, symbol: str, intent: str, price: str) -> None:
    """A target, sent again while its partition changes hands (nobody answers then)."""
    for _ in range(10):
        try:
            await system.target(symbol, [order(intent, "buy", price, "0.10")])
            return
        except TimeoutError:
            continue
    raise AssertionError(f"no differ answered the target of {symbol}")


async def converged(system: System, keys: list[str], intent: str) -> bool:
    state = await system.venue()
    live = [o for o in state["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")]
    by_symbol = Counter(o["symbol"] for o in live)
    if any(by_symbol[s] != 1 for s in keys):
        return False
    return all([bool(await working(system, s, intent)) for s in keys])


def audit(system: System) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "setpoint", "--config", str(system.config), "audit", "--json"],
        capture_output=True, text=True, env=system.env, cwd=system.root, timeout=120,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(run.stdout)
    return report


async def no_duplicate_orders(system: System) -> None:
    state = await system.venue()
    ids = Counter(o["client_order_id"] for o in state["orders"])
    assert [c for c, n in ids.items() if n > 1] == []
    assert all(c.startswith(account_prefix(ACCOUNT)) for c in ids)


async def kill_one_of_each(system: System, keys: int) -> None:
    names = symbols(keys)
    try:
        for symbol in names:
            await publish(system, symbol, "g1", "90.00")
        await eventually(lambda: converged(system, names, "g1"), 120, "generation 1 working")
        for symbol in names:  # a new generation everywhere, then one of each dies
            await publish(system, symbol, "g2", "91.00")
        system.kill("differ")
        system.kill("executor")
        for symbol in names[::7]:  # and targets arrive while its partitions move
            await publish(system, symbol, "g3", "92.00")
        final = {s: ("g3" if s in names[::7] else "g2") for s in names}
        for intent in ("g2", "g3"):
            keys_of = [s for s, i in final.items() if i == intent]
            await eventually(lambda k=keys_of, i=intent: converged(system, k, i), 120,
                             f"{intent} working")  # fmt: skip
        await no_duplicate_orders(system)
        for survivor in ("differ", "executor"):  # it holds every partition now
            text = system.output(f"{survivor}-b").read_text(errors="replace")
            taken = set(re.findall(rf"{survivor} lease (p\d+) taken", text))
            assert len(taken) == 16, taken
        report = audit(system)
        assert report["clean"], report["violations"]
        workers = {
            e.worker
            for s in names
            for e in await system.events(s, "DiffComputed")
            if e.worker is not None
        }
        assert len({w.split("#")[0] for w in workers}) == 2  # both differs decided
    finally:
        await system.down()


async def test_two_of_each_lose_one_of_each_mid_run(tmp_path: Path) -> None:
    await kill_one_of_each(await running(tmp_path, 12), 12)


@pytest.mark.long
async def test_two_of_each_lose_one_of_each_mid_run_over_forty_keys(tmp_path: Path) -> None:
    await kill_one_of_each(await running(tmp_path, 40), 40)


async def test_the_standby_gateway_takes_over_while_orders_fill(tmp_path: Path) -> None:
    keys = 6
    names = symbols(keys)
    system = await running(tmp_path, keys, gateways=2)
    try:
        await eventually(
            lambda: _said(system, "gateway-1", "standby"), 60, "the second gateway stands by"
        )
        for symbol in names:
            await publish(system, symbol, "f1", "99.00")
        await eventually(lambda: converged(system, names, "f1"), 120, "f1 working")
        for symbol in names[:3]:  # fills while the active gateway dies
            await system.control("POST", "/_sim/price", {"symbol": symbol, "price": "98.50"})
        system.kill("gateway")
        for symbol in names:  # and new orders to place through the new holder
            await publish(system, symbol, "f2", "97.00")
        await system.wait_ready("gateway-1")
        await eventually(lambda: converged(system, names, "f2"), 120, "f2 working")
        await eventually(lambda: _fills_recorded(system, names), 60, "every trade recorded")
        await no_duplicate_orders(system)
        report = audit(system)
        assert report["clean"], report["violations"]
    finally:
        await system.down()


async def _said(system: System, name: str, word: str) -> bool:
    return word in system.output(name).read_text(errors="replace")


async def _fills_recorded(system: System, names: list[str]) -> bool:
    """Every trade at the venue is one `FillObserved` (by trade id), no more, no less."""
    trades = Counter(t["trade_id"] for t in (await system.venue())["trades"])
    recorded: Counter[str] = Counter()
    for symbol in names:
        for event in await system.events(symbol, "FillObserved"):
            recorded[event.data.trade_id] += 1  # type: ignore[union-attr]
    assert all(n == 1 for n in recorded.values()), recorded
    return set(recorded) == set(trades) and len(trades) >= 3
