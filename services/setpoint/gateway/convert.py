"""ccxt structures → Setpoint values (pure).

Numbers are read from the venue's raw strings in `info` when present (Binance REST and
user-data stream field names; OKX's `clOrdId` of a trade, which ccxt's okx leaves out of
the unified trade), else from ccxt's unified floats through `str()`, which
gives back the venue's decimal for any value with at most 15 significant digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from setpoint.core.events import Liquidity, OrderStatus
from setpoint.core.model import MarketInfo, MarketKind, OrderType, Side, TimeInForce
from setpoint.core.numeric import ZERO
from setpoint.core.reconcile import VenueFill, VenueOrder

_UNIFIED_STATUS = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def dec(value: Any) -> Decimal | None:
    """A Decimal from a venue string or a ccxt float; None for None or ''."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _raw(info: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = info.get(name)
        if value is not None and value != "":
            return value
    return None


def _first(info: Mapping[str, Any], unified: Any, *names: str) -> Decimal | None:
    return dec(_raw(info, *names)) if _raw(info, *names) is not None else dec(unified)


def _time(ms: Any) -> datetime | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def _status(raw: Mapping[str, Any], filled: Decimal) -> OrderStatus:
    info = raw.get("info") or {}
    venue = _raw(info, "X", "status")
    if venue in OrderStatus.__members__:
        return OrderStatus(venue)
    unified = str(raw.get("status") or "open")
    if unified in _UNIFIED_STATUS:
        return _UNIFIED_STATUS[unified]
    return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW


def _tif(value: Any) -> TimeInForce | None:
    text = str(value or "").upper()
    if text == "PO" or text == "GTX":
        return TimeInForce.GTC
    return TimeInForce(text) if text in TimeInForce.__members__ else None


def _client_order_id(raw: Mapping[str, Any], info: Mapping[str, Any]) -> str | None:
    """The order's own client id; a cancel's answer carries the cancel request's id in
    `clientOrderId` and the order's in `origClientOrderId` (REST) or `C` (stream)."""
    original = _raw(info, "origClientOrderId", "C")
    if original:
        return str(original)
    found = _raw(info, "c", "clientOrderId") or raw.get("clientOrderId")
    return None if found is None else str(found)


def to_order(raw: Mapping[str, Any]) -> VenueOrder:
    """A ccxt order (REST or stream) as a `VenueOrder`."""
    info: Mapping[str, Any] = raw.get("info") or {}
    filled = _first(info, raw.get("filled"), "z", "executedQty") or ZERO
    quantity = _first(info, raw.get("amount"), "q", "origQty")
    price = _first(info, raw.get("price"), "p", "price")
    kind = str(raw.get("type") or "limit").lower()
    return VenueOrder(
        order_id=str(raw.get("id") or _raw(info, "i", "orderId")),
        client_order_id=_client_order_id(raw, info),
        symbol=str(raw.get("symbol")),
        side=Side(str(raw.get("side")).lower()),
        type=OrderType.MARKET if kind == "market" else OrderType.LIMIT,
        time_in_force=_tif(raw.get("timeInForce")),
        price=price if price is not None and price > 0 else None,
        quantity=quantity if quantity is not None and quantity > 0 else filled or Decimal(1),
        filled=filled,
        status=_status(raw, filled),
        venue_time=_time(raw.get("lastUpdateTimestamp") or raw.get("timestamp")),
    )


def _liquidity(raw: Mapping[str, Any]) -> Liquidity:
    info = raw.get("info") or {}
    maker = raw.get("takerOrMaker") == "maker" or bool(_raw(info, "m", "isMaker", "maker"))
    return Liquidity.MAKER if maker else Liquidity.TAKER


def to_fill(raw: Mapping[str, Any]) -> VenueFill:
    """A ccxt trade of ours (fetch_my_trades or watch_my_trades) as a `VenueFill`."""
    info: Mapping[str, Any] = raw.get("info") or {}
    fee = raw.get("fee") or {}
    fee_cost = _first(info, fee.get("cost"), "n", "commission") or ZERO
    fee_currency = _raw(info, "N", "commissionAsset") or fee.get("currency") or ""
    return VenueFill(
        trade_id=str(raw.get("id") or _raw(info, "t", "id")),
        order_id=str(raw.get("order") or _raw(info, "i", "orderId")),
        client_order_id=raw.get("clientOrderId") or _raw(info, "c", "clOrdId"),
        symbol=str(raw.get("symbol")),
        side=Side(str(raw.get("side")).lower()),
        price=_first(info, raw.get("price"), "L", "price") or Decimal(1),
        quantity=_first(info, raw.get("amount"), "l", "qty") or Decimal(1),
        fee=fee_cost,
        fee_currency=str(fee_currency),
        liquidity=_liquidity(raw),
        traded_at=_time(raw.get("timestamp")),
    )


def _filter(info: Mapping[str, Any], kind: str, field: str) -> Decimal | None:
    for item in info.get("filters") or ():
        if item.get("filterType") == kind and item.get(field) is not None:
            return dec(item[field])
    return None


def to_market(raw: Mapping[str, Any]) -> MarketInfo:
    """A ccxt market as `MarketInfo`, filters from Binance's raw `filters` when present."""
    info: Mapping[str, Any] = raw.get("info") or {}
    precision = raw.get("precision") or {}
    limits = raw.get("limits") or {}
    tick = _filter(info, "PRICE_FILTER", "tickSize") or dec(precision.get("price"))
    step = _filter(info, "LOT_SIZE", "stepSize") or dec(precision.get("amount"))
    min_qty = _filter(info, "LOT_SIZE", "minQty") or dec((limits.get("amount") or {}).get("min"))
    min_notional = (
        _filter(info, "NOTIONAL", "minNotional")
        or _filter(info, "MIN_NOTIONAL", "minNotional")
        or _filter(info, "MIN_NOTIONAL", "notional")
        or dec((limits.get("cost") or {}).get("min"))
    )
    kind = str(raw.get("type") or "spot")
    return MarketInfo(
        symbol=str(raw["symbol"]),
        venue_symbol=str(raw["id"]),
        kind=MarketKind(kind) if kind in ("spot", "swap", "future") else MarketKind.SPOT,
        base=str(raw["base"]),
        quote=str(raw["quote"]),
        tick=tick or Decimal("0.00000001"),
        step=step or Decimal("0.00000001"),
        min_quantity=min_qty or ZERO,
        min_notional=min_notional or ZERO,
        contract_size=dec(raw.get("contractSize")) or Decimal(1),
    )
