"""Pacing as the venue counts (`ratelimit.Pacer` over a `RateModel`), on a clock of the
test's own: the tests read how long each request was told to wait, never time itself."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.clocks import Clock

from setpoint.venues.capabilities import BINANCE_RATES, OKX_RATES
from setpoint.venues.ratelimit import (
    CallModel,
    Limit,
    Pacer,
    Request,
    SlidingWindow,
    WeightModel,
)


def small_binance(weight: int, orders: int) -> WeightModel:
    return WeightModel(
        weight={f: Limit(f"w-{f}", weight, 60.0) for f in ("spot", "linear")},
        order_count={f: Limit(f"o-{f}", orders, 10.0) for f in ("spot", "linear")},
        weights=BINANCE_RATES.weights,
        orders=BINANCE_RATES.orders,
    )


OPEN_ALL = Request("private", "GET", "openOrders", {})
OPEN_ONE = Request("private", "GET", "openOrders", {"symbol": "BTCUSDT"})
PLACE = Request("private", "POST", "order", {"symbol": "BTCUSDT"})
FAPI_PLACE = Request("fapiPrivate", "POST", "order", {"symbol": "BTCUSDT"})


def test_binance_charges_its_weights_and_order_counts() -> None:
    charges = BINANCE_RATES.charges
    assert [(c.limit.name, c.cost) for c in charges(OPEN_ONE)] == [("binance-spot-weight", 6)]
    assert [c.cost for c in charges(OPEN_ALL)] == [80]
    assert [(c.limit.name, c.cost) for c in charges(PLACE)] == [
        ("binance-spot-weight", 1),
        ("binance-spot-orders", 1),
    ]
    assert [(c.limit.name, c.cost) for c in charges(FAPI_PLACE)] == [
        ("binance-usdm-weight", 0),
        ("binance-usdm-orders", 1),
    ]


def test_okx_counts_order_entry_per_endpoint_and_instrument() -> None:
    a = OKX_RATES.charges(Request("private", "POST", "trade/order", {"instId": "BTC-USDT"}))
    b = OKX_RATES.charges(Request("private", "POST", "trade/order", {"instId": "ETH-USDT"}))
    (ca,), (cb,) = a, b
    assert ca.limit is cb.limit
    assert (ca.limit.capacity, ca.limit.window_s) == (60, 2.0)
    assert (ca.scope, cb.scope) == ("BTC-USDT", "ETH-USDT")
    (pending,) = OKX_RATES.charges(Request("private", "GET", "trade/orders-pending", {}))
    assert pending.scope == ""


async def test_weight_beyond_the_minute_waits_for_the_window_to_slide() -> None:
    clock = Clock()
    pacer = Pacer(small_binance(20, 100), clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await pacer.acquire(OPEN_ONE)  # 18 of 20
    assert clock.waits == []
    await pacer.acquire(OPEN_ONE)  # 24 > 20: the first booking must leave the window
    assert clock.waits == [pytest.approx(60.0)]


async def test_instruments_do_not_wait_for_each_other_on_okx() -> None:
    clock = Clock()
    model = OKX_RATES
    pacer = Pacer(model, clock=clock, sleep=clock.sleep)
    for _ in range(60):
        await pacer.acquire(Request("private", "POST", "trade/order", {"instId": "BTC-USDT"}))
    await pacer.acquire(Request("private", "POST", "trade/order", {"instId": "ETH-USDT"}))
    assert clock.waits == []
    await pacer.acquire(Request("private", "POST", "trade/order", {"instId": "BTC-USDT"}))
    assert clock.waits == [pytest.approx(2.0)]


async def test_the_venues_own_count_is_trusted_over_ours() -> None:
    clock = Clock()
    pacer = Pacer(small_binance(100, 100), clock=clock, sleep=clock.sleep)
    await pacer.acquire(OPEN_ONE)
    pacer.observe(OPEN_ONE, {"X-MBX-USED-WEIGHT-1M": "97"})  # others use this IP too
    await pacer.acquire(OPEN_ONE)  # 97 + 6 > 100
    assert clock.waits == [pytest.approx(60.0)]


async def test_malformed_weight_headers_are_ignored() -> None:
    clock = Clock()
    pacer = Pacer(small_binance(100, 100), clock=clock, sleep=clock.sleep)
    for bad in ("", "-1", "many", "1.5"):
        pacer.observe(OPEN_ONE, {"x-mbx-used-weight-1m": bad})
    await pacer.acquire(OPEN_ONE)
    assert clock.waits == []


async def test_charged_requests_never_wait_but_count() -> None:
    clock = Clock()
    pacer = Pacer(small_binance(100, 2), clock=clock, sleep=clock.sleep)
    pacer.charge(PLACE)
    pacer.charge(PLACE)
    assert clock.waits == []
    await pacer.acquire(PLACE)  # the third order of 10 s
    assert clock.waits == [pytest.approx(10.0)]


async def test_a_penalty_holds_every_count_back() -> None:
    clock = Clock()
    pacer = Pacer(CallModel(Limit("calls", 100, 1.0)), clock=clock, sleep=clock.sleep)
    pacer.penalize(1.5)
    await pacer.acquire(Request("public", "GET", "anything"))
    assert clock.waits == [pytest.approx(1.5)]


async def test_extra_limits_of_our_own_count_too() -> None:
    clock = Clock()
    pacer = Pacer(OKX_RATES, (Limit("ours", 1, 1.0),), clock=clock, sleep=clock.sleep)
    await pacer.acquire(Request("private", "GET", "account/balance"))
    await pacer.acquire(Request("private", "GET", "account/balance"))
    assert clock.waits == [pytest.approx(1.0)]


def test_a_window_never_holds_more_than_its_capacity() -> None:
    window = SlidingWindow(5, 10.0)
    times = [0.0 + window.reserve(0.0, 2) for _ in range(6)]
    assert times == [0.0, 0.0, 10.0, 10.0, 20.0, 20.0]
    assert window.reserve(0.0, 50) == 30.0  # a cost above the capacity takes it all


def _scan_reserve(entries: list[tuple[float, int]], capacity: int, window: float, now: float,
                  cost: int) -> float:  # fmt: skip
    """The window's rule by a plain pass over every booking (what `reserve` must agree with)."""
    entries[:] = [e for e in entries if e[0] > now - window]
    cost, at = min(cost, capacity), now
    while sum(c for t, c in entries if t + window > at) + cost > capacity:
        at = min(t for t, _ in entries if t + window > at) + window
    entries.append((at, cost))
    entries.sort()
    return at - now


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 20),
    st.sampled_from([0.3, 1.0, 10.0]),
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0, 3.0]), st.integers(1, 25),
                  st.booleans()),
        max_size=60,
    ),
)  # fmt: skip
def test_the_window_books_as_a_pass_over_every_booking_would(
    capacity: int, window_s: float, steps: list[tuple[float, int, bool]]
) -> None:
    window, plain, now = SlidingWindow(capacity, window_s), [], 0.0
    for advance, cost, observed in steps:
        now += advance
        if observed:  # the venue's own count, as `at_least` books it
            window.at_least(now, cost)
            plain[:] = [e for e in plain if e[0] > now - window_s]
            missing = min(cost, capacity) - sum(c for _, c in plain)
            if missing > 0:
                plain.append((now, missing))
                plain.sort()
        else:
            assert window.reserve(now, cost) == _scan_reserve(plain, capacity, window_s, now, cost)
        assert window.used(now) == sum(c for t, c in plain if t > now - window_s)


@pytest.mark.parametrize(("capacity", "window_s"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, -2.0)])
def test_a_malformed_limit_is_refused(capacity: int, window_s: float) -> None:
    with pytest.raises(ValueError, match="capacity >= 1 and window_s > 0"):
        Limit("bad", capacity, window_s)


async def test_an_account_allowed_more_sets_its_own_capacity() -> None:
    clock = Clock()
    pacer = Pacer(small_binance(100, 2), capacities={"o-spot": 4}, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        await pacer.acquire(PLACE)
    assert clock.waits == []
    await pacer.acquire(PLACE)  # the fifth order of 10 s
    assert clock.waits == [pytest.approx(10.0)]


def test_charged_requests_are_booked_when_sent_so_the_window_stays_short() -> None:
    """Requests paced elsewhere arrive faster than the count allows: each is booked at its
    own time, so the window keeps only the last `window_s` of them (never a queue of
    bookings ahead of time that every later request would have to walk past)."""
    window = SlidingWindow(2, 10.0)
    for i in range(1000):
        window.record(i * 0.1, 1)
    assert len(window.entries) == 100
    assert window.used(99.9) == 100
    assert window.reserve(99.9, 1) == pytest.approx(9.9)  # room for one: all but the last gone
