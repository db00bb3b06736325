"""`python -m bench kernel`: how long the reconciliation kernel takes to plan one big key.

A key holds `--orders` (default 10,000) live orders that match its target exactly (built by
folding `OrderSubmitted` / `OrderPlaced` events, outside the timed sections). Each figure
is the median, over `--runs` repetitions, of `effective_target` + `diff` for:

* `no_change`: the same target and actual state as the previous plan (incremental);
* `one_changed_order`: a new target in which one order's price moved (incremental);
* `one_fill`: one partial fill on one order since the previous plan (incremental);
* `one_percent_change`: a new target in which 1% of the orders' prices moved;
* `full_replacement`: a new target whose intent ids are all new (everything cancelled and
  placed: the journals cannot vouch for it, so the full path runs);
* `full_diff_unchanged`: the unchanged key without a previous plan (the full path).

Times are milliseconds. The contract: `no_change` <= 5 ms and `one_changed_order` <= 0.2 ms
for 10,000 orders.

`replay` (skip with `--replay-events 0`): `--replay-events` wire events (default 200,000:
order lifecycles of submit, ack, partial fill, cancel over ten keys, with a target per key)
parsed with `parse_event` and folded with `rebuild`, best of three (events/s), plus the
fold alone. The contract: at least 80,000 events/s including parsing.

`--gates`: every risk gate on, with thresholds nothing in the key reaches (notional, open
orders, price band, position, gross and net exposure, margin health, loss over a one-hour
window), and each plan also hands the kernel the account's risk view (built from the
projections and the portfolio fold when a gate needs it) and checks the loss limit, as the
differ does: the gates' cost.

`--paired`: the gates' cost measured in one process instead: each case's plan with the
gates off and on alternately, plan by plan (`--runs` pairs; a tenth of them for 1 %
changed, a hundredth, at least 3, for the full replacement), the collector paused; per
case the medians and the median of the per-pair ratios (`on_vs_off_pct`). Two runs of
separate processes on a loaded machine differ by more than the gates cost; a pair of plans
one after the other shares the load.

Also runnable as `python -m bench.kernel`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from immutables import Map

from setpoint.core.diff import Plan, diff
from setpoint.core.effective import effective_target
from setpoint.core.events import (
    Event,
    FillObserved,
    OrderCancelled,
    OrderCancelledData,
    OrderPlaced,
    OrderPlacedData,
    OrderSubmitted,
    OrderSubmittedData,
    TargetPublished,
    TargetPublishedData,
    parse_event,
)
from setpoint.core.model import Key, OrderType, Producer, Side, TargetOrder, TargetState
from setpoint.core.projections import (
    ActualState,
    IntentState,
    LossClock,
    PortfolioState,
    apply_actual,
    apply_intent,
    apply_portfolio,
    rebuild,
)
from setpoint.core.risk import AccountRiskView, RiskLimits, loss_reached
from setpoint.core.riskview import RiskMemo
from setpoint.testing.synthetic import fill_data, market, submitted_data

KEY = Key("bench", "BTC/USDT")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
MARKET = market("BTC/USDT")


_BIG = Decimal(10) ** 12
GATES = RiskLimits(
    max_order_notional=_BIG, max_open_orders_per_key=10**6, price_band_bps=5_000,
    max_position=_BIG, max_position_notional=_BIG, max_gross_exposure=_BIG,
    max_net_exposure=_BIG, max_margin_ratio=Decimal("0.9"), max_loss=_BIG,
    loss_window=timedelta(hours=1),
)  # fmt: skip
"""`--gates`: every gate on, nothing near a threshold."""
GATED = False
PRICES: Map[Key, Decimal] = Map({KEY: Decimal("60000")})
"""The differ's last prices (an immutable map, replaced on each price)."""


