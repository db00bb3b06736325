"""The USD-M margin account and the dead-man switch through the real ccxt binance.

What ccxt parses from the simulator's answers: `fetch_balance({"type": "future"})`
(/fapi/v3/account), `fetch_positions` (/fapi/v3/positionRisk, and /fapi/v2/positionRisk
with `useV2`, which carries the leverage) and `fapiPrivatePostCountdownCancelAll`.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from setpoint.sim.testing import SimControl

pytestmark = pytest.mark.sim
PERP = "BTC/USDT:USDT"


async def _short_one_btc(binance: Any, control: SimControl) -> None:
    """Short 1 BTC at 60000 (maker fee 12 USDT), then the mark moves to 60010."""
    await binance.create_order(PERP, "limit", "sell", 1, 60000)
    await control.price(PERP, "60010")


async def test_futures_account_figures_as_ccxt_reads_them(
    binance: Any, control: SimControl
) -> None:
    await _short_one_btc(binance, control)
    await binance.create_order(PERP, "limit", "buy", 0.1, 50000)  # open order margin 250
    balance = await binance.fetch_balance({"type": "future"})
    info = balance["info"]
    wallet = Decimal("100000") - Decimal("12")
    upnl = Decimal("-10")
    maint = Decimal("60010") * Decimal("0.005") - 50  # second bracket: above 50000 notional
    initial = Decimal("60010") / 20 + Decimal("5000") / 20
    assert Decimal(info["totalWalletBalance"]) == wallet
    assert Decimal(info["totalUnrealizedProfit"]) == upnl
    assert Decimal(info["totalMarginBalance"]) == wallet + upnl
    assert Decimal(info["totalMaintMargin"]) == maint
    assert Decimal(info["totalInitialMargin"]) == initial
    assert Decimal(info["availableBalance"]) == wallet + upnl - initial
    assert balance["USDT"]["total"] == pytest.approx(float(wallet + upnl))
    assert balance["USDT"]["free"] == pytest.approx(float(wallet + upnl - initial))


async def test_positions_carry_mark_pnl_leverage_and_liquidation_price(
    binance: Any, control: SimControl
) -> None:
    await _short_one_btc(binance, control)
    wallet = Decimal("99988")
    liquidation = ((wallet + 50 + 60000) / Decimal("1.005")).quantize(Decimal("0.01"))
    [v3] = await binance.fetch_positions([PERP])
    [v2] = await binance.fetch_positions([PERP], {"useV2": True})
    for position in (v3, v2):
        assert position["side"] == "short"
        assert position["contracts"] == 1
        assert position["entryPrice"] == 60000
        assert position["markPrice"] == 60010
        assert position["unrealizedPnl"] == -10
        assert position["liquidationPrice"] == pytest.approx(float(liquidation))
    assert v2["leverage"] == 20
    assert Decimal(v3["info"]["maintMargin"]) == Decimal("60010") * Decimal("0.005") - 50
    # ccxt's own `maintenanceMargin` is rate x notional from the brackets (no `cum`): 300.05
    assert v3["maintenanceMarginPercentage"] == 0.005


async def test_long_without_risk_of_liquidation_has_no_liquidation_price(
    binance: Any, control: SimControl
) -> None:
    await binance.create_order(PERP, "limit", "buy", 0.1, 60000)
    await control.price(PERP, "59990")
    [position] = await binance.fetch_positions([PERP])
    assert position["side"] == "long"
    assert position["liquidationPrice"] is None  # "0" on the wire: ccxt omits it


async def _open_orders(binance: Any) -> list[Any]:
    orders: list[Any] = await binance.fetch_open_orders(PERP)
    return orders


async def test_countdown_cancels_the_symbols_orders_unless_renewed(
    binance: Any, control: SimControl
) -> None:
    await binance.create_order(PERP, "limit", "buy", 0.01, 50000, {"clientOrderId": "dms-1"})
    answer = await binance.fapiPrivatePostCountdownCancelAll(
        {"symbol": "BTCUSDT", "countdownTime": 300}
    )
    assert answer == {"symbol": "BTCUSDT", "countdownTime": "300"}
    assert PERP in (await control.state())["countdowns"]
    deadline = time.monotonic() + 10
    while await _open_orders(binance):
        assert time.monotonic() < deadline, "the switch did not cancel"
        await asyncio.sleep(0.05)
    assert (await binance.fetch_order(None, PERP, {"origClientOrderId": "dms-1"}))[
        "status"
    ] == "canceled"
    assert (await control.state())["countdowns"] == {}


async def test_countdown_zero_disarms(binance: Any, control: SimControl) -> None:
    await binance.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 60000})
    assert PERP in (await control.state())["countdowns"]
    await binance.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 0})
    assert (await control.state())["countdowns"] == {}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"symbol": "BTCUSDT"}, "Mandatory parameter 'countdownTime'"),
        ({"symbol": "BTCUSDT", "countdownTime": "soon"}, "parameter 'countdownTime'"),
        ({"symbol": "BTCUSDT", "countdownTime": -5}, "parameter 'countdownTime'"),
        ({"countdownTime": 1000}, "Mandatory parameter 'symbol'"),
        ({"symbol": "NOPEUSDT", "countdownTime": 1000}, "Invalid symbol"),
    ],
)
async def test_countdown_refuses_malformed_requests(
    binance: Any, params: dict[str, Any], message: str
) -> None:
    import ccxt

    with pytest.raises(ccxt.BaseError, match=message):
        await binance.fapiPrivatePostCountdownCancelAll(params)
