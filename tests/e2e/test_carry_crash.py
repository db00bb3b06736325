"""The carry's two legs stay balanced through crashes, every service its own process on
the simulator (nats-server, sim, gateway, executor, differ, strategy host).

The entry buys 0.1 BTC on spot in IOC steps of 0.01 and hedges each on the perpetual; the
exit sets a position of 0 on both legs at once (started by restarting the strategy with
`exit_funding` above the simulator's funding rate, as an operator would). In the middle
of the entry (after the second spot trade; the long variant: one more trade for each
kill, up to the last step) and in the middle of the exit (the spot bids
hold only part of the position), one service is SIGKILLed and started again. The proof is
the venue's own record (`GET /_sim/state`): spot bought exactly 0.1 (no order was sent
twice, no step bought past the quantity), the perpetual short exactly that, and once the
exit is done both legs are flat, every client order id used once.

Short variant per service in CI; `long`: the services killed in turn, three times in each
phase.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from system import ACCOUNT, System, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
QUANTITY, STEP = Decimal("0.1"), Decimal("0.01")


def strategy(exit_funding: str) -> str:
    return f"""
[strategies.carry-1]
kind = "carry"
account = "{ACCOUNT}"
symbol = "{SPOT}"
params = {{ quantity = "{QUANTITY}", step = "{STEP}", entry_funding = "0.00005", exit_funding = "{exit_funding}", cooldown_s = 0 }}
"""  # noqa: E501


@pytest.fixture
async def carry(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = System(
        tmp_path_factory.mktemp("e2e-carry-crash"),
        sim_extra=strategy("-1"),
        account={"account_state_interval_s": 0.5},
    )
    try:
        await running.up()
        for symbol, side in ((SPOT, "sell"), (PERP, "buy"), (PERP, "sell")):
            levels = {"symbol": symbol, "side": side, "levels": [["60000.00", "10"]]}
            await running.control("POST", "/_sim/liquidity", levels)
        await running.start("strategy")
        yield running
    finally:
        running.stop("strategy")
        await running.down()


async def legs(system: System) -> tuple[Decimal, Decimal]:
    """(spot executed, perpetual position) as the venue records them."""
    state = await system.venue()
    spot = sum(
        (Decimal(t["quantity"]) * (1 if t["side"] == "buy" else -1)
         for t in state["trades"] if t["symbol"] == SPOT),
        Decimal(0),
    )  # fmt: skip
    perp = state["positions"].get(PERP)
    return spot, Decimal(perp["quantity"]) if perp else Decimal(0)


async def spot_trades(system: System) -> int:
    return len([t for t in (await system.venue())["trades"] if t["symbol"] == SPOT])


async def restart(system: System, service: str) -> None:
    system.kill(service)
    await system.start(service)


async def entered(system: System) -> bool:
    spot, perp = await legs(system)
    assert spot <= QUANTITY, f"spot bought past the quantity: {spot}"
    assert -perp <= QUANTITY, f"over-hedged: {perp}"
    return (spot, perp) == (QUANTITY, -QUANTITY)


async def flat(system: System) -> bool:
    return await legs(system) == (0, 0)


async def assert_no_order_twice(system: System) -> None:
    ids = Counter(o["client_order_id"] for o in (await system.venue())["orders"])
    assert [i for i, n in ids.items() if n > 1] == []


async def start_exit(system: System, kill_strategy: bool) -> None:
    """Restart the strategy with an exit threshold above the funding rate."""
    system.config.write_text(system.config.read_text().replace('exit_funding = "-1"',
                                                               'exit_funding = "1"'))  # fmt: skip
    if kill_strategy:
        system.kill("strategy")
    else:
        system.stop("strategy")
    await system.start("strategy")


async def crash_in_both_phases(system: System, services: list[str]) -> None:
    last = int(QUANTITY / STEP) - 1
    for n, service in enumerate(services):
        await eventually(lambda n=n: _at_least(system, min(2 + n, last)), 60, "entry under way")
        await restart(system, service)
    await eventually(lambda: entered(system), 120, "both legs entered")
    await assert_no_order_twice(system)

    bids = {"symbol": SPOT, "side": "buy", "levels": [["60000.00", "0.03"]]}
    await system.control("POST", "/_sim/liquidity", bids)
    await start_exit(system, services[0] == "strategy")
    await eventually(lambda: _spot_below(system, QUANTITY), 60, "exit under way")
    for service in services:
        await restart(system, service)
    bids = {"symbol": SPOT, "side": "buy", "levels": [["60000.00", "10"]]}
    await system.control("POST", "/_sim/liquidity", bids)
    await eventually(lambda: flat(system), 120, "both legs flat")
    await assert_no_order_twice(system)


async def _at_least(system: System, trades: int) -> bool:
    return await spot_trades(system) >= trades


async def _spot_below(system: System, quantity: Decimal) -> bool:
    spot, _ = await legs(system)
    return spot < quantity


@pytest.mark.parametrize("service", ["strategy", "executor", "gateway"])
async def test_a_crash_mid_entry_and_mid_exit_leaves_the_legs_balanced(
    carry: System, service: str
) -> None:
    await crash_in_both_phases(carry, [service])


@pytest.mark.long
async def test_repeated_crashes_leave_the_legs_balanced(carry: System) -> None:
    await crash_in_both_phases(carry, ["strategy", "executor", "gateway"] * 3)
