"""Invariants of the simulator's ledger, driven directly (no book, no matching; hypothesis).

- placing and cancelling move money between free and locked only: per asset, free + locked
  is conserved, locked equals what the open orders hold, and a refused lock changes nothing;
- a fill charges its fee exactly once: the account's change is the traded amounts minus
  one fee of maker / taker rate x notional, on spot and on the USD-M wallet alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from setpoint.core.events import OrderStatus
from setpoint.core.model import Side
from setpoint.sim.ledger import Fees, Ledger
from setpoint.sim.markets import DEFAULT_MARKETS, MarketIndex, SimMarket
from setpoint.sim.orders import Order, OrderKind, OrderRequest, Rejected, Tif

MARKETS = MarketIndex(DEFAULT_MARKETS)
SPOT = MARKETS.get("BTC/USDT")
PERP = MARKETS.get("BTC/USDT:USDT")
START = {"USDT": D("20000"), "BTC": D("0.5")}
FEES = Fees(maker=D("0.0002"), taker=D("0.0005"))

prices = st.integers(min_value=59_000_00, max_value=61_000_00).map(lambda c: D(c) / 100)
quantities = st.integers(min_value=10, max_value=20_000).map(lambda u: D(u) / 100_000)
sides = st.sampled_from([Side.BUY, Side.SELL])


def new_ledger(open_orders: Iterable[Order] = ()) -> Ledger:
    marks = {"BTC/USDT:USDT": D("60000")}
    return Ledger(MARKETS, START, {"USDT": D("20000")}, FEES, 20, marks, lambda: open_orders)


def new_order(order_id: int, market: SimMarket, side: Side, qty: D, price: D) -> Order:
    return Order(
        order_id, f"c{order_id}", market.symbol, side, OrderKind.LIMIT, Tif.GTC, price, qty,
        D(0), D(0), OrderStatus.NEW, order_id, order_id,
    )  # fmt: skip


def totals(ledger: Ledger) -> dict[str, D]:
    return {asset: b.total for asset, b in ledger.spot.snapshot().items()}


def place(ledger: Ledger, order: Order) -> Order | None:
    """Check and lock as the engine does; None when refused."""
    assert SPOT is not None
    request = OrderRequest(order.symbol, order.side, order.kind, order.quantity, order.price)
    try:
        ledger.check_funds(SPOT, request, order.quantity, [])
    except Rejected:
        return None
    locked, touched = ledger.lock(SPOT, order)
    assert touched is not None
    assert touched.assets == (locked.lock_asset,)
    return locked


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.tuples(sides, quantities, prices), st.integers(min_value=0, max_value=50)),
        max_size=40,
    )
)
def test_place_and_cancel_conserve_free_plus_locked(script: list[tuple[Side, D, D] | int]) -> None:
    """A step is an order to place (side, quantity, price) or which open order to cancel."""
    assert SPOT is not None
    ledger = new_ledger()
    open_orders: list[Order] = []
    for n, step in enumerate(script, start=1):
        before = ledger.spot.snapshot()
        if isinstance(step, tuple):
            placed = place(ledger, new_order(n, SPOT, *step))
            if placed is None:
                assert ledger.spot.snapshot() == before  # refused: nothing moved
            else:
                open_orders.append(placed)
        elif open_orders:
            order = open_orders.pop(step % len(open_orders))
            touched = ledger.release(order, n)
            assert touched is not None
            assert touched.assets == (order.lock_asset,)
        assert totals(ledger) == START
        for asset, balance in ledger.spot.snapshot().items():
            held = sum((o.locked for o in open_orders if o.lock_asset == asset), D(0))
            assert balance.locked == held
            assert balance.free >= 0
    for order in open_orders:
        ledger.release(order, 0)
    assert {a: (b.free, b.locked) for a, b in ledger.spot.snapshot().items()} == {
        a: (amount, D(0)) for a, amount in START.items()
    }


@st.composite
def spot_fills(draw: st.DrawFn) -> tuple[Order, list[tuple[D, D, bool]]]:
    """A resting spot limit order and fills of it (each at its price or better for it)."""
    assert SPOT is not None
    side, limit = draw(sides), draw(prices)
    parts = draw(st.lists(quantities, min_size=1, max_size=6))
    order = new_order(1, SPOT, side, sum(parts, D(0)), limit)
    fills = []
    for part in parts:
        price = draw(prices.filter(lambda p: p <= limit if side is Side.BUY else p >= limit))
        fills.append((price, part, draw(st.booleans())))
    return order, fills


@settings(max_examples=200, deadline=None)
@given(spot_fills())
def test_spot_fill_charges_its_fee_once(case: tuple[Order, list[tuple[D, D, bool]]]) -> None:
    assert SPOT is not None
    order, fills = case
    ledger = Ledger(MARKETS, {"USDT": D("10") ** 9, "BTC": D(1000)}, {}, FEES, 20, {}, list)
    current = place(ledger, order)
    assert current is not None
    sign = D(1) if order.side is Side.BUY else D(-1)
    for n, (price, qty, maker) in enumerate(fills, start=2):
        before = totals(ledger)
        settled = ledger.settle(SPOT, current, price, qty, maker, n)
        assert settled.fee == price * qty * (FEES.maker if maker else FEES.taker)
        after = totals(ledger)
        assert after["BTC"] - before["BTC"] == sign * qty
        assert after["USDT"] - before["USDT"] == -sign * price * qty - settled.fee
        assert 0 <= settled.order.locked <= current.locked
        current = settled.order.with_fill(price, qty, n)
    ledger.release(current, 99)
    assert all(b.locked == 0 and b.free >= 0 for b in ledger.spot.snapshot().values())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(sides, quantities, prices, st.booleans()), min_size=1, max_size=20))
def test_perp_fill_puts_pnl_minus_one_fee_in_the_wallet(
    fills: list[tuple[Side, D, D, bool]],
) -> None:
    assert PERP is not None
    ledger = new_ledger()
    for n, (side, qty, price, maker) in enumerate(fills, start=1):
        before = ledger.margin.wallet["USDT"]
        order = new_order(n, PERP, side, qty, price)
        settled = ledger.settle(PERP, order, price, qty, maker, n)
        assert settled.fee == price * qty * (FEES.maker if maker else FEES.taker)
        assert ledger.margin.wallet["USDT"] - before == settled.realized_pnl - settled.fee
        assert settled.order == order  # a perpetual order holds no lock
        assert ledger.spot.snapshot() == new_ledger().spot.snapshot()
