"""The actual store's working totals per key (`KeyActual.buying`, `selling`): the remaining
quantity of the live orders on each side, orders with a pending cancel left out, kept by
every order event. They must always equal that sum taken over the live orders."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from immutables import Map
from tests.unit.core import strategies as kit
from tests.unit.core.strategies import KEY, History, Log, at, lossy_histories, order, played

from setpoint.core.events import (
    Event,
    FillObserved,
    ObservationSource,
    OrderObserved,
    OrderStatus,
    Origin,
    Producer,
)
from setpoint.core.model import Side
from setpoint.core.projections import ActualState, KeyActual, apply_actual, rebuild
from setpoint.testing.synthetic import observed_data, place_action

D = Decimal

_BUSY = [("publish", 0), ("execute", 0)]


def _busy(parts: tuple[list[tuple[str, int]], list[tuple[str, int]]]) -> list[tuple[str, int]]:
    """Two random runs of steps, each after a target published and executed, and one more
    at the end: every history places orders, then moves them (amends and cancels)."""
    first, then = parts
    return [*_BUSY, *first, *_BUSY, ("publish", 1), *then, *_BUSY]


histories = lossy_histories(
    kit.target_orders(oco=True),
    min_targets=2,
    history_steps=st.tuples(kit.lossy_steps, kit.lossy_steps).map(_busy),
)
PURGE_AT_ONCE = Map({KEY.account: timedelta(0)})
"""A purge buffer of nothing: every closed order leaves the store at the next order event."""


def scanned(ka: KeyActual) -> tuple[Decimal, Decimal]:
    """The working totals by a pass over the key's live orders (what the gates used to do)."""
    buying = selling = D(0)
    for o in ka.live_orders():
        if o.pending == "cancel":
            continue
        if o.side is Side.BUY:
            buying += o.remaining
        else:
            selling += o.remaining
    return buying, selling


def assert_totals(state: ActualState) -> None:
    for key, ka in state.keys.items():
        assert (ka.buying, ka.selling) == scanned(ka), key


def _forgotten_duplicate(purged: ActualState, event: Event) -> bool:
    """A fill whose trade id the purged store forgot (buffer 0: at the next later fill)."""
    if not isinstance(event, FillObserved):
        return False
    fid = (event.data.venue, event.data.trade_id)
    return fid not in purged.key(event.key).fills and event.data.trade_id == "dup-1"


@settings(max_examples=200, deadline=None)
@given(histories)
def test_the_totals_equal_the_scan_after_every_event(history: History) -> None:
    log = played(history)
    full, purged = ActualState.empty(), ActualState.empty(PURGE_AT_ONCE)
    for rec in log.records:
        if _forgotten_duplicate(purged, rec.event):
            continue  # a duplicate beyond the horizon: not what this test is about
        full = apply_actual(full, rec.position, rec.event)
        purged = apply_actual(purged, rec.position, rec.event)
        assert_totals(full)
        assert_totals(purged)
        for key, ka in full.keys.items():
            assert (purged.key(key).buying, purged.key(key).selling) == (ka.buying, ka.selling)
    assert rebuild(log.records)[1] == log.actual  # a rebuild gives the same totals


def _placed(log: Log, intent: str, side: str, qty: str) -> str:
    action = place_action(KEY, order(intent, side, qty=qty))
    log.append(
        kit.ev_submit(action, at=log.now), kit.ev_placed(action.client_order_id, f"v-{intent}")
    )
    return action.client_order_id


def test_fills_cancels_and_a_stale_cancel() -> None:
    log = Log()
    assert (log.ka().buying, log.ka().selling) == (0, 0)
    bid = _placed(log, "b", "buy", "1.000")
    ask = _placed(log, "a", "sell", "0.250")
    assert (log.ka().buying, log.ka().selling) == (D("1"), D("0.25"))
    log.append(kit.ev_fill(log.ka().orders[bid], "0.400", "t1"))
    assert log.ka().buying == D("0.6")
    sent = kit.ev_cancel_submitted(bid).model_copy(update={"occurred_at": at(0)})
    log.append(sent)
    assert log.ka().buying == 0  # being cancelled: not working any more
    rec = log.ka().orders[bid]
    log.append(kit.ev_observed(rec, OrderStatus.PARTIALLY_FILLED, "0.400", at=at(10)))
    assert log.ka().orders[bid].pending is None  # the cancel's answer was lost
    assert log.ka().buying == D("0.6")  # working again
    log.append(kit.ev_cancelled(ask, reason="venue"))
    assert (log.ka().buying, log.ka().selling) == (D("0.6"), 0)
    assert_totals(log.actual)


def test_an_amend_an_observed_size_and_reported_fills() -> None:
    log = Log()
    old = _placed(log, "b", "buy", "1.000")
    amend = place_action(KEY, order("b", "buy", qty="0.500"), attempt=2, replaces=old)
    log.append(kit.ev_submit(amend))
    assert log.ka().buying == D("0.5")  # the old order is being cancelled: only the new
    log.append(kit.ev_cancelled(old), kit.ev_placed(amend.client_order_id, "v-b2", filled="0.100"))
    assert log.ka().buying == D("0.4")  # the venue reported 0.1 filled
    rec = log.ka().orders[amend.client_order_id]
    bigger = observed_data(
        rec.client_order_id, "v-b2", Side.BUY, rec.price, D("2.000"), filled=D("0.100"),
        source=ObservationSource.QUERY,
    )  # fmt: skip
    log.append(OrderObserved.create(KEY, Producer.GATEWAY, bigger))
    assert log.ka().buying == D("1.9")  # the venue's size now
    log.append(kit.ev_fill(rec, "2.000", "t1"))  # every trade, the reported 0.1 included
    assert log.ka().buying == 0  # filled: closed
    assert_totals(log.actual)


def test_foreign_orders_count_only_when_adopted() -> None:
    log = Log()
    for n, adopted in enumerate((False, True)):
        data = observed_data(
            None, f"x{n}", Side.SELL, D("101"), D("3"), origin=Origin.FOREIGN, adopted=adopted
        )
        log.append(OrderObserved.create(KEY, Producer.GATEWAY, data))
    assert (log.ka().buying, log.ka().selling) == (0, D("3"))
    assert_totals(log.actual)
