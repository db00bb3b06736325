"""The audit counts fills as the actual projection does (`core.fillcount`): an inferred
fill and the real trades it stood for count once, a position report that names the fills
it includes (`fills_net`) keeps later fills on top, and a lost attempt placed again under
the next attempt is one intent. Correct logs of each kind are clean; the same invariants
still catch what is really wrong."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.core.strategies import Rec
from tests.unit.core.test_audit import PERP, SPOT, audit, broken, order

from setpoint.core.audit import (
    FILL_WITHIN_QUANTITY,
    ONE_LIVE_ORDER,
    POSITION_MATCHES_FILLS,
    AuditChecker,
    AuditLimits,
    AuditReport,
)
from setpoint.core.events import (
    Event,
    FillObserved,
    FillSource,
    OrderCancelled,
    OrderCancelledData,
    OrderSubmitted,
    PositionObserved,
)
from setpoint.core.fillcount import count_fill
from setpoint.core.model import Key, Producer, Side, TimeInForce
from setpoint.core.projections import KeyActual, rebuild
from setpoint.testing.synthetic import ChainBuilder, Placed, buy

D = Decimal
SETTLE = timedelta(minutes=3)  # more than AuditLimits.position_settle


def inferred(b: ChainBuilder, placed: Placed, venue_filled: str, quantity: str) -> FillObserved:
    """What reconciliation records when the venue reports `venue_filled` for the order
    but the trades read lacks some: one inferred fill of `quantity`, naming the figure."""
    fill = b.fill(placed, D(quantity), trade_id=f"inferred-{placed.client_order_id}-{venue_filled}")
    data = fill.data.model_copy(
        update={"source": FillSource.INFERRED, "order_filled": D(venue_filled)}
    )
    event = fill.model_copy(update={"data": data})
    b.events[-1] = event
    return event


def report(b: ChainBuilder, key: Key, quantity: str, fills_net: str | None) -> PositionObserved:
    """The venue's position; with `fills_net`, the running fill net it already includes."""
    event = b.position(key, D(quantity))
    if fills_net is not None:
        data = event.data.model_copy(update={"fills_net": D(fills_net)})
        event = event.model_copy(update={"data": data})
        b.events[-1] = event
    return event


def projected(events: Sequence[Event], key: Key) -> KeyActual:
    """The key as the actual projection folds `events`."""
    _, actual = rebuild(Rec(position, e) for position, e in enumerate(events, start=1))
    return actual.key(key)


# --------------------------------------------------------------------------- inferred fills


def test_an_inferred_fill_and_the_real_trade_it_stood_for_count_once() -> None:
    b = ChainBuilder()
    placed = order(b, PERP)  # 0.010
    b.position(PERP, D("0"))
    b.fill(placed, D("0.002"))
    inferred(b, placed, "0.006", "0.004")  # a trade of 0.004 missing from the trades read
    b.position(PERP, D("0.006"))
    b.fill(placed, D("0.004"))  # the missing trade, under its own id: replaces the inference
    b.advance(SETTLE)
    b.position(PERP, D("0.006"))
    b.fill(placed, D("0.004"))  # a later trade: adds, up to the order's quantity exactly
    b.advance(SETTLE)
    b.position(PERP, D("0.010"))
    b.advance(SETTLE)
    b.position(PERP, D("0.010"))
    report_ = audit(b.events)
    assert report_.clean, report_.violations
    assert report_.counts.fills == 4
    ka = projected(b.events, PERP)
    assert (ka.position, ka.orders[placed.client_order_id].filled) == (D("0.010"), D("0.010"))


def test_real_trades_then_a_late_inferred_fill_count_once() -> None:
    b = ChainBuilder()
    placed = order(b)
    b.fill(placed, D("0.004"))
    b.fill(placed, D("0.002"))
    inferred(b, placed, "0.006", "0.006")  # computed before the two trades were folded
    b.fill(placed, D("0.004"))
    assert audit(b.events).clean


def test_real_trades_beyond_the_venue_report_are_caught_when_they_exceed_the_order() -> None:
    b = ChainBuilder()
    placed = order(b)  # 0.010
    inferred(b, placed, "0.006", "0.006")
    b.fill(placed, D("0.006"))  # the trade the inference stood for
    b.fill(placed, D("0.005"))  # real trades now add up to 0.011
    report_ = audit(b.events)
    assert broken(report_) == [(FILL_WITHIN_QUANTITY, len(b.events))]
    assert "fills add up to 0.011" in report_.violations[0].detail


