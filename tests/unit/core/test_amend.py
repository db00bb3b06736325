"""Native amends in the kernel: the decision (`core.amend`), the fold of `AmendSubmitted`
and of the venue's answer, reconciliation and the audit of an amended order (same venue
order, new price and total size), and the size rule that never over-fills."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.core.strategies import KEY, Log, PerfectVenue, at, ev_fill, ev_observed, order
from tests.unit.core.test_scenarios import run, snapshot
from tests.unit.core.venue_views import venue_view

from setpoint.core.amend import IN_PLACE, NONE, REPLACE, amend_applied, in_place_total, native_style
from setpoint.core.audit import AuditChecker
from setpoint.core.events import (
    Action,
    ActionKind,
    AmendSubmitted,
    AmendSubmittedData,
    ObservationSource,
    OrderObserved,
    OrderStatus,
)
from setpoint.core.model import Producer
from setpoint.core.projections import OrderRecord
from setpoint.core.reconcile import ReconcilePolicy
from setpoint.testing.synthetic import observed_data

D = Decimal
POLICY = ReconcilePolicy(zombie_policy="cancel", target_symbols=frozenset({"BTC/USDT"}))


def placed(qty: str = "1.000", filled: str = "0") -> tuple[Log, OrderRecord]:
    """One buy of intent "a" at 100 working at the venue, `filled` of it filled."""
    log = Log()
    log.publish([order("a", qty=qty)])
    PerfectVenue().execute(log, log.plan())
    rec = log.ka().intent_orders("a")[0]
    if D(filled):
        log.append(ev_fill(rec, filled, "t1"))
    found = log.actual.order(KEY, rec.ref)
    assert found is not None
    return log, found


def amend_action(log: Log, price: str = "99.00", qty: str = "1.000") -> Action:
    """The differ's amend of intent "a" to `price` / `qty`."""
    log.publish([order("a", price=price, qty=qty)])
    (action,) = log.plan().actions
    assert action.kind is ActionKind.AMEND
    return action


def amend_submitted(action: Action, rec: OrderRecord, seconds: float = 0) -> AmendSubmitted:
    assert action.price is not None
    data = AmendSubmittedData(
        client_order_id=rec.client_order_id or "", order_id=rec.order_id,
        intent_id=action.intent_id, attempt=action.attempt or 1,
        new_client_order_id=action.client_order_id, price=action.price,
        quantity=in_place_total(action, rec), filled=rec.filled,
    )  # fmt: skip
    return AmendSubmitted.create(KEY, Producer.EXECUTOR, data, occurred_at=at(seconds))


def answer(
    rec: OrderRecord, price: str, total: str, filled: str, seconds: float = 1
) -> OrderObserved:
    """The venue's order after the amend, as the executor records it."""
    data = observed_data(
        rec.client_order_id, rec.order_id or "?", rec.side, D(price), D(total),
        source=ObservationSource.AMEND, type=rec.type, time_in_force=rec.time_in_force,
        filled=D(filled), status=OrderStatus.PARTIALLY_FILLED if D(filled) else OrderStatus.NEW,
    )  # fmt: skip
    return OrderObserved.create(KEY, Producer.EXECUTOR, data, occurred_at=at(seconds))


# --------------------------------------------------------------------------- the decision


def test_an_in_place_amend_keeps_the_order_and_sends_the_total() -> None:
    log, rec = placed(filled="0.300")
    action = amend_action(log)
    assert action.quantity == D("0.700")  # what the intent still wants open
    assert native_style(action, rec, IN_PLACE) == IN_PLACE
    assert in_place_total(action, rec) == D("1.000")  # fills included


def test_what_cannot_be_amended_natively_is_cancel_then_place() -> None:
    log, rec = placed(filled="0.300")
    action = amend_action(log)
    assert native_style(action, rec, NONE) == NONE  # the venue has no amend
    assert native_style(action, rec, REPLACE) == NONE  # a replace of a filled order
    assert native_style(action, None, IN_PLACE) == NONE  # unknown order
    assert native_style(action, rec._replace(pending="cancel"), IN_PLACE) == NONE
    assert native_style(action, rec._replace(status=OrderStatus.FILLED), IN_PLACE) == NONE
    other = action.model_copy(update={"post_only": True})  # more than price and size
    assert native_style(other, rec, IN_PLACE) == NONE
    _, fresh = placed()
    assert native_style(amend_action(placed()[0]), fresh, REPLACE) == REPLACE


def test_the_answer_tells_an_applied_amend_from_a_refused_one() -> None:
    _, rec = placed(filled="0.300")
    done = answer(rec, "99.00", "1.000", "0.300").data
    assert amend_applied(D("99.00"), D("1.000"), done)
    refused = answer(rec, "100.00", "1.000", "0.300").data
    assert not amend_applied(D("99.00"), D("1.000"), refused)


