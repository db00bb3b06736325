"""Carrying out one plan, stage by stage (the order itself is decided by `plan`, each
action by `decide`; this module feeds them the newest projection and sends what they pass).

Contract:

* The native amends of a plan (`core.amend.native_style`: the venue amends the order in
  place, or replaces it in one request) go first, in a stage of their own: in place
  written ahead as `AmendSubmitted` (the order keeps its ids and attempt; its new total
  size is the plan's quantity plus what it filled), a replace as the next attempt's
  `OrderSubmitted`. One the venue refused (in place: the order still open without the
  asked terms; a replace: rejected) joins the plan as cancel-then-place.
* The stages of a plan (`plan.stages`) run in order; a plan superseded by a newer one of
  its key stops between stages. The place of an amend goes only when the cancel of the
  order it replaces came back without a fill beyond what the plan assumed
  (`plan.amends_ready`).
* Within a stage each action is sent as soon as its own write-ahead event is recorded
  (`writeahead.WriteAhead.record_stage`); the places of a stage go first when they cannot
  trade against the orders it cancels (`plan.places_first`).
* Each action is decided just before its write-ahead (`decide`, against the newest
  facts): skipped when already done, refused with a `RiskRejected`, or written ahead and
  sent (`venue_actions.VenueActions.carry_out`).
* A stage that is not the plan's last ends when every sent action has been answered and
  recorded. The last stage ends once everything is sent: its answers are recorded in the
  background (`answers`), so the key is free for its next plan at once; a failure to
  record one is logged and the action stays in flight (reconciliation, or the next
  start, settles it).
* `execute` returns False when the plan was given up (a lost race it could not catch up
  with): it is to run again, and `decide` then skips what was done. A failure (the log or
  the gateway unavailable) raises, and what was recorded stays recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from setpoint.bus import telemetry
from setpoint.config import Settings
from setpoint.core.amend import IN_PLACE, NONE, amend_applied, native_style
from setpoint.core.events import (
    Action,
    ActionKind,
    AmendSubmitted,
    DiffComputed,
    Event,
    OrderCancelled,
    OrderObserved,
    OrderRejected,
    Wallet,
    utcnow,
)
from setpoint.core.model import Key
from setpoint.core.projections import ActualState, OrderRecord, PortfolioState
from setpoint.core.risk import NO_VIEW
from setpoint.core.riskview import account_risk_view
from setpoint.executor import records
from setpoint.executor.decide import Seen, Verdict, decide
from setpoint.executor.plan import Resting, amends_ready, places_first, stages
from setpoint.executor.venue_actions import VenueActions
from setpoint.executor.writeahead import Decision, WriteAhead
from setpoint.settings_core import risk_limits
from setpoint.venues.capabilities import capabilities

log = logging.getLogger(__name__)

_RATE_SPAN = timedelta(minutes=1)


class Folded(Protocol):
    """What staging reads of the executor's projection (always the newest)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def actual(self) -> ActualState: ...
    @property
    def plans(self) -> dict[Key, DiffComputed]: ...
    @property
    def submitted(self) -> set[str]: ...
    @property
    def last_prices(self) -> dict[Key, Decimal]: ...
    @property
    def portfolio(self) -> PortfolioState: ...


