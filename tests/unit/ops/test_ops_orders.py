"""`setpoint orders` (the listing folded from the log) and decimals at a market's precision."""

from __future__ import annotations

import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from setpoint.core.model import Key, Side
from setpoint.core.numeric import at_increment
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.ops import orders as orders_cmd
from setpoint.ops import output
from setpoint.ops.replay import replay
from setpoint.testing.synthetic import ChainBuilder, buy, market, markets_loaded, write

SPOT = Key("alpha", "BTC/USDT")
D = Decimal


async def _listing(b: ChainBuilder, **kw: object) -> dict[str, object]:
    log = InMemoryEventLog()
    await write(log, b.events)
    return orders_cmd.listing(await replay(log, progress=False), **kw)  # type: ignore[arg-type]


async def test_orders_newest_first_with_status_and_limit() -> None:
    b = ChainBuilder()
    first = b.submitted(SPOT, buy("a", price="60000"))
    _, placed = b.placed(b.submitted(SPOT, buy("b", price="59990")))
    b.fill(placed, D("0.010"))
    b.foreign(SPOT, "9999", Side.SELL, D("61000"), D("1"))
    body = await _listing(b)
    [key] = body["keys"]  # type: ignore[misc]
    rows = [(o["intent_id"], o["status"], o["origin"]) for o in key["orders"]]
    assert rows == [("b", "FILLED", "ours"), ("a", "in flight", "ours"), (None, "NEW", "foreign")]
    assert key["orders"][1]["client_order_id"] == first.data.client_order_id
    limited = await _listing(b, limit=1)
    assert len(limited["keys"][0]["orders"]) == 1  # type: ignore[index]
    assert (await _listing(b, symbol="ETH/USDT"))["keys"] == []


async def test_the_table_writes_prices_at_the_tick_and_quantities_at_the_step() -> None:
    b = ChainBuilder()
    b.events.append(markets_loaded("alpha", market("BTC/USDT", step=D("0.0001"))))
    b.submitted(SPOT, buy("a", price="60000", qty="0.01"))
    log = InMemoryEventLog()
    await write(log, b.events)
    replayed = await replay(log, progress=False)
    body = orders_cmd.listing(replayed)
    out = io.StringIO()
    orders_cmd.render(body, orders_cmd.markets_of(replayed.actual, body), output.console(out))
    assert "60000.00" in out.getvalue()
    assert "0.0100" in out.getvalue()
    empty = io.StringIO()
    orders_cmd.render({"position": 0, "keys": []}, console=output.console(empty))
    assert "no orders in the log" in empty.getvalue()


INCREMENTS = st.sampled_from([D("0.01"), D("0.5"), D("1"), D("10"), D("0.00001"), D("1E-8")])
VALUES = st.decimals(min_value=-(10**9), max_value=10**9, places=10, allow_nan=False)


@given(VALUES, INCREMENTS)
def test_at_increment_never_changes_the_value(value: Decimal, increment: Decimal) -> None:
    text = at_increment(value, increment)
    assert D(text) == value
    places = max(0, -increment.normalize().as_tuple().exponent)  # type: ignore[operator]
    assert len(text.partition(".")[2]) >= places


def test_at_increment_examples() -> None:
    assert at_increment(D("60000"), D("0.01")) == "60000.00"
    assert at_increment(D("0.01"), D("0.0001")) == "0.0100"
    assert at_increment(D("59940.125"), D("0.01")) == "59940.125"
    assert at_increment(D("1E+2"), D("10")) == "100"
    assert at_increment(D("3"), None) == "3"
