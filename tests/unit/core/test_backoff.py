"""Retry backoff after non-terminal rejections, and stale pending cancels (semantics §1, §4).

A non-terminal rejection (insufficient funds, no gateway answering) does not consume the
intent, so it is placed again, but not before `retry_after` (1 s, 2 s, 4 s, … 60 s per
consecutive rejection); a cancel whose answer was lost is cleared by a REST/query
observation that still finds the order open, `STALE_CANCEL` or more after it was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.core import strategies as kit
from tests.unit.core.strategies import KEY, PERP, Log, at, order

from setpoint.core.events import (
    ActionKind,
    CancelSubmitted,
    CancelSubmittedData,
    Event,
    EventBase,
    ObservationSource,
    OrderStatus,
)
from setpoint.core.model import Key, Producer, TimeInForce
from setpoint.core.projections import (
    POSITION_BACKOFF,
    STALE_CANCEL,
    Backoff,
    OrderRecord,
    retry_delay,
)

D = Decimal
EventT = TypeVar("EventT", bound=EventBase)


def submit_and_reject(log: Log, key: Key = KEY, *, terminal: bool = False) -> list[str]:
    """Submit every place of the current plan at `log.now` and reject each; their ids."""
    plan = log.plan(key)
    coids = []
    for action in plan.actions:
        assert action.kind is ActionKind.PLACE
        log.append(kit.ev_submit(action, key, log.now))
        log.append(kit.ev_rejected(action.client_order_id, log.now, terminal=terminal, key=key))
        coids.append(action.client_order_id)
    return coids


# --------------------------------------------------------------------------- fold


def test_retry_delay_doubles_up_to_a_minute() -> None:
    assert [retry_delay(n).total_seconds() for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert retry_delay(10_000) == timedelta(seconds=60)


def test_non_terminal_rejections_count_and_set_retry_after() -> None:
    log = Log()
    log.publish([order("a")])
    submit_and_reject(log)
    assert dict(log.ka().backoff) == {"a": Backoff(1, at(1))}
    assert not log.actual.consumed(KEY, "a")
    log.now = at(1)
    submit_and_reject(log)
    log.now = at(3)
    submit_and_reject(log)
    assert dict(log.ka().backoff) == {"a": Backoff(3, at(7))}
    assert log.ka().progress("a").attempt == 3


def _placed(rec: OrderRecord) -> Event:
    return kit.ev_placed(rec.client_order_id or "", "v-1")


def _observed(rec: OrderRecord) -> Event:
    return kit.ev_observed(rec._replace(order_id="v-1"), OrderStatus.NEW, "0")


@pytest.mark.parametrize("acknowledgement", [_placed, _observed], ids=["placed", "observed"])
def test_acknowledgement_resets_the_backoff(
    acknowledgement: Callable[[OrderRecord], Event],
) -> None:
    log = Log()
    log.publish([order("a")])
    submit_and_reject(log)
    log.now = at(1)
    _, rec = log.submit_first()
    assert "a" in log.ka().backoff  # in flight: not acknowledged yet
    log.append(acknowledgement(rec))
    assert dict(log.ka().backoff) == {}


def test_terminal_rejection_consumes_without_backoff() -> None:
    log = Log()
    log.publish([order("a"), order("b", time_in_force=TimeInForce.IOC)])
    submit_and_reject(log, terminal=True)
    assert dict(log.ka().backoff) == {}
    assert log.actual.consumed(KEY, "a")


def test_consumed_intent_drops_its_backoff_entry() -> None:
    log = Log()
    log.publish([order("a"), order("b", time_in_force=TimeInForce.IOC)])
    submit_and_reject(log)
    # the IOC intent is finished by its (rejected) attempt: no entry; the GTC one waits
    assert set(log.ka().backoff) == {"a"}
    log.now = at(1)
    (action,) = log.plan().actions
    log.append(kit.ev_submit(action, at=log.now))
    log.append(kit.ev_rejected(action.client_order_id, log.now, terminal=True))
    assert dict(log.ka().backoff) == {}


# --------------------------------------------------------------------------- effective, diff


def test_intent_excluded_before_retry_after_and_included_after() -> None:
    log = Log()
    log.publish([order("a"), order("b", price="99.00")])
    submit_and_reject(log)
    log.now = at(0.5)
    eff = log.effective()
    assert eff.excluded == {"a", "b"}
    assert eff.wake_at == at(1)
    assert {r.rule for r in eff.reasons} == {"retry_backoff"}
    assert "1 consecutive" in eff.reasons[0].detail
    assert at(1).isoformat() in eff.reasons[0].detail
    assert log.plan().actions == ()
    log.now = at(1)
    eff = log.effective()
    assert eff.excluded == frozenset()
    assert eff.wake_at is None
    assert eff.reasons == ()


def test_diff_places_again_only_after_the_backoff_without_a_new_event() -> None:
    log = Log()
    log.publish([order("a")])
    submit_and_reject(log)
    log.now = at(0.999)
    plan = log.plan()
    assert plan.actions == ()
    assert not plan.converged
    log.now = at(1)  # no event: only time passed
    (action,) = log.plan().actions
    assert (action.kind, action.intent_id, action.attempt) == (ActionKind.PLACE, "a", 2)
    # the incremental plan and a full diff agree
    assert log.plan(incremental=False).actions == (action,)


def test_intent_with_a_live_order_is_not_cancelled_by_its_backoff() -> None:
    log, venue = Log(), kit.PerfectVenue()
    log.publish([order("a")])
    venue.execute(log, log.plan())
    live = log.ka().intent_orders("a")[0]
    log.publish([order("a", price="99.00")])  # amend: the new attempt is rejected
    (amend,) = log.plan().actions
    log.append(kit.ev_submit(amend, at=log.now))
    log.append(kit.ev_rejected(amend.client_order_id, log.now))
    assert log.ka().intent_orders("a") == (log.actual.order(KEY, live.ref),)
    assert "a" not in log.effective().excluded  # it has a live order: left to the diff


def test_position_orders_back_off_as_a_family() -> None:
    log = Log()
    log.publish(position=D("1"), key=PERP)
    submit_and_reject(log, PERP)
    assert log.ka(PERP).progress("@pos-1-1").consumed  # a finished IOC attempt
    assert dict(log.ka(PERP).backoff) == {POSITION_BACKOFF: Backoff(1, at(1))}
    log.now = at(0.5)
    eff = log.effective(PERP)
    assert eff.position_paused
    assert [r.rule for r in eff.reasons] == ["retry_backoff"]
    plan = log.plan(PERP)
    assert plan.actions == ()
    assert not plan.converged
    log.now = at(1)
    (action,) = log.plan(PERP).actions
    assert action.intent_id == "@pos-1-2"
    log.append(kit.ev_submit(action, PERP, log.now))
    log.append(kit.ev_rejected(action.client_order_id, log.now, key=PERP))
    assert dict(log.ka(PERP).backoff) == {POSITION_BACKOFF: Backoff(2, at(3))}
    log.now = at(3)
    (action,) = log.plan(PERP).actions
    log.append(kit.ev_submit(action, PERP, log.now))
    log.append(kit.ev_placed(action.client_order_id, "v-9", PERP, OrderStatus.FILLED, "1"))
    assert dict(log.ka(PERP).backoff) == {}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=90, allow_nan=False),
            st.sampled_from(["reject", "ack", "wait"]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_rejected_intent_never_placed_before_retry_after(steps: list[tuple[float, str]]) -> None:
    """Whatever the venue answers and whenever the differ looks: after a non-terminal
    rejection, the intent's next placement comes at or after that rejection's
    `retry_after`."""
    log = Log()
    log.publish([order("a")])
    clock, earliest = 0.0, None
    for gap, answer in steps:
        clock += gap
        log.now = at(clock)
        places = [a for a in log.plan().actions if a.kind is ActionKind.PLACE]
        if not places:
            continue
        assert earliest is None or log.now >= earliest
        (action,) = places
        log.append(kit.ev_submit(action, at=log.now))
        if answer == "reject":
            log.append(kit.ev_rejected(action.client_order_id, log.now))
            entry = log.ka().backoff["a"]
            earliest = entry.retry_after
            assert entry.retry_after == log.now + retry_delay(entry.rejections)
        elif answer == "ack":
            log.append(kit.ev_placed(action.client_order_id, f"v-{clock}"))
            earliest = None
            # a later venue cancel lets the intent be placed again at once
            log.append(kit.ev_cancelled(action.client_order_id, reason="venue"))


# --------------------------------------------------------------------------- stale cancel


def ev_cancel_at(coid: str, when: datetime) -> CancelSubmitted:
    data = CancelSubmittedData(client_order_id=coid, intent_id="a")
    return CancelSubmitted.create(KEY, Producer.EXECUTOR, data, occurred_at=when)


def observed_open(log: Log, ref: str, when: datetime, source: ObservationSource) -> None:
    rec = log.actual.order(KEY, ref)
    assert rec is not None
    event = kit.ev_observed(rec, OrderStatus.NEW, "0")
    data = event.data.model_copy(update={"source": source})
    log.append(event.model_copy(update={"data": data, "occurred_at": when}))


def test_stale_pending_cancel_cleared_by_a_later_open_observation() -> None:
    log, venue = Log(), kit.PerfectVenue()
    log.publish([order("a")])
    venue.execute(log, log.plan())
    ref = log.ka().intent_orders("a")[0].ref
    log.publish([])
    log.append(ev_cancel_at(ref, at(10)))
    assert dict(log.ka().pending) == {ref: "cancel"}
    # a snapshot racing with the cancel does not undo it; nor does a websocket hint
    observed_open(log, ref, at(10) + STALE_CANCEL - timedelta(milliseconds=1),
                  ObservationSource.REST)  # fmt: skip
    observed_open(log, ref, at(60), ObservationSource.WS)
    assert dict(log.ka().pending) == {ref: "cancel"}
    assert log.plan().actions == ()
    observed_open(log, ref, at(10) + STALE_CANCEL, ObservationSource.QUERY)
    assert dict(log.ka().pending) == {}
    (action,) = log.plan().actions
    assert (action.kind, action.client_order_id) == (ActionKind.CANCEL, ref)


def test_stale_pending_cancel_of_an_amend_is_cleared_too() -> None:
    log, venue = Log(), kit.PerfectVenue()
    log.publish([order("a")])
    venue.execute(log, log.plan())
    old = log.ka().intent_orders("a")[0].ref
    log.publish([order("a", price="99.00")])
    (amend,) = log.plan().actions
    log.append(kit.ev_submit(amend, at=at(20)))
    log.append(kit.ev_placed(amend.client_order_id, "v-new"))
    assert log.ka().pending.get(old) == "cancel"
    observed_open(log, old, at(30), ObservationSource.REST)
    assert log.ka().pending.get(old) is None
    assert [(a.kind, a.client_order_id) for a in log.plan().actions] == [(ActionKind.CANCEL, old)]


# --------------------------------------------------------------------------- unfilled position IOCs


def _when(event: EventT, when: datetime) -> EventT:
    return event.model_copy(update={"occurred_at": when})


def place_position(log: Log) -> OrderRecord:
    """Submit the key's one position order at `log.now`; its record (in flight)."""
    (action,) = log.plan(PERP).actions
    assert action.position_order
    assert action.time_in_force is TimeInForce.IOC
    log.append(kit.ev_submit(action, PERP, log.now))
    rec = log.actual.order(PERP, action.client_order_id)
    assert rec is not None
    return rec