class Staging:
    """See the module docstring."""

    def __init__(self, folded: Folded, write_ahead: WriteAhead, venue: VenueActions) -> None:
        self.folded, self.write_ahead, self.venue = folded, write_ahead, venue
        self.answers: set[asyncio.Task[Event | None]] = set()
        self.amending: dict[str, Decimal] = {}
        """Client order id -> the total size its in-place amend asked for (to tell an
        amend the venue applied from one it refused, `_fallbacks`)."""
        self.sent: dict[str, deque[datetime]] = {}
        """Per account, when this executor wrote ahead its places, amends and cancels in
        the last minute (the order-rate gate counts them)."""

    async def execute(self, key: Key, plan: DiffComputed) -> bool:
        """Run the plan's stages; False when it was given up."""
        if not plan.data.actions:
            return True
        actual = self.folded.actual
        market = actual.market(key)
        filled_before = _filled_of_replaced(actual, key, plan.data.actions)
        cancelled: dict[str, Decimal] = {}
        free = _free(actual, key.account)
        actions = plan.data.actions
        native = tuple(a for a in actions if self._style(key, a) != NONE)
        if native:  # the native amends first, in a stage of their own
            completed, outcomes = await self._run_stage(key, native, plan, wait=True)
            if not completed:
                return False
            actions = tuple(a for a in actions if a not in native)
            actions += _fallbacks(native, outcomes, self.amending)
        planned = stages(actions, market, free)
        for index, stage in enumerate(planned):
            if self.folded.plans[key].event_id != plan.event_id:  # superseded
                return True
            ready = amends_ready(stage, cancelled, filled_before)
            ready = places_first(ready, _resting(self.folded.actual, key, ready), market, free)
            last = index == len(planned) - 1
            completed, outcomes = await self._run_stage(key, ready, plan, wait=not last)
            for outcome in outcomes:
                if isinstance(outcome, OrderCancelled) and outcome.data.client_order_id:
                    cancelled[outcome.data.client_order_id] = outcome.data.filled
            if not completed:
                return False
        return True

    async def _run_stage(
        self, key: Key, stage: Sequence[Action], plan: DiffComputed, *, wait: bool
    ) -> tuple[bool, list[Event | None]]:
        """Write ahead and carry out one stage; with `wait` the answers of what was sent
        are awaited and returned, without it they are recorded in the background. Returns
        (False when the stage was given up, the answers waited for)."""
        running: list[asyncio.Task[Event | None]] = []
        answered = self.answers.discard if wait else self._answered

        def send(action: Action, ahead: Event) -> None:
            if not isinstance(ahead, AmendSubmitted):  # in place: its id stays unused
                self.folded.submitted.add(action.client_order_id)
            task = asyncio.create_task(self.venue.carry_out(key, action, ahead))
            self.answers.add(task)
            task.add_done_callback(answered)
            running.append(task)

        tp = telemetry.current_traceparent()

        def decide_now(action: Action) -> Decision:
            return self._decide(key, action, plan, tp)

        try:
            completed = (
                await self.write_ahead.record_stage(key, stage, decide_now, send) if stage else True
            )
        finally:  # what was sent is answered and recorded, whatever happened meanwhile
            outcomes = list(await asyncio.gather(*running)) if wait else []
        return completed, outcomes

    def _answered(self, task: asyncio.Task[Event | None]) -> None:
        """A background answer is done: a failure to record it is logged (the action
        stays in flight: reconciliation, or the next start, settles it)."""
        self.answers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording an answer failed", exc_info=task.exception())

    def _decide(self, key: Key, action: Action, plan: DiffComputed, tp: str | None) -> Decision:
        """The decision for one action now: its write-ahead event (True: to be sent), its
        `RiskRejected` (False), or None when it is skipped."""
        folded = self.folded
        account = folded.settings.accounts[key.account]
        seen = Seen(folded.submitted)
        actual = folded.actual
        now = utcnow()
        sent = self._sent(key.account, now)
        limits = risk_limits(account)
        view = NO_VIEW
        if limits.exposure or limits.max_loss is not None or (limits.rate and sent):
            view = account_risk_view(
                actual, key.account, folded.last_prices, limits, now, tuple(sent),
                folded.portfolio.account(key.account),
            )  # fmt: skip
        style, order = NONE, None
        if action.kind is ActionKind.AMEND:  # a native amend (`execute` sends no other)
            style = self._style(key, action)
            order = actual.order(key, action.replaces or "")
            if style == NONE or order is None or _shows(order, action):
                return None  # gone, busy, or already amended (a plan run again)
        decision = decide(
            action, key, actual, account, seen, folded.last_prices.get(key), view, now
        )
        if decision.verdict is Verdict.REFUSE:
            limit = {"account": key.account, "limit": decision.rule}
            telemetry.metrics().risk_refusals.add(1, limit)
            refusal = records.risk_rejected(key, action, decision.rule, decision.detail, plan)
            return refusal, False
        if decision.verdict is Verdict.EXECUTE:
            sent.append(now)
            if style == IN_PLACE and order is not None:
                ahead = records.amend_submitted(key, action, order, plan, tp)
                self.amending[ahead.data.client_order_id] = ahead.data.quantity
                return ahead, True
            return _write_ahead_event(actual, key, action, plan, tp), True
        return None

    def _style(self, key: Key, action: Action) -> str:
        """How `action` is carried out natively (`core.amend.native_style`): NONE for
        anything but an amend the venue can do natively now."""
        if action.kind is not ActionKind.AMEND:
            return NONE
        actual = self.folded.actual
        market = actual.market(key)
        if market is None:
            return NONE
        exchange = self.folded.settings.accounts[key.account].exchange
        venue_style = capabilities(exchange).amend_style(market.kind).value
        return native_style(action, actual.order(key, action.replaces or ""), venue_style)

    def _sent(self, account: str, now: datetime) -> deque[datetime]:
        """The account's send times of the last minute (older ones dropped)."""
        sent = self.sent.setdefault(account, deque())
        while sent and sent[0] <= now - _RATE_SPAN:
            sent.popleft()
        return sent


