"""Binance's JSON shapes for the simulator's values (spot `/api/v3` and USD-M `/fapi`).

Every field ccxt 4.5 reads is present, and the ones it uses to tell spot from contract
apart are exactly where Binance puts them: spot orders carry no `positionSide`/`cumQuote`,
futures orders do; spot trades carry `isMaker`, futures trades `maker`; futures balances
carry a non-zero `updateTime` (ccxt skips entries whose updateTime is 0).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from setpoint.core.model import Side
from setpoint.sim.engine import Engine
from setpoint.sim.ledger import maintenance
from setpoint.sim.markets import SimMarket
from setpoint.sim.orders import Order, OrderKind, Trade
from setpoint.sim.snapshot import dec

PERPETUAL_DELIVERY_MS = 4133404800000


def spot_dec(value: Decimal) -> str:
    """Spot's fixed eight decimals ("60000.00000000")."""
    return f"{value + 0:.8f}"


def ms(micros: int) -> int:
    return micros // 1000


def _type(order: Order) -> str:
    return order.kind.value


def spot_order(market: SimMarket, order: Order) -> dict[str, Any]:
    """GET /api/v3/order, openOrders, allOrders."""
    return {
        "symbol": market.venue_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": spot_dec(order.price or Decimal(0)),
        "origQty": spot_dec(order.quantity),
        "executedQty": spot_dec(order.filled),
        "cummulativeQuoteQty": spot_dec(order.cum_quote),
        "status": order.status.value,
        "timeInForce": order.tif.value,
        "type": _type(order),
        "side": order.side.value.upper(),
        "stopPrice": spot_dec(Decimal(0)),
        "icebergQty": spot_dec(Decimal(0)),
        "time": ms(order.created_us),
        "updateTime": ms(order.updated_us),
        "isWorking": order.kind is not OrderKind.MARKET,
        "workingTime": ms(order.created_us),
        "origQuoteOrderQty": spot_dec(Decimal(0)),
        "selfTradePreventionMode": "NONE",
    }


def spot_order_ack(market: SimMarket, order: Order, trades: list[Trade]) -> dict[str, Any]:
    """POST /api/v3/order with newOrderRespType FULL: the order and its fills."""
    body = spot_order(market, order)
    for name in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking"):
        body.pop(name)
    body["transactTime"] = ms(order.updated_us)
    body["fills"] = [
        {
            "price": spot_dec(t.price),
            "qty": spot_dec(t.quantity),
            "commission": spot_dec(t.fee),
            "commissionAsset": t.fee_asset,
            "tradeId": t.trade_id,
        }
        for t in trades
    ]
    return body


def spot_cancel(market: SimMarket, order: Order, cancel_client_id: str) -> dict[str, Any]:
    """DELETE /api/v3/order: Binance echoes the cancel request's own client id as
    `clientOrderId` and the order's as `origClientOrderId`."""
    body = spot_order(market, order)
    for name in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking", "workingTime"):
        body.pop(name)
    body["origClientOrderId"] = order.client_order_id
    body["clientOrderId"] = cancel_client_id
    body["transactTime"] = ms(order.updated_us)
    return body


def futures_order(market: SimMarket, order: Order) -> dict[str, Any]:
    """GET/POST/DELETE /fapi/v1/order and openOrders."""
    return {
        "orderId": order.order_id,
        "symbol": market.venue_id,
        "status": order.status.value,
        "clientOrderId": order.client_order_id,
        "price": dec(order.price or Decimal(0)),
        "avgPrice": dec(order.average),
        "origQty": dec(order.quantity),
        "executedQty": dec(order.filled),
        "cumQty": dec(order.filled),
        "cumQuote": dec(order.cum_quote),
        "timeInForce": order.tif.value,
        "type": _type(order),
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": order.side.value.upper(),
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": _type(order),
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "time": ms(order.created_us),
        "updateTime": ms(order.updated_us),
    }


def spot_trade(market: SimMarket, trade: Trade) -> dict[str, Any]:
    """GET /api/v3/myTrades."""
    return {
        "symbol": market.venue_id,
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "orderListId": -1,
        "price": spot_dec(trade.price),
        "qty": spot_dec(trade.quantity),
        "quoteQty": spot_dec(trade.quote_quantity),
        "commission": spot_dec(trade.fee),
        "commissionAsset": trade.fee_asset,
        "time": ms(trade.time_us),
        "isBuyer": trade.side is Side.BUY,
        "isMaker": trade.maker,
        "isBestMatch": True,
    }


def futures_trade(market: SimMarket, trade: Trade) -> dict[str, Any]:
    """GET /fapi/v1/userTrades."""
    return {
        "buyer": trade.side is Side.BUY,
        "commission": dec(trade.fee),
        "commissionAsset": trade.fee_asset,
        "id": trade.trade_id,
        "maker": trade.maker,
        "orderId": trade.order_id,
        "price": dec(trade.price),
        "qty": dec(trade.quantity),
        "quoteQty": dec(trade.quote_quantity),
        "realizedPnl": dec(trade.realized_pnl),
        "side": trade.side.value.upper(),
        "positionSide": "BOTH",
        "symbol": market.venue_id,
        "time": ms(trade.time_us),
    }