def test_an_inferred_fill_without_the_venue_figure_adds_its_quantity() -> None:
    """Older logs: an inferred fill without `order_filled` adds what it names; real trades
    after it replace it all the same."""
    b = ChainBuilder()
    placed = order(b)  # 0.010
    b.fill(placed, D("0.004"))
    event = inferred(b, placed, "0.006", "0.004")
    b.events[-1] = event.model_copy(
        update={"data": event.data.model_copy(update={"order_filled": None})}
    )
    assert projected(b.events, SPOT).orders[placed.client_order_id].filled == D("0.008")
    b.fill(placed, D("0.004"))  # the trade it stood for
    assert audit(b.events).clean
    b.fill(placed, D("0.003"))  # real trades: 0.011
    assert broken(audit(b.events)) == [(FILL_WITHIN_QUANTITY, len(b.events))]


_UNIT = D("0.001")


@settings(max_examples=60, deadline=None)
@given(
    trades=st.lists(st.integers(1, 4), min_size=1, max_size=5).filter(lambda t: sum(t) <= 10),
    reports=st.lists(st.integers(1, 5), max_size=3, unique=True),
    extra=st.none() | st.integers(1, 3),
    data=st.data(),
)
def test_the_audit_counts_fills_as_the_projection_does_in_any_order(
    trades: list[int], reports: list[int], extra: int | None, data: st.DataObject
) -> None:
    """Real trades (plus, maybe, one that takes them past the order's quantity) and
    inferred fills naming what the venue had filled after some of them, recorded in any
    order, each followed by the venue's position as the projection holds it, sometimes
    naming `fills_net`. Every report matches (none drifts, with no settling time), and
    `fill_within_quantity` fires once, at the first real trade past the quantity, iff
    there is one."""
    b = ChainBuilder()
    placed = order(b, PERP)  # 0.010
    b.position(PERP, D("0"))
    facts: list[tuple[str, int]] = [("trade", q) for q in trades]
    facts += [("inferred", sum(trades[:k])) for k in reports if k <= len(trades)]
    if extra is not None:
        facts.append(("trade", extra + 10 - sum(trades)))  # real trades now sum past 10
    over: int | None = None
    real = 0
    for kind, amount in data.draw(st.permutations(facts)):
        if kind == "trade":
            b.fill(placed, amount * _UNIT)
            real += amount
            if real > 10 and over is None:
                over = len(b.events)
        else:
            inferred(b, placed, str(amount * _UNIT), str(max(amount, 1) * _UNIT))
        ka = projected(b.events, PERP)
        named = data.draw(st.booleans())
        report(b, PERP, str(ka.position), str(ka.fill_net) if named else None)
    checker = AuditChecker(AuditLimits(position_settle=timedelta(0)))
    for position, event in enumerate(b.events, start=1):
        checker.feed(position, event)
    result = checker.finish()
    assert broken(result) == ([] if over is None else [(FILL_WITHIN_QUANTITY, over)])
    filled = projected(b.events, PERP).orders[placed.client_order_id].filled
    assert filled == min(D("0.010"), real * _UNIT)


@given(
    quantity=st.integers(1, 20),
    filled=st.integers(0, 20),
    inferred_part=st.integers(0, 20),
    fill=st.integers(1, 20),
    is_inferred=st.booleans(),
    order_filled=st.none() | st.integers(0, 25),
)
def test_count_fill_never_lowers_the_count_and_caps_it(
    quantity: int,
    filled: int,
    inferred_part: int,
    fill: int,
    is_inferred: bool,
    order_filled: int | None,
) -> None:
    filled = min(filled, quantity)
    inferred_part = min(inferred_part, filled)
    new, new_inferred, claimed = count_fill(
        D(quantity), D(filled), D(inferred_part), D(fill), is_inferred,
        None if order_filled is None else D(order_filled),
    )  # fmt: skip
    assert new == max(filled, min(quantity, claimed))  # never lowered, capped
    assert 0 <= new_inferred <= new
    backed = filled - inferred_part  # the real trades counted so far
    if is_inferred:  # tops the count up; stands for no real trade
        assert claimed == (filled + fill if order_filled is None else order_filled)
        assert new - new_inferred == backed
    else:  # replaces inferred quantity, then adds
        assert claimed == backed + fill
        assert new - new_inferred == min(quantity, claimed)


# --------------------------------------------------------------------------- positions