class _Fold:
    """The projections (and with `--gates` the portfolio), folded as events are added."""

    def __init__(self) -> None:
        self.intent, self.actual, self.position = IntentState.empty(), ActualState.empty(), 0
        clocks = Map({KEY.account: LossClock(GATES.loss_window)})
        self.portfolio = PortfolioState.empty(clocks)
        self.memo = RiskMemo()  # the differ's: the view and the loss kept while they stand

    def add(self, *events: Event) -> None:
        for event in events:
            self.position += 1
            self.intent = apply_intent(self.intent, self.position, event)
            self.actual = apply_actual(self.actual, self.position, event)
            if GATED:
                self.portfolio = apply_portfolio(self.portfolio, self.position, event)

    def plan(self, previous: Plan | None) -> Plan:
        ka = self.actual.key(KEY)
        eff = effective_target(self.intent.target(KEY), ka, self.actual.account("bench"), NOW)
        if not GATED:
            return diff(eff, ka, MARKET, last_price=Decimal("60000"), previous=previous)
        portfolio = self.portfolio.account(KEY.account)
        actual, memo = self.actual, self.memo

        def view() -> AccountRiskView:
            return memo.view(actual, KEY.account, PRICES, GATES, NOW, portfolio)

        plan = diff(
            eff, ka, MARKET, last_price=Decimal("60000"), previous=previous, limits=GATES,
            view=view,
        )  # fmt: skip
        assert loss_reached(memo.loss(KEY.account, portfolio, GATES, NOW), GATES) is None
        return plan


def _orders(n: int, prefix: str = "g", moved: frozenset[int] = frozenset()) -> list[TargetOrder]:
    out = []
    for i in range(n):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        cents = 5_000_000 - i if side is Side.BUY else 7_000_000 + i
        if i in moved:
            cents += -100 if side is Side.BUY else 100
        price = Decimal(cents).scaleb(-2)
        out.append(TargetOrder(id=f"{prefix}-{i:05d}", side=side, price=price,
                               quantity=Decimal("0.01000")))  # fmt: skip
    return out


def _publish(fold: _Fold, generation: int, orders: list[TargetOrder]) -> None:
    target = TargetState(account=KEY.account, symbol="BTC/USDT", generation=generation,
                         strategy="bench", orders=tuple(orders))  # fmt: skip
    fold.add(TargetPublished.create(KEY, Producer.INTAKE, TargetPublishedData(target=target)))


def _execute(fold: _Fold, plan: Plan) -> None:
    for n, action in enumerate(plan.actions):
        fold.add(OrderSubmitted.create(KEY, Producer.EXECUTOR, submitted_data(action)))
        placed = OrderPlacedData(client_order_id=action.client_order_id, order_id=str(n))
        fold.add(OrderPlaced.create(KEY, Producer.EXECUTOR, placed))


def _median_ms(runs: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 4)


def _fill_event(fold: _Fold) -> Event:
    rec = next(iter(fold.actual.key(KEY).live_orders()))
    data = fill_data(
        rec.client_order_id, rec.order_id or "0", rec.side, rec.price or Decimal(1),
        Decimal("0.00400"), trade_id="t-1", venue="bench",
    )  # fmt: skip
    return FillObserved.create(KEY, Producer.GATEWAY, data)


