"""Named scenarios: the kernel (projections, diff, reconcile) end to end, without I/O."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from tests.unit.core import strategies as kit
from tests.unit.core.strategies import KEY, PERP, Log, at, order
from tests.unit.core.venue_views import resting, venue_trade, venue_view

from setpoint.core.diff import position_delta
from setpoint.core.events import (
    ActionKind,
    CancelSubmitted,
    CancelSubmittedData,
    FillSource,
    OrderStatus,
    Origin,
    ReconcileTrigger,
)
from setpoint.core.ids import client_order_id
from setpoint.core.model import Producer, Side, TimeInForce
from setpoint.core.projections import OrderRecord
from setpoint.core.reconcile import (
    Fetched,
    ReconcileOutcome,
    ReconcilePolicy,
    VenueFill,
    VenueOrder,
    VenueSnapshot,
    query_key,
    reconcile,
)

D = Decimal
POLICY = ReconcilePolicy(target_symbols=frozenset({"BTC/USDT"}))


def snapshot(
    log: Log,
    open_orders: list[VenueOrder] | None = None,
    *,
    fills: list[VenueFill] | None = None,
    queries: dict[str, Fetched[VenueOrder]] | None = None,
    now: datetime | None = None,
) -> VenueSnapshot:
    """A snapshot of BTC/USDT: by default the venue agrees with the log."""
    if open_orders is None:
        open_orders = [venue_view(o) for o in log.ka().live_orders() if o.status is not None]
    return VenueSnapshot(
        account="demo",
        venue="binance",
        taken_at=now or log.now,
        open_orders={"BTC/USDT": Fetched.of(tuple(open_orders))},
        fills={"BTC/USDT": Fetched.of(tuple(fills or ()))},
        queries=queries or {},
    )


def run(log: Log, snap: VenueSnapshot, policy: ReconcilePolicy = POLICY) -> ReconcileOutcome:
    outcome = reconcile(log.actual, snap, policy, snap.taken_at)
    log.append(*outcome.events)
    return outcome


def resolutions(outcome: ReconcileOutcome) -> list[tuple[str, str]]:
    return [(i.category, i.resolution) for i in outcome.report.items]


def started(*orders: object) -> tuple[Log, kit.PerfectVenue]:
    log, venue = Log(), kit.PerfectVenue()
    log.publish(list(orders))  # type: ignore[arg-type]
    venue.execute(log, log.plan())
    return log, venue


def test_agreeing_venue_gives_nothing_to_do() -> None:
    log, _ = started(order("a"), order("b", side="sell", price="101.50"))
    outcome = run(log, snapshot(log))
    assert outcome.report.matched == 2
    assert outcome.events == ()
    assert outcome.actions == ()
    assert outcome.report.items == ()


def test_our_order_injected_at_the_venue_is_cancelled() -> None:
    log, _ = started(order("a"))
    stray = resting("999", client_order_id("demo", "BTC/USDT", "old-intent", 3))
    live = [venue_view(o) for o in log.ka().live_orders()]
    outcome = run(log, snapshot(log, [*live, stray]))
    assert resolutions(outcome) == [("zombie", "cancel")]
    ((key, action),) = outcome.actions
    assert key == KEY
    assert action.kind is ActionKind.CANCEL
    assert action.order_id == "999"


def test_local_ghost_closed_after_n_not_found_then_placed_again() -> None:
    log, _venue = started(order("a"))
    rec = log.ka().intent_orders("a")[0]
    first = run(log, snapshot(log, []))
    assert resolutions(first) == [("ghost", "query")]
    assert first.queries == ((KEY, rec.ref),)
    for n, when in enumerate([0, 4, 11], 1):
        log.now = at(when)
        out = run(log, snapshot(log, [], queries={rec.ref: Fetched.of(None)}))
        expected = "closed" if n == 3 else "not found"
        assert resolutions(out) == [("ghost", expected)]
    closed = log.actual.order(KEY, rec.ref)
    assert closed is not None
    assert closed.status is OrderStatus.CANCELED
    (again,) = log.plan().actions
    assert (again.kind, again.attempt) == (ActionKind.PLACE, 2)


def test_ghost_not_closed_before_min_age() -> None:
    log, _ = started(order("a"))
    rec = log.ka().intent_orders("a")[0]
    for when in (0, 1, 2, 3):
        log.now = at(when)
        out = run(log, snapshot(log, [], queries={rec.ref: Fetched.of(None)}))
    assert resolutions(out) == [("ghost", "not found")]
    assert log.actual.order(KEY, rec.ref).is_open  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("policy", "resolution", "adopted"),
    [("cancel", "cancel", False), ("adopt", "adopt", True), ("ignore", "ignore", False)],
)
def test_foreign_order_under_each_zombie_policy(
    policy: str, resolution: str, adopted: bool
) -> None:
    log, _ = started(order("a"))
    foreign = resting("f-1", "web_abc", Side.SELL, price="120", qty="2")
    live = [venue_view(o) for o in log.ka().live_orders()]
    rules = ReconcilePolicy(zombie_policy=policy, target_symbols=frozenset({"BTC/USDT"}))  # type: ignore[arg-type]
    outcome = run(log, snapshot(log, [*live, foreign]), rules)
    assert resolutions(outcome) == [("zombie", resolution)]
    assert len(outcome.actions) == (1 if policy == "cancel" else 0)
    found = log.actual.order_by_venue_id(KEY, "f-1")
    assert (found is not None and found.adopted and found.origin is Origin.FOREIGN) == adopted
    plan = log.plan()
    assert plan.actions == ()  # the differ never cancels an adopted order
    # out of scope: a symbol that never had a target is not looked at under "keys"
    other = ReconcilePolicy(zombie_policy="cancel", target_symbols=frozenset())
    assert reconcile(log.actual, snapshot(log, [foreign]), other, log.now).actions == ()


def test_venue_cancel_replaces_for_the_remaining_quantity() -> None:
    log, venue = started(order("a", qty="1.000"))
    rec = log.ka().intent_orders("a")[0]
    log.append(kit.ev_fill(rec, "0.300", "t1"))
    log.append(kit.ev_cancelled(rec.ref, reason="venue", filled="0.3"))
    (again,) = log.plan().actions
    assert (again.kind, again.attempt, again.quantity) == (ActionKind.PLACE, 2, D("0.700"))
    venue.execute(log, log.plan())
    assert log.plan().converged


def test_partial_fill_then_amend() -> None:
    log, venue = started(order("a", qty="2.000"))
    rec = log.ka().intent_orders("a")[0]
    log.append(kit.ev_fill(rec, "0.500", "t1"))
    log.publish([order("a", price="99.50", qty="2.000")])
    (amend,) = log.plan().actions
    assert amend.kind is ActionKind.AMEND
    assert amend.quantity == D("1.500")
    assert amend.replaces == rec.ref
    venue.execute(log, log.plan())
    assert log.ka().progress("a").filled == D("0.500")
    new = log.ka().intent_orders("a")[0]
    log.append(kit.ev_fill(new, "1.500", "t2"))
    assert log.actual.consumed(KEY, "a")
    assert log.ka().position == D("2.000")


def test_ioc_fills_42_percent_and_the_hedge_follows_exactly() -> None:
    log, venue = Log(), kit.PerfectVenue(ioc_fill=D("0.42"))
    log.publish([], position=D("1.000"))
    venue.execute(log, log.plan())
    spot = log.ka().position
    assert spot == D("0.420")
    (rest,) = log.plan().actions
    assert rest.quantity == D("0.580")  # exactly the 58% left
    # the hedge target derives from what was executed, not from what was requested
    log.publish([], key=PERP, position=-spot)
    hedge = kit.PerfectVenue(ioc_fill=D(1), next_id=100)
    (short,) = log.plan(PERP).actions
    assert (short.side, short.quantity) == (Side.SELL, D("0.420"))
    hedge.execute(log, log.plan(PERP))
    assert log.ka(PERP).position == -log.ka(KEY).position


def test_finished_ioc_whose_fills_are_on_their_way_is_not_traded_again() -> None:
    """The venue answered "EXPIRED, 0.42 filled" before the fill itself reached the log: the
    next plan trades only the 0.58 left, never the whole delta again (no over-hedge)."""
    log = Log()
    log.publish([], position=D("1.000"))
    (ioc,) = log.plan().actions
    log.append(kit.ev_submit(ioc))
    log.append(kit.ev_placed(ioc.client_order_id, "9", status=OrderStatus.EXPIRED, filled="0.420"))
    assert position_delta(log.effective(), log.ka()) == D("0.580")
    rec = log.actual.order(KEY, ioc.client_order_id)
    assert rec is not None
    log.append(kit.ev_fill(rec, "0.420", "t-late"))
    assert log.ka().position == D("0.420")
    assert position_delta(log.effective(), log.ka()) == D("0.580")


def test_in_flight_order_found_by_query() -> None:
    log = Log()
    log.publish([order("a")])
    _, rec = log.submit_first()
    log.now = at(2)
    young = reconcile(log.actual, snapshot(log, []), POLICY, at(2))
    assert young.report.items == ()  # younger than in_flight_timeout_s: left alone
    log.now = at(30)
    first = run(log, snapshot(log, []))
    assert first.queries == ((KEY, rec.ref),)
    found = venue_view(rec, order_id="77", status=OrderStatus.NEW)
    out = run(log, snapshot(log, [], queries={rec.ref: Fetched.of(found)}))
    assert resolutions(out) == [("in_flight", "found")]
    adopted = log.actual.order(KEY, rec.ref)
    assert adopted is not None
    assert (adopted.status, adopted.order_id, adopted.pending) == (OrderStatus.NEW, "77", None)
    assert log.plan().actions == ()


def test_in_flight_lost_after_n_tries_cancel_then_new_attempt() -> None:
    log = Log()
    log.publish([order("a")])
    action, _ = log.submit_first()
    coid = action.client_order_id
    outcomes = []
    for when in (10, 15, 21):
        log.now = at(when)
        outcomes.append(run(log, snapshot(log, [], queries={coid: Fetched.of(None)})))
    assert [resolutions(o)[0][1] for o in outcomes[:2]] == ["not found", "not found"]
    ((_key, cancel),) = outcomes[2].actions
    assert (cancel.kind, cancel.client_order_id, cancel.reason) == (ActionKind.CANCEL, coid, "lost")
    assert log.plan().actions == ()  # still in flight: the differ waits
    log.append(kit.ev_cancel_submitted(coid), kit.ev_cancelled(coid, reason="lost"))
    (again,) = log.plan().actions
    assert (again.intent_id, again.attempt) == ("a", 2)
    assert again.client_order_id == client_order_id("demo", "BTC/USDT", "a", 2)


def test_filled_above_known_fills_yields_exactly_one_inferred_fill() -> None:
    log, _ = started(order("a", qty="1.000"))
    rec = log.ka().intent_orders("a")[0]
    log.append(kit.ev_fill(rec, "0.200", "t1"))
    rec = log.ka().intent_orders("a")[0]
    view = venue_view(rec, filled=D("0.700"), status=OrderStatus.PARTIALLY_FILLED)
    out = run(log, snapshot(log, [view]))
    inferred = [e for e in out.events if e.type == "FillObserved"]
    assert len(inferred) == 1
    data = inferred[0].data  # type: ignore[union-attr]
    assert data.source is FillSource.INFERRED
    assert data.quantity == D("0.500")
    assert data.trade_id == f"inferred-{rec.ref}-0.700"
    assert out.inferred_fills == 1
    assert log.ka().position == D("0.700")
    again = run(log, snapshot(log, [view]))  # the same answer again: nothing new
    assert [e for e in again.events if e.type == "FillObserved"] == []
    assert log.ka().position == D("0.700")


def test_filled_below_known_fills_is_an_error_not_a_rollback() -> None:
    log, _ = started(order("a", qty="1.000"))
    rec = log.ka().intent_orders("a")[0]
    log.append(kit.ev_fill(rec, "0.600", "t1"))
    rec = log.ka().intent_orders("a")[0]
    out = run(log, snapshot(log, [venue_view(rec, filled=D("0.100"))]))
    assert ("matched", "error") in resolutions(out)
    assert out.report.errors
    assert not out.completed(ReconcileTrigger.PERIODIC).ok
    assert log.ka().position == D("0.600")
    assert log.ka().intent_orders("a")[0].done == D("0.600")


def test_missing_trades_are_fetched_not_inferred() -> None:
    log, _ = started(order("a", qty="1.000"))
    rec = log.ka().intent_orders("a")[0]
    trade = venue_trade(rec, "t9", "0.400")
    view = venue_view(rec, filled=D("0.400"), status=OrderStatus.PARTIALLY_FILLED)
    out = run(log, snapshot(log, [view], fills=[trade]))
    fills = [e.data for e in out.events if e.type == "FillObserved"]  # type: ignore[union-attr]
    assert [(f.trade_id, f.source) for f in fills] == [("t9", FillSource.REST)]  # type: ignore[union-attr]
    assert log.ka().position == D("0.400")
    assert query_key(rec) == rec.ref


def test_ioc_intent_consumed_after_partial() -> None:
    log, _ = Log(), None
    log.publish([order("x", time_in_force=TimeInForce.IOC)])
    kit.PerfectVenue(ioc_fill=D("0.5")).execute(log, log.plan())
    assert log.actual.consumed(KEY, "x")
    assert log.plan().actions == ()


def test_in_flight_order_found_in_the_open_orders() -> None:
    log = Log()
    log.publish([order("a")])
    _, rec = log.submit_first()
    log.now = at(1)  # young, but listed by the venue: adopted at once
    out = run(log, snapshot(log, [venue_view(rec, order_id="78")]))
    assert resolutions(out) == [("in_flight", "found")]
    assert log.actual.order(KEY, rec.ref).pending is None  # type: ignore[union-attr]
    assert log.plan().converged


def test_adopted_ghost_without_client_id_closes_by_venue_id() -> None:
    log = Log()
    foreign = resting("f-9", None)
    adopt = ReconcilePolicy(zombie_policy="adopt", target_symbols=frozenset({"BTC/USDT"}))
    run(log, snapshot(log, [foreign]), adopt)
    assert [o.order_id for o in log.ka().live_orders()] == ["f-9"]
    for when in (0, 5, 11):
        log.now = at(when)
        run(log, snapshot(log, [], queries={"#f-9": Fetched.of(None)}), adopt)
    assert list(log.ka().live_orders()) == []


def test_insufficient_funds_one_attempt_per_backoff_step_over_a_minute() -> None:
    """An order the account cannot afford: every attempt is rejected non-terminally. Looked
    at every 100 ms for a minute, the differ places it at 0, 1, 3, 7, 15 and 31 s only."""
    log = Log()
    log.publish([order("a")])
    attempts: list[float] = []
    for tenth in range(600):
        log.now = at(tenth / 10)
        for action in log.plan().actions:
            assert (action.kind, action.intent_id) == (ActionKind.PLACE, "a")
            assert action.attempt == len(attempts) + 1
            attempts.append(tenth / 10)
            log.append(kit.ev_submit(action, at=log.now))
            log.append(
                kit.ev_rejected(action.client_order_id, log.now, reason="insufficient balance")
            )
    assert attempts == [0, 1, 3, 7, 15, 31]
    assert not log.actual.consumed(KEY, "a")
    assert log.ka().backoff["a"].rejections == 6


def _cancel_sent(log: Log) -> OrderRecord:
    rec = log.ka().intent_orders("a")[0]
    log.publish([])
    (cancel,) = log.plan().actions
    assert cancel.kind is ActionKind.CANCEL
    data = CancelSubmittedData(client_order_id=rec.ref, order_id=rec.order_id, intent_id="a")
    log.append(CancelSubmitted.create(KEY, Producer.EXECUTOR, data, occurred_at=log.now))
    assert log.plan().actions == ()  # waiting for the cancel's answer
    return rec


def test_lost_cancel_answer_resolved_by_reconciliation_then_cancelled_again() -> None:
    log, _venue = started(order("a"))
    rec = _cancel_sent(log)
    log.now = at(2)  # younger than the in-flight threshold: maybe still on its way
    assert run(log, snapshot(log, [venue_view(rec)])).events == ()
    assert dict(log.ka().pending) == {rec.ref: "cancel"}
    log.now = at(5)
    out = run(log, snapshot(log, [venue_view(rec)]))
    assert resolutions(out) == [("matched", "stale cancel")]
    assert dict(log.ka().pending) == {}
    (again,) = log.plan().actions
    assert (again.kind, again.client_order_id) == (ActionKind.CANCEL, rec.ref)
    assert run(log, snapshot(log, [venue_view(rec)], now=at(6))).events == ()


def test_lost_cancel_answer_of_a_ghost_resolved_by_query() -> None:
    log, _venue = started(order("a"))
    rec = _cancel_sent(log)
    log.now = at(8)
    first = run(log, snapshot(log, []))
    assert resolutions(first) == [("ghost", "query")]
    out = run(log, snapshot(log, [], queries={rec.ref: Fetched.of(venue_view(rec))}))
    assert ("ghost", "stale cancel") in resolutions(out)
    assert dict(log.ka().pending) == {}
    assert [a.kind for a in log.plan().actions] == [ActionKind.CANCEL]


def test_cancel_whose_order_the_venue_closed_is_closed_not_retried() -> None:
    log, _venue = started(order("a"))
    rec = _cancel_sent(log)
    log.now = at(8)
    closed = venue_view(rec, status=OrderStatus.CANCELED)
    run(log, snapshot(log, [], queries={rec.ref: Fetched.of(closed)}))
    after = log.actual.order(KEY, rec.ref)
    assert after is not None
    assert after.status is OrderStatus.CANCELED
    assert log.plan().actions == ()