@settings(max_examples=200, deadline=None)
@given(
    first=st.integers(0, 900),
    known=st.integers(0, 900),
    racing=st.integers(0, 1000),
    wanted=st.integers(1, 1500),
)
def test_an_in_place_amend_never_places_filled_quantity_again(
    first: int, known: int, racing: int, wanted: int
) -> None:
    """Earlier attempts filled `first`, the live order `known` (folded) and `racing` more
    at the venue before the amend lands; the intent now wants `wanted` (units of 0.001).
    Whatever the order, the intent never fills above max(wanted, what had already filled
    before the amend)."""
    step = D("0.001")
    attempt_qty = 1000 - first
    known = min(known, attempt_qty - 1)
    racing = min(racing, attempt_qty - known)
    rest = wanted - first - known
    if rest <= 0:
        return  # nothing left to amend to: the differ cancels instead
    action = Action(
        kind=ActionKind.AMEND, intent_id="a", client_order_id="x", replaces="y", attempt=3,
        quantity=rest * step, price=D("99"),
    )  # fmt: skip
    rec_filled = known * step
    total = action.quantity + rec_filled if action.quantity else D(0)
    assert total == in_place_total(action, _record(rec_filled))
    venue_filled = (known + racing) * step
    still_open = max(D(0), total - venue_filled)  # the venue leaves total - its fills open
    most = first * step + venue_filled + still_open
    assert most <= max(wanted * step, (first + known + racing) * step)


def _record(filled: Decimal) -> OrderRecord:
    _, rec = placed()
    return rec._replace(filled=filled)


# --------------------------------------------------------------------------- the fold


def test_the_fold_waits_for_the_answer_then_takes_the_venues_terms() -> None:
    log, rec = placed(filled="0.300")
    action = amend_action(log)
    log.append(amend_submitted(action, rec))
    busy = log.actual.order(KEY, rec.ref)
    assert busy is not None
    assert busy.pending == "amend"
    assert log.plan().actions == ()  # one action per intent at a time
    early = ev_observed(busy, OrderStatus.PARTIALLY_FILLED, "0.300", at=at(1))
    log.append(early)  # a query, not the answer, and not stale yet
    assert log.actual.order(KEY, rec.ref).pending == "amend"  # type: ignore[union-attr]
    log.append(answer(rec, "99.00", "1.000", "0.300"))
    done = log.actual.order(KEY, rec.ref)
    assert done is not None
    assert (done.pending, done.price, done.quantity, done.remaining) == (
        None, D("99.00"), D("1.000"), D("0.700"),
    )  # fmt: skip
    assert (done.order_id, done.attempt) == (rec.order_id, rec.attempt)
    assert log.plan().actions == ()  # matched: nothing left to do


def amended() -> tuple[Log, OrderRecord]:
    """`placed` with 0.300 filled, amended to 99.00 and answered: the log and the order as
    the venue's answer left it."""
    log, rec = placed(filled="0.300")
    log.append(amend_submitted(amend_action(log), rec))
    log.append(answer(rec, "99.00", "1.000", "0.300"))
    after = log.actual.order(KEY, rec.ref)
    assert after is not None
    return log, after


def test_fills_before_and_after_the_amend_count_once() -> None:
    log, after = amended()
    log.append(ev_fill(after, "0.300", "t1"))  # the first trade again
    log.append(ev_fill(after, "0.700", "t2"))
    end = log.actual.order(KEY, after.ref)
    assert end is not None
    assert (end.filled, end.status, log.ka().position) == (
        D("1.000"), OrderStatus.FILLED, D("1.000"),
    )  # fmt: skip
    assert log.actual.consumed(KEY, "a")


def test_a_stale_amend_is_cleared_by_reconciliation() -> None:
    log, rec = placed()
    log.append(amend_submitted(amend_action(log), rec, seconds=0))
    busy = log.actual.order(KEY, rec.ref)
    assert busy is not None
    out = run(log, snapshot(log, [venue_view(busy)], now=at(100)), POLICY)
    assert [e.type for e in out.events] == ["OrderObserved"]
    cleared = log.actual.order(KEY, rec.ref)
    assert cleared is not None
    assert cleared.pending is None  # the differ may amend again


def test_reconciliation_matches_an_amended_order_no_ghost_no_zombie() -> None:
    log, now = amended()
    out = run(log, snapshot(log, [venue_view(now)], now=at(100)), POLICY)
    assert (out.events, out.actions, out.queries) == ((), (), ())
    assert out.report.matched == 1


def test_the_audit_counts_an_amended_orders_fills_against_its_new_total() -> None:
    """Intent raised from 1 to 1.5 by an amend: 1.5 filled on one order is within its new
    total; without the venue's answer the same fills would be an over-fill."""
    log, rec = placed(filled="0.300")
    log.append(amend_submitted(amend_action(log, qty="1.500"), rec))
    unanswered = list(log.records)
    log.append(answer(rec, "99.00", "1.500", "0.300"))
    after = log.actual.order(KEY, rec.ref)
    assert after is not None
    fill = ev_fill(after, "1.200", "t2")
    log.append(fill)
    assert _overfills([r.event for r in log.records]) == []
    assert len(_overfills([r.event for r in unanswered] + [fill])) == 1


def _overfills(events: Sequence[Any]) -> list[Any]:
    checker = AuditChecker()
    for position, event in enumerate(events, 1):
        checker.feed(position, event)
    return [v for v in checker.finish().violations if v.invariant == "fill_within_quantity"]
