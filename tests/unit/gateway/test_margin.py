"""ccxt's futures account and position answers → MarginObservedData (gateway.margin)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from setpoint.core.events import SymbolMark
from setpoint.gateway.margin import margin_data

PERP = "BTC/USDT:USDT"
KNOWN = {PERP: object(), "BTC/USDT": object()}
ACCOUNT = {
    "info": {
        "totalWalletBalance": "1000.5", "totalMarginBalance": "990.5",
        "totalUnrealizedProfit": "-10", "totalInitialMargin": "30",
        "totalMaintMargin": "2.4", "availableBalance": "960.5",
    }
}  # fmt: skip


def row(symbol: str, amount: str, **info: str) -> dict[str, Any]:
    fields = {"positionAmt": amount, "entryPrice": "60000", "markPrice": "59000",
              "unRealizedProfit": "-10", "leverage": "20", "liquidationPrice": "0"}  # fmt: skip
    return {"symbol": symbol, "info": fields | info}


def test_totals_positions_and_marks() -> None:
    marks = {"BTC/USDT": Decimal("59010"), "ETH/USDT": Decimal(0)}
    data = margin_data(ACCOUNT, [row(PERP, "0.01", liquidationPrice="1.5")], KNOWN, marks)
    assert (data.asset, data.wallet_balance, data.margin_balance) == ("USDT", Decimal("1000.5"),
                                                                      Decimal("990.5"))  # fmt: skip
    assert (data.initial_margin, data.maintenance_margin, data.available_margin) == (
        30, Decimal("2.4"), Decimal("960.5"),
    )  # fmt: skip
    [position] = data.positions
    assert (position.quantity, position.entry_price, position.mark_price) == (
        Decimal("0.01"), 60000, 59000,
    )  # fmt: skip
    assert (position.leverage, position.liquidation_price) == (20, Decimal("1.5"))
    assert data.marks == (SymbolMark(symbol="BTC/USDT", price=Decimal("59010")),)


def test_flat_and_unknown_positions_are_left_out_and_zero_liquidation_is_none() -> None:
    rows = [row(PERP, "0"), row("XRP/USDT:USDT", "5"), row(PERP, "-1")]
    [position] = margin_data(ACCOUNT, rows, KNOWN, {}).positions
    assert (position.quantity, position.liquidation_price) == (-1, None)


@pytest.mark.parametrize(
    ("account", "rows", "message"),
    [
        ({"info": {}}, [], "totalWalletBalance: not a decimal \\(None\\)"),
        ({"info": ACCOUNT["info"] | {"totalMaintMargin": "lots"}}, [], "totalMaintMargin"),
        ({"info": ACCOUNT["info"] | {"availableBalance": "NaN"}}, [], "availableBalance"),
        (ACCOUNT, [row(PERP, "one")], "positionAmt: not a decimal \\('one'\\)"),
        (ACCOUNT, [row(PERP, "1", unRealizedProfit="")], "unRealizedProfit"),
    ],
)
def test_a_malformed_answer_is_refused_naming_the_field(
    account: dict[str, Any], rows: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        margin_data(account, rows, KNOWN, {})
