"""Public market data in Binance's shapes: exchangeInfo, tickers, book ticker, depth,
premium index (funding). Spot and USD-M differ where Binance's do (`contractType`,
`marginAsset`, filter names, `orderTypes`, `timeInForce`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from setpoint.core.model import Side
from setpoint.sim.engine import Engine
from setpoint.sim.ledger import BRACKETS
from setpoint.sim.markets import SimMarket
from setpoint.sim.snapshot import dec
from setpoint.sim.wire import PERPETUAL_DELIVERY_MS, spot_dec

SPOT_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET"]
FUTURES_ORDER_TYPES = ["LIMIT", "MARKET"]
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
]


def _decimals(increment: Decimal) -> int:
    exponent = increment.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _filters(market: SimMarket, fmt: Any) -> list[dict[str, Any]]:
    notional = (
        {"filterType": "MIN_NOTIONAL", "notional": fmt(market.min_notional)}
        if market.is_perp
        else {
            "filterType": "NOTIONAL",
            "minNotional": fmt(market.min_notional),
            "applyMinToMarket": True,
            "maxNotional": fmt(Decimal(9000000)),
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        }
    )
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": fmt(market.tick),
            "maxPrice": fmt(market.max_price),
            "tickSize": fmt(market.tick),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": fmt(market.min_quantity),
            "maxQty": fmt(market.max_quantity),
            "stepSize": fmt(market.step),
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": fmt(market.min_quantity),
            "maxQty": fmt(market.max_quantity),
            "stepSize": fmt(market.step),
        },
        notional,
    ]


def spot_symbol(market: SimMarket) -> dict[str, Any]:
    return {
        "symbol": market.venue_id,
        "status": "TRADING",
        "baseAsset": market.base,
        "baseAssetPrecision": 8,
        "quoteAsset": market.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": SPOT_ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": _filters(market, spot_dec),
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def futures_symbol(market: SimMarket) -> dict[str, Any]:
    return {
        "symbol": market.venue_id,
        "pair": market.venue_id,
        "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY_MS,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": market.base,
        "quoteAsset": market.quote,
        "marginAsset": market.quote,
        "pricePrecision": _decimals(market.tick),
        "quantityPrecision": _decimals(market.step),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": _filters(market, dec),
        "orderTypes": FUTURES_ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def exchange_info(engine: Engine, perp: bool, now_ms: int) -> dict[str, Any]:
    """GET /api/v3/exchangeInfo (perp False) or /fapi/v1/exchangeInfo (perp True)."""
    markets = [m for m in engine.markets.all if m.is_perp == perp]
    body: dict[str, Any] = {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [futures_symbol(m) if perp else spot_symbol(m) for m in markets],
    }
    if perp:
        assets = sorted({m.quote for m in markets})
        body["assets"] = [{"asset": a, "marginAvailable": True} for a in assets]
        body["futuresType"] = "U_MARGINED"
    return body


def book_ticker(engine: Engine, market: SimMarket, now_ms: int) -> dict[str, Any]:
    """Best bid and ask over liquidity and resting orders; the last price with size 0
    stands in for an empty side."""
    fmt = dec if market.is_perp else spot_dec
    last = engine.last_price(market.symbol)
    bid, ask = engine.best_bid_ask(market.symbol)
    bid = bid or (last, Decimal(0))
    ask = ask or (last, Decimal(0))
    body: dict[str, Any] = {
        "symbol": market.venue_id,
        "bidPrice": fmt(bid[0]),
        "bidQty": fmt(bid[1]),
        "askPrice": fmt(ask[0]),
        "askQty": fmt(ask[1]),
    }
    if market.is_perp:
        body["time"] = now_ms
    return body


def ticker_24hr(engine: Engine, market: SimMarket, now_ms: int) -> dict[str, Any]:
    """A 24h ticker: the last price and volumes of the account's own trades."""
    fmt = dec if market.is_perp else spot_dec
    last = engine.last_price(market.symbol)
    trades = [t for t in engine.trades if t.symbol == market.symbol]
    volume = sum((t.quantity for t in trades), Decimal(0))
    quote_volume = sum((t.quote_quantity for t in trades), Decimal(0))
    book = book_ticker(engine, market, now_ms)
    body: dict[str, Any] = {
        "symbol": market.venue_id,
        "priceChange": fmt(Decimal(0)),
        "priceChangePercent": "0.000",
        "weightedAvgPrice": fmt(last),
        "lastPrice": fmt(last),
        "lastQty": fmt(Decimal(0)),
        "openPrice": fmt(last),
        "highPrice": fmt(last),
        "lowPrice": fmt(last),
        "volume": fmt(volume),
        "quoteVolume": fmt(quote_volume),
        "openTime": now_ms - 86_400_000,
        "closeTime": now_ms,
        "firstId": trades[0].trade_id if trades else -1,
        "lastId": trades[-1].trade_id if trades else -1,
        "count": len(trades),
    }
    if not market.is_perp:
        body.update(
            {
                "prevClosePrice": fmt(last),
                "bidPrice": book["bidPrice"],
                "bidQty": book["bidQty"],
                "askPrice": book["askPrice"],
                "askQty": book["askQty"],
            }
        )
    return body


def premium_index(engine: Engine, market: SimMarket, now_ms: int) -> dict[str, Any]:
    """GET /fapi/v1/premiumIndex: mark = index = last price, a constant funding rate."""
    last = dec(engine.last_price(market.symbol))
    eight_hours = 8 * 3_600_000
    return {
        "symbol": market.venue_id,
        "markPrice": last,
        "indexPrice": last,
        "estimatedSettlePrice": last,
        "lastFundingRate": "0.00010000",
        "interestRate": "0.00010000",
        "nextFundingTime": (now_ms // eight_hours + 1) * eight_hours,
        "time": now_ms,
    }


def depth(engine: Engine, market: SimMarket, limit: int, now_ms: int) -> dict[str, Any]:
    fmt = dec if market.is_perp else spot_dec
    body: dict[str, Any] = {"lastUpdateId": now_ms}
    for name, side in (("bids", Side.BUY), ("asks", Side.SELL)):
        body[name] = [[fmt(p), fmt(q)] for p, q in engine.depth(market.symbol, side, limit)]
    if market.is_perp:
        body.update({"E": now_ms, "T": now_ms})
    return body


def leverage_brackets(engine: Engine) -> list[dict[str, Any]]:
    """GET /fapi/v1/leverageBracket: one bracket per perpetual, with our leverage cap."""
    return [
        {
            "symbol": m.venue_id,
            "notionalCoef": 1.0,
            "brackets": [
                {
                    "bracket": number,
                    "initialLeverage": b.max_leverage,
                    "notionalCap": int(b.cap),
                    "notionalFloor": int(b.floor),
                    "maintMarginRatio": float(b.rate),  # float-ok: Binance sends JSON numbers
                    "cum": float(b.cum),  # float-ok
                }
                for number, b in enumerate(BRACKETS, start=1)
            ],
        }
        for m in engine.markets.all
        if m.is_perp
    ]