def test_a_position_that_names_the_fills_it_includes_keeps_later_fills_on_top() -> None:
    b = ChainBuilder()
    placed = order(b, PERP)
    report(b, PERP, "0", "0")
    b.fill(placed, D("0.002"))  # in the venue's next answer
    b.fill(placed, D("0.003"))  # traded after that answer, recorded before the report
    report(b, PERP, "0.002", "0.002")
    b.advance(SETTLE)
    b.fill(placed, D("0.001"))  # likewise on top of the next one
    report(b, PERP, "0.005", "0.005")
    b.advance(SETTLE)
    report(b, PERP, "0.006", "0.006")
    assert audit(b.events).clean
    assert projected(b.events, PERP).position == D("0.006")


def test_a_report_naming_its_fills_follows_one_that_does_not() -> None:
    b = ChainBuilder()
    placed = order(b, PERP)
    b.position(PERP, D("0"))  # an older event, without fills_net
    b.fill(placed, D("0.004"))
    b.fill(placed, D("0.001"))
    report(b, PERP, "0.004", "0.004")
    b.advance(SETTLE)
    report(b, PERP, "0.004", "0.004")
    assert audit(b.events).clean


def test_a_wrong_position_is_caught_even_when_it_names_its_fills() -> None:
    b = ChainBuilder()
    placed = order(b, PERP)
    report(b, PERP, "0", "0")
    b.fill(placed, D("0.002"))
    report(b, PERP, "0.003", "0.002")  # 0.001 the log does not hold
    assert audit(b.events).clean  # not settled yet
    b.advance(SETTLE)
    b.fill(placed, D("0.001"))
    report(b, PERP, "0.003", "0.002")
    result = audit(b.events)
    assert broken(result) == [(POSITION_MATCHES_FILLS, len(b.events))]
    assert "difference 0.001" in result.violations[0].detail


def test_fills_of_a_foreign_order_move_the_position_the_projection_does_not_count() -> None:
    """A foreign order the account did not adopt: the projection leaves its fills out of
    `fill_net`, but the venue's position holds them, and so does the audit's check."""
    b = ChainBuilder()
    order(b, PERP)
    foreign = b.foreign(PERP, "900", Side.SELL, D("61000"), D("0.005"))
    report(b, PERP, "0", "0")
    b.fill(foreign, D("0.003"))
    assert projected(b.events, PERP).fill_net == 0
    report(b, PERP, "-0.003", "0")
    b.advance(SETTLE)
    report(b, PERP, "-0.003", "0")
    assert audit(b.events).clean


# --------------------------------------------------------------------------- lost attempts


def _lost(b: ChainBuilder, submitted: OrderSubmitted) -> OrderCancelled:
    """Reconciliation found no trace of `submitted` for 21 s and the gateway's cancel by
    client order id found nothing: the attempt is lost."""
    after = timedelta(seconds=21)
    b.advance(after)
    data = OrderCancelledData(client_order_id=submitted.data.client_order_id, reason="lost")
    event = OrderCancelled.create(
        submitted.key, Producer.GATEWAY, data, correlation_id=submitted.correlation_id,
        occurred_at=b.events[-1].occurred_at + after,
    )  # fmt: skip
    b.events.append(event)
    return event


@pytest.mark.parametrize("tif", [TimeInForce.GTC, TimeInForce.IOC], ids=["GTC", "IOC"])
def test_a_lost_attempt_placed_again_under_the_next_attempt_is_clean(tif: TimeInForce) -> None:
    b = ChainBuilder()
    wanted = buy(time_in_force=tif)
    target = b.target(SPOT, (wanted,))
    _lost(b, b.planned(target, wanted))  # never answered
    assert not projected(b.events, SPOT).progress("b1").consumed
    _, placed = b.placed(b.planned(target, wanted, attempt=2))
    b.fill(placed, D("0.010"))
    result: AuditReport = audit(b.events)
    assert result.clean, result.violations
    assert (result.counts.intents, result.counts.orders, result.in_flight) == (1, 2, ())


def test_the_next_attempt_while_the_first_is_still_in_flight_is_caught() -> None:
    b = ChainBuilder()
    target = b.target(SPOT, (buy(),))
    submitted = b.planned(target, buy())
    b.planned(target, buy(), attempt=2)  # before the first was declared lost
    _lost(b, submitted)
    assert broken(audit(b.events)) == [(ONE_LIVE_ORDER, len(b.events) - 1)]
