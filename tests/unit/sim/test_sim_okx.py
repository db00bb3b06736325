"""The OKX dialect's pure parts: signature, login, rate limits, sizes, and the engine's
two OKX behaviours (a taking post-only order is canceled; a spot amend moves its lock)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setpoint.core.model import Side
from setpoint.sim import okx_auth, okx_wire
from setpoint.sim.engine import Engine
from setpoint.sim.limits import RateLimiter
from setpoint.sim.markets import DEFAULT_MARKETS
from setpoint.sim.okx_auth import Credential
from setpoint.sim.okx_errors import OkxError
from setpoint.sim.orders import OrderKind, OrderRequest, Reason, Rejected, Tif

KEYS = {"k": Credential("s", "p")}
NOW_MS = 1_607_418_537_715  # 2020-12-08T09:08:57.715Z


def _headers(signature: str, **changes: str) -> dict[str, str]:
    headers = {
        "OK-ACCESS-KEY": "k",
        "OK-ACCESS-PASSPHRASE": "p",
        "OK-ACCESS-TIMESTAMP": "2020-12-08T09:08:57.715Z",
        "OK-ACCESS-SIGN": signature,
    }
    headers.update(changes)
    return headers


def test_rest_signature_covers_timestamp_method_path_and_body() -> None:
    body = '{"instId":"BTC-USDT"}'
    good = okx_auth.sign("2020-12-08T09:08:57.715ZPOST/api/v5/trade/order" + body, "s")
    assert okx_auth.verify_rest(_headers(good), "POST", "/api/v5/trade/order", body, KEYS, NOW_MS)
    with pytest.raises(OkxError, match="50113"):
        okx_auth.verify_rest(_headers(good), "POST", "/api/v5/trade/order", "{}", KEYS, NOW_MS)
    query = okx_auth.sign("2020-12-08T09:08:57.715ZGET/api/v5/trade/order?instId=BTC-USDT", "s")
    path = "/api/v5/trade/order?instId=BTC-USDT"
    assert okx_auth.verify_rest(_headers(query), "GET", path, "", KEYS, NOW_MS) == "k"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"OK-ACCESS-KEY": ""}, "50103"),
        ({"OK-ACCESS-KEY": "other"}, "50111"),
        ({"OK-ACCESS-PASSPHRASE": ""}, "50104"),
        ({"OK-ACCESS-PASSPHRASE": "q"}, "50105"),
        ({"OK-ACCESS-TIMESTAMP": ""}, "50112"),
    ],
)
def test_rest_header_errors(changes: dict[str, str], code: str) -> None:
    with pytest.raises(OkxError, match=code):
        okx_auth.verify_rest(_headers("x", **changes), "GET", "/api/v5/x", "", KEYS, NOW_MS)


def test_rest_timestamp_outside_thirty_seconds() -> None:
    late = okx_auth.sign("2020-12-08T09:08:57.715ZGET/api/v5/x", "s")
    with pytest.raises(OkxError, match="50102"):
        okx_auth.verify_rest(_headers(late), "GET", "/api/v5/x", "", KEYS, NOW_MS + 30_001)
    bad = okx_auth.sign("yesterdayGET/api/v5/x", "s")
    with pytest.raises(OkxError, match="50112"):
        okx_auth.verify_rest(
            _headers(bad, **{"OK-ACCESS-TIMESTAMP": "yesterday"}), "GET", "/api/v5/x", "",
            KEYS, NOW_MS,
        )  # fmt: skip


def test_websocket_login() -> None:
    stamp = str(NOW_MS // 1000)
    login = {"apiKey": "k", "passphrase": "p", "timestamp": stamp,
             "sign": okx_auth.sign(stamp + "GET/users/self/verify", "s")}  # fmt: skip
    assert okx_auth.verify_login([login], KEYS, NOW_MS) == "k"
    for changes, code in (
        ({"apiKey": "x"}, "60005"),
        ({"passphrase": "x"}, "60024"),
        ({"timestamp": "1"}, "60004"),
        ({"timestamp": "soon"}, "60004"),
        ({"sign": "x"}, "60007"),
    ):
        with pytest.raises(OkxError, match=code):
            okx_auth.verify_login([{**login, **changes}], KEYS, NOW_MS)
    with pytest.raises(OkxError, match="60012"):
        okx_auth.verify_login(login, KEYS, NOW_MS)


def test_rate_limiter_counts_per_endpoint_and_instrument_in_a_sliding_window() -> None:
    limiter = RateLimiter({"trade/order": 2}, window_ms=2000)
    assert [limiter.admit("trade/order", "BTC-USDT", t) for t in (0, 1, 2)] == [True, True, False]
    assert limiter.admit("trade/order", "ETH-USDT", 2)
    assert limiter.admit("trade/fills", "BTC-USDT", 2)  # not limited
    assert not limiter.admit("trade/order", "BTC-USDT", 1999)
    assert limiter.admit("trade/order", "BTC-USDT", 2000)  # the first left the window


@given(contracts=st.integers(min_value=1, max_value=10**6))
def test_swap_sizes_round_trip_through_contracts(contracts: int) -> None:
    swap = DEFAULT_MARKETS[2]
    size = Decimal(contracts) / 1000  # a multiple of the lot size (0.001 contracts)
    quantity = okx_wire.from_size(swap, size)
    assert swap.filter_failure(None, quantity) in (None, "LOT_SIZE")
    assert Decimal(okx_wire.to_size(swap, quantity)) == size
    assert okx_wire.inst_id(swap) == "BTC-USDT-SWAP"


def _engine() -> Engine:
    return Engine(
        DEFAULT_MARKETS,
        {"USDT": Decimal(100000), "BTC": Decimal(10)},
        {"USDT": Decimal(100000)},
        {"BTC/USDT": Decimal(60000), "BTC/USDT:USDT": Decimal(60000)},
    )


def test_a_taking_post_only_order_is_canceled_when_asked() -> None:
    engine = _engine()
    engine.set_liquidity("BTC/USDT", Side.SELL, [(Decimal(60000), Decimal(1))])
    request = OrderRequest(
        "BTC/USDT", Side.BUY, OrderKind.LIMIT_MAKER, Decimal("0.01"), Decimal(60000)
    )
    with pytest.raises(Rejected) as refused:
        engine.place(request, 1)
    assert refused.value.reason is Reason.WOULD_TAKE
    order, _events = engine.place(request, 2, post_only_cancels=True)
    assert (order.status.value, order.filled, order.locked) == ("CANCELED", 0, 0)
    assert engine.spot.balance("USDT").locked == 0
    assert engine.trades == []


def test_a_spot_amend_moves_the_lock_and_refuses_what_the_balance_cannot_cover() -> None:
    engine = _engine()
    request = OrderRequest("BTC/USDT", Side.SELL, OrderKind.LIMIT, Decimal(2), Decimal(70000))
    order, _ = engine.place(request, 1, post_only_cancels=True)
    amended, _ = engine.amend("BTC/USDT", order_id=order.order_id, quantity=Decimal(5),
                              price=Decimal(71000), now_us=2)  # fmt: skip
    assert (amended.quantity, amended.locked, engine.spot.balance("BTC").locked) == (5, 5, 5)
    with pytest.raises(Rejected) as refused:
        engine.amend("BTC/USDT", order_id=order.order_id, quantity=Decimal(11),
                     price=Decimal(71000), now_us=3)  # fmt: skip
    assert refused.value.reason is Reason.INSUFFICIENT_BALANCE
    assert engine.spot.balance("BTC").locked == 5  # nothing changed
    buy, _ = engine.place(
        OrderRequest("BTC/USDT", Side.BUY, OrderKind.LIMIT, Decimal(1), Decimal(50000),
                     Tif.GTC), 4,
    )  # fmt: skip
    engine.amend("BTC/USDT", order_id=buy.order_id, quantity=Decimal(1), price=Decimal(40000),
                 now_us=5)  # fmt: skip
    assert engine.spot.balance("USDT").locked == Decimal(40000) * Decimal("1.0005")