def expire(log: Log, rec: OrderRecord, filled: str = "0") -> None:
    """The venue's answer to an IOC at `log.now`: it took `filled` and expired the rest."""
    coid = rec.client_order_id or ""
    log.append(_when(kit.ev_placed(coid, f"v-{rec.attempt}-{rec.intent_id}", PERP), log.now))
    if D(filled):
        acked = log.actual.order(PERP, coid)
        assert acked is not None
        log.append(kit.ev_fill(acked, filled, f"t-{rec.intent_id}"))
    log.append(_when(kit.ev_cancelled(coid, PERP, reason="expired", filled=filled), log.now))


def test_empty_book_position_ioc_backs_off_doubles_and_a_partial_fill_resets() -> None:
    """The fault soak's case: a position target and no depth at the venue. Every IOC
    expires with nothing filled; the next one waits 1 s, 2 s, 4 s, … as after rejections,
    not a tight loop; a partial fill is progress and the hedge goes on at once."""
    log = Log()
    log.publish(position=D("-1"), key=PERP)
    rec = place_position(log)
    expire(log, rec)
    assert log.ka(PERP).progress(rec.intent_id or "").consumed
    assert dict(log.ka(PERP).backoff) == {POSITION_BACKOFF: Backoff(1, at(1))}
    log.now = at(0.999)
    plan = log.plan(PERP)
    assert plan.actions == ()
    assert not plan.converged
    assert log.effective(PERP).position_paused
    assert log.effective(PERP).wake_at == at(1)
    log.now = at(1)  # no event: only time passed
    rec = place_position(log)
    assert rec.intent_id == "@pos-1-2"
    log.append(_when(kit.ev_placed(rec.client_order_id or "", "v-2", PERP), log.now))
    assert log.ka(PERP).backoff[POSITION_BACKOFF].rejections == 1  # acked: no progress yet
    log.now = at(1.25)  # the venue's expiry comes by the user-data stream
    acked = log.actual.order(PERP, rec.ref)
    assert acked is not None
    log.append(kit.ev_observed(acked, OrderStatus.EXPIRED, "0", ObservationSource.WS, log.now))
    assert dict(log.ka(PERP).backoff) == {POSITION_BACKOFF: Backoff(2, at(3.25))}
    log.now = at(3.249)
    assert log.plan(PERP).actions == ()
    log.now = at(3.25)
    expire(log, place_position(log))
    assert dict(log.ka(PERP).backoff) == {POSITION_BACKOFF: Backoff(3, at(7.25))}
    log.now = at(7.25)
    expire(log, place_position(log), filled="0.4")  # some depth came back
    assert dict(log.ka(PERP).backoff) == {}
    assert log.ka(PERP).position == D("-0.4")
    (action,) = log.plan(PERP).actions  # at once: the hedge follows what was executed
    assert (action.intent_id, action.quantity) == ("@pos-1-5", D("0.600"))


