"""OKX v5 JSON shapes for the simulator's values (the `okx` dialect).

Identity: a spot market `BTC/USDT` is `BTC-USDT` (instType SPOT), a USD-M perpetual
`BTC/USDT:USDT` is the USDT-margined swap `BTC-USDT-SWAP` (instType SWAP). Swap sizes are
in contracts of `ctVal` base units (`CONTRACT_VALUES`, 1 for a base not listed there);
the lot size is the engine's step in contracts, so every OKX size is a size the engine
accepts. Every number is a decimal string, every time a millisecond string, as on OKX;
fees are negative (a charge), as OKX reports them. Every field ccxt 4.5's okx reads is
present; the rest of OKX's fields are given empty.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from setpoint.core.events import OrderStatus
from setpoint.core.model import Side
from setpoint.core.numeric import ZERO
from setpoint.sim.engine import Engine
from setpoint.sim.markets import Kind, SimMarket
from setpoint.sim.orders import Execution, Order, OrderKind, Tif, Trade
from setpoint.sim.snapshot import dec

CONTRACT_VALUES = {"BTC": Decimal("0.01"), "ETH": Decimal("0.1")}
"""Base units per swap contract (OKX's `ctVal` of its USDT-margined swaps)."""

UID = "100000001"
MAX_LEVERAGE = "125"


def ms(micros: int) -> str:
    return str(micros // 1000)


def inst_type(market: SimMarket) -> str:
    return "SWAP" if market.is_perp else "SPOT"


def inst_id(market: SimMarket) -> str:
    """`BTC-USDT` (spot) or `BTC-USDT-SWAP` (perpetual)."""
    pair = f"{market.base}-{market.quote}"
    return f"{pair}-SWAP" if market.is_perp else pair


def contract_value(market: SimMarket) -> Decimal:
    """Base units of one contract (1 on spot, where sizes are in base units)."""
    return CONTRACT_VALUES.get(market.base, Decimal(1)) if market.is_perp else Decimal(1)


def to_size(market: SimMarket, quantity: Decimal) -> str:
    """The engine's base quantity as OKX's `sz` (contracts on a swap)."""
    return dec(quantity / contract_value(market))


def from_size(market: SimMarket, size: Decimal) -> Decimal:
    """OKX's `sz` (contracts on a swap) as the engine's base quantity."""
    return size * contract_value(market)


def find_market(engine: Engine, instrument: str) -> SimMarket | None:
    """The market whose OKX instrument id is `instrument`, else None."""
    return next((m for m in engine.markets.all if inst_id(m) == instrument), None)


def markets_of(engine: Engine, instrument_type: str) -> list[SimMarket]:
    """The markets of an OKX instType (SPOT, SWAP; ANY: all; others: none)."""
    kinds = {"SPOT": [Kind.SPOT], "SWAP": [Kind.PERP], "ANY": [Kind.SPOT, Kind.PERP]}
    chosen = kinds.get(instrument_type.upper(), [])
    return [m for m in engine.markets.all if m.kind in chosen]


# ------------------------------------------------------------------ public


def instrument(market: SimMarket) -> dict[str, Any]:
    """GET /api/v5/public/instruments: one instrument."""
    perp = market.is_perp
    lot = market.step / contract_value(market)
    return {
        "alias": "",
        "baseCcy": "" if perp else market.base,
        "category": "1",
        "ctMult": "1" if perp else "",
        "ctType": "linear" if perp else "",
        "ctVal": dec(contract_value(market)) if perp else "",
        "ctValCcy": market.base if perp else "",
        "expTime": "",
        "instFamily": f"{market.base}-{market.quote}" if perp else "",
        "instId": inst_id(market),
        "instType": inst_type(market),
        "lever": MAX_LEVERAGE if perp else "10",
        "listTime": "1606468572000",
        "lotSz": dec(lot),
        "maxLmtSz": dec(market.max_quantity / contract_value(market)),
        "maxMktSz": dec(market.max_quantity / contract_value(market)),
        "minSz": dec(lot),
        "optType": "",
        "quoteCcy": "" if perp else market.quote,
        "settleCcy": market.quote if perp else "",
        "state": "live",
        "stk": "",
        "tickSz": dec(market.tick),
        "uly": f"{market.base}-{market.quote}" if perp else "",
    }


def ticker(engine: Engine, market: SimMarket, now_ms: int) -> dict[str, Any]:
    """GET /api/v5/market/ticker(s): one ticker (no 24 h history: open = last)."""
    last = dec(engine.last_price(market.symbol))
    bid, ask = engine.best_bid_ask(market.symbol)
    return {
        "instType": inst_type(market),
        "instId": inst_id(market),
        "last": last,
        "lastSz": "0",
        "askPx": dec(ask[0]) if ask else "",
        "askSz": to_size(market, ask[1]) if ask else "",
        "bidPx": dec(bid[0]) if bid else "",
        "bidSz": to_size(market, bid[1]) if bid else "",
        "open24h": last,
        "high24h": last,
        "low24h": last,
        "volCcy24h": "0",
        "vol24h": "0",
        "sodUtc0": last,
        "sodUtc8": last,
        "ts": str(now_ms),
    }


def book(engine: Engine, market: SimMarket, depth: int, now_ms: int) -> dict[str, Any]:
    """GET /api/v5/market/books: asks and bids as [price, size, "0", orders]."""

    def levels(side: Side) -> list[list[str]]:
        return [
            [dec(p), to_size(market, q), "0", "1"]
            for p, q in engine.depth(market.symbol, side, depth)
        ]

    return {"asks": levels(Side.SELL), "bids": levels(Side.BUY), "ts": str(now_ms)}


def funding_rate(market: SimMarket, now_ms: int) -> dict[str, Any]:
    """GET /api/v5/public/funding-rate: a flat 0.01% every eight hours."""
    period = 8 * 3600 * 1000
    following = (now_ms // period + 1) * period
    return {
        "instType": "SWAP",
        "instId": inst_id(market),
        "fundingRate": "0.0001",
        "nextFundingRate": "",
        "fundingTime": str(following),
        "nextFundingTime": str(following + period),
        "method": "current_period",
        "minFundingRate": "-0.0075",
        "maxFundingRate": "0.0075",
        "settState": "settled",
        "settFundingRate": "0.0001",
        "premium": "0",
        "ts": str(now_ms),
    }


# ------------------------------------------------------------------ orders


def ord_type(order: Order) -> str:
    """OKX's ordType of an engine order."""
    if order.kind is OrderKind.MARKET:
        return "market"
    if order.post_only:
        return "post_only"
    return {Tif.IOC: "ioc", Tif.FOK: "fok"}.get(order.tif, "limit")


def state(order: Order) -> str:
    """OKX's state: live, partially_filled, filled, canceled (expired counts as canceled)."""
    return {
        OrderStatus.NEW: "live",
        OrderStatus.PARTIALLY_FILLED: "partially_filled",
        OrderStatus.FILLED: "filled",
    }.get(order.status, "canceled")


def client_id(order: Order) -> str:
    """The order's clOrdId; "" for an order placed without one (the engine's `sim-N`)."""
    return _own_id(order.client_order_id, order.order_id)


def _own_id(client_order_id: str, order_id: int) -> str:
    return "" if client_order_id == f"sim-{order_id}" else client_order_id


def order_row(market: SimMarket, order: Order, fee: Decimal) -> dict[str, Any]:
    """GET /api/v5/trade/order and orders-pending: one order. `fee` is what its fills cost."""
    return {
        "instType": inst_type(market),
        "instId": inst_id(market),
        "ccy": "",
        "ordId": str(order.order_id),
        "clOrdId": client_id(order),
        "tag": "",
        "px": dec(order.price) if order.price is not None else "",
        "pxUsd": "",
        "pxVol": "",
        "pxType": "",
        "sz": to_size(market, order.quantity),
        "pnl": "0",
        "ordType": ord_type(order),
        "side": order.side.value,
        "posSide": "net",
        "tdMode": "cross" if market.is_perp else "cash",
        "accFillSz": to_size(market, order.filled),
        "fillPx": "",
        "tradeId": "",
        "fillSz": "0",
        "fillTime": "",
        "avgPx": dec(order.average) if order.filled else "",
        "state": state(order),
        "lever": "",
        "tpTriggerPx": "",
        "tpOrdPx": "",
        "slTriggerPx": "",
        "slOrdPx": "",
        "attachAlgoOrds": [],
        "feeCcy": market.quote,
        "fee": dec(-fee),
        "rebateCcy": market.quote,
        "rebate": "0",
        "source": "",
        "category": "normal",
        "reduceOnly": "true" if order.reduce_only else "false",
        "cancelSource": "",
        "cancelSourceReason": "",
        "stpId": "",
        "stpMode": "cancel_maker",
        "algoClOrdId": "",
        "algoId": "",
        "isTpLimit": "false",
        "tgtCcy": "" if market.is_perp else "base_ccy",
        "uTime": ms(order.updated_us),
        "cTime": ms(order.created_us),
    }


def order_fee(engine: Engine, order_id: int) -> Decimal:
    """The fees of an order's fills so far."""
    return sum((t.fee for t in engine.trades if t.order_id == order_id), ZERO)


def pushed_order(engine: Engine, event: Execution) -> dict[str, Any]:
    """One `orders` channel row: the order after the change, with the fill that made it."""
    market = engine.market(event.order.symbol)
    row = order_row(market, event.order, order_fee(engine, event.order.order_id))
    trade = event.trade
    row.update(
        {
            "amendResult": "0" if event.exec_type.value == "AMENDMENT" else "",
            "code": "0",
            "msg": "",
            "reqId": "",
            "execType": ("M" if trade.maker else "T") if trade else "",
            "fillFee": dec(-trade.fee) if trade else "0",
            "fillFeeCcy": trade.fee_asset if trade else "",
            "fillNotionalUsd": dec(trade.quote_quantity) if trade else "",
            "fillPnl": dec(trade.realized_pnl) if trade else "0",
        }
    )
    if trade is not None:
        row.update(
            {
                "fillPx": dec(trade.price),
                "fillSz": to_size(market, trade.quantity),
                "tradeId": str(trade.trade_id),
                "fillTime": ms(trade.time_us),
            }
        )
    return row


def fill_row(market: SimMarket, trade: Trade) -> dict[str, Any]:
    """GET /api/v5/trade/fills and fills-history: one fill."""
    return {
        "instType": inst_type(market),
        "instId": inst_id(market),
        "tradeId": str(trade.trade_id),
        "ordId": str(trade.order_id),
        "clOrdId": _own_id(trade.client_order_id, trade.order_id),
        "billId": str(trade.trade_id),
        "subType": "1" if trade.side.value == "buy" else "2",
        "tag": "",
        "fillPx": dec(trade.price),
        "fillSz": to_size(market, trade.quantity),
        "fillIdxPx": "",
        "fillPnl": dec(trade.realized_pnl),
        "fillPxVol": "",
        "fillPxUsd": "",
        "fillMarkVol": "",
        "fillFwdPx": "",
        "fillMarkPx": "",
        "side": trade.side.value,
        "posSide": "net",
        "execType": "M" if trade.maker else "T",
        "feeCcy": trade.fee_asset,
        "fee": dec(-trade.fee),
        "ts": ms(trade.time_us),
        "fillTime": ms(trade.time_us),
        "feeRate": "",
    }


# ------------------------------------------------------------------ account


def balance(engine: Engine, now_ms: int) -> dict[str, Any]:
    """GET /api/v5/account/balance: one trading account. The engine's spot wallet and its
    USD-M margin wallet are reported together, summed per currency."""
    spot = engine.spot.snapshot()
    assets = sorted(set(spot) | set(engine.margin.wallet))
    details = []
    total_eq = ZERO
    for asset in assets:
        held = spot.get(asset)
        free = held.free if held else ZERO
        locked = held.locked if held else ZERO
        wallet = engine.margin.wallet.get(asset, ZERO)
        unrealized = engine.unrealized(asset) if asset in engine.margin.wallet else ZERO
        available = engine.margin_available(asset) if asset in engine.margin.wallet else ZERO
        equity = free + locked + wallet + unrealized
        frozen = locked + (wallet + unrealized - available)
        total_eq += equity
        details.append(_detail(asset, equity, free + available, frozen, unrealized, now_ms))
    return {
        "adjEq": "",
        "borrowFroz": "",
        "details": details,
        "imr": "",
        "isoEq": "0",
        "mgnRatio": "",
        "mmr": "",
        "notionalUsd": "",
        "ordFroz": "",
        "totalEq": dec(total_eq),
        "uTime": str(now_ms),
        "upl": "",
    }


def _detail(
    asset: str, equity: Decimal, available: Decimal, frozen: Decimal, upl: Decimal, now_ms: int
) -> dict[str, Any]:
    return {
        "ccy": asset,
        "eq": dec(equity),
        "cashBal": dec(equity - upl),
        "availBal": dec(available),
        "availEq": dec(available),
        "frozenBal": dec(frozen),
        "ordFrozen": dec(frozen),
        "upl": dec(upl),
        "disEq": dec(equity),
        "eqUsd": dec(equity),
        "isoEq": "0",
        "liab": "",
        "mgnRatio": "",
        "notionalLever": "",
        "crossLiab": "",
        "interest": "",
        "uTime": str(now_ms),
    }


def position(engine: Engine, market: SimMarket, now_ms: int) -> dict[str, Any]:
    """GET /api/v5/account/positions and the `positions` channel: one net-mode position."""
    held = engine.margin.position(market.symbol)
    mark = engine.last_price(market.symbol)
    leverage = engine.margin.leverage_of(market.symbol)
    notional = abs(held.quantity) * mark
    updated = engine.margin.updated_us.get(market.symbol, 0) // 1000 or now_ms
    return {
        "adl": "1",
        "availPos": "",
        "avgPx": dec(held.entry_price) if held.quantity else "",
        "cTime": str(updated),
        "ccy": market.quote,
        "imr": dec(notional / leverage),
        "instId": inst_id(market),
        "instType": "SWAP",
        "last": dec(mark),
        "lever": str(leverage),
        "liqPx": "",
        "margin": "",
        "markPx": dec(mark),
        "mgnMode": "cross",
        "mgnRatio": "",
        "mmr": dec(notional * Decimal("0.004")),
        "notionalUsd": dec(notional),
        "pos": to_size(market, held.quantity),
        "posCcy": "",
        "posId": str(1000 + engine.markets.all.index(market)),
        "posSide": "net",
        "realizedPnl": "0",
        "upl": dec(held.unrealized(mark)),
        "uplRatio": "0",
        "uTime": str(updated),
    }


def account_config(position_mode: str) -> dict[str, Any]:
    """GET /api/v5/account/config: a single-currency margin account (acctLv 2)."""
    return {
        "acctLv": "2",
        "autoLoan": False,
        "ctIsoMode": "automatic",
        "greeksType": "PA",
        "level": "Lv1",
        "levelTmp": "",
        "mgnIsoMode": "automatic",
        "posMode": position_mode,
        "spotOffsetType": "",
        "uid": UID,
        "mainUid": UID,
        "label": "setpoint-sim",
        "roleType": "0",
        "traderInsts": [],
        "spotRoleType": "0",
        "spotTraderInsts": [],
        "opAuth": "0",
        "kycLv": "1",
        "ip": "",
        "perm": "read_only,trade",
        "liquidationGear": "-1",
        "enableSpotBorrow": False,
        "spotBorrowAutoRepay": False,
        "type": "0",
    }
