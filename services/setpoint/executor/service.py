"""The executor: carries out `DiffComputed` plans through the gateway, write-ahead.

Contract:

* The projections are folded from the log by the one projection runner (`rebuild`, then
  follow it live, resumed after a broken subscription); the newest plan of each key is
  what runs. A plan superseded by a newer one stops between
  stages. A key runs one plan at a time until the plan's last stage has been sent (its
  answers are then recorded in the background, so the next plan does not wait for them).
  On start the newest plan of every key runs again: everything it already did is
  skipped (`decide`), so a restart never acts twice. A plan cut short by a failure (the
  log or the gateway unavailable midway through a stage) runs again the same way after a
  backoff (the key runner's, from `RETRY_FAILED_PLAN_S`), so the rest of its stage is not
  lost.
* Within a stage each action is sent as soon as its own write-ahead event is recorded;
  the places of a stage go first when they cannot trade against the orders it cancels
  (`plan.places_first`).
* For each action: `OrderSubmitted` / `CancelSubmitted` is appended **before** the
  gateway is called; then `OrderPlaced` / `OrderRejected` / `OrderCancelled`. An answer
  that means "maybe happened" leads to queries by client order id; when those do not
  settle it, the order stays in flight and the gateway's reconciliation resolves it
  (SEMANTICS.md §4). Never a blind retry.
* Appends are checked per (key, executor) against the position of the last executor
  event *folded* for the key (or appended by this process): a decision made on a stale
  projection cannot pass the check. An executor that lost the race waits until it has
  folded the winner's events and decides again (it then skips what the winner did); if it
  cannot catch up, it gives the plan up and runs it again later. Facts (the venue's answers)
  are true whoever acted since, so they are appended even after a conflict.
* Per account, venue commands go through a token bucket (`rate_limit_per_s`); a
  rate-limit answer from the venue empties it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import ValidationError

from setpoint.bus import telemetry
from setpoint.bus.messages import Ticker
from setpoint.bus.supervise import Supervisor
from setpoint.bus.workqueue import KeyRunner
from setpoint.config import Settings
from setpoint.core.events import (
    Action,
    ActionKind,
    DiffComputed,
    Event,
    OrderCancelled,
    OrderSubmitted,
    Wallet,
    new_event_id,
)
from setpoint.core.model import Key, Producer
from setpoint.core.projections import ActualState, apply_actual
from setpoint.eventlog import ANY, NO_EVENTS, ConcurrencyConflict, EventLog, Recorded
from setpoint.eventlog.projection import ProjectionRunner
from setpoint.executor import records
from setpoint.executor.decide import Seen, Verdict, decide
from setpoint.executor.gateway_client import GatewayClient, GatewayUnavailable
from setpoint.executor.plan import Resting, amends_ready, places_first, stages
from setpoint.venues.commands import Command, CommandReply, QueryCommand, VenueOrder
from setpoint.venues.errors import Outcome
from setpoint.venues.ratelimit import RateLimiter

RETRY_FAILED_PLAN_S = 1.0  # float-ok: first backoff before a plan that failed midway runs again
log = logging.getLogger(__name__)
_tracer = telemetry.tracer("setpoint.executor")
QUERY_ATTEMPTS = 3
RATE_LIMIT_RETRIES = 3


class Executor:
    """See the module docstring. `start()` rebuilds and runs; `stop()` ends cleanly."""

    def __init__(
        self,
        settings: Settings,
        nc: NATS,
        event_log: EventLog,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.settings, self.nc, self.log = settings, nc, event_log
        self.supervisor = supervisor or Supervisor("executor")
        self.actual = ActualState.empty()
        self.plans: dict[Key, DiffComputed] = {}
        self.done: dict[Key, str] = {}
        self.submitted: set[str] = set()
        self.expected: dict[Key, int] = {}
        self.locks: dict[Key, asyncio.Lock] = {}
        self.limiters = {
            name: RateLimiter(acc.rate_limit_per_s) for name, acc in settings.accounts.items()
        }
        timeout = max((a.venue_timeout_s for a in settings.accounts.values()), default=10)
        self.gateway = GatewayClient(nc, timeout * 2 + 1)
        self.queue: KeyRunner[Key] = KeyRunner(self._run_key, base_delay=RETRY_FAILED_PLAN_S)
        self.runner = ProjectionRunner(
            event_log, self._on_record, self._applied, name="log",
            on_failed=lambda exc: self.supervisor.fail("log", exc),
        )  # fmt: skip
        self.supervisor.watch(self.runner)
        self.last_prices: dict[Key, Decimal] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._answers: set[asyncio.Task[Event | None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Fold the log, resolve our unanswered submissions, start following the log."""
        await self.runner.rebuild()
        self.runner.start()
        await self.nc.subscribe("setpoint.md.*.*.ticker", cb=self._on_ticker)
        await self._resolve_unanswered()
        for key in list(self.plans):
            self.queue.mark(key)

    async def stop(self) -> None:
        await self.runner.stop()
        for task in self._tasks:
            task.cancel()
        answers = list(self._answers)
        for answer in answers:  # unanswered: in flight, settled at the next start
            answer.cancel()
        await self.queue.stop()
        await asyncio.gather(*self._tasks, *answers, *self._answers, return_exceptions=True)
        await self.gateway.close()

    def _fold(self, position: int, event: Event) -> None:
        self.actual = apply_actual(self.actual, position, event)
        if event.producer is Producer.EXECUTOR:
            key = event.key
            self.expected[key] = max(self.expected.get(key, NO_EVENTS), position)
        if isinstance(event, OrderSubmitted):
            self.submitted.discard(event.data.client_order_id)  # the projection has it now
        if (
            isinstance(event, DiffComputed)
            and event.symbol is not None
            and event.account in self.settings.accounts
        ):
            self.plans[event.key] = event

    def _applied(self) -> int:
        return self.actual.position

    def _on_record(self, record: Recorded) -> None:
        self._fold(record.position, record.event)
        if isinstance(record.event, DiffComputed) and record.event.key in self.plans:
            self.queue.mark(record.event.key)

    async def _on_ticker(self, msg: Msg) -> None:
        """Last prices for the price-band rule (`setpoint.md.<account>.<token>.ticker`)."""
        try:
            ticker = Ticker.model_validate_json(msg.data)
        except ValidationError:
            return
        if ticker.last is not None:
            self.last_prices[Key(ticker.account, ticker.symbol)] = ticker.last

    async def _caught_up(self, position: int, within_s: float = 10.0) -> bool:  # float-ok
        """Wait until the projection has folded `position`; False if not within `within_s`."""
        return await self.runner.wait(position, within_s)

    # ------------------------------------------------------------------ plans

    async def _run_key(self, key: Key) -> None:
        plan = self.plans.get(key)
        if plan is None or self.done.get(key) == plan.event_id:
            return
        # A failure midway (the log or the gateway unavailable) raises: what was recorded
        # stays, and the key runner runs the plan again after its backoff.
        with telemetry.continue_trace(_tracer, "execute", plan.traceparent):
            completed = await self._execute(key, plan)
        if completed:
            self.done[key] = plan.event_id
        else:  # gave up (a lost race, a failure): run it again; `decide` skips what was done
            self.queue.mark(key)

    def _superseded(self, key: Key, plan: DiffComputed) -> bool:
        return self.plans[key].event_id != plan.event_id

    def _free(self, account: str) -> dict[str, Decimal]:
        balances = self.actual.balances(account)
        return {asset: b.free for (wallet, asset), b in balances.items() if wallet is Wallet.SPOT}

    async def _execute(self, key: Key, plan: DiffComputed) -> bool:
        """Run the plan's stages; False when it was given up (see `_write_ahead`)."""
        if not plan.data.actions:
            return True
        market = self.actual.market(key)
        filled_before = self._filled_of_replaced(key, plan.data.actions)
        cancelled: dict[str, Decimal] = {}
        free = self._free(key.account)
        planned = stages(plan.data.actions, market, free)
        for index, stage in enumerate(planned):
            if self._superseded(key, plan):
                return True
            ready = amends_ready(stage, cancelled, filled_before)
            ready = places_first(ready, self._resting(key, ready), market, free)
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
        """Write ahead and carry out one stage: each action goes to the gateway as soon as
        its own write-ahead event is recorded (so the first action of a stage never waits
        for the appends of the others). With `wait` the stage ends when every sent action
        has been answered and recorded; without it (a plan's last stage) it ends once
        everything is sent, and the answers are awaited and recorded in the background, so
        the key is free for its next plan at once. Returns (False when the stage was given
        up, see `_write_ahead`; the answers of what was sent, when waited for)."""
        running: list[asyncio.Task[Event | None]] = []
        answered = self._answers.discard if wait else self._answered

        def send(action: Action, ahead: Event) -> None:
            task = asyncio.create_task(self._carry_out(key, action, ahead))
            self._answers.add(task)
            task.add_done_callback(answered)
            running.append(task)

        try:
            completed = await self._write_ahead(key, stage, plan, send) if stage else True
        finally:  # what was sent is answered and recorded, whatever happened meanwhile
            outcomes = list(await asyncio.gather(*running)) if wait else []
        return completed, outcomes

    def _answered(self, task: asyncio.Task[Event | None]) -> None:
        """A background answer is done: a failure to record it is logged (the action
        stays in flight: reconciliation, or the next start, settles it)."""
        self._answers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording an answer failed", exc_info=task.exception())

    def _resting(self, key: Key, stage: Sequence[Action]) -> dict[str, Resting]:
        """The orders the stage cancels, as far as the projection knows them."""
        out: dict[str, Resting] = {}
        for action in stage:
            if action.kind is ActionKind.CANCEL:
                record = self.actual.order(key, action.client_order_id)
                if record is not None:
                    out[action.client_order_id] = (record.side, record.price, record.remaining)
        return out

    def _filled_of_replaced(self, key: Key, actions: Sequence[Action]) -> dict[str, Decimal]:
        """What each order an amend replaces had filled when the plan began."""
        out: dict[str, Decimal] = {}
        for action in actions:
            if action.replaces is not None:
                record = self.actual.order(key, action.replaces)
                out[action.replaces] = record.done if record is not None else Decimal(0)
        return out

    def _decide_action(
        self, key: Key, action: Action, plan: DiffComputed, tp: str | None
    ) -> tuple[Event, bool] | None:
        """The decision for one action now: its write-ahead event (True: to be sent), its
        `RiskRejected` (False), or None when it is skipped."""
        account = self.settings.accounts[key.account]
        seen = Seen(self.submitted)
        decision = decide(action, key, self.actual, account, seen, self.last_prices.get(key))
        if decision.verdict is Verdict.REFUSE:
            refusal = records.risk_rejected(key, action, decision.rule, decision.detail, plan)
            return refusal, False
        if decision.verdict is Verdict.EXECUTE:
            return self._write_ahead_event(key, action, plan, tp), True
        return None

    def _write_ahead_event(
        self, key: Key, action: Action, plan: DiffComputed, tp: str | None
    ) -> Event:
        if action.kind is ActionKind.CANCEL:
            return records.cancel_submitted(key, action, self._order_id(key, action), plan, tp)
        return records.submitted(key, action, plan, tp)

    def _order_id(self, key: Key, action: Action) -> str | None:
        record = self.actual.order(key, action.client_order_id)
        return action.order_id or (record.order_id if record is not None else None)

    async def _write_ahead(
        self,
        key: Key,
        stage: Sequence[Action],
        plan: DiffComputed,
        send: Callable[[Action, Event], None],
    ) -> bool:
        """Decide and append the stage's write-ahead events one by one, in stage order,
        calling `send(action, event)` as soon as an action's own event is recorded (never
        before). On a conflict: catch up and decide again what is left of the stage (what
        was recorded stays recorded and sent). False when it could not get past the
        conflicts: the actions not recorded by then were not sent."""
        left = list(stage)
        tp = telemetry.current_traceparent()
        for _ in range(5):
            try:
                while left:
                    decided = await self._decide_and_append(key, left[0], plan, tp)
                    if decided is not None and decided[1]:
                        self.submitted.add(left[0].client_order_id)
                        send(left[0], decided[0])
                        await asyncio.sleep(0)  # let it reach the wire before the next
                    left.pop(0)
            except ConcurrencyConflict as conflict:
                log.info("another executor acted on %s; re-deciding", key)
                if not await self._caught_up(conflict.actual):
                    return False
                continue
            return True
        return False

    async def _decide_and_append(
        self, key: Key, action: Action, plan: DiffComputed, tp: str | None
    ) -> tuple[Event, bool] | None:
        """Decide `action` and append the decision, checked against the position of the
        last executor event this process had folded or appended when it decided (read
        with the decision under the key's lock, nothing awaited in between): a decision
        made stale by another executor's append raises ConcurrencyConflict. Returns what
        `_decide_action` returned."""
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            expected = self.expected.get(key, NO_EVENTS)
            decided = self._decide_action(key, action, plan, tp)
            if decided is None:
                return None
            positions = await self.log.append(key, Producer.EXECUTOR, [decided[0]], expected)
            self.expected[key] = max(self.expected.get(key, NO_EVENTS), positions[-1])
            return decided

    async def _append(self, key: Key, events: list[Event]) -> None:
        """Append facts (venue answers) with the (key, executor) check against what this
        executor has folded or appended; on a conflict they are appended anyway (facts are
        true whoever acted since), without advancing `expected`, so the next decision
        waits for the fold."""
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            try:
                positions = await self.log.append(
                    key, Producer.EXECUTOR, events, self.expected.get(key, NO_EVENTS)
                )
            except ConcurrencyConflict:
                await self.log.append(key, Producer.EXECUTOR, events, ANY)
                return
            self.expected[key] = max(self.expected.get(key, NO_EVENTS), positions[-1])

    # ------------------------------------------------------------------ actions

    async def _carry_out(self, key: Key, action: Action, ahead: Event) -> Event | None:
        """Send one action; append and return the venue's answer as a fact (None when the
        answer is not settled: the action stays in flight)."""
        try:
            if action.kind is ActionKind.CANCEL:
                outcome = await self._cancel(key, action, ahead)
            else:
                outcome = await self._place(key, action, ahead)
        except GatewayUnavailable as exc:
            outcome = self._unsent(action, ahead, str(exc))
        result = "unsettled" if outcome is None else outcome.type
        telemetry.metrics().actions.add(
            1, {"account": key.account, "kind": action.kind.value, "outcome": result}
        )
        if outcome is not None:
            await self._append(key, [outcome])
        return outcome

    def _unsent(self, action: Action, ahead: Event, reason: str) -> Event | None:
        if action.kind is ActionKind.CANCEL:
            return None
        return records.rejected(
            records.Cause.of(ahead), action.client_order_id, reason, None, terminal=False
        )

    async def _send(self, key: Key, command: Command) -> CommandReply:
        limiter = self.limiters[key.account]
        reply = CommandReply(ok=False)
        for _ in range(RATE_LIMIT_RETRIES):
            await limiter.acquire()
            reply = await self.gateway.send(key.account, command)
            if reply.outcome is not Outcome.RATE_LIMITED:
                return reply
            limiter.penalize(1.0)
        return reply

    async def _place(self, key: Key, action: Action, ahead: Event) -> Event | None:
        started = time.perf_counter()
        reply = await self._send(key, records.place_command(key, action))
        coid = action.client_order_id
        log.debug("place %s: gateway answered in %.3f ms", coid,
                  (time.perf_counter() - started) * 1000)  # fmt: skip
        if reply.ok and reply.order is not None:
            return records.placed(records.Cause.of(ahead), reply.order)
        if reply.outcome in (Outcome.REJECTED, Outcome.FATAL, Outcome.RATE_LIMITED):
            return records.rejected(
                records.Cause.of(ahead), coid, reply.reason, reply.code, reply.terminal
            )
        try:
            found = await self._query(key, coid)
        except GatewayUnavailable:  # the place may have reached the venue: stay in flight
            log.warning("place %s: answer unknown and no gateway to ask; left in flight", coid)
            return None
        return None if found is None else records.placed(records.Cause.of(ahead), found)

    async def _query(self, key: Key, coid: str) -> VenueOrder | None:
        """The venue's order for `coid`, asking up to QUERY_ATTEMPTS times; None when
        that did not settle it (the order then stays in flight for reconciliation)."""
        assert key.symbol is not None
        command = QueryCommand(symbol=key.symbol, client_order_id=coid)
        for attempt in range(QUERY_ATTEMPTS):
            reply = await self._send(key, command)
            if reply.ok and reply.order is not None:
                return reply.order
            await asyncio.sleep(0.2 * (attempt + 1))
        return None

    async def _cancel(self, key: Key, action: Action, ahead: Event) -> Event | None:
        """Cancel (idempotent, so a transient answer is retried); a cancel the venue
        does not know is checked by a query before the order is recorded as gone."""
        coid = action.client_order_id
        command = records.cancel_command(key, coid, self._order_id(key, action))
        for attempt in range(QUERY_ATTEMPTS):
            reply = await self._send(key, command)
            if reply.ok and reply.order is not None:
                return self._closed(ahead, coid, reply.order)
            if reply.outcome is not Outcome.TRANSIENT:
                break
            await asyncio.sleep(0.2 * (attempt + 1))
        if reply.outcome in (Outcome.REJECTED, Outcome.FATAL, Outcome.RATE_LIMITED):
            return None
        assert key.symbol is not None
        probe = await self._send(key, QueryCommand(symbol=key.symbol, client_order_id=coid))
        if probe.ok and probe.order is not None:
            return self._closed(ahead, coid, probe.order)
        if probe.outcome is Outcome.NOT_FOUND:
            return records.cancelled(records.Cause.of(ahead), coid, None, not_found=True)
        return None

    def _closed(self, ahead: Event, coid: str, order: VenueOrder) -> Event | None:
        """OrderCancelled when the venue's order ended without a complete fill."""
        if order.status.is_open or order.filled >= order.quantity:
            return None
        return records.cancelled(records.Cause.of(ahead), coid, order)

    # ------------------------------------------------------------------ restart

    async def _resolve_unanswered(self) -> None:
        """Query every submission of ours that has no answer in the log (a crash between
        the write-ahead and the answer) and record what the venue holds."""
        for key_actual in self.actual.keys.values():
            for ref, pending in key_actual.pending.items():
                order = key_actual.orders.get(ref)
                if pending != "submit" or order is None or order.status is not None:
                    continue
                if order.key.account not in self.settings.accounts or order.client_order_id is None:
                    continue
                try:
                    found = await self._query(order.key, order.client_order_id)
                except GatewayUnavailable:
                    return
                if found is not None:
                    await self._append(order.key, [self._adopted(order.key, found)])

    def _adopted(self, key: Key, found: VenueOrder) -> Event:
        record = self.actual.order(key, found.client_order_id or "")
        correlation = record.correlation_id if record is not None else None
        cause = records.Cause(key, correlation or new_event_id(), None, None)
        return records.placed(cause, found)
