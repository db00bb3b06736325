"""The gateway's venue access on both simulator dialects, with the real ccxt classes
(`ccxt.binance`, `ccxt.okx`) built as the gateway builds them (`venues.exchange`, the
venue's capabilities, its pacer): place, query, list, cancel with the venue's own client
id scheme, and the hedge-mode refusal at start."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from gateway_rig import account_config

from setpoint.config import SimConfig
from setpoint.core.errors import ConfigError
from setpoint.core.ids import client_order_id, parse_client_order_id
from setpoint.core.model import OrderType, Side, TimeInForce
from setpoint.core.reconcile import VenueOrder
from setpoint.gateway.venue import Venue
from setpoint.sim.testing import SimControl, running_simulator
from setpoint.venues.capabilities import capabilities
from setpoint.venues.commands import CancelCommand, PlaceCommand
from setpoint.venues.exchange import create_rest, credentials
from setpoint.venues.pacing import install
from setpoint.venues.ratelimit import Pacer

pytestmark = [pytest.mark.sim]

os.environ.setdefault("SETPOINT_IT_PASSPHRASE", "demo-passphrase")
ACCOUNT = "dialects"
DIALECTS = ("binance", "okx")


@pytest.fixture(params=DIALECTS)
async def venue(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Venue, SimControl]]:
    dialect = str(request.param)
    async with running_simulator(SimConfig(dialect=dialect)) as sim:  # type: ignore[arg-type]
        extra = {"passphrase": "env:SETPOINT_IT_PASSPHRASE"} if dialect == "okx" else {}
        config = account_config(sim.base_url, exchange=dialect, **extra)
        creds = credentials(config)
        rest = create_rest(config, creds, timeout_ms=2000)
        pacer = Pacer(capabilities(dialect).rate_model)
        install(rest, pacer)
        control = SimControl(sim.base_url)
        try:
            found = Venue(rest, creds.redactions, pacer=pacer)
            await found.load_markets()
            yield found, control
        finally:
            await control.close()
            await rest.close()


def bid(venue: Venue, intent: str, attempt: int = 1) -> PlaceCommand:
    scheme = venue.capabilities.id_scheme
    coid = client_order_id(ACCOUNT, "BTC/USDT", intent, attempt, scheme)
    return PlaceCommand(
        symbol="BTC/USDT", side=Side.BUY, type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC, price=Decimal("50000"),
        quantity=Decimal("0.001"), client_order_id=coid,
    )  # fmt: skip


async def test_place_query_list_cancel_with_the_venues_client_ids(
    venue: tuple[Venue, SimControl],
) -> None:
    gw, _ = venue
    command = bid(gw, "bid-1")
    assert gw.capabilities.rules.client_ids.allows(command.client_order_id)
    placed = await gw.place(command)
    assert placed.client_order_id == command.client_order_id
    parsed = parse_client_order_id(ACCOUNT, placed.client_order_id)
    assert parsed is not None
    assert parsed.attempt == 1
    queried = await gw.query("BTC/USDT", command.client_order_id)
    assert queried is not None
    assert queried.order_id == placed.order_id
    assert queried.price == Decimal("50000")
    assert queried.quantity == Decimal("0.001")
    listed = await gw.open_orders("BTC/USDT")
    assert [o.client_order_id for o in listed] == [command.client_order_id]
    cancel = CancelCommand(symbol="BTC/USDT", client_order_id=command.client_order_id)
    cancelled: VenueOrder = await gw.cancel(cancel)
    assert cancelled.order_id == placed.order_id
    assert await gw.open_orders("BTC/USDT") == []


async def test_a_net_account_is_let_through(venue: tuple[Venue, SimControl]) -> None:
    gw, _ = venue
    await gw.check_position_mode()


async def test_a_hedge_mode_account_is_refused_naming_the_setting(
    venue: tuple[Venue, SimControl],
) -> None:
    gw, control = venue
    await control.position_mode("long_short_mode")
    with pytest.raises(ConfigError) as refused:
        await gw.check_position_mode()
    text = str(refused.value)
    assert "hedge (long/short) position mode" in text
    assert gw.capabilities.rules.hedge_setting in text
    assert ("dualSidePosition" in text) or ("posMode=net_mode" in text)
