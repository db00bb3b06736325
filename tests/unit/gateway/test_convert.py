"""ccxt structures → Setpoint values: raw venue strings win over ccxt's floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from setpoint.core.events import Liquidity, OrderStatus
from setpoint.core.model import MarketKind, OrderType, Side, TimeInForce
from setpoint.gateway.convert import dec, to_fill, to_market, to_order

REST_ORDER: dict[str, Any] = {
    "id": "7", "clientOrderId": "sp-abc-1", "symbol": "BTC/USDT", "side": "buy",
    "type": "limit", "timeInForce": "GTC", "price": 59000.1, "amount": 0.01, "filled": 0.004,
    "status": "open", "timestamp": 1_700_000_000_000,
    "info": {"orderId": 7, "clientOrderId": "sp-abc-1", "price": "59000.10000000",
             "origQty": "0.01000000", "executedQty": "0.00400000",
             "status": "PARTIALLY_FILLED"},
}  # fmt: skip


def test_order_from_rest_uses_raw_strings() -> None:
    order = to_order(REST_ORDER)
    assert order.price == Decimal("59000.1")
    assert order.quantity == Decimal("0.01")
    assert order.filled == Decimal("0.004")
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert (order.side, order.type, order.time_in_force) == (
        Side.BUY, OrderType.LIMIT, TimeInForce.GTC
    )  # fmt: skip


def test_cancel_answer_keeps_the_orders_own_client_id() -> None:
    raw = {**REST_ORDER, "clientOrderId": "cancel-9",
           "info": {**REST_ORDER["info"], "clientOrderId": "cancel-9",
                    "origClientOrderId": "sp-abc-1", "status": "CANCELED"}}  # fmt: skip
    order = to_order(raw)
    assert order.client_order_id == "sp-abc-1"
    assert order.status is OrderStatus.CANCELED


def test_order_from_stream_fields() -> None:
    raw = {"id": "8", "clientOrderId": "x", "symbol": "BTC/USDT", "side": "sell",
           "type": "limit", "price": 1.0, "amount": 1.0, "filled": 0.0, "status": "closed",
           "info": {"c": "cancel-1", "C": "sp-abc-2", "p": "61000.00", "q": "0.5",
                    "z": "0.5", "X": "FILLED"}}  # fmt: skip
    order = to_order(raw)
    assert order.client_order_id == "sp-abc-2"
    assert (order.price, order.quantity, order.filled) == (
        Decimal("61000"), Decimal("0.5"), Decimal("0.5")
    )  # fmt: skip
    assert order.status is OrderStatus.FILLED


def test_unified_status_when_no_raw_status() -> None:
    raw = {**REST_ORDER, "status": "canceled", "info": {}}
    assert to_order(raw).status is OrderStatus.CANCELED
    assert to_order({**REST_ORDER, "status": "open", "filled": 0.0, "info": {}}).status is (
        OrderStatus.NEW
    )


def test_fill_from_stream_and_rest() -> None:
    stream = {"id": "3", "order": "7", "symbol": "BTC/USDT", "side": "buy", "price": 1.0,
              "amount": 1.0, "takerOrMaker": "maker", "timestamp": 1_700_000_000_000,
              "info": {"c": "sp-abc-1", "L": "59000.10", "l": "0.004", "n": "0.047",
                       "N": "USDT", "m": True}}  # fmt: skip
    fill = to_fill(stream)
    assert (fill.client_order_id, fill.price, fill.quantity, fill.fee) == (
        "sp-abc-1", Decimal("59000.10"), Decimal("0.004"), Decimal("0.047")
    )  # fmt: skip
    assert fill.liquidity is Liquidity.MAKER
    rest = {"id": "4", "order": "7", "symbol": "BTC/USDT", "side": "sell", "price": 2.5,
            "amount": 0.1, "fee": {"cost": 0.01, "currency": "USDT"},
            "info": {"price": "2.50", "qty": "0.100", "commission": "0.01",
                     "commissionAsset": "USDT", "isMaker": False}}  # fmt: skip
    fill = to_fill(rest)
    assert fill.client_order_id is None
    assert (fill.price, fill.quantity, fill.liquidity) == (
        Decimal("2.50"), Decimal("0.100"), Liquidity.TAKER
    )  # fmt: skip


def test_market_filters_from_raw_binance_filters() -> None:
    raw = {"symbol": "ETH/USDT", "id": "ETHUSDT", "type": "spot", "base": "ETH",
           "quote": "USDT", "precision": {"price": 0.1, "amount": 0.1},
           "info": {"filters": [
               {"filterType": "PRICE_FILTER", "tickSize": "0.01000000"},
               {"filterType": "LOT_SIZE", "stepSize": "0.00010000", "minQty": "0.00010000"},
               {"filterType": "NOTIONAL", "minNotional": "5.00000000"}]}}  # fmt: skip
    market = to_market(raw)
    assert (market.tick, market.step, market.min_notional) == (
        Decimal("0.01"), Decimal("0.0001"), Decimal("5")
    )  # fmt: skip
    assert market.kind is MarketKind.SPOT


def test_dec() -> None:
    assert dec(None) is None
    assert dec("") is None
    assert dec(0.1) == Decimal("0.1")
    assert dec("1.50") == Decimal("1.50")
