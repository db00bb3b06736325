"""The futures wallet's state from ccxt's answers → `MarginObservedData` (pure).

`margin_data` reads Binance's raw fields (ccxt keeps them in `info`): the account totals
of `fetch_balance({"type": "future"})` (GET /fapi/v3/account: `totalWalletBalance`,
`totalMarginBalance`, `totalUnrealizedProfit`, `totalInitialMargin`, `totalMaintMargin`,
`availableBalance`, in the margin asset USDT) and the rows of
`fetch_positions(None, {"useV2": True})` (GET /fapi/v2/positionRisk, which carries the
leverage: `positionAmt`, `entryPrice`, `markPrice`, `unRealizedProfit`, `leverage`,
`liquidationPrice`); flat positions and symbols outside the loaded markets are left out.
A missing or malformed total raises `ValueError` naming the field: such an answer is not
recorded as a fact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from setpoint.core.events import MarginObservedData, MarginPosition, SymbolMark
from setpoint.core.numeric import ZERO

MARGIN_ASSET = "USDT"
_TOTALS = {
    "wallet_balance": "totalWalletBalance",
    "margin_balance": "totalMarginBalance",
    "unrealized_pnl": "totalUnrealizedProfit",
    "initial_margin": "totalInitialMargin",
    "maintenance_margin": "totalMaintMargin",
    "available_margin": "availableBalance",
}


def _number(row: Mapping[str, Any], name: str) -> Decimal:
    raw = row.get(name)
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValueError(f"{name}: not a decimal ({raw!r})") from None
    if raw is None or not value.is_finite():
        raise ValueError(f"{name}: not a decimal ({raw!r})")
    return value


def _positive_or_none(row: Mapping[str, Any], name: str) -> Decimal | None:
    if row.get(name) in (None, ""):
        return None
    value = _number(row, name)
    return value if value > 0 else None


def _position(symbol: str, info: Mapping[str, Any]) -> MarginPosition:
    leverage = info.get("leverage")
    return MarginPosition(
        symbol=symbol,
        quantity=_number(info, "positionAmt"),
        entry_price=_positive_or_none(info, "entryPrice"),
        mark_price=_positive_or_none(info, "markPrice"),
        unrealized_pnl=_number(info, "unRealizedProfit"),
        leverage=int(leverage) if leverage not in (None, "", "0") else None,
        liquidation_price=_positive_or_none(info, "liquidationPrice"),
    )


def margin_data(
    balance: Mapping[str, Any],
    positions: Sequence[Mapping[str, Any]],
    known: Mapping[str, Any],
    marks: Mapping[str, Decimal],
) -> MarginObservedData:
    """The fact from ccxt's `fetch_balance` and `fetch_positions` answers (module
    docstring); `known`: the loaded markets by unified symbol; `marks`: last prices."""
    info = balance.get("info") or {}
    totals = {field: _number(info, name) for field, name in _TOTALS.items()}
    rows = []
    for raw in positions:
        symbol = raw.get("symbol")
        row = raw.get("info") or {}
        if symbol in known and _number(row, "positionAmt") != ZERO:
            rows.append(_position(str(symbol), row))
    return MarginObservedData(
        asset=MARGIN_ASSET,
        initial_margin=max(totals.pop("initial_margin"), ZERO),
        maintenance_margin=max(totals.pop("maintenance_margin"), ZERO),
        positions=tuple(sorted(rows, key=lambda p: p.symbol)),
        marks=tuple(SymbolMark(symbol=s, price=p) for s, p in sorted(marks.items()) if p > 0),
        **totals,
    )
