"""`decisions_not_interleaved`: the decisions of one key come from one tenure at a time."""

from __future__ import annotations

from setpoint.core.audit import DECISIONS_NOT_INTERLEAVED, AuditChecker
from setpoint.core.events import (
    CancelSubmitted,
    CancelSubmittedData,
    DiffComputed,
    DiffComputedData,
)
from setpoint.core.model import Key, Producer
from setpoint.testing.synthetic import KEYS

KEY, OTHER = KEYS[:2]  # alpha's BTC/USDT and ETH/USDT


def diff(worker: str | None, key: Key = KEY) -> DiffComputed:
    data = DiffComputedData(generation=1, target_event_id=None, converged=True)
    return DiffComputed.create(key, Producer.DIFFER, data, worker=worker)


def cancel(worker: str) -> CancelSubmitted:
    data = CancelSubmittedData(client_order_id="sp-x-y-1")
    return CancelSubmitted.create(KEY, Producer.EXECUTOR, data, worker=worker)


def violations(*events: DiffComputed | CancelSubmitted) -> list[tuple[str, int]]:
    checker = AuditChecker()
    for position, event in enumerate(events, start=1):
        checker.feed(position, event)
    return [
        (v.invariant, v.position)
        for v in checker.finish().violations
        if v.invariant == DECISIONS_NOT_INTERLEAVED
    ]


def test_one_tenure_after_another_is_clean() -> None:
    assert violations(diff("a#1"), diff("a#1"), diff("b#5"), diff("b#5"), diff("a#9")) == []


def test_a_former_tenure_deciding_again_is_caught_where_it_does() -> None:
    assert violations(diff("a#1"), diff("b#5"), diff("a#1")) == [(DECISIONS_NOT_INTERLEAVED, 3)]


def test_keys_and_producers_are_judged_apart() -> None:
    assert violations(diff("a#1"), diff("b#5", OTHER), cancel("b#5"), diff("a#1")) == []
    assert violations(cancel("a#1"), cancel("b#5"), cancel("a#1")) == [
        (DECISIONS_NOT_INTERLEAVED, 3)
    ]


def test_decisions_without_a_worker_are_not_checked() -> None:
    assert violations(diff("a#1"), diff(None), diff("b#5"), diff(None), diff("b#5")) == []
