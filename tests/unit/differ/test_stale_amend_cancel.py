"""An amend whose cancel was never answered is planned again once reconciliation clears the
stale cancel (semantics §4: "the answer, or reconciliation, ends the wait").

The case of the saved evidence of commit 8b10bd6: the executor, restarted before the
gateway, carried out an amend of the newest plan; its `CancelSubmitted` (for the replaced
order) reached no gateway, so the cancel was left for the next plan and the new order was
never placed. A REST observation that still found the order open `STALE_CANCEL` later
cleared the pending cancel, the diff planned the same amend again, but the differ recorded
no new decision: it took the amend for the last decision still being carried out, because
the executor's `CancelSubmitted` names the replaced order and not the amend's new client
order id. The key stayed drifting for good.

Pure: the differ's view folds named events, and each decision goes through the same
`decide` and `should_append` the service runs; the executor's side is its pure `decide`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tests.unit.core.strategies import (
    KEY,
    MARKET,
    at,
    ev_observed,
    ev_placed,
    ev_submit,
    ev_target,
    order,
)

from setpoint.config import AccountConfig
from setpoint.core.events import (
    Action,
    ActionKind,
    CancelSubmitted,
    DiffComputed,
    DiffComputedData,
    Event,
    ObservationSource,
    OrderObserved,
)
from setpoint.core.model import Producer, TargetOrder
from setpoint.core.projections import STALE_CANCEL
from setpoint.differ import decide
from setpoint.differ.view import DifferView
from setpoint.eventlog.port import Recorded
from setpoint.executor import decide as executor_decide
from setpoint.executor import records
from setpoint.executor.plan import expand
from setpoint.testing.synthetic import markets_loaded

ACCOUNT = AccountConfig()
SENT = at(30)
"""When the amend's cancel was written ahead (and sent to no gateway)."""


@dataclass
class Differ:
    """The differ's loop on one key without NATS: fold, decide, record when new."""

    view: DifferView = field(default_factory=DifferView)
    generation: int = 0
    recorded: DiffComputed | None = None
    """The last decision recorded."""

    def append(self, *events: Event) -> None:
        for event in events:
            self.view.apply(Recorded(self.view.position + 1, event))

    def publish(self, orders: list[TargetOrder], now: datetime) -> None:
        self.generation += 1
        self.append(ev_target(orders, self.generation, now))

    def reconcile(self, now: datetime) -> DiffComputedData | None:
        """What the differ's `_reconcile` records for the key now (None: nothing)."""
        outcome = decide.decide(self.view.intent, self.view.actual, KEY, ACCOUNT, now)
        facts = self.view.facts(KEY)
        if not decide.should_append(outcome.data, facts.decision, facts.acted):
            return None
        self.recorded = DiffComputed.create(KEY, Producer.DIFFER, outcome.data, occurred_at=now)
        self.append(self.recorded)
        return outcome.data


def cancel_sent(differ: Differ, action: Action, when: datetime) -> CancelSubmitted:
    """The executor's write-ahead, at `when`, of the cancel half of `action` (an amend's, as
    `executor.plan` splits it) of the differ's last recorded decision."""
    cancels, _ = expand([action])
    (cancel,) = cancels
    assert differ.recorded is not None
    sent = records.cancel_submitted(KEY, cancel, cancel.order_id, differ.recorded, None)
    return sent.model_copy(update={"occurred_at": when})


def still_open(differ: Differ, coid: str, when: datetime) -> OrderObserved:
    """The gateway's REST observation of the order, open as before (what reconciliation
    records for a stale cancel even though nothing else changed)."""
    rec = differ.view.actual.order(KEY, coid)
    assert rec is not None
    assert rec.order_id is not None
    assert rec.status is not None
    return ev_observed(rec, rec.status, rec.filled, ObservationSource.REST, when)


def amend_left_unanswered() -> tuple[Differ, Action]:
    """An order working at 100, a target moving it to 99, and the amend's cancel written
    ahead at `SENT` with no answer (it reached no gateway); the amend it carried out."""
    differ = Differ()
    differ.append(markets_loaded(KEY.account, MARKET))
    differ.publish([order("a")], at(0))
    first = differ.reconcile(at(0))
    assert first is not None
    (place,) = first.actions
    differ.append(ev_submit(place, at=at(0)), ev_placed(place.client_order_id, "v-1"))
    assert differ.reconcile(at(1)) is not None, "converged is recorded"
    differ.publish([order("a", price="99.00")], at(20))
    plan = differ.reconcile(at(20))
    assert plan is not None
    (amend,) = plan.actions
    assert (amend.kind, amend.replaces) == (ActionKind.AMEND, place.client_order_id)
    differ.append(cancel_sent(differ, amend, SENT))
    assert differ.view.actual.key(KEY).pending.get(place.client_order_id) == "cancel"
    return differ, amend


def test_an_amend_whose_cancel_was_lost_is_planned_again_once_the_cancel_is_stale() -> None:
    differ, amend = amend_left_unanswered()
    old = amend.replaces
    assert old is not None
    assert differ.reconcile(SENT + timedelta(seconds=1)) is None, "the cancel is on its way"
    # the gateway's reconciliation: an open observation before the threshold changes nothing
    early = SENT + STALE_CANCEL - timedelta(milliseconds=1)
    differ.append(still_open(differ, old, early))
    assert differ.reconcile(early) is None
    # at the threshold it clears the pending cancel: the amend must be decided again
    late = SENT + STALE_CANCEL
    differ.append(still_open(differ, old, late))
    assert differ.view.actual.key(KEY).pending.get(old) is None
    again = differ.reconcile(late)
    assert again is not None, "the amend was never planned again: the key stays stuck"
    assert again.actions == (amend,)
    # and the executor carries it out: the cancel again, then the new order
    cancel, place = (a for side in expand(again.actions) for a in side)
    for action in (cancel, place):
        verdict = executor_decide.decide(action, KEY, differ.view.actual, ACCOUNT)
        assert verdict.verdict is executor_decide.Verdict.EXECUTE, (action, verdict)


def test_the_replanned_amend_is_recorded_once_per_cancel_sent() -> None:
    differ, amend = amend_left_unanswered()
    old = amend.replaces
    assert old is not None
    late = SENT + STALE_CANCEL
    differ.append(still_open(differ, old, late))
    assert differ.reconcile(late) is not None
    assert differ.reconcile(late + timedelta(seconds=1)) is None, "being carried out"
    # the executor sends the cancel again, and again nobody answers
    differ.append(cancel_sent(differ, amend, late + timedelta(seconds=1)))
    assert differ.reconcile(late + timedelta(seconds=2)) is None, "the cancel is on its way"
    again = late + timedelta(seconds=1) + STALE_CANCEL
    differ.append(still_open(differ, old, again))
    assert differ.reconcile(again) is not None
