"""The intent and actual stores: pure, idempotent folds of the log."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.core import strategies as kit
from tests.unit.core.strategies import (
    KEY,
    MARKET,
    PERP,
    History,
    Log,
    at,
    lossy_histories,
    order,
    played,
)

from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    AccountModeChangedData,
    AssetBalance,
    BalanceObserved,
    BalanceObservedData,
    OrderObserved,
    OrderStatus,
    Origin,
    Wallet,
)
from setpoint.core.model import Key, Producer, Side, TimeInForce
from setpoint.core.projections import (
    ActualState,
    IntentState,
    Journal,
    apply_actual,
    rebuild,
)
from setpoint.testing.synthetic import markets_loaded, observed_data

D = Decimal


def _placed_log(*orders_: object, **kw: object) -> Log:
    log = Log()
    log.publish(list(orders_), **kw)  # type: ignore[arg-type]
    kit.PerfectVenue().execute(log, log.plan())
    return log


def test_target_accepted_by_generation_and_stale_ignored() -> None:
    log = Log()
    first = log.publish([order("a")])
    assert log.intent.generation(KEY) == 1
    assert log.intent.target(KEY).event_id == first.event_id  # type: ignore[union-attr]
    stale = first.model_copy(update={"event_id": "00000000-0000-4000-8000-000000000001"})
    log.append(stale)
    assert log.intent.target(KEY).event_id == first.event_id  # type: ignore[union-attr]
    log.publish([order("b", oco_group="g")])
    assert set(log.intent.intents(KEY)) == {"b"}
    assert [o.id for o in log.intent.oco_group(KEY, "g")] == ["b"]


def test_submit_is_in_flight_until_answered() -> None:
    log = Log()
    log.publish([order("a")])
    action, rec = log.submit_first()
    assert rec.status is None
    assert rec.pending == "submit"
    assert dict(log.ka().pending) == {rec.ref: "submit"}
    assert log.actual.in_flight(at(10), 5) == [rec]
    assert log.actual.in_flight(at(3), 5) == []
    log.append(kit.ev_placed(action.client_order_id, "1"))
    rec = log.actual.order_by_venue_id(KEY, "1")
    assert rec is not None
    assert rec.status is OrderStatus.NEW
    assert rec.pending is None
    assert log.actual.in_flight(at(10), 5) == []
    assert [o.ref for o in log.actual.live_orders(KEY)] == [rec.ref]


def test_fill_dedupe_and_cap() -> None:
    log = _placed_log(order("a", qty="1.000"))
    rec = log.actual.live_orders(KEY)[0]
    fill = kit.ev_fill(rec, "0.400", "t1")
    log.append(fill)
    log.append(kit.ev_fill(rec, "0.400", "t1"))  # same trade, another event id
    assert log.ka().position == D("0.400")
    assert log.ka().has_fill("binance", "t1")
    log.append(kit.ev_fill(rec, "5", "t2"))  # above the order quantity: capped
    rec = log.actual.order(KEY, rec.ref)
    assert rec is not None
    assert rec.filled == D("1.000")
    assert rec.status is OrderStatus.FILLED
    assert log.ka().position == D("1.000")
    assert log.actual.consumed(KEY, "a")
    assert log.actual.live_orders(KEY) == []


def test_sell_fills_reduce_position_and_derivative_position_resets() -> None:
    log = Log()
    log.append(kit.ev_position("2", PERP))
    log.publish([order("s", side="sell", qty="0.5")], key=PERP)
    kit.PerfectVenue().execute(log, log.plan(PERP))
    rec = log.actual.live_orders(PERP)[0]
    log.append(kit.ev_fill(rec, "0.2", "x1"))
    assert log.actual.position_of(PERP) == D("1.8")
    log.append(kit.ev_position("1.5", PERP))
    assert log.actual.position_of(PERP) == D("1.5")


def test_venue_cancel_is_not_consumed_but_ioc_is() -> None:
    log = _placed_log(order("a"), order("b", time_in_force=TimeInForce.IOC))
    ka = log.ka()
    assert ka.progress("a").attempt == 1
    log.append(kit.ev_cancelled(ka.progress("a").last_client_order_id, reason="venue"))
    assert not log.actual.consumed(KEY, "a")
    assert log.actual.consumed(KEY, "b")  # the perfect venue filled and closed the IOC


def test_rejections() -> None:
    log = Log()
    log.publish([order("a"), order("b")])
    plan = log.plan()
    for action in plan.actions:
        log.append(kit.ev_submit(action))
    a, b = (x.client_order_id for x in plan.actions)
    log.append(
        kit.ev_rejected(a, terminal=True, reason="bad", code=None),
        kit.ev_rejected(b, reason="later", code=None),
    )
    assert log.actual.consumed(KEY, "a")
    assert not log.actual.consumed(KEY, "b")
    assert dict(log.ka().pending) == {}


def test_cancel_submitted_pending_and_not_found_count() -> None:
    log = _placed_log(order("a"))
    rec = log.actual.live_orders(KEY)[0]
    log.append(kit.ev_not_found(rec.ref, 1, at=at(1)), kit.ev_not_found(rec.ref, 2, at=at(5)))
    rec = log.actual.order(KEY, rec.ref)
    assert rec is not None
    assert rec.not_found == 2
    assert rec.not_found_since == at(1)
    log.append(kit.ev_cancel_submitted(rec.ref))
    assert dict(log.ka().pending) == {rec.ref: "cancel"}
    log.append(kit.ev_cancelled(rec.ref, reason="not_found", filled="0.3"))
    rec = log.actual.order(KEY, rec.ref)
    assert rec is not None
    assert rec.status is OrderStatus.CANCELED
    assert rec.done == D("0.3")
    assert dict(log.ka().pending) == {}


def test_foreign_orders_adopted_or_not() -> None:
    log = Log()

    def observed(oid: str, adopted: bool) -> OrderObserved:
        data = observed_data(
            "web_1", oid, Side.BUY, D("90"), D("1"), origin=Origin.FOREIGN, adopted=adopted
        )
        return OrderObserved.create(KEY, Producer.GATEWAY, data)

    log.append(observed("f1", False), observed("f2", True))
    assert [o.order_id for o in log.actual.live_orders(KEY)] == ["f2"]
    f2 = log.actual.order_by_venue_id(KEY, "f2")
    assert f2 is not None
    log.append(kit.ev_fill(f2, "0.5", "ft"))
    assert log.ka().position == D("0.5")
    f1 = log.actual.order_by_venue_id(KEY, "f1")
    assert f1 is not None
    log.append(kit.ev_fill(f1, "0.5", "ft2"))
    assert log.ka().position == D("0.5")  # foreign, not adopted: no strategy owns it


def test_account_facts() -> None:
    state = ActualState.empty()
    acct = Key("demo", None)
    events = [
        markets_loaded("demo", MARKET),
        BalanceObserved.create(
            acct,
            Producer.GATEWAY,
            BalanceObservedData(
                balances=(
                    AssetBalance(asset="USDT", free=D("10")),
                    AssetBalance(asset="BTC", free=D("1")),
                )
            ),
        ),
        BalanceObserved.create(
            acct,
            Producer.GATEWAY,
            BalanceObservedData(balances=(AssetBalance(asset="USDT", free=D("7")),)),
        ),
        AccountModeChanged.create(
            acct, Producer.GATEWAY, AccountModeChangedData(mode=AccountMode.LIQUIDATE_ONLY)
        ),
    ]
    for n, event in enumerate(events, 1):
        state = apply_actual(state, n, event)
    assert state.market(KEY) == MARKET
    assert state.balances("demo")[(Wallet.SPOT, "USDT")].free == D("7")
    assert state.balances("demo")[(Wallet.SPOT, "BTC")].free == D("1")
    assert state.mode("demo") is AccountMode.LIQUIDATE_ONLY
    assert state.position == 4
    assert apply_actual(state, 4, events[0]) is state  # at or below the position: no-op


def test_journal_window() -> None:
    journal = Journal().touch_all(f"n{i}" for i in range(10_000))
    assert journal.since(10_000) == frozenset()
    assert journal.since(9_998) == {"n9998", "n9999"}
    assert journal.since(10) is None
    assert Journal().touch_all(["a", "b"]) == Journal().touch("a").touch("b")


# --------------------------------------------------------------------------- properties

histories = lossy_histories(kit.target_orders(oco=True))


@settings(max_examples=150, deadline=None)
@given(histories, st.data())
def test_rebuild_at_any_position_is_identical(history: History, data: st.DataObject) -> None:
    log = played(history)
    whole = rebuild(log.records)
    assert whole == rebuild(log.records)
    assert whole == (log.intent, log.actual)
    cut = data.draw(st.integers(0, len(log.records)))
    intent, actual = rebuild(log.records[:cut])
    assert rebuild(log.records, intent, actual) == whole  # resume from a checkpoint
    assert rebuild(log.records[cut:], intent, actual) == whole
    if log.records:
        assert rebuild(log.records, *whole) == whole  # replay on top: idempotent


@settings(max_examples=100, deadline=None)
@given(histories)
def test_fills_twice_count_once(history: History) -> None:
    log = played(history)
    twice = Log()
    for rec in log.records:
        twice.append(rec.event)
        if rec.event.type == "FillObserved":
            twice.append(rec.event.model_copy(update={"event_id": _uuid(len(twice.records))}))
    assert twice.ka().position == log.ka().position
    assert twice.ka().orders == log.ka().orders
    for rec in log.ka().orders.values():
        assert 0 <= rec.inferred <= rec.filled <= rec.quantity
    signed = (o.filled if o.side is Side.BUY else -o.filled for o in log.ka().orders.values())
    assert log.ka().fill_net == sum(signed, D(0))  # every counted fill, once


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def test_empty_states() -> None:
    assert IntentState.empty().position == 0
    assert ActualState.empty().position == 0
    assert rebuild([]) == (IntentState.empty(), ActualState.empty())
