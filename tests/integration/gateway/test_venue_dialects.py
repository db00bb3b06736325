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
from setpoint.gateway.deadman import DeadManSwitch, supported
from setpoint.gateway.venue import Venue, VenueError
from setpoint.sim.testing import SimControl, running_simulator
from setpoint.venues.capabilities import AmendStyle, capabilities
from setpoint.venues.commands import AmendCommand, CancelCommand, PlaceCommand
from setpoint.venues.errors import Outcome
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


# ------------------------------------------------------------------ native amend


def amend_of(gw: Venue, placed: VenueOrder, remaining: str, filled: str) -> AmendCommand:
    scheme = gw.capabilities.id_scheme
    return AmendCommand(
        symbol=placed.symbol, order_id=placed.order_id,
        client_order_id=str(placed.client_order_id),
        new_client_order_id=client_order_id(ACCOUNT, placed.symbol, "bid-1", 2, scheme),
        side=Side.BUY, price=Decimal("49900"), remaining=Decimal(remaining),
        filled=Decimal(filled),
    )  # fmt: skip


async def place_two_fill_one(gw: Venue, control: SimControl, symbol: str) -> VenueOrder:
    command = bid(gw, "bid-1").model_copy(update={"symbol": symbol, "quantity": Decimal("0.002")})
    placed = await gw.place(command)
    await control.fill(client_order_id=command.client_order_id, quantity="0.001")
    return placed


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
async def test_an_amend_leaves_what_the_intent_still_wants_open(
    venue: tuple[Venue, SimControl], symbol: str
) -> None:
    """Intent 0.002, the order filled 0.001: 0.001 stays open at the new price, whatever
    the venue's amend (in place with the total 0.002, or a replace of 0.001)."""
    gw, control = venue
    if symbol not in gw.markets or gw.markets[symbol].contract_size != 1:
        pytest.skip("sizes in contracts of another size: not this scenario")
    placed = await place_two_fill_one(gw, control, symbol)
    style = gw.amend_style(symbol)
    amended = await gw.amend(amend_of(gw, placed, remaining="0.001", filled="0.001"))
    assert amended.order.price == Decimal("49900")
    assert amended.order.quantity - amended.order.filled == Decimal("0.001")
    if style is AmendStyle.IN_PLACE:  # the same order, the same client id
        assert amended.order.order_id == placed.order_id
        assert amended.order.client_order_id == placed.client_order_id
        assert amended.replaced is None
    else:  # a new order under the next attempt's id; the old one cancelled, its fill kept
        assert style is AmendStyle.REPLACE
        parsed = parse_client_order_id(ACCOUNT, amended.order.client_order_id)
        assert parsed is not None
        assert parsed.attempt == 2
        assert amended.replaced is not None
        assert amended.replaced.filled == Decimal("0.001")
        assert not amended.replaced.status.is_open
    listed = await gw.open_orders(symbol)
    assert [o.order_id for o in listed] == [amended.order.order_id]


async def test_an_in_place_amend_counts_a_fill_that_raced_it(
    venue: tuple[Venue, SimControl],
) -> None:
    """Decided before the fill (remaining 0.002, filled 0): the venue is sent the total
    0.002, so the fill that came first is not placed again (never an over-fill)."""
    gw, control = venue
    symbol = next(
        s for s in ("BTC/USDT", "BTC/USDT:USDT") if gw.amend_style(s) is AmendStyle.IN_PLACE
    )
    if gw.markets[symbol].contract_size != 1:
        pytest.skip("sizes in contracts of another size: not this scenario")
    placed = await place_two_fill_one(gw, control, symbol)
    amended = await gw.amend(amend_of(gw, placed, remaining="0.002", filled="0"))
    assert amended.order.quantity == Decimal("0.002")
    assert amended.order.filled == Decimal("0.001")


async def test_a_replace_decided_before_a_fill_is_refused_never_over_filled(
    venue: tuple[Venue, SimControl],
) -> None:
    """A replace decided while the order had filled nothing (filled 0) is sent "cancel
    only an unfilled order": the fill that came first makes the venue refuse it (the
    caller falls back to cancel-then-place), rather than place 0.002 again."""
    gw, control = venue
    if gw.amend_style("BTC/USDT") is not AmendStyle.REPLACE:
        pytest.skip("no replace-style amend on this dialect")
    placed = await place_two_fill_one(gw, control, "BTC/USDT")
    with pytest.raises(VenueError) as refused:
        await gw.amend(amend_of(gw, placed, remaining="0.002", filled="0"))
    assert refused.value.outcome is Outcome.REJECTED
    listed = await gw.open_orders("BTC/USDT")
    assert [(o.order_id, o.quantity, o.filled) for o in listed] == [
        (placed.order_id, Decimal("0.002"), Decimal("0.001"))
    ]


async def test_an_amend_the_venue_refuses_raises_for_the_fallback(
    venue: tuple[Venue, SimControl],
) -> None:
    gw, _ = venue
    placed = await gw.place(bid(gw, "bid-1"))
    cancel = CancelCommand(symbol="BTC/USDT", client_order_id=str(placed.client_order_id))
    await gw.cancel(cancel)
    with pytest.raises(VenueError) as refused:
        await gw.amend(amend_of(gw, placed, remaining="0.001", filled="0"))
    assert refused.value.outcome in (Outcome.NOT_FOUND, Outcome.REJECTED)


async def test_a_fill_names_its_order(venue: tuple[Venue, SimControl]) -> None:
    """By venue id everywhere; OKX's trades also carry the client id (Binance's
    myTrades do not)."""
    gw, control = venue
    placed = await place_two_fill_one(gw, control, "BTC/USDT")
    (fill,) = await gw.fills("BTC/USDT", None)
    expected = None if gw.rest.id == "binance" else placed.client_order_id
    assert fill.client_order_id == expected
    assert fill.order_id == placed.order_id
    assert fill.quantity == Decimal("0.001")


async def test_the_dead_man_switch_is_the_venues_own(venue: tuple[Venue, SimControl]) -> None:
    """Binance USD-M: one timer per derivative symbol; OKX: one for the account (its
    countdown brought within the 10 to 120 s OKX accepts). Armed through the real ccxt."""
    gw, control = venue
    rule = gw.capabilities.rules.dead_man
    assert rule is not None
    assert supported(gw.rest, rule)
    symbols = ["BTC/USDT", "BTC/USDT:USDT"]
    switch = DeadManSwitch(gw, lambda: symbols, 5, ACCOUNT, rule)
    await switch.renew()
    assert switch.failing == {}
    armed = set((await control.state())["countdowns"])
    if rule.per_symbol:
        assert (armed, switch.countdown_ms) == ({"BTC/USDT:USDT"}, 5000)
    else:
        assert (armed, switch.countdown_ms) == ({"*"}, 10_000)
    symbols.clear()  # nothing in scope: nothing more is armed
    assert switch.timers() == {}