def test_placed_expired_at_once_backs_off_like_a_rejection_and_shares_its_count() -> None:
    log = Log()
    log.publish(position=D("1"), key=PERP)
    submit_and_reject(log, PERP)
    log.now = at(1)
    rec = place_position(log)
    log.append(
        _when(
            kit.ev_placed(rec.client_order_id or "", "v-1", PERP, OrderStatus.EXPIRED, "0"), log.now
        )
    )
    assert dict(log.ka(PERP).backoff) == {POSITION_BACKOFF: Backoff(2, at(3))}
    log.now = at(3)
    rec = place_position(log)
    log.append(
        _when(
            kit.ev_placed(rec.client_order_id or "", "v-2", PERP, OrderStatus.EXPIRED, "0.2"),
            log.now,
        )
    )
    assert dict(log.ka(PERP).backoff) == {}  # the venue reports a fill: progress


def test_what_does_not_start_a_position_backoff() -> None:
    """A lost attempt (it never reached the venue, semantics §4) and an IOC of a strategy's
    own intent (consumed, never placed again) add no entry."""
    log = Log()
    log.publish([order("a", time_in_force=TimeInForce.IOC)], position=D("1"), key=PERP)
    actions = log.plan(PERP).actions
    assert {a.position_order for a in actions} == {True, False}
    for action in actions:
        log.append(kit.ev_submit(action, PERP, log.now))
        if action.position_order:
            log.append(kit.ev_cancelled(action.client_order_id, PERP, reason="lost"))
        else:
            log.append(kit.ev_placed(action.client_order_id, "v-a", PERP))
            log.append(kit.ev_cancelled(action.client_order_id, PERP, reason="expired"))
    assert dict(log.ka(PERP).backoff) == {}
    assert log.ka(PERP).progress("a").consumed
    (action,) = log.plan(PERP).actions
    assert action.position_order
    assert action.intent_id == "@pos-1-2"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=90, allow_nan=False),
            st.sampled_from(["reject", "expire", "partial", "wait"]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_position_order_never_placed_before_the_family_retry_after(
    steps: list[tuple[float, str]],
) -> None:
    """Whatever the venue does with position IOCs and whenever the differ looks: after a
    non-terminal rejection or an IOC that ended with nothing filled, no position order goes
    out before the family's `retry_after`; each such failure in a row doubles the wait, and
    an attempt that filled anything clears it."""
    log = Log()
    log.publish(position=D("50"), key=PERP)
    clock, earliest, failures = 0.0, None, 0
    for gap, answer in steps:
        clock += gap
        log.now = at(clock)
        if not log.plan(PERP).actions:
            assert earliest is not None
            assert log.now < earliest
            continue
        assert earliest is None or log.now >= earliest
        rec = place_position(log)
        if answer == "reject":
            log.append(kit.ev_rejected(rec.client_order_id or "", log.now, key=PERP))
        elif answer == "wait":  # the answer is still on its way: nothing to place
            log.append(_when(kit.ev_placed(rec.client_order_id or "", f"v-{clock}", PERP), log.now))
            assert log.plan(PERP).actions == ()
        expire(log, rec, "0.1" if answer == "partial" else "0")
        if answer == "partial":
            assert POSITION_BACKOFF not in log.ka(PERP).backoff
            earliest, failures = None, 0
            continue
        failures += 1
        entry = log.ka(PERP).backoff[POSITION_BACKOFF]
        assert entry == Backoff(failures, log.now + retry_delay(failures))
        earliest = entry.retry_after
