"""Inferred fills and the real trades they stand for count once.

Rule (docs/events.md, FillObserved): an order counts
`min(quantity, max(sum of its real trades, venue filled named by its inferred fills))`,
whatever order the facts come in; so a real trade that arrives after an inferred fill
replaces inferred quantity before it adds any."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.core.strategies import KEY, Log, ev_fill, order
from tests.unit.core.test_scenarios import run, snapshot, started
from tests.unit.core.venue_views import venue_trade, venue_view

from setpoint.core.events import FillObserved, FillSource, OrderStatus
from setpoint.core.model import Producer
from setpoint.core.projections import OrderRecord
from setpoint.core.reconcile import ReconcilePolicy, reconcile
from setpoint.testing.synthetic import fill_data

D = Decimal
POLICY = ReconcilePolicy(target_symbols=frozenset({"BTC/USDT"}))


def _order(log: Log) -> OrderRecord:
    """The one order of the key."""
    (rec,) = log.ka().orders.values()
    return rec


def _inferred(log: Log, venue_filled: str) -> FillObserved:
    """Reconciliation sees the venue report `venue_filled` for order "a" without trades."""
    rec = _order(log)
    view = venue_view(rec, filled=D(venue_filled), status=OrderStatus.PARTIALLY_FILLED)
    out = run(log, snapshot(log, [view]))
    fills = [e for e in out.events if isinstance(e, FillObserved)]
    assert len(fills) == 1
    assert fills[0].data.source is FillSource.INFERRED
    assert fills[0].data.order_filled == D(venue_filled)
    return fills[0]


def _counted(log: Log) -> tuple[Decimal, Decimal]:
    """(the order's filled, the key's position)."""
    return _order(log).filled, log.ka().position


def _partly_filled() -> Log:
    log, _ = started(order("a", qty="1.000"))
    log.append(ev_fill(_order(log), "0.200", "t1"))
    return log


def test_inferred_then_the_real_trade_counts_once() -> None:
    log = _partly_filled()
    _inferred(log, "0.700")
    assert _counted(log) == (D("0.700"), D("0.700"))
    log.append(ev_fill(_order(log), "0.500", "t2"))  # the trade the inference stood for
    assert _counted(log) == (D("0.700"), D("0.700"))
    assert _order(log).inferred == 0
    log.append(ev_fill(_order(log), "0.300", "t3"))  # a newer trade adds
    assert _counted(log) == (D("1.000"), D("1.000"))
    assert _order(log).status is OrderStatus.FILLED


def test_the_real_trade_then_the_report_gives_no_inferred_fill() -> None:
    log = _partly_filled()
    log.append(ev_fill(_order(log), "0.500", "t2"))
    rec = _order(log)
    view = venue_view(rec, filled=D("0.700"), status=OrderStatus.PARTIALLY_FILLED)
    out = run(log, snapshot(log, [view]))
    assert [e for e in out.events if isinstance(e, FillObserved)] == []
    assert out.inferred_fills == 0
    assert _counted(log) == (D("0.700"), D("0.700"))


def test_two_partial_real_trades_after_an_inferred_fill_replace_it() -> None:
    log = _partly_filled()
    _inferred(log, "0.700")
    log.append(ev_fill(_order(log), "0.300", "t2a"))
    assert (_counted(log), _order(log).inferred) == ((D("0.700"), D("0.700")), D("0.200"))
    log.append(ev_fill(_order(log), "0.200", "t2b"))
    assert (_counted(log), _order(log).inferred) == ((D("0.700"), D("0.700")), D("0"))
    log.append(ev_fill(_order(log), "0.100", "t3"))
    assert _counted(log) == (D("0.800"), D("0.800"))


def test_the_real_trade_recorded_while_the_inference_was_on_its_way_counts_once() -> None:
    """The websocket appends the real trade after reconciliation decided to infer it but
    before its facts are appended: the inferred fill only tops the order up to the venue's
    filled quantity, which the real trade already reached."""
    log = _partly_filled()
    rec = _order(log)
    view = venue_view(rec, filled=D("0.700"), status=OrderStatus.PARTIALLY_FILLED)
    out = reconcile(log.actual, snapshot(log, [view]), POLICY, log.now)
    assert out.inferred_fills == 1
    log.append(ev_fill(rec, "0.500", "t2"))
    log.append(*out.events)
    assert _counted(log) == (D("0.700"), D("0.700"))


def test_a_newer_trade_before_the_missing_one_lags_and_is_caught_up_never_overcounted() -> None:
    """Inferred 0.5 (venue 0.7); then a newer trade of 0.3 arrives while the missing one
    never does. The count stays at max(real, reported) = 0.7 until the next reconciliation
    reads the venue's 1.0 and infers the rest: late, never above the truth."""
    log = _partly_filled()
    _inferred(log, "0.700")
    log.append(ev_fill(_order(log), "0.300", "t3"))
    assert _counted(log) == (D("0.700"), D("0.700"))
    _inferred(log, "1.000")
    assert _counted(log) == (D("1.000"), D("1.000"))


