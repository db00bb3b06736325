"""What the folds remember is bounded by the purge buffer (`projections.purge`, the
portfolio's `forget_after`): trade ids, each order's counts and finished intents go, so
the state of a long log is what is open plus a horizon; and folding with the bound gives
the same positions, PnL and open orders as folding without it, whenever a late duplicate
fill comes within the horizon (docs/decisions.md, "Bounded projections")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from immutables import Map
from tests.unit.core import strategies as kit
from tests.unit.core.strategies import KEY, T0, Log, at

from setpoint.core.events import Event, FillObserved
from setpoint.core.projections import ActualState, IntentState, PortfolioState
from setpoint.core.projections import apply_actual as fold_actual
from setpoint.core.projections import apply_intent as fold_intent
from setpoint.core.projections import apply_portfolio as fold_portfolio
from setpoint.core.projections.orders import NO_PROGRESS
from setpoint.testing.synthetic import KEYS, buy, place_action, synthetic_log

D = Decimal
BUFFER = timedelta(minutes=10)
ACCOUNTS = sorted({k.account for k in KEYS} | {KEY.account})
BOUND = Map({a: BUFFER for a in ACCOUNTS})
State = tuple[IntentState, ActualState, PortfolioState]


def _stamped(events: list[Event], steps: list[int]) -> list[Event]:
    """`events` with occurred_at moving on by `steps` seconds (cycled)."""
    now, out = T0, []
    for n, event in enumerate(events):
        now += timedelta(seconds=steps[n % len(steps)])
        out.append(event.model_copy(update={"occurred_at": now}))
    return out


def _with_late_duplicates(events: list[Event], delays: list[int]) -> Iterator[Event]:
    """`events` with each n-th fill (n cycling through `delays`) seen again `delay` events
    later, as a REST read or a restart brings a trade the stream already gave."""
    waiting: list[tuple[int, Event]] = []
    fills = 0
    for n, event in enumerate(events):
        yield event
        for due_at, late in [w for w in waiting if w[0] == n]:
            yield late.model_copy(update={"occurred_at": event.occurred_at})
            waiting.remove((due_at, late))
        if isinstance(event, FillObserved):
            delay = delays[fills % len(delays)]
            fills += 1
            if delay:
                waiting.append((n + delay, event))


def _fold(state: State, position: int, event: Event) -> State:
    intent, actual, portfolio = state
    return (
        fold_intent(intent, position, event),
        fold_actual(actual, position, event),
        fold_portfolio(portfolio, position, event),
    )


def _same_answers(full: State, bounded: State) -> None:
    assert bounded[0] == full[0]
    for key, ka in full[1].keys.items():
        kb = bounded[1].key(key)
        assert (kb.position, kb.fill_net, kb.position_open) == (
            ka.position,
            ka.fill_net,
            ka.position_open,
        )
        assert sorted(kb.live_orders()) == sorted(ka.live_orders())
        assert (kb.buying, kb.selling, kb.pending) == (ka.buying, ka.selling, ka.pending)
        for iid in ka.listed:
            assert kb.progress(iid) == ka.progress(iid)
    for key, kp in full[2].keys.items():
        kq = bounded[2].key(key)
        assert (kq.position, kq.entry_price, kq.realized_pnl, kq.fees, kq.mark) == (
            kp.position,
            kp.entry_price,
            kp.realized_pnl,
            kp.fees,
            kp.mark,
        )
    for account in ACCOUNTS:
        a, b = full[2].account(account), bounded[2].account(account)
        assert (b.realized_pnl, b.unrealized_pnl, b.peak_equity) == (
            a.realized_pnl,
            a.unrealized_pnl,
            a.peak_equity,
        )


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 10_000),
    st.integers(200, 1200),
    st.lists(st.integers(0, 20), min_size=1, max_size=4),
    st.lists(st.integers(0, 20), min_size=1, max_size=6),
)
def test_the_bound_changes_no_position_pnl_or_open_order(
    seed: int, count: int, steps: list[int], delays: list[int]
) -> None:
    """Late duplicates come at most 20 events (400 s of log time) after their trade, within
    the 10-minute horizon: each is recognised by the bounded folds too."""
    events = list(_with_late_duplicates(_stamped(synthetic_log(count, seed=seed), steps), delays))
    full: State = (IntentState.empty(), ActualState.empty(), PortfolioState.empty())
    bounded: State = (
        IntentState.empty(),
        ActualState.empty(BOUND),
        PortfolioState.empty(forget_after=BOUND),
    )
    for position, event in enumerate(events, 1):
        if isinstance(event, FillObserved):
            fid = (event.data.venue, event.data.trade_id)
            if fid in full[1].key(event.key).fills:
                assert fid in bounded[1].key(event.key).fills  # within the horizon: known
                assert fid in bounded[2].key(event.key).trades
        full, bounded = _fold(full, position, event), _fold(bounded, position, event)
        _same_answers(full, bounded)
    if events[-1].occurred_at - events[0].occurred_at > 3 * BUFFER:
        forgot = sum(len(k.fills) for k in full[1].keys.values()) - sum(
            len(k.fills) for k in bounded[1].keys.values()
        )
        assert forgot > 0


def test_a_long_log_keeps_what_is_open_plus_the_horizon() -> None:
    """The grid workload over ~4 hours then ~8 hours of log time: what the bounded folds
    hold per key (trade ids, counts, intents, orders) does not grow with the log."""
    events = _stamped(synthetic_log(6000, seed=3), [5])
    bound = Map({a: timedelta(minutes=5) for a in ACCOUNTS})
    state: State = (
        IntentState.empty(),
        ActualState.empty(bound),
        PortfolioState.empty(forget_after=bound),
    )
    sizes = []
    for position, event in enumerate(events, 1):
        state = _fold(state, position, event)
        if position in (3000, 6000):
            sizes.append(_held(state))
    early, late = sizes
    assert late <= early * 1.3  # flat within the workload's noise, not twice as big
    assert late < 3000 // 2  # far below one entry per event


def _held(state: State) -> int:
    total = 0
    for ka in state[1].keys.values():
        total += len(ka.fills) + len(ka.intents) + len(ka.orders) + len(ka.fill_times)
        total += len(ka.closed) + len(ka.venue_ids) + len(ka.backoff)
    for kp in state[2].keys.values():
        total += len(kp.trades) + len(kp.counted) + len(kp.trade_times) + len(kp.counted_times)
    return total


BUY = Map({KEY.account: timedelta(seconds=60)})


def _filled(log: Log, intent: str, when: float, trade: str) -> str:
    """Place `intent` at `when` and fill it whole by `trade`: consumed."""
    action = place_action(KEY, buy(intent, price="100", qty="0.010"))
    log.append(kit.ev_submit(action, KEY, at(when)))
    coid = action.client_order_id
    log.append(kit.ev_placed(coid, f"v-{coid}").model_copy(update={"occurred_at": at(when)}))
    record = log.actual.order(KEY, coid)
    assert record is not None
    log.append(kit.ev_fill(record, "0.010", trade).model_copy(update={"occurred_at": at(when)}))
    return coid


def test_a_consumed_intent_the_target_still_lists_is_never_forgotten() -> None:
    """A static target whose order filled long ago: its intent stays consumed (never
    placed again) however long the log runs on; once a newer target drops it, and its
    order has left the store, its progress goes."""
    log = Log(actual=ActualState.empty(BUY))
    log.append(kit.ev_target([buy("keep", price="100", qty="0.010")], 1, at(0)))
    _filled(log, "keep", 1, "t-keep")
    for n in range(20):  # 20 minutes of other intents, filled and closed
        _filled(log, f"other-{n}", 60 * (n + 2), f"t-{n}")
    ka = log.ka()
    assert ka.progress("keep").consumed  # listed: kept
    assert ka.order(log.actual.progress(KEY, "keep").last_client_order_id or "") is None
    assert "other-0" not in ka.intents  # never listed, order purged: forgotten
    assert "t-keep" not in {trade for _, trade in ka.fills}  # 20 minutes behind: forgotten
    log.append(kit.ev_target([], 2, at(60 * 30)))
    assert log.ka().progress("keep") == NO_PROGRESS  # unlisted, nothing left to place


def test_every_trade_a_reconciliation_reads_again_is_still_known() -> None:
    """The gateway reads trades again from the key's newest fill less its lookback (at
    most the buffer): every trade that read can show is known, and counts once."""
    log = Log(actual=ActualState.empty(BUY))
    for n in range(10):
        _filled(log, f"q{n}", 30 * n, f"t-{n}")  # one fill every 30 s; the last at 270 s
    ka = log.ka()
    known = {trade for _, trade in ka.fills}
    assert {"t-7", "t-8", "t-9"} <= known  # 210 s (= 270 - 60) and after: a read from 210 s
    assert not {f"t-{n}" for n in range(7)} & known  # before 210 s: forgotten
    position = ka.position
    record = log.actual.order(KEY, f"{ka.progress('q9').last_client_order_id}")
    assert record is not None
    late = kit.ev_fill(record, "0.010", "t-9").model_copy(update={"occurred_at": at(400)})
    log.append(late)
    assert log.ka().position == position
