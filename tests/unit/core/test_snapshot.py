"""Projection snapshots (`core.projections.snapshot`): a fold resumed from a snapshot of
its state at any cut gives what the whole fold gives, purge and loss clocks included;
a body this release cannot read is refused with a clear error, never half read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from immutables import Map
from tests.unit.core.strategies import Log, PerfectVenue, lossy_steps, run_history, target_orders

from setpoint.core.events import Event, MarginObservedData, MarginPosition, SymbolMark
from setpoint.core.projections import (
    ActualState,
    IntentState,
    LossClock,
    PortfolioState,
    apply_portfolio,
    rebuild,
)
from setpoint.core.projections.journal import JOURNAL_SIZE, Journal
from setpoint.core.projections.snapshot import SCHEMA, dumps, from_plain, loads, to_plain
from setpoint.errors import SnapshotFormatError
from setpoint.testing.synthetic import synthetic_log

Folded = tuple[IntentState, ActualState, PortfolioState]


class Rec:
    __slots__ = ("event", "position")

    def __init__(self, position: int, event: Event) -> None:
        self.position, self.event = position, event


def _records(events: list[Event], start: int = 1) -> list[Rec]:
    return [Rec(n, e) for n, e in enumerate(events, start)]


def _fold(records: list[Rec], start: Folded) -> Folded:
    intent, actual = rebuild(records, start[0], start[1])
    portfolio = start[2]
    for rec in records:
        portfolio = apply_portfolio(portfolio, rec.position, rec.event)
    return intent, actual, portfolio


def _empty(purge: timedelta | None, window: timedelta | None) -> Folded:
    accounts = ("alpha", "beta", "demo")
    purge_after = Map({a: purge for a in accounts}) if purge else Map()
    clocks = Map({a: LossClock(window=window) for a in accounts}) if window else Map()
    return (
        IntentState.empty(),
        ActualState.empty(purge_after),
        PortfolioState.empty(clocks, purge_after),
    )


def _resumed_equals_whole(events: list[Event], cut: int, empty: Folded) -> None:
    records = _records(events)
    whole = _fold(records, empty)
    restored = loads(dumps(_fold(records[:cut], empty)))
    assert _fold(records[cut:], restored) == whole


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 10_000),
    st.integers(50, 1500),
    st.data(),
    st.sampled_from([None, timedelta(seconds=1), timedelta(minutes=5)]),
    st.sampled_from([None, timedelta(minutes=10)]),
)
def test_a_fold_resumed_from_a_snapshot_equals_the_whole_fold(
    seed: int, count: int, data: st.DataObject, purge: timedelta | None, window: timedelta | None
) -> None:
    events = synthetic_log(count, seed=seed)
    cut = data.draw(st.integers(0, len(events)))
    _resumed_equals_whole(events, cut, _empty(purge, window))


def _stamped(events: list[Event], steps: list[int]) -> Iterator[Event]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for n, event in enumerate(events):
        now += timedelta(seconds=steps[n % len(steps)])
        yield event.model_copy(update={"occurred_at": now})


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(lossy_steps, st.lists(st.tuples(target_orders(), st.none()), min_size=1)),
    st.lists(st.integers(0, 20), min_size=1, max_size=5),
    st.data(),
)
def test_lossy_histories_with_purges_resume_from_a_snapshot(
    history: Any, steps: list[int], data: st.DataObject
) -> None:
    log = Log()
    run_history(log, PerfectVenue(), *history)
    events = list(_stamped([r.event for r in log.records], steps))
    cut = data.draw(st.integers(0, len(events)))
    _resumed_equals_whole(events, cut, _empty(timedelta(seconds=30), None))


def test_a_journal_longer_than_a_segment_round_trips() -> None:
    journal = Journal().touch_all(f"i{n}" for n in range(JOURNAL_SIZE * 2 + 7))
    back = loads(dumps(journal))
    assert back == journal
    assert back.since(journal.seq - 3) == journal.since(journal.seq - 3)
    assert back.touch("x") == journal.touch("x")


def test_exact_decimals_and_times_round_trip() -> None:
    values = (Decimal("1E+2"), Decimal("0.000100"), datetime(2026, 1, 1, tzinfo=UTC))
    assert [str(v) for v in loads(dumps(values))] == [str(v) for v in values]


def test_the_schema_digest_is_stable_within_a_release() -> None:
    assert len(SCHEMA) == 16


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"not json", "not JSON"),
        (b'["Q", 1]', "unreadable"),
        (b'["N", "Unknown", 1]', "unreadable"),
        (b'["N", "Side", "buy"]', "is not a tuple"),
        (b'["E", "Side", "sideways"]', "unreadable"),
        (b'["D", "abc"]', "unreadable"),
        (b'["M", "a"]', "without a value"),
        (b"1.5", "unexpected float"),
        (b'["P", "MarketInfo", "{}"]', "unreadable"),
        (b'["A", "Key", "a", "b"]', "not a dataclass"),
    ],
)
def test_a_malformed_body_is_refused_with_a_clear_error(raw: bytes, says: str) -> None:
    with pytest.raises(SnapshotFormatError, match=says):
        loads(raw)


def test_a_value_of_an_unknown_type_is_refused() -> None:
    with pytest.raises(SnapshotFormatError, match="cannot hold a float"):
        to_plain({"x": 1.5})
    with pytest.raises(SnapshotFormatError, match="cannot hold a object"):
        dumps(object())


def test_plain_values_are_json_only() -> None:
    events = synthetic_log(300, seed=2)
    plain = to_plain(_fold(_records(events), _empty(timedelta(seconds=1), None)))
    assert from_plain(orjson.loads(orjson.dumps(plain))) == from_plain(plain)


def test_what_the_executor_and_the_gateway_keep_beside_the_projections_round_trips() -> None:
    """The executor's newest plan per key (events, in their own codec) and expected
    positions; the gateway's last futures wallet and last fill time per key."""
    events = synthetic_log(400, seed=4)
    plans = {e.key: e for e in events if e.type == "DiffComputed"}
    assert plans
    margin = MarginObservedData(
        asset="USDT", wallet_balance=Decimal(1000), margin_balance=Decimal(1000),
        unrealized_pnl=Decimal(0), initial_margin=Decimal(100),
        maintenance_margin=Decimal(5), available_margin=Decimal(900),
        marks=(SymbolMark(symbol="BTC/USDT", price=Decimal(60000)),),
        positions=(MarginPosition(symbol="BTC/USDT:USDT", quantity=Decimal(-1),
                                  mark_price=Decimal(60000), leverage=5),),
    )  # fmt: skip
    fills = {e.key: e.occurred_at for e in events if e.type == "FillObserved"}
    kept = (plans, {k: 7 for k in plans}, margin, fills, None)
    assert loads(dumps(kept)) == kept
    assert all(type(e) is type(plans[k]) for k, e in loads(dumps(plans)).items())
