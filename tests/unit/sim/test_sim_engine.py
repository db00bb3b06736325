"""The matching engine, driven directly (no I/O)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from setpoint.core.events import OrderStatus
from setpoint.core.model import Side
from setpoint.sim.engine import Engine
from setpoint.sim.markets import DEFAULT_MARKETS
from setpoint.sim.orders import (
    ExecType,
    Execution,
    OrderKind,
    OrderRequest,
    Reason,
    Rejected,
    Tif,
)
from setpoint.sim.snapshot import engine_state

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"


@pytest.fixture
def engine() -> Engine:
    return Engine(
        DEFAULT_MARKETS,
        balances={"USDT": D("100000"), "BTC": D("10"), "ETH": D("100")},
        futures_balances={"USDT": D("100000")},
        prices={SPOT: D("60000"), "ETH/USDT": D("3000"), PERP: D("60000")},
    )


def limit(side: Side, qty: str, price: str, symbol: str = SPOT, **kw: object) -> OrderRequest:
    return OrderRequest(symbol, side, OrderKind.LIMIT, D(qty), D(price), **kw)  # type: ignore[arg-type]


def market(side: Side, qty: str, symbol: str = SPOT) -> OrderRequest:
    return OrderRequest(symbol, side, OrderKind.MARKET, D(qty))


def test_limit_order_rests_and_locks_quote_with_taker_fee(engine: Engine) -> None:
    order, events = engine.place(limit(Side.BUY, "0.01", "59000", client_order_id="a"), 1)
    assert order.status is OrderStatus.NEW
    assert engine.spot.balance("USDT").locked == D("590") * D("1.0005")
    assert [e.exec_type for e in events if isinstance(e, Execution)] == [ExecType.NEW]


def test_filters_reject_off_tick_off_step_and_small_notional(engine: Engine) -> None:
    for request, name in (
        (limit(Side.BUY, "0.01", "59000.001"), "PRICE_FILTER"),
        (limit(Side.BUY, "0.000011", "59000"), "LOT_SIZE"),
        (limit(Side.BUY, "0.00005", "59000"), "NOTIONAL"),
    ):
        with pytest.raises(Rejected) as caught:
            engine.place(request, 1)
        assert caught.value.reason is Reason.FILTER
        assert caught.value.detail == name
    assert engine.orders == {}


def test_duplicate_client_id_among_open_orders_only(engine: Engine) -> None:
    first, _ = engine.place(limit(Side.BUY, "0.01", "59000", client_order_id="dup"), 1)
    with pytest.raises(Rejected) as caught:
        engine.place(limit(Side.BUY, "0.01", "58000", client_order_id="dup"), 2)
    assert caught.value.reason is Reason.DUPLICATE
    engine.cancel(SPOT, order_id=first.order_id, now_us=3)
    again, _ = engine.place(limit(Side.BUY, "0.01", "58000", client_order_id="dup"), 4)
    assert engine.find(SPOT, client_order_id="dup").order_id == again.order_id


def test_market_order_takes_only_configured_liquidity(engine: Engine) -> None:
    order, _ = engine.place(market(Side.BUY, "0.01"), 1)
    assert order.status is OrderStatus.EXPIRED
    assert order.filled == 0
    engine.set_liquidity(SPOT, Side.SELL, [(D("60000"), D("0.004")), (D("60001"), D("0.002"))])
    order, _ = engine.place(market(Side.BUY, "0.01"), 2)
    assert order.status is OrderStatus.EXPIRED
    assert order.filled == D("0.006")
    assert order.cum_quote == D("60000") * D("0.004") + D("60001") * D("0.002")
    assert engine.depth(SPOT, Side.SELL) == []  # used up


def test_ioc_partial_and_fok_all_or_nothing(engine: Engine) -> None:
    engine.set_liquidity(SPOT, Side.SELL, [(D("60000"), D("0.004"))])
    fok, _ = engine.place(limit(Side.BUY, "0.01", "60000", tif=Tif.FOK), 1)
    assert fok.status is OrderStatus.EXPIRED
    assert fok.filled == 0
    ioc, _ = engine.place(limit(Side.BUY, "0.01", "60000", tif=Tif.IOC), 2)
    assert ioc.status is OrderStatus.EXPIRED
    assert ioc.filled == D("0.004")
    assert engine.spot.balance("USDT").locked == 0


def test_taker_matches_resting_orders_in_price_time_priority(engine: Engine) -> None:
    late, _ = engine.place(limit(Side.SELL, "0.01", "60100"), 1)
    early, _ = engine.place(limit(Side.SELL, "0.01", "60100"), 2)
    best, _ = engine.place(limit(Side.SELL, "0.01", "60050"), 3)
    taker, _ = engine.place(limit(Side.BUY, "0.015", "60100"), 4)
    assert taker.status is OrderStatus.FILLED
    assert engine.orders[best.order_id].status is OrderStatus.FILLED
    assert engine.orders[late.order_id].filled == D("0.005")
    assert engine.orders[early.order_id].filled == 0
    makers = [t for t in engine.trades if t.maker]
    assert [t.order_id for t in makers] == [best.order_id, late.order_id]


def test_limit_maker_rejected_when_it_would_take(engine: Engine) -> None:
    engine.set_liquidity(SPOT, Side.SELL, [(D("60000"), D("1"))])
    request = OrderRequest(SPOT, Side.BUY, OrderKind.LIMIT_MAKER, D("0.01"), D("60000"))
    with pytest.raises(Rejected) as caught:
        engine.place(request, 1)
    assert caught.value.reason is Reason.WOULD_TAKE
    order, _ = engine.place(
        OrderRequest(SPOT, Side.BUY, OrderKind.LIMIT_MAKER, D("0.01"), D("59999.99")), 2
    )
    assert order.status is OrderStatus.NEW


def test_insufficient_balance_changes_nothing(engine: Engine) -> None:
    before = engine_state(engine)
    with pytest.raises(Rejected) as caught:
        engine.place(limit(Side.SELL, "11", "60000"), 1)
    assert caught.value.reason is Reason.INSUFFICIENT_BALANCE
    assert engine_state(engine) == before


def test_price_move_fills_crossing_orders_at_their_price_as_maker(engine: Engine) -> None:
    buy, _ = engine.place(limit(Side.BUY, "0.01", "59000"), 1)
    far, _ = engine.place(limit(Side.BUY, "0.01", "58000"), 2)
    sell, _ = engine.place(limit(Side.SELL, "0.01", "61000"), 3)
    engine.move_price(SPOT, D("58500"), 4)
    assert engine.orders[buy.order_id].status is OrderStatus.FILLED
    assert engine.orders[far.order_id].is_open
    assert engine.orders[sell.order_id].is_open
    trade = engine.trades[-1]
    assert (trade.price, trade.maker, trade.fee) == (D("59000"), True, D("590") * D("0.0002"))
    assert engine.spot.balance("BTC").total == D("10.01")


def test_cancel_releases_lock_and_closed_orders_stay_queryable(engine: Engine) -> None:
    order, _ = engine.place(limit(Side.BUY, "0.01", "59000", client_order_id="c1"), 1)
    final, _events = engine.cancel(SPOT, client_order_id="c1", now_us=2)
    assert final.status is OrderStatus.CANCELED
    assert engine.spot.balance("USDT").locked == 0
    assert engine.find(SPOT, order_id=order.order_id).status is OrderStatus.CANCELED
    with pytest.raises(Rejected) as caught:
        engine.cancel(SPOT, order_id=order.order_id, now_us=3)
    assert caught.value.reason is Reason.UNKNOWN_ORDER
    with pytest.raises(Rejected) as missing:
        engine.find(SPOT, order_id=999)
    assert missing.value.reason is Reason.NO_SUCH_ORDER


def test_force_fill_partial_then_rest(engine: Engine) -> None:
    order, _ = engine.place(limit(Side.SELL, "0.01", "61000"), 1)
    engine.force_fill(order, D("0.004"), 2)
    assert engine.orders[order.order_id].status is OrderStatus.PARTIALLY_FILLED
    engine.force_fill(order, None, 3)
    assert engine.orders[order.order_id].status is OrderStatus.FILLED
    assert engine.spot.balance("BTC").total == D("9.99")


def test_perp_position_entry_and_realized_pnl(engine: Engine) -> None:
    engine.set_liquidity(PERP, Side.SELL, [(D("60000"), D("1"))])
    engine.set_liquidity(PERP, Side.BUY, [(D("61000"), D("1"))])
    engine.place(market(Side.BUY, "0.1", PERP), 1)
    position = engine.margin.position(PERP)
    assert (position.quantity, position.entry_price) == (D("0.1"), D("60000"))
    engine.place(market(Side.SELL, "0.1", PERP), 2)
    assert engine.margin.position(PERP).quantity == 0
    fees = D("6000") * D("0.0005") + D("6100") * D("0.0005")
    assert engine.margin.wallet["USDT"] == D("100000") + D("100") - fees


def test_reduce_only_must_reduce(engine: Engine) -> None:
    with pytest.raises(Rejected) as caught:
        engine.place(limit(Side.SELL, "0.01", "61000", PERP, reduce_only=True), 1)
    assert caught.value.reason is Reason.REDUCE_ONLY


def test_insufficient_margin(engine: Engine) -> None:
    with pytest.raises(Rejected) as caught:
        engine.place(limit(Side.BUY, "40", "60000", PERP), 1)
    assert caught.value.reason is Reason.INSUFFICIENT_MARGIN


SHARED_FIELDS = {"order_id", "client_order_id", "symbol", "side", "price", "quantity"}
"""The fields the state's orders and trades both have."""


