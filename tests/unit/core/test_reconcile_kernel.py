"""Reconciliation: a failed venue query never reads as "empty", "flat" or "gone"."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.core.strategies import (
    KEY,
    PERP,
    Log,
    PerfectVenue,
    at,
    ev_position,
    lossy_steps,
    order,
    positions,
    run_history,
    target_orders,
)
from tests.unit.core.venue_views import venue_view

from setpoint.core.events import (
    AssetBalance,
    ObservationSource,
    OrderStatus,
    ReconcileTrigger,
    Wallet,
)
from setpoint.core.reconcile import (
    Fetched,
    ReconcilePolicy,
    VenueOrder,
    VenueSnapshot,
    query_key,
    reconcile,
)

D = Decimal
POLICY = ReconcilePolicy(
    zombie_policy="cancel", target_symbols=frozenset({"BTC/USDT", "BTC/USDT:USDT"})
)


def test_failed_parts_conclude_nothing() -> None:
    log, venue = Log(), PerfectVenue()
    log.publish([order("a")])
    venue.execute(log, log.plan())
    log.append(ev_position("1", PERP))
    rec = log.ka().intent_orders("a")[0]
    snap = VenueSnapshot(
        account="demo",
        venue="binance",
        taken_at=at(100),
        open_orders={"BTC/USDT": Fetched.failed("timeout")},
        fills={"BTC/USDT": Fetched.failed("503")},
        positions={"BTC/USDT:USDT": Fetched.failed("timeout")},
        balances={Wallet.SPOT: Fetched.failed("429")},
        queries={rec.ref: Fetched.failed("timeout")},
    )
    out = reconcile(log.actual, snap, POLICY, at(100))
    assert out.events == ()
    assert out.actions == ()
    assert out.queries == ()
    assert len(out.report.errors) == 4
    assert not out.completed(ReconcileTrigger.STARTUP).ok


def test_ghost_query_failure_is_not_gone() -> None:
    log, venue = Log(), PerfectVenue()
    log.publish([order("a")])
    venue.execute(log, log.plan())
    rec = log.ka().intent_orders("a")[0]
    snap = VenueSnapshot(
        account="demo",
        venue="binance",
        taken_at=at(100),
        open_orders={"BTC/USDT": Fetched.of(())},
        queries={rec.ref: Fetched.failed("timeout")},
    )
    out = reconcile(log.actual, snap, POLICY, at(100))
    assert out.events == ()
    assert [(i.category, i.resolution) for i in out.report.items] == [("ghost", "query failed")]


def test_position_and_balances_recorded_when_they_differ() -> None:
    log = Log()
    log.append(ev_position("1", PERP))
    usdt = AssetBalance(asset="USDT", free=D("5"))
    snap = VenueSnapshot(
        account="demo",
        venue="binance",
        taken_at=at(1),
        positions={"BTC/USDT:USDT": Fetched.of(D("1")), "ETH/USDT:USDT": Fetched.of(D("0"))},
        balances={Wallet.SPOT: Fetched.of((usdt,))},
    )
    out = reconcile(log.actual, snap, POLICY, at(1))
    kinds = sorted((e.type, e.symbol) for e in out.events)
    assert kinds == [("BalanceObserved", None), ("PositionObserved", "ETH/USDT:USDT")]
    log.append(*out.events)
    assert reconcile(log.actual, snap, POLICY, at(1)).events == ()


def _venue_orders(log: Log, seed: int) -> tuple[VenueOrder, ...]:
    out = []
    for n, rec in enumerate(sorted(log.ka().live_orders(), key=lambda o: o.ref)):
        if rec.status is None or (seed >> n) & 1:
            continue  # in flight, or (by the seed) gone from the venue
        filled = min(rec.quantity, rec.done + D("0.1") * ((seed >> (n + 8)) & 1))
        out.append(venue_view(rec, filled=filled, status=OrderStatus.NEW))
    return tuple(out)


@settings(max_examples=150, deadline=None)
@given(
    lossy_steps,
    st.lists(st.tuples(target_orders(), positions), min_size=1, max_size=3),
    st.integers(0, 2**16),
    st.fixed_dictionaries(
        {
            "open": st.booleans(),
            "fills": st.booleans(),
            "pos": st.booleans(),
            "queries": st.booleans(),
        }
    ),
)
def test_a_failed_query_never_yields_flat_or_gone(
    history: list, tgts: list, seed: int, ok: dict[str, bool]
) -> None:  # type: ignore[type-arg]
    log = Log()
    run_history(log, PerfectVenue(), history, tgts)
    log.now = at(1000)

    def part(value: object, good: bool) -> Fetched:  # type: ignore[type-arg]
        return Fetched.of(value) if good else Fetched.failed("boom")

    live = list(log.ka().live_orders())
    snap = VenueSnapshot(
        account="demo",
        venue="binance",
        taken_at=log.now,
        open_orders={"BTC/USDT": part(_venue_orders(log, seed), ok["open"])},
        fills={"BTC/USDT": part((), ok["fills"])},
        positions={"BTC/USDT": part(D(0), ok["pos"])},
        queries={query_key(o): part(None, ok["queries"]) for o in live},
    )
    out = reconcile(log.actual, snap, POLICY, log.now)
    types = [e.type for e in out.events]
    if not ok["open"]:
        assert out.actions == ()
        assert out.queries == ()
        assert not set(types) & {"OrderCancelled", "OrderNotFound", "OrderObserved"}
    if not ok["queries"]:
        assert not set(types) & {"OrderCancelled", "OrderNotFound"}
    if not ok["pos"]:
        assert "PositionObserved" not in types
    if not ok["fills"]:
        assert "FillObserved" not in types
    closed = [e for e in out.events if e.type == "OrderCancelled"]
    for event in closed:  # closing only after N not-found answers spanning the min age
        assert event.data.reason == "not_found"  # type: ignore[union-attr]
    log.append(*out.events)  # and the facts fold


def test_observed_source_is_rest_for_matched() -> None:
    log, venue = Log(), PerfectVenue()
    log.publish([order("a")])
    venue.execute(log, log.plan())
    rec = log.ka().intent_orders("a")[0]
    view = venue_view(rec, filled=D(0), status=OrderStatus.CANCELED)
    snap = VenueSnapshot(
        account="demo", venue="binance", taken_at=at(5),
        open_orders={"BTC/USDT": Fetched.of((view,))},
    )  # fmt: skip
    out = reconcile(log.actual, snap, POLICY, at(5))
    (event,) = out.events
    assert event.data.source is ObservationSource.REST  # type: ignore[union-attr]
    log.append(event)
    assert log.actual.live_orders(KEY) == []