def run(n: int, runs: int) -> dict[str, Any]:
    """Build the key, then time each case (module docstring)."""
    base = _Fold()
    _publish(base, 1, _orders(n))
    _execute(base, base.plan(None))
    settled = base.plan(None)
    assert settled.converged, "the built key should be converged"
    gc.collect()
    out: dict[str, Any] = {"orders": n, "runs": runs}
    out["no_change_ms"] = _median_ms(runs, lambda: base.plan(settled))
    out["full_diff_unchanged_ms"] = _median_ms(max(3, runs // 10), lambda: base.plan(None))
    out["one_changed_order_ms"], one = _changed_target(base, settled, n, frozenset({n // 2}), runs)
    step = max(1, n // 100)
    moved = frozenset(range(0, n, step))
    out["one_percent_change_ms"], pct = _changed_target(base, settled, n, moved, runs)
    out["one_fill_ms"], fill_plan = _one_fill(base, settled, runs)
    out["full_replacement_ms"], full = _replacement(base, settled, n, max(3, runs // 10))
    out["actions"] = {
        "no_change": len(settled.actions), "one_changed_order": len(one.actions),
        "one_percent_change": len(pct.actions), "one_fill": len(fill_plan.actions),
        "full_replacement": len(full.actions),
    }  # fmt: skip
    out["limits_ms"] = {"no_change": 5, "one_changed_order": 0.2}
    out["within_limits"] = out["no_change_ms"] <= 5 and out["one_changed_order_ms"] <= 0.2
    return out


def _changed_target(
    base: _Fold, settled: Plan, n: int, moved: frozenset[int], runs: int
) -> tuple[float, Plan]:
    fold = _copy(base)
    _publish(fold, 2, _orders(n, moved=moved))
    plan = fold.plan(settled)
    assert len(plan.actions) == len(moved), (len(plan.actions), len(moved))
    return _median_ms(runs, lambda: fold.plan(settled)), plan


def _one_fill(base: _Fold, settled: Plan, runs: int) -> tuple[float, Plan]:
    fold = _copy(base)
    fold.add(_fill_event(fold))
    return _median_ms(runs, lambda: fold.plan(settled)), fold.plan(settled)


def _replacement(base: _Fold, settled: Plan, n: int, runs: int) -> tuple[float, Plan]:
    fold = _copy(base)
    _publish(fold, 2, _orders(n, prefix="r"))
    plan = fold.plan(settled)
    assert len(plan.actions) == 2 * n
    return _median_ms(runs, lambda: fold.plan(settled)), plan


def _copy(fold: _Fold) -> _Fold:
    other = _Fold()
    other.intent, other.actual, other.position = fold.intent, fold.actual, fold.position
    other.portfolio = fold.portfolio
    return other


_PAIRED_RUNS = {"one_percent_change": 10, "full_replacement": 100}
"""`--paired`: `--runs` divided by these for the larger cases."""


def paired(n: int, runs: int) -> dict[str, Any]:
    """`--paired`: each case planned with the gates off and on alternately, plan by plan,
    in one process with the collector paused: per case the median of each and the median
    of the per-pair ratios on / off (the load of the machine hits both alike)."""
    global GATED
    GATED = True  # every fold also folds the portfolio
    base = _Fold()
    _publish(base, 1, _orders(n))
    _execute(base, base.plan(None))
    settled = base.plan(None)
    folds = {"no_change": base}
    for case, orders in (
        ("one_changed_order", _orders(n, moved=frozenset({n // 2}))),
        ("one_percent_change", _orders(n, moved=frozenset(range(0, n, max(1, n // 100))))),
        ("full_replacement", _orders(n, prefix="r")),
    ):
        folds[case] = _copy(base)
        _publish(folds[case], 2, orders)
    folds["one_fill"] = _copy(base)
    folds["one_fill"].add(_fill_event(folds["one_fill"]))
    out: dict[str, Any] = {"orders": n}
    with _paused():
        for case, fold in folds.items():
            out[case] = _pair(fold, settled, max(3, runs // _PAIRED_RUNS.get(case, 1)))
    GATED = False
    return out


def _pair(fold: _Fold, settled: Plan, runs: int) -> dict[str, float]:
    global GATED
    off: list[float] = []  # float-ok: durations
    on: list[float] = []  # float-ok
    for run in range(runs):
        for gated in (True, False) if run % 2 else (False, True):
            GATED = gated
            start = time.perf_counter()
            fold.plan(settled)
            (on if gated else off).append(time.perf_counter() - start)
    ratios = [b / a for a, b in zip(off, on, strict=True)]
    return {
        "off_ms": round(statistics.median(off) * 1000, 4),
        "on_ms": round(statistics.median(on) * 1000, 4),
        "on_vs_off_pct": round((statistics.median(ratios) - 1) * 100, 1),
    }


def _lifecycle(key: Key, n: int) -> list[Event]:
    coid = f"sp-bench-{key.symbol}-{n}"
    oid = f"o{n}"
    price, qty = Decimal("60000.00"), Decimal("0.01000")
    submitted = OrderSubmittedData(
        client_order_id=coid, intent_id=f"i{n}", attempt=1, side=Side.BUY,
        type=OrderType.LIMIT, price=price, quantity=qty,
    )  # fmt: skip
    fill = fill_data(
        coid, oid, Side.BUY, price, Decimal("0.00400"),
        trade_id=f"t{n}", venue="bench", fee=Decimal("0.01"),
    )  # fmt: skip
    cancelled = OrderCancelledData(client_order_id=coid, order_id=oid)
    return [
        OrderSubmitted.create(key, Producer.EXECUTOR, submitted),
        OrderPlaced.create(
            key, Producer.EXECUTOR, OrderPlacedData(client_order_id=coid, order_id=oid)
        ),
        FillObserved.create(key, Producer.GATEWAY, fill),
        OrderCancelled.create(key, Producer.GATEWAY, cancelled),
    ]


def _wire_events(count: int) -> list[bytes]:
    keys = [Key("bench", f"C{k}/USDT") for k in range(10)]
    out = []
    for key in keys:
        target = TargetState(account="bench", symbol=key.symbol or "", generation=1,
                             strategy="bench", orders=tuple(_orders(20)))  # fmt: skip
        data = TargetPublishedData(target=target)
        out.append(TargetPublished.create(key, Producer.INTAKE, data).to_json())
    n = 0
    while len(out) < count:
        out.extend(e.to_json() for e in _lifecycle(keys[n % len(keys)], n))
        n += 1
    return out[:count]


class _Rec:
    __slots__ = ("event", "position")

    def __init__(self, position: int, event: Event) -> None:
        self.position, self.event = position, event


def _paused() -> contextlib.AbstractContextManager[None]:
    """`gc_paused()` where this commit has it outside the core (earlier commits paused
    inside `rebuild`), else nothing."""
    try:
        from setpoint.eventlog.projection import gc_paused
    except ImportError:
        return contextlib.nullcontext()
    return gc_paused()


def replay(count: int) -> dict[str, Any]:
    """Parse + fold `count` wire events (module docstring), best of three."""
    raws = _wire_events(count)
    best = fold_best = float("inf")
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        with _paused():  # as the services' projection runner folds a catch-up
            rebuild(_Rec(i, parse_event(raw)) for i, raw in enumerate(raws, 1))  # streamed
        best = min(best, time.perf_counter() - start)
        records = [_Rec(i, parse_event(raw)) for i, raw in enumerate(raws, 1)]
        gc.collect()
        start = time.perf_counter()
        with _paused():
            rebuild(records)
        fold_best = min(fold_best, time.perf_counter() - start)
        del records
    return {
        "events": count,
        "parse_and_fold_per_s": round(count / best),
        "fold_only_per_s": round(count / fold_best),
        "limit_per_s": 80_000,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench kernel", description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--replay-events", type=int, default=200_000)
    parser.add_argument("--gates", action="store_true", help="every risk gate on")
    parser.add_argument(
        "--paired", action="store_true", help="gates off and on alternately, in one process"
    )
    args = parser.parse_args(argv)
    if args.paired:
        print(json.dumps({"paired": paired(args.orders, args.runs)}, indent=2))
        return 0
    global GATED
    GATED = args.gates
    result = {"plan": run(args.orders, args.runs) | {"gates": GATED}}
    if args.replay_events:
        result["replay"] = replay(args.replay_events)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
