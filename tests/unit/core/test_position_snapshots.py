"""A venue position read races with fills; the log's position still ends right.

Rule (docs/events.md, PositionObserved; core/reconcile.py, "position"): reconciliation
reads trades, the position, then trades again. A position already observed is recorded
again only from a settled read (the second trades read shows nothing new, the first was
complete, no fill reached the log during the reads that the first read did not show), and
the event names the running fill net it includes (`fills_net`), so fills recorded after it
are added on top however late the event is appended."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st
from tests.unit.core.strategies import PERP, Log, PerfectVenue, ev_position, order
from tests.unit.core.venue_views import venue_view

from setpoint.core.events import (
    FillObserved,
    Liquidity,
    OrderStatus,
    PositionObserved,
    fill_event_id,
)
from setpoint.core.ids import client_order_id
from setpoint.core.model import Producer, Side
from setpoint.core.projections import ActualState
from setpoint.core.reconcile import (
    Fetched,
    ReconcileOutcome,
    ReconcilePolicy,
    VenueFill,
    VenueSnapshot,
    reconcile,
)
from setpoint.testing.synthetic import fill_data

D = Decimal
SYMBOL = "BTC/USDT:USDT"
POLICY = ReconcilePolicy(target_symbols=frozenset({SYMBOL}))
OURS = client_order_id("demo", SYMBOL, "x", 1)


def trade(n: int, qty: str, side: Side = Side.BUY, *, ours: bool = True) -> VenueFill:
    return VenueFill(
        trade_id=f"t{n}", order_id="o1" if ours else "f1",
        client_order_id=OURS if ours else None, symbol=SYMBOL, side=side, price=D("100"),
        quantity=D(qty), fee=D(0), fee_currency="", liquidity=Liquidity.TAKER,
    )  # fmt: skip


def ws(fill: VenueFill) -> FillObserved:
    """The websocket's record of a trade (same event id as any other path's)."""
    data = fill_data(
        fill.client_order_id, fill.order_id, fill.side, fill.price, fill.quantity,
        trade_id=fill.trade_id,
    )  # fmt: skip
    eid = fill_event_id("binance", SYMBOL, fill.trade_id)
    return FillObserved.create(PERP, Producer.GATEWAY, data, event_id=eid)


def snap(
    log: Log,
    position: str,
    first: list[VenueFill] | None,
    after: list[VenueFill] | None,
    *,
    limit: int | None = None,
) -> VenueSnapshot:
    """Trades read (`first`), position, trades read again (`after`); None: read failed."""

    def part(value: list[VenueFill] | None) -> Fetched[tuple[VenueFill, ...]]:
        return Fetched.failed("503") if value is None else Fetched.of(tuple(value))

    return VenueSnapshot(
        account="demo", venue="binance", taken_at=log.now,
        fills={SYMBOL: part(first)}, positions={SYMBOL: Fetched.of(D(position))},
        fills_after={SYMBOL: part(after)}, fills_limit=limit,
    )  # fmt: skip


def decide(
    log: Log, snapshot: VenueSnapshot, before: ActualState | None = None
) -> ReconcileOutcome:
    return reconcile(log.actual, snapshot, POLICY, log.now, before=before)


def positions_of(outcome: ReconcileOutcome) -> list[tuple[Decimal, Decimal | None]]:
    return [
        (e.data.quantity, e.data.fills_net)
        for e in outcome.events
        if isinstance(e, PositionObserved)
    ]


def observed(position: str = "0") -> Log:
    log = Log()
    log.append(ev_position(position, PERP))
    return log


def pos(log: Log) -> Decimal:
    return log.ka(PERP).position


def test_a_settled_read_is_recorded_with_the_fills_it_includes() -> None:
    log = observed()
    t1, foreign = trade(1, "0.500"), trade(2, "0.200", ours=False)
    out = decide(log, snap(log, "0.700", [t1, foreign], [t1, foreign]))
    assert positions_of(out) == [(D("0.700"), D("0.500"))]  # t1 is in the same outcome
    log.append(*out.events)
    assert pos(log) == D("0.700")
    log.append(ws(t1))  # the websocket's late copy of t1: nothing new
    assert pos(log) == D("0.700")


def test_a_trade_landing_between_the_trades_read_and_the_position_read_is_not_counted_twice() -> (
    None
):
    log = observed()
    t1 = trade(1, "0.500")
    out = decide(log, snap(log, "0.500", [], [t1]))  # t1 is in the position, not the first read
    assert positions_of(out) == []
    assert out.unsettled == (PERP,)
    log.append(*out.events)
    log.append(ws(t1))
    assert pos(log) == D("0.500")


def test_a_fill_folded_just_before_the_position_is_appended_stays_on_top() -> None:
    log = observed()
    foreign = trade(1, "0.200", ours=False)
    out = decide(log, snap(log, "0.200", [foreign], [foreign]))
    assert positions_of(out) == [(D("0.200"), D("0"))]
    log.append(ws(trade(2, "0.500")))  # traded after the reads, folded before the append
    log.append(*out.events)
    assert pos(log) == D("0.700")


def test_a_fill_folded_during_the_reads_that_the_trades_read_missed_unsettles() -> None:
    log = observed()
    before = log.actual
    log.append(ws(trade(2, "0.500")))  # traded after the second read, folded before deciding
    out = decide(log, snap(log, "0.200", [], []), before)
    assert positions_of(out) == []
    assert out.unsettled == (PERP,)
    assert pos(log) == D("0.500")


def test_a_fill_folded_during_the_reads_that_the_trades_read_shows_is_settled() -> None:
    log = observed()
    before = log.actual
    t1 = trade(1, "0.500")
    log.append(ws(t1))  # traded before the reads, folded while they ran
    out = decide(log, snap(log, "0.700", [t1], [t1]), before)
    assert positions_of(out) == [(D("0.700"), D("0.500"))]
    log.append(*out.events)
    assert pos(log) == D("0.700")


def test_a_position_equal_to_the_log_is_not_recorded_even_if_unsettled() -> None:
    log = observed("0.500")
    out = decide(log, snap(log, "0.500", [], [trade(1, "0.100")]))
    assert out.events == ()
    assert out.unsettled == ()


def test_a_first_position_is_recorded_even_from_an_unsettled_read() -> None:
    """Better than assuming flat; the next settled read repairs a racing trade."""
    log = Log()
    t1 = trade(1, "0.500")
    out = decide(log, snap(log, "2.500", [], [t1]))
    assert positions_of(out) == [(D("2.500"), D("0"))]
    log.append(*out.events, ws(t1))
    assert pos(log) == D("3.000")  # off by the racing trade until ...
    log.append(*decide(log, snap(log, "2.500", [t1], [t1])).events)
    assert pos(log) == D("2.500")  # ... the next settled read


def test_a_trades_read_at_its_row_limit_or_failed_unsettles() -> None:
    log = observed()
    t1 = trade(1, "0.500")
    assert decide(log, snap(log, "0.700", [t1], [t1], limit=1)).unsettled == (PERP,)
    assert decide(log, snap(log, "0.700", [t1], None)).unsettled == (PERP,)
    failed = decide(log, snap(log, "0.700", None, [t1]))
    assert failed.unsettled == (PERP,)
    assert failed.report.errors  # the failed trades read is an error; the position waits


def test_a_position_without_fills_net_replaces_the_fold() -> None:
    log = observed()
    log.append(ws(trade(1, "0.500")))
    log.append(ev_position("0.200", PERP))
    assert pos(log) == D("0.200")


# --------------------------------------------------------------------------- property

READS = ("first", "position", "second", "decide", "append")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["trade", "deliver"]), st.integers(1, 4)), max_size=14),
    st.lists(st.integers(0, 14), min_size=5, max_size=5),
    st.booleans(),
)
def test_once_every_trade_is_in_the_log_the_position_is_the_venues(
    events: list[tuple[str, int]], cuts: list[int], foreign_first: bool
) -> None:
    """Trades happen at the venue and reach the log (websocket) at any time around one
    reconciliation (trades read, position read, trades read, decide, append); once every
    trade has reached the log, the log's position is the venue's."""
    log = observed()
    venue_position = D(0)
    trades: list[VenueFill] = []
    delivered = 0
    if foreign_first:  # a trade the log never sees as a fill: only the position tells it
        trades.append(trade(0, "0.100", Side.SELL, ours=False))
        venue_position -= D("0.100")
        delivered = 1
    schedule: list[tuple[str, int]] = list(events)
    for i, (read, cut) in enumerate(zip(READS, sorted(cuts), strict=True)):
        schedule.insert(min(cut + i, len(schedule)), (read, 0))
    assert [s for s, _ in schedule if s in READS] == list(READS)
    before = log.actual
    first: list[VenueFill] = []
    second: list[VenueFill] = []
    position = D(0)
    outcome: ReconcileOutcome | None = None
    for step, n in schedule:
        if step == "trade":
            side = Side.BUY if n % 2 else Side.SELL
            fill = trade(len(trades) + 1, f"0.{n}00", side)
            trades.append(fill)
            venue_position += fill.quantity if side is Side.BUY else -fill.quantity
        elif step == "deliver" and delivered < len(trades):
            log.append(ws(trades[delivered]))
            delivered += 1
        elif step == "first":
            before, first = log.actual, list(trades)
        elif step == "position":
            position = venue_position
        elif step == "second":
            second = list(trades)
        elif step == "decide":
            outcome = decide(log, snap(log, str(position), first, second), before)
        elif step == "append":
            assert outcome is not None
            log.append(*outcome.events)
    for fill in trades[delivered:]:
        log.append(ws(fill))
    assert outcome is not None
    event("position recorded" if positions_of(outcome) else "position not recorded")
    if positions_of(outcome):
        assert pos(log) == venue_position
    else:  # nothing recorded: the fills alone, without the foreign trade only a read tells
        assert pos(log) == venue_position + (D("0.100") if foreign_first else 0)


def test_a_fill_inferred_from_a_query_made_after_the_position_read_unsettles() -> None:
    log = observed()
    log.publish([order("a")], key=PERP)
    PerfectVenue().execute(log, log.plan(PERP))
    (rec,) = log.ka(PERP).intent_orders("a")
    found = venue_view(rec, filled=D("0.400"), status=OrderStatus.PARTIALLY_FILLED)
    snapshot = replace(
        snap(log, "0.700", [], []),
        open_orders={SYMBOL: Fetched.of(())},  # a ghost: decided by its query
        queries={rec.ref: Fetched.of(found)},
    )
    out = decide(log, snapshot)
    assert out.inferred_fills == 1
    assert positions_of(out) == []
    assert out.unsettled == (PERP,)