def spot_account(
    engine: Engine, fees_maker: Decimal, fees_taker: Decimal, now_ms: int
) -> dict[str, Any]:
    """GET /api/v3/account."""
    return {
        "makerCommission": int(fees_maker * 10000),
        "takerCommission": int(fees_taker * 10000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": spot_dec(fees_maker),
            "taker": spot_dec(fees_taker),
            "buyer": spot_dec(Decimal(0)),
            "seller": spot_dec(Decimal(0)),
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": now_ms,
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": spot_dec(b.free), "locked": spot_dec(b.locked)}
            for asset, b in engine.spot.snapshot().items()
        ],
        "permissions": ["SPOT"],
        "uid": 1,
    }


def _asset_row(engine: Engine, asset: str, now_ms: int) -> dict[str, Any]:
    wallet = engine.margin.wallet.get(asset, Decimal(0))
    unrealized = engine.unrealized(asset)
    position_margin = engine.position_margin(asset)
    order_margin = engine.order_margin(asset)
    available = engine.margin_available(asset)
    return {
        "asset": asset,
        "walletBalance": dec(wallet),
        "unrealizedProfit": dec(unrealized),
        "marginBalance": dec(wallet + unrealized),
        "maintMargin": dec(engine.ledger.maintenance_margin(asset)),
        "initialMargin": dec(position_margin + order_margin),
        "positionInitialMargin": dec(position_margin),
        "openOrderInitialMargin": dec(order_margin),
        "crossWalletBalance": dec(wallet),
        "crossUnPnl": dec(unrealized),
        "availableBalance": dec(available),
        "maxWithdrawAmount": dec(max(available, Decimal(0))),
        "marginAvailable": True,
        "updateTime": engine.margin.updated_us.get(asset, 0) // 1000 or now_ms,
    }


def position_row(engine: Engine, market: SimMarket, now_ms: int) -> dict[str, Any]:
    """One net-mode position as GET /fapi/v3/positionRisk gives it."""
    position = engine.margin.position(market.symbol)
    mark = engine.last_price(market.symbol)
    notional = position.quantity * mark
    leverage = engine.margin.leverage_of(market.symbol)
    initial = abs(notional) / leverage
    return {
        "symbol": market.venue_id,
        "positionSide": "BOTH",
        "positionAmt": dec(position.quantity),
        "entryPrice": dec(position.entry_price),
        "breakEvenPrice": dec(position.entry_price),
        "markPrice": dec(mark),
        "unRealizedProfit": dec(position.unrealized(mark)),
        "liquidationPrice": dec(engine.ledger.liquidation_price(market.symbol)),
        "isolatedMargin": "0",
        "notional": dec(notional),
        "marginAsset": market.quote,
        "isolatedWallet": "0",
        "initialMargin": dec(initial),
        "maintMargin": dec(maintenance(abs(notional))),
        "positionInitialMargin": dec(initial),
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": engine.margin.updated_us.get(market.symbol, 0) // 1000 or now_ms,
    }


def futures_account(engine: Engine, now_ms: int) -> dict[str, Any]:
    """GET /fapi/v3/account (and /fapi/v2/account): assets and open positions."""
    assets = [_asset_row(engine, asset, now_ms) for asset in sorted(engine.margin.wallet)]
    total = {
        name: dec(sum((Decimal(a[field]) for a in assets), Decimal(0)))
        for name, field in (
            ("totalInitialMargin", "initialMargin"),
            ("totalMaintMargin", "maintMargin"),
            ("totalWalletBalance", "walletBalance"),
            ("totalUnrealizedProfit", "unrealizedProfit"),
            ("totalMarginBalance", "marginBalance"),
            ("totalPositionInitialMargin", "positionInitialMargin"),
            ("totalOpenOrderInitialMargin", "openOrderInitialMargin"),
            ("totalCrossWalletBalance", "crossWalletBalance"),
            ("totalCrossUnPnl", "crossUnPnl"),
            ("availableBalance", "availableBalance"),
            ("maxWithdrawAmount", "maxWithdrawAmount"),
        )
    }
    positions = [
        position_row(engine, m, now_ms)
        for m in engine.markets.all
        if m.is_perp and engine.margin.position(m.symbol).quantity != 0
    ]
    return {**total, "assets": assets, "positions": positions}


def futures_balances(engine: Engine, now_ms: int) -> list[dict[str, Any]]:
    """GET /fapi/v2/balance, /fapi/v3/balance."""
    rows = []
    for asset in sorted(engine.margin.wallet):
        row = _asset_row(engine, asset, now_ms)
        rows.append(
            {
                "accountAlias": "SgsR",
                "asset": asset,
                "balance": row["walletBalance"],
                "crossWalletBalance": row["crossWalletBalance"],
                "crossUnPnl": row["crossUnPnl"],
                "availableBalance": row["availableBalance"],
                "maxWithdrawAmount": row["maxWithdrawAmount"],
                "marginAvailable": True,
                "updateTime": row["updateTime"],
            }
        )
    return rows