def test_fills_of_the_same_reconciliation_are_counted_before_inferring() -> None:
    """The trades read brings one missing trade; the venue reports more: one inferred fill
    for exactly the rest."""
    log = _partly_filled()
    rec = _order(log)
    trade = venue_trade(rec, "t2", "0.300")
    view = venue_view(rec, filled=D("0.700"), status=OrderStatus.PARTIALLY_FILLED)
    out = run(log, snapshot(log, [view], fills=[trade]))
    fills = [e.data for e in out.events if isinstance(e, FillObserved)]
    assert [(f.trade_id, f.quantity) for f in fills] == [
        ("t2", D("0.300")),
        (f"inferred-{rec.ref}-0.700", D("0.200")),
    ]
    assert _counted(log) == (D("0.700"), D("0.700"))


def test_an_inferred_fill_without_the_venue_quantity_adds_as_before() -> None:
    """Older logs: an inferred fill without `order_filled` adds its quantity; a real trade
    after it still replaces it first."""
    log = _partly_filled()
    rec = _order(log)
    data = fill_data(
        rec.client_order_id, rec.order_id or "?", rec.side, D("100"), D("0.500"),
        trade_id="inferred-old", source=FillSource.INFERRED,
    )  # fmt: skip
    log.append(FillObserved.create(KEY, Producer.GATEWAY, data))
    assert _counted(log) == (D("0.700"), D("0.700"))
    log.append(ev_fill(_order(log), "0.500", "t2"))
    assert _counted(log) == (D("0.700"), D("0.700"))


# --------------------------------------------------------------------------- property

real_qty = st.sampled_from([D("0.100"), D("0.200"), D("0.250"), D("0.300")])
reported = st.sampled_from([D("0.300"), D("0.500"), D("0.700"), D("1.000"), D("1.200")])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(real_qty, max_size=6),
    st.lists(reported, max_size=3),
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_an_order_counts_the_larger_of_its_trades_and_its_reports_in_any_order(
    reals: list[Decimal], reports: list[Decimal], rnd: object, twice: bool
) -> None:
    log, _ = started(order("a", qty="1.000"))
    rec = _order(log)
    facts: list[FillObserved] = [ev_fill(rec, q, f"t{n}") for n, q in enumerate(reals)]
    for v in reports:
        data = fill_data(
            rec.client_order_id, rec.order_id or "?", rec.side, D("100"), v,
            trade_id=f"inferred-{v}", source=FillSource.INFERRED,
        ).model_copy(update={"order_filled": v})  # fmt: skip
        facts.append(FillObserved.create(KEY, Producer.GATEWAY, data))
    rnd.shuffle(facts)  # type: ignore[attr-defined]
    for fact in facts:
        log.append(fact)
        if twice:
            log.append(fact.model_copy(update={"event_id": "00000000-0000-4000-8000-000000000001"}))
    expected = min(D("1.000"), max([sum(reals, D(0)), *reports]))
    assert _counted(log) == (expected, expected)
    after = _order(log)
    assert 0 <= after.inferred <= after.filled <= after.quantity
