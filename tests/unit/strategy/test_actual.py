"""The strategies' fold of a key's log: intents, fills once, position (as the core counts)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from logfacts import ACCOUNT, BUY, IOC, SELL, expired, fill, fold, placed, submitted
from tests.unit.core.strategies import KEY as CORE_KEY
from tests.unit.core.strategies import (
    Log,
    PerfectVenue,
    positions,
    run_history,
    target_orders,
)

from setpoint.core.events import (
    Event,
    FillObserved,
    FillSource,
    ObservationSource,
    OrderCancelled,
    OrderCancelledData,
    OrderObserved,
    OrderRejected,
    OrderRejectedData,
    OrderStatus,
    Origin,
    PositionObserved,
    PositionObservedData,
)
from setpoint.core.ids import client_order_id
from setpoint.core.model import Key, Producer, Side, TargetOrder
from setpoint.strategy.actual import ActualProjection
from setpoint.testing.synthetic import fill_data, observed_data

SYMBOL = "BTC/USDT"
GTC_BUY = TargetOrder(id="b1", side=BUY, price=Decimal("100"), quantity=Decimal("2"))
IOC_BUY = TargetOrder(
    id="i1", side=BUY, price=Decimal("100"), quantity=Decimal("2"), time_in_force=IOC
)


def test_a_fill_seen_twice_counts_once() -> None:
    once = fill(SYMBOL, GTC_BUY, "0.5")
    state = fold(SYMBOL, [submitted(SYMBOL, GTC_BUY), placed(SYMBOL, GTC_BUY), once, once])
    assert state.position == Decimal("0.5")
    assert len(state.fills) == 1
    intent = state.intents["b1"]
    assert intent.filled == Decimal("0.5")
    assert not intent.consumed
    assert intent.open


def test_complete_fill_consumes() -> None:
    events: list[Event] = [submitted(SYMBOL, GTC_BUY), placed(SYMBOL, GTC_BUY)]
    events += [fill(SYMBOL, GTC_BUY, "1.5"), fill(SYMBOL, GTC_BUY, "0.5")]
    intent = fold(SYMBOL, events).intents["b1"]
    assert intent.complete
    assert intent.consumed
    assert intent.finished_at is not None


def test_finished_ioc_is_consumed_whatever_it_filled() -> None:
    events: list[Event] = [submitted(SYMBOL, IOC_BUY), placed(SYMBOL, IOC_BUY)]
    events += [fill(SYMBOL, IOC_BUY, "0.84"), expired(SYMBOL, IOC_BUY, "0.84")]
    state = fold(SYMBOL, events)
    intent = state.intents["i1"]
    assert intent.consumed
    assert not intent.complete
    assert state.position == Decimal("0.84")
    assert state.open_orders == ()


def test_a_lost_ioc_attempt_does_not_consume_and_a_late_fill_of_it_does() -> None:
    coid = client_order_id(ACCOUNT, SYMBOL, IOC_BUY.id, 1)
    lost = OrderCancelled.create(
        Key(ACCOUNT, SYMBOL),
        Producer.GATEWAY,
        OrderCancelledData(client_order_id=coid, filled=Decimal(0), reason="lost"),
    )
    events: list[Event] = [submitted(SYMBOL, IOC_BUY), lost]
    assert not fold(SYMBOL, events).consumed("i1")  # placed again under attempt 2
    assert fold(SYMBOL, [*events, fill(SYMBOL, IOC_BUY, "0.5")]).consumed("i1")


def test_venue_cancel_of_a_gtc_order_does_not_consume() -> None:
    events: list[Event] = [submitted(SYMBOL, GTC_BUY), placed(SYMBOL, GTC_BUY)]
    events.append(expired(SYMBOL, GTC_BUY, "0"))
    assert not fold(SYMBOL, events).consumed("b1")


def test_rejected_intent_is_consumed() -> None:
    coid = client_order_id("demo", SYMBOL, "b1", 1)
    rejected = OrderRejected.create(
        Key("demo", SYMBOL),
        Producer.EXECUTOR,
        OrderRejectedData(client_order_id=coid, reason="insufficient balance"),
    )
    state = fold(SYMBOL, [submitted(SYMBOL, GTC_BUY), rejected])
    assert state.consumed("b1")
    assert state.intents["b1"].rejected


# --------------------------------------------------------------------------- as the core


PERP_SYMBOL = "BTC/USDT:USDT"


def _inferred(symbol: str, order: TargetOrder, quantity: str, order_filled: str) -> FillObserved:
    """The inferred fill reconciliation records when the venue reports `order_filled`."""
    coid = client_order_id(ACCOUNT, symbol, order.id, 1)
    data = fill_data(
        coid, f"v-{coid}", order.side, order.price or Decimal(1), Decimal(quantity),
        trade_id=f"inferred-{coid}-{order_filled}", source=FillSource.INFERRED,
    ).model_copy(update={"order_filled": Decimal(order_filled)})  # fmt: skip
    return FillObserved.create(Key(ACCOUNT, symbol), Producer.GATEWAY, data)


def _position(symbol: str, quantity: str, fills_net: str | None) -> PositionObserved:
    net = None if fills_net is None else Decimal(fills_net)
    data = PositionObservedData(quantity=Decimal(quantity), fills_net=net)
    return PositionObserved.create(Key(ACCOUNT, symbol), Producer.GATEWAY, data)


def test_an_inferred_fill_and_the_real_trade_it_stands_for_count_once() -> None:
    events: list[Event] = [submitted(SYMBOL, GTC_BUY), placed(SYMBOL, GTC_BUY)]
    events.append(fill(SYMBOL, GTC_BUY, "0.5"))
    events.append(_inferred(SYMBOL, GTC_BUY, "1.0", order_filled="1.5"))  # venue: 1.5 filled
    inferred = fold(SYMBOL, events)
    assert inferred.position == Decimal("1.5")
    assert inferred.intents["b1"].filled == Decimal("1.5")
    events.append(fill(SYMBOL, GTC_BUY, "1.0"))  # the real trade the inference stood for
    state = fold(SYMBOL, events)
    assert state.position == Decimal("1.5")
    assert state.orders[0].filled == Decimal("1.5")
    intent = state.intents["b1"]
    assert intent.filled == Decimal("1.5")
    assert not intent.complete
    assert not intent.consumed
    events.append(fill(SYMBOL, GTC_BUY, "0.5"))  # a further trade adds
    state = fold(SYMBOL, events)
    assert state.position == Decimal(2)
    assert state.intents["b1"].complete


def test_a_position_read_keeps_the_fills_it_does_not_include_on_top() -> None:
    """The read included the first fill (`fills_net` 0.5); the second was counted after it
    and stays on top, as does every later fill. Without `fills_net` the quantity replaces."""
    events: list[Event] = [submitted(PERP_SYMBOL, GTC_BUY), placed(PERP_SYMBOL, GTC_BUY)]
    events.append(fill(PERP_SYMBOL, GTC_BUY, "0.5"))
    events.append(fill(PERP_SYMBOL, GTC_BUY, "0.3"))  # after the read
    events.append(_position(PERP_SYMBOL, "5.5", fills_net="0.5"))
    assert fold(PERP_SYMBOL, events).position == Decimal("5.8")
    events.append(fill(PERP_SYMBOL, GTC_BUY, "0.2"))
    assert fold(PERP_SYMBOL, events).position == Decimal("6.0")
    events.append(_position(PERP_SYMBOL, "4", fills_net=None))
    assert fold(PERP_SYMBOL, events).position == Decimal(4)


def _observed(
    coid: str | None, order_id: str, side: Side, quantity: str, filled: str, status: OrderStatus,
    origin: Origin = Origin.OURS, adopted: bool = False,
) -> OrderObserved:  # fmt: skip
    data = observed_data(
        coid, order_id, side, Decimal(100), Decimal(quantity), source=ObservationSource.QUERY,
        filled=Decimal(filled), status=status, origin=origin, adopted=adopted,
    )  # fmt: skip
    return OrderObserved.create(Key(ACCOUNT, SYMBOL), Producer.GATEWAY, data)


def _trade(coid: str | None, order_id: str, side: Side, quantity: str, trade_id: str) -> Event:
    data = fill_data(coid, order_id, side, Decimal(100), Decimal(quantity), trade_id=trade_id)
    return FillObserved.create(Key(ACCOUNT, SYMBOL), Producer.GATEWAY, data)


def test_fills_count_toward_the_order_the_core_finds_and_move_only_ours() -> None:
    """Foreign orders' fills leave the position alone, adopted ones move it; a fill naming
    only the venue id counts toward our order; an unknown order's fill counts when its
    client id is ours; an amended quantity caps the count; a closed order ignores updates.
    Exactly as the core projection counts (folded alongside)."""
    ours = client_order_id(ACCOUNT, SYMBOL, GTC_BUY.id, 1)
    events: list[Event] = [submitted(SYMBOL, GTC_BUY), placed(SYMBOL, GTC_BUY)]
    events += [
        _observed(None, "f1", SELL, "1", "0", OrderStatus.NEW, Origin.FOREIGN),
        _observed("x-1", "f2", BUY, "1", "0", OrderStatus.NEW, Origin.FOREIGN, adopted=True),
        _trade(None, "f1", SELL, "0.4", "t-f1"),  # foreign: not ours to count
        _trade("x-1", "f2", BUY, "0.3", "t-f2"),  # adopted: +0.3
        _trade(None, f"v-{ours}", BUY, "0.5", "t-o1"),  # ours, by venue id: +0.5
        _trade("sp-unknown-1", "u1", BUY, "0.1", "t-u1"),  # unknown, ours by id: +0.1
        _trade("ext-1", "u2", BUY, "0.2", "t-u2"),  # unknown, not ours
        _observed(ours, f"v-{ours}", BUY, "1", "0.5", OrderStatus.PARTIALLY_FILLED),  # amended
        _trade(ours, f"v-{ours}", BUY, "0.8", "t-o2"),  # capped at 1: +0.5, FILLED
        _observed(ours, f"v-{ours}", BUY, "3", "1", OrderStatus.NEW),  # closed: ignored
        _trade(ours, f"v-{ours}", BUY, "0.5", "t-o3"),  # no room left
    ]
    log = Log()
    projection = ActualProjection(SYMBOL)
    for event in events:
        log.append(event)
        projection.apply(event)
        assert projection.position == log.ka().position
    state = projection.snapshot()
    assert state.position == Decimal("1.4")
    record = log.ka().order(ours)
    assert record is not None
    assert state.orders[0].filled == record.done == Decimal(1)
    assert [f.intent_id for f in state.fills if f.trade_id.startswith("t-o")] == ["b1"] * 3


# A random history of the key (see `tests.unit.core.strategies.run_history`), biased to
# fills, plus "posnet": a position read that includes only part of the fills counted so far.
_STEPS = ["publish", "execute", "half", "fill", "dupfill", "infer", "vcancel", "inflight"]
_STEPS += ["lost", "pos", "posnet", "fill", "infer", "execute"]
_history = st.lists(st.tuples(st.sampled_from(_STEPS), st.integers(0, 10_000)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(_history, st.lists(st.tuples(target_orders(), positions), min_size=1, max_size=3))
def test_the_strategy_view_counts_as_the_core_projection(
    history: list[tuple[str, int]], targets: list[object]
) -> None:
    """Whatever the history (fills, duplicates, inferred fills and the trades they stand
    for, lost attempts, position reads with and without `fills_net`), the strategy sees the
    position and filled quantities the differ sees."""
    log, venue = Log(), PerfectVenue()
    for n, (what, seed) in enumerate([("publish", 0), ("execute", 0), *history]):
        if what == "posnet":
            net = log.ka(CORE_KEY).fill_net - Decimal(seed % 3) / 10
            data = PositionObservedData(quantity=Decimal(seed % 7) / 4, fills_net=net)
            log.append(PositionObserved.create(CORE_KEY, Producer.GATEWAY, data))
        else:
            run_history(log, venue, [(what, seed)], targets[n % len(targets) :] + targets)
    key = log.ka(CORE_KEY)
    assert CORE_KEY.symbol is not None
    projection = ActualProjection(CORE_KEY.symbol)
    for record in log.records:
        projection.apply(record.event)
    state = projection.snapshot()
    assert state.position == key.position
    for order in state.orders:
        record = key.order(order.client_order_id)
        assert record is not None
        assert order.filled == record.done
    for intent_id, intent in state.intents.items():
        assert intent.filled == key.progress(intent_id).filled