def test_state_shape(engine: Engine) -> None:
    engine.place(limit(Side.BUY, "0.01", "59000.00", client_order_id="s1"), 1_000_001)
    engine.move_price(SPOT, D("58000"), 1_000_002)
    state = engine_state(engine)
    order = state["orders"][0]
    assert set(order) == {
        *SHARED_FIELDS,
        "type",
        "time_in_force",
        "filled",
        "status",
        "created_us",
        "updated_us",
    }
    assert (order["order_id"], order["side"], order["status"]) == ("1", "buy", "FILLED")
    assert order["price"] == "59000"
    assert order["created_us"] == 1_000_001
    trade = state["trades"][0]
    assert set(trade) == {*SHARED_FIELDS, "trade_id", "fee", "fee_asset", "maker", "time_us"}
    assert state["balances"]["BTC"] == {"free": "10.01", "locked": "0"}
    assert set(state) >= {"orders", "trades", "balances", "positions"}


def test_amend_keeps_ids_and_matches_like_a_new_order(engine: Engine) -> None:
    engine.set_liquidity(PERP, Side.BUY, [(D("60500"), D("0.003"))])
    order, _ = engine.place(limit(Side.SELL, "0.01", "61000", PERP, client_order_id="m"), 1)
    amended, events = engine.amend(
        PERP, order_id=order.order_id, quantity=D("0.02"), price=D("60500"), now_us=2
    )
    assert (amended.order_id, amended.client_order_id) == (order.order_id, "m")
    assert (amended.filled, amended.status) == (D("0.003"), OrderStatus.PARTIALLY_FILLED)
    kinds = [e.exec_type for e in events if isinstance(e, Execution)]
    assert kinds == [ExecType.AMENDMENT, ExecType.TRADE]
    assert engine.open_orders(symbol=PERP) == [amended]
    with pytest.raises(Rejected):
        engine.amend(PERP, order_id=order.order_id, quantity=D("0.002"), price=D("60500"), now_us=3)
