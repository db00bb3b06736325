"""The audit checker: a clean log passes; a log that breaks each invariant is caught at
the position of the event that breaks it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from setpoint.core.audit import (
    FILL_CORRELATED,
    FILL_UNIQUE,
    FILL_WITHIN_QUANTITY,
    LIQUIDATE_ONLY_REDUCES,
    NO_QUARANTINE,
    ONE_LIVE_ORDER,
    ORDER_RESOLVED,
    ORDER_TRACED,
    POSITION_MATCHES_FILLS,
    AuditChecker,
    AuditReport,
    HashSet64,
)
from setpoint.core.events import (
    AccountMode,
    DiffComputedData,
    Event,
    OrderPlacedData,
)
from setpoint.core.model import Key, Side, TargetOrder
from setpoint.testing.synthetic import KEYS, ChainBuilder, Placed, buy, place_action, synthetic_log

SPOT, ETH, PERP = KEYS[:3]  # the synthetic workload's keys of account alpha
D = Decimal


def audit(events: Sequence[Event]) -> AuditReport:
    checker = AuditChecker()
    for position, event in enumerate(events, start=1):
        checker.feed(position, event)
    return checker.finish()


def broken(report: AuditReport) -> list[tuple[str, int]]:
    return [(v.invariant, v.position) for v in report.violations]


def order(b: ChainBuilder, key: Key = SPOT, intent: str = "b1", qty: str = "0.010") -> Placed:
    """target -> diff -> submitted -> placed, for one buy intent."""
    _, placed = b.placed(b.submitted(key, buy(intent, qty=qty)))
    return placed


def test_a_realistic_clean_log_is_clean() -> None:
    report = audit(synthetic_log(3_000, seed=3))
    assert report.clean, report.violations
    assert report.counts.targets > 0
    assert report.counts.fills > 0
    assert report.counts.orders == 2 * report.counts.targets
    assert report.events >= 3_000


def test_a_fill_recorded_twice_is_caught() -> None:
    b = ChainBuilder()
    placed = order(b)
    first = b.fill(placed, D("0.004"))
    b.fill(placed, D("0.004"), trade_id=first.data.trade_id)
    assert broken(audit(b.events)) == [(FILL_UNIQUE, len(b.events))]


def test_the_same_trade_id_on_two_keys_is_two_fills() -> None:
    b = ChainBuilder()
    one, two = order(b, SPOT), order(b, ETH)
    b.fill(one, D("0.004"), trade_id="77")
    b.fill(two, D("0.004"), trade_id="77")
    assert audit(b.events).clean


def test_fills_above_the_order_quantity_are_caught_even_after_it_closed() -> None:
    b = ChainBuilder()
    placed = order(b)
    b.fill(placed, D("0.010"))
    b.fill(placed, D("0.001"))
    assert broken(audit(b.events)) == [(FILL_WITHIN_QUANTITY, len(b.events))]


def test_two_live_orders_for_one_intent_are_caught() -> None:
    b = ChainBuilder()
    placed = order(b)
    wanted = buy(price="60010")
    b.planned(b.target(SPOT, (wanted,)), wanted, attempt=2)
    assert broken(audit(b.events)) == [(ONE_LIVE_ORDER, len(b.events))]
    assert placed.client_order_id in audit(b.events).violations[0].detail


def test_an_amend_that_names_the_order_it_replaces_is_not_a_second_order() -> None:
    b = ChainBuilder()
    placed = order(b)
    wanted = TargetOrder(id="b1", side=Side.BUY, price=D("60010"), quantity=D("0.010"))
    target = b.target(SPOT, (wanted,))
    action = place_action(SPOT, wanted, attempt=2, replaces=placed.client_order_id)
    diff = b.diff(target, (action,))
    b.placed(b.submit(diff, action))
    assert audit(b.events).clean


def test_an_order_not_caused_by_a_diff_is_caught() -> None:
    b = ChainBuilder()
    target = b.target(SPOT, (buy(),))
    submitted = b.planned(target, buy())
    b.events[-1] = submitted.model_copy(update={"causation_id": target.event_id})
    assert broken(audit(b.events)) == [(ORDER_TRACED, 3)]


def test_an_order_the_diff_did_not_plan_is_caught() -> None:
    b = ChainBuilder()
    one, two = buy(), buy("b2", price="59000")
    target = b.target(SPOT, (one,))
    diff = b.diff(target, (place_action(SPOT, one),))
    b.submit(diff, place_action(SPOT, two))
    assert broken(audit(b.events)) == [(ORDER_TRACED, 3)]


def test_a_diff_without_a_target_breaks_the_chain_of_its_orders() -> None:
    b = ChainBuilder()
    wanted = buy()
    target = b.target(SPOT, (wanted,))
    diff = b.diff(target, (place_action(SPOT, wanted),))
    orphan = DiffComputedData(generation=None, target_event_id=None, actions=diff.data.actions)
    b.events[-1] = diff.model_copy(update={"data": orphan})
    b.submit(diff, diff.data.actions[0])
    report = audit(b.events)
    assert broken(report) == [(ORDER_TRACED, 3)]
    assert "names no target" in report.violations[0].detail


def test_a_correlation_that_changes_along_the_chain_is_caught() -> None:
    b = ChainBuilder()
    placed = order(b)
    other = b.target(ETH, ())
    b.events[3] = b.events[3].model_copy(update={"correlation_id": other.event_id})
    report = audit(b.events)
    assert broken(report) == [(ORDER_TRACED, 4)]
    assert placed.client_order_id in report.violations[0].detail


def test_an_order_placed_that_was_never_submitted_is_caught() -> None:
    b = ChainBuilder()
    placed = order(b)
    answer = b.events[3]
    data = OrderPlacedData(client_order_id="sp-xxxxxx-nothing-1", order_id="9")
    b.events.append(answer.model_copy(update={"data": data, "event_id": _uuid(9)}))
    assert broken(audit(b.events)) == [(ORDER_TRACED, 5)]
    assert placed.client_order_id not in audit(b.events).violations[0].detail


def test_positions_that_follow_the_fills_are_clean_even_when_a_fill_is_late() -> None:
    b = ChainBuilder()
    placed = order(b, PERP)
    b.position(PERP, D("0"))
    b.position(PERP, D("0.004"))  # the venue saw the trade before the log did
    b.fill(placed, D("0.004"))
    b.advance(timedelta(minutes=5))
    b.position(PERP, D("0.004"))
    assert audit(b.events).clean


def test_a_position_that_drifts_from_the_fills_is_caught_once_settled() -> None:
    b = ChainBuilder()
    placed = order(b, PERP)
    b.position(PERP, D("0"))
    b.fill(placed, D("0.004"))
    b.position(PERP, D("0.005"))
    assert audit(b.events).clean  # not yet settled: could be a late fill
    b.advance(timedelta(minutes=3))
    b.position(PERP, D("0.005"))
    report = audit(b.events)
    assert broken(report) == [(POSITION_MATCHES_FILLS, len(b.events))]
    assert "difference 0.001" in report.violations[0].detail
    b.advance(timedelta(minutes=3))
    b.position(PERP, D("0.005"))
    assert len(audit(b.events).violations) == 1  # reported once, then re-based


def _sell(b: ChainBuilder, key: Key, intent: str, qty: str) -> Placed:
    wanted = TargetOrder(id=intent, side=Side.SELL, price=D("61000"), quantity=D(qty))
    _, placed = b.placed(b.submitted(key, wanted))
    return placed


def test_in_liquidate_only_a_fill_that_flips_or_grows_the_position_is_caught() -> None:
    b = ChainBuilder()
    long = order(b, SPOT, "b0", qty="0.010")
    b.fill(long, D("0.010"))
    sells = [_sell(b, SPOT, f"s{n}", "0.006") for n in (1, 2)]
    more = order(b, SPOT, "b1", qty="0.010")
    b.fill(more, D("0.002"))  # normal mode: growing is fine
    b.mode("alpha", AccountMode.LIQUIDATE_ONLY)
    b.fill(sells[0], D("0.006"))  # 0.012 -> 0.006: reduces
    assert audit(b.events).clean
    b.fill(more, D("0.001"))  # 0.006 -> 0.007: grows
    b.fill(sells[1], D("0.006"))  # 0.007 -> 0.001: reduces
    b.fill(more, D("0.001"))  # 0.001 -> 0.002: grows
    report = audit(b.events)
    assert [v.invariant for v in report.violations] == [LIQUIDATE_ONLY_REDUCES] * 2
    assert "from 0.006 to 0.007" in report.violations[0].detail
    b.mode("alpha", AccountMode.NORMAL)
    b.fill(more, D("0.001"))  # normal again
    assert len(audit(b.events).violations) == 2


def test_in_liquidate_only_a_fill_through_zero_is_caught_on_a_venue_position() -> None:
    b = ChainBuilder()
    b.position(PERP, D("0.004"))  # the venue's word: long 0.004
    sell = _sell(b, PERP, "s1", "0.006")
    b.mode("alpha", AccountMode.LIQUIDATE_ONLY)
    b.fill(sell, D("0.004"))  # to zero: fine
    assert audit(b.events).clean
    b.fill(sell, D("0.001"))  # off zero
    report = audit(b.events)
    assert broken(report) == [(LIQUIDATE_ONLY_REDUCES, len(b.events))]
    assert "from 0.000 to -0.001" in report.violations[0].detail


def test_an_order_in_flight_at_the_end_is_reported_but_not_a_violation() -> None:
    b = ChainBuilder()
    submitted = b.submitted(SPOT, buy())
    report = audit(b.events)
    assert report.clean
    assert [o.client_order_id for o in report.in_flight] == [submitted.data.client_order_id]
    assert report.to_json()["in_flight"][0]["position"] == 3


def test_an_order_left_in_flight_while_the_log_goes_on_is_stale() -> None:
    b = ChainBuilder()
    b.submitted(SPOT, buy())
    b.advance(timedelta(minutes=11))
    b.reconciled(SPOT, 0)
    report = audit(b.events)
    assert broken(report) == [(ORDER_RESOLVED, 3)]
    assert len(report.in_flight) == 1


def test_a_quarantined_entry_is_a_violation() -> None:
    checker = AuditChecker()
    checker.quarantined(7, "invalid JSON")
    report = checker.finish()
    assert broken(report) == [(NO_QUARANTINE, 7)]
    assert report.to_json()["clean"] is False


def test_the_json_shape_is_the_contract() -> None:
    body = audit(synthetic_log(200)).to_json()
    assert set(body) >= {"clean", "events", "counts", "violations"}
    assert set(body["counts"]) == {"targets", "intents", "orders", "fills"}


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(1, 10_000), pick=st.integers(0, 10_000))
def test_any_duplicated_fill_is_caught_exactly_once(seed: int, pick: int) -> None:
    events = synthetic_log(300, seed=seed)
    fills = [i for i, e in enumerate(events) if e.type == "FillObserved"]
    index = fills[pick % len(fills)]
    copy = events[index].model_copy(update={"event_id": _uuid(pick + 1)})
    events.insert(index + 1, copy)
    assert broken(audit(events)) == [(FILL_UNIQUE, index + 2)]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(1, 10_000), cut=st.integers(1, 400))
def test_every_prefix_of_a_clean_log_is_clean(seed: int, cut: int) -> None:
    assert audit(synthetic_log(400, seed=seed)[:cut]).clean


@given(values=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300))
def test_the_compact_hash_set_is_a_set(values: list[int]) -> None:
    compact = HashSet64(recent_limit=8)
    seen: set[int] = set()
    for value in values:
        assert compact.add(value) == (value not in seen)
        seen.add(value)
    assert len(compact) == len(seen)
    assert all(value in compact for value in seen)


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def test_an_adopted_order_is_held_to_its_observed_quantity() -> None:
    b = ChainBuilder()
    placed = order(b)  # gives the builder a key and ids; the adopted order is another one
    foreign = b.foreign(SPOT, "900", Side.SELL, D("61000"), D("0.002"), adopted=True)
    b.fill(foreign, D("0.003"))
    b.fill(placed, D("0.010"))
    assert broken(audit(b.events)) == [(FILL_WITHIN_QUANTITY, len(b.events) - 1)]


def test_the_same_attempt_submitted_again_while_live_is_caught_and_counted_once() -> None:
    b = ChainBuilder()
    placed = order(b)
    again = b.events[2].model_copy(update={"event_id": _uuid(5)})
    b.events.append(again)
    report = audit(b.events)
    assert broken(report) == [(ONE_LIVE_ORDER, 5)]
    assert placed.client_order_id in report.violations[0].detail
    assert report.counts.orders == 1


def test_a_fill_that_does_not_carry_its_orders_correlation_is_caught_once() -> None:
    b = ChainBuilder()
    placed = order(b)
    for _ in range(2):
        fill = b.fill(placed, D("0.004"))
        b.events[-1] = fill.model_copy(update={"correlation_id": fill.event_id})
    assert broken(audit(b.events)) == [(FILL_CORRELATED, 5)]
