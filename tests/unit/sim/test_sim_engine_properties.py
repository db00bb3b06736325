"""Invariants of the matching engine under random order flow (hypothesis).

- no order is filled beyond its quantity, and its trades add up to its filled quantity;
- money is conserved: per asset, spot free + locked moves only by trades, and the quote
  that left the account equals the fees charged;
- a price move fills every crossing resting order exactly once, and nothing else.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from setpoint.core.model import Side
from setpoint.sim.engine import Engine
from setpoint.sim.markets import DEFAULT_MARKETS
from setpoint.sim.orders import OrderKind, OrderRequest, Rejected, Tif

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
START = {"USDT": D("100000"), "BTC": D("10"), "ETH": D("100")}

prices = st.integers(min_value=59_000_00, max_value=61_000_00).map(lambda c: D(c) / 100)
quantities = st.integers(min_value=10, max_value=20_000).map(lambda u: D(u) / 100_000)
sides = st.sampled_from([Side.BUY, Side.SELL])

orders = st.builds(
    lambda side, qty, price, kind, tif: OrderRequest(
        SPOT,
        side,
        kind,
        qty,
        None if kind is OrderKind.MARKET else price,
        tif if kind is OrderKind.LIMIT else Tif.GTC,
    ),
    sides,
    quantities,
    prices,
    st.sampled_from([OrderKind.LIMIT, OrderKind.LIMIT, OrderKind.MARKET, OrderKind.LIMIT_MAKER]),
    st.sampled_from([Tif.GTC, Tif.IOC, Tif.FOK]),
)
levels = st.lists(st.tuples(prices, quantities), max_size=4)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("order"), orders),
        st.tuples(st.just("price"), prices),
        st.tuples(st.just("liquidity"), st.tuples(sides, levels)),
        st.tuples(st.just("cancel"), st.integers(min_value=1, max_value=40)),
    ),
    max_size=40,
)


def new_engine() -> Engine:
    return Engine(
        DEFAULT_MARKETS,
        START,
        {"USDT": D("100000")},
        {SPOT: D("60000"), "ETH/USDT": D("3000"), PERP: D("60000")},
    )


def run(engine: Engine, script: list[tuple[str, object]]) -> None:
    for now, (name, arg) in enumerate(script, start=1):
        try:
            if name == "order":
                assert isinstance(arg, OrderRequest)
                engine.place(arg, now)
            elif name == "price":
                assert isinstance(arg, D)
                engine.move_price(SPOT, arg, now)
            elif name == "liquidity":
                assert isinstance(arg, tuple)
                engine.set_liquidity(SPOT, arg[0], arg[1])
            else:
                assert isinstance(arg, int)
                engine.cancel(SPOT, order_id=arg, now_us=now)
        except Rejected:
            pass


@settings(max_examples=150, deadline=None)
@given(actions)
def test_no_fill_beyond_quantity(script: list[tuple[str, object]]) -> None:
    engine = new_engine()
    run(engine, script)
    filled_by_trades: Counter[int] = Counter()
    for trade in engine.trades:
        filled_by_trades[trade.order_id] += trade.quantity  # type: ignore[assignment]
    for order in engine.orders.values():
        assert D(0) <= order.filled <= order.quantity
        assert filled_by_trades[order.order_id] == order.filled
        assert order.locked >= 0


@settings(max_examples=150, deadline=None)
@given(actions)
def test_balances_conserved_after_fees(script: list[tuple[str, object]]) -> None:
    engine = new_engine()
    run(engine, script)
    base_in = sum((t.quantity if t.side is Side.BUY else -t.quantity for t in engine.trades), D(0))
    quote_out = sum(
        (t.price * t.quantity * (1 if t.side is Side.BUY else -1) for t in engine.trades), D(0)
    )
    fees = sum((t.fee for t in engine.trades), D(0))
    btc, usdt = engine.spot.balance("BTC"), engine.spot.balance("USDT")
    assert btc.total == START["BTC"] + base_in
    assert usdt.total == START["USDT"] - quote_out - fees
    locked = sum((o.locked for o in engine.orders.values() if o.lock_asset == "USDT"), D(0))
    assert usdt.locked == locked
    for balance in (btc, usdt):
        assert balance.free >= 0
        assert balance.locked >= 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(sides, quantities, prices), min_size=1, max_size=30), prices)
def test_price_move_fills_every_crossing_order_exactly_once(
    book: list[tuple[Side, D, D]], new_price: D
) -> None:
    engine = Engine(
        DEFAULT_MARKETS,
        {"USDT": D("10000000"), "BTC": D("1000")},
        {"USDT": D("0")},
        {SPOT: D("60000")},
    )
    placed = []
    for now, (side, qty, price) in enumerate(book, start=1):
        order, _ = engine.place(OrderRequest(SPOT, side, OrderKind.LIMIT, qty, price), now)
        placed.append(order)
    resting = [engine.orders[o.order_id] for o in placed if engine.orders[o.order_id].is_open]
    trades_before = len(engine.trades)
    engine.move_price(SPOT, new_price, 10_000)
    engine.move_price(SPOT, new_price, 10_001)  # a second move to the same price: no new fill
    new_trades = engine.trades[trades_before:]
    crossing = {
        o.order_id
        for o in resting
        if (o.side is Side.BUY and o.price >= new_price)  # type: ignore[operator]
        or (o.side is Side.SELL and o.price <= new_price)  # type: ignore[operator]
    }
    assert Counter(t.order_id for t in new_trades) == Counter(crossing)
    for order_id in crossing:
        order = engine.orders[order_id]
        assert order.filled == order.quantity
        assert all(t.maker and t.price == order.price for t in new_trades if t.order_id == order_id)
