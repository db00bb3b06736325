"""Two venues in one system: account `e2e` on a Binance-dialect simulator and account
`e2e-two` on an OKX-dialect one, one gateway process serving both, every service a process.

A carry across the venues: the spot leg on Binance, the perpetual leg on OKX. The test
plays the strategy (as the `carry` kind does on one venue): one spot IOC entry that meets
only 42% of its quantity in the book, then a perpetual target of minus the spot quantity
*executed*; the OKX account ends up short exactly that much, and nothing is placed twice.
A key's quantities are in the venue's unit: base units on Binance spot, contracts of
`contractSize` base units on an OKX swap (ccxt's market), so the hedge is the executed
base quantity divided by the perpetual's contract size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from system import ACCOUNT, SECOND, System, eventually
from test_convergence import order

from setpoint.venues.conformance import make_okx

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"


@pytest.fixture
async def venues(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = System(tmp_path_factory.mktemp("two-venues"), dialect="binance", second="okx")
    try:
        await running.up()
        yield running
    finally:
        await running.down()


async def spot_executed(system: System) -> Decimal:
    fills = await system.events(SPOT, "FillObserved")
    return sum((f.data.quantity for f in fills), Decimal(0))


async def perp_position(system: System) -> Decimal | None:
    """The OKX account's perpetual position in base units (the simulator's engine)."""
    position = (await system.venue(SECOND))["positions"].get(PERP)
    return Decimal(position["quantity"]) if position else None


async def contract_size(system: System) -> Decimal:
    """Base units per contract of the OKX perpetual, as ccxt reads the venue's market."""
    exchange = make_okx(system.base_urls[SECOND])
    try:
        markets = await exchange.load_markets()
    finally:
        await exchange.close()
    return Decimal(str(markets[PERP]["contractSize"]))


async def test_a_carry_across_two_venues_converges(venues: System) -> None:
    await venues.control(
        "POST", "/_sim/liquidity", {"symbol": SPOT, "side": "sell", "levels": [["60000", "0.42"]]}
    )
    await venues.control(
        "POST",
        "/_sim/liquidity",
        {"symbol": PERP, "side": "buy", "levels": [["60000", "10"]]},
        account=SECOND,
    )
    entry = order("carry.e1", "buy", "60300.00", "1.00000", time_in_force="IOC")
    await venues.target(SPOT, [entry])
    executed = await eventually(
        lambda: _settled(venues), what="the spot IOC's fills on the Binance account"
    )
    assert executed == Decimal("0.42")

    contracts = executed / await contract_size(venues)
    await venues.target(PERP, [], position=str(-contracts), account=SECOND)

    async def hedged() -> bool:
        position = await perp_position(venues)
        assert position is None or position >= -executed, f"over-hedged: {position}"
        return position == -executed

    await eventually(hedged, within=60, what="a perp position of -0.42 on the OKX account")
    spot_orders = [o for o in (await venues.venue())["orders"] if o["symbol"] == SPOT]
    assert len(spot_orders) == 1  # one IOC entry, never placed again for the missing 58%
    assert (await venues.venue(SECOND))["positions"].get(SPOT) is None
    assert not [o for o in (await venues.venue())["orders"] if o["symbol"] == PERP]
    perp_fills = await venues.events(PERP, "FillObserved", account=SECOND)
    assert sum(f.data.quantity for f in perp_fills) == contracts
    assert await venues.events(PERP, "FillObserved", account=ACCOUNT) == []
    for service in ("gateway", "executor", "differ"):
        assert (await venues.health(service))["ready"] is True


async def _settled(system: System) -> Decimal | None:
    """The spot quantity executed, once the IOC is no longer open at the venue."""
    if await system.open_orders(SPOT):
        return None
    executed = await spot_executed(system)
    return executed or None