def _write_ahead_event(
    actual: ActualState, key: Key, action: Action, plan: DiffComputed, tp: str | None
) -> Event:
    if action.kind is ActionKind.CANCEL:
        order_id = records.venue_order_id(actual, key, action)
        return records.cancel_submitted(key, action, order_id, plan, tp)
    return records.submitted(key, action, plan, tp)


def _shows(order: OrderRecord, action: Action) -> bool:
    """`order` already has the amend's price and no more open than it asks."""
    return (
        order.price == action.price
        and action.quantity is not None
        and order.remaining <= action.quantity
    )


def _fallbacks(
    native: Sequence[Action], outcomes: Sequence[Event | None], amending: dict[str, Decimal]
) -> tuple[Action, ...]:
    """The native amends to carry out as cancel-then-place after all: in place, the order
    still open without the asked price and total (the venue refused it, or it never
    happened); a replace the venue refused (its place is then skipped as submitted, the
    cancel of the old order goes). An amend with no settled answer is left in flight."""
    observed = {e.data.client_order_id: e.data for e in outcomes if isinstance(e, OrderObserved)}
    refused = {e.data.client_order_id for e in outcomes if isinstance(e, OrderRejected)}
    out = []
    for action in native:
        seen = observed.get(action.replaces)
        if seen is not None and action.price is not None:
            total = amending.pop(action.replaces or "", None)
            applied = total is not None and amend_applied(action.price, total, seen)
            if seen.status.is_open and not applied:
                out.append(action)
        elif action.client_order_id in refused:
            out.append(action)
    return tuple(out)


def _free(actual: ActualState, account: str) -> dict[str, Decimal]:
    balances = actual.balances(account)
    return {asset: b.free for (wallet, asset), b in balances.items() if wallet is Wallet.SPOT}


def _resting(actual: ActualState, key: Key, stage: Sequence[Action]) -> dict[str, Resting]:
    """The orders the stage cancels, as far as the projection knows them."""
    out: dict[str, Resting] = {}
    for action in stage:
        if action.kind is ActionKind.CANCEL:
            record = actual.order(key, action.client_order_id)
            if record is not None:
                out[action.client_order_id] = (record.side, record.price, record.remaining)
    return out


def _filled_of_replaced(
    actual: ActualState, key: Key, actions: Sequence[Action]
) -> dict[str, Decimal]:
    """What each order an amend replaces had filled when the plan began."""
    out: dict[str, Decimal] = {}
    for action in actions:
        if action.replaces is not None:
            record = actual.order(key, action.replaces)
            out[action.replaces] = record.done if record is not None else Decimal(0)
    return out
