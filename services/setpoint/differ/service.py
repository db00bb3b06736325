"""The differ service: target intake, the kill switch and the reconciliation loop.

Wiring (one `DifferService` per process; any number of processes may share one log):

* **start**: fold the whole log into a `DifferView`, then follow it live from the next
  position (the one projection runner: a broken subscription is resumed from the view's
  position); only then answer requests and reconcile. Ready = health answers and one
  `differ ready` line is logged.
* **intake** (`setpoint.target.*.*`, queue group `setpoint-differ`, raw from the NATS
  parser, `bus.replies.Served`: the hot path) and **kill**
  (`setpoint.control.<account>.kill`, FastStream): `desk.IntakeDesk`.
  The desk's own appends are folded into the view at once when the view is right before
  them (`DifferView.apply_own`), so a new target is decided without waiting for the live
  subscription to bring it back.
* **loop**: every record of the live log that concerns a key enqueues it (`view.TRIGGERS`),
  except the executor's write-ahead carrying out the key's last decision, after which
  that decision stands (`decide.carries_out`: only the key's status is refreshed);
  a periodic tick enqueues every key with a target (and every key of a flattening account:
  `DifferView.keys_to_decide`; a key flattened without a target correlates its decisions
  with the account's `AccountModeChanged`), a target's `expires_at` enqueues
  its key, and so does the end of a retry backoff (`Outcome.wake_at`, one timer per key
  and moment). Workers take keys from a `WorkQueue` (one key never twice at once) and
  `decide.decide` for each; a decision that differs from the last one of the key is
  appended as `DiffComputed` under (key, differ) with optimistic concurrency. On
  `ConcurrencyConflict` the worker waits until its view holds the winner's event and
  decides again, so two differs never both act on one decision. After an append the worker
  waits until the view holds its own event before the key may run again.
* **partitions** (`leases.enabled`): the instance decides only the keys of the partitions
  it holds (`bus.leases.KeyLeases`), answers only their targets (every instance hears
  every target, no queue group) and stamps its decisions with the tenure (`worker`); a
  partition taken over is caught up with the log, then each of its keys decided. The
  (key, differ) expected sequence fences a former holder. Off: one queue group, every key.
* **status**: a `KeyStatus` per key on `setpoint.status.<account>.<token>` when it changes;
  all of them in answer to `setpoint.status.request`, with the portfolio (PnL, equity,
  drawdown and futures wallet per account and key: `status.portfolio_status`). The key's
  metrics follow the same statuses (`metering.KeyMetrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from faststream.nats import NatsBroker, NatsMessage
from immutables import Map
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from setpoint.bus import subjects, telemetry
from setpoint.bus.credentials import broker_options
from setpoint.bus.leases import KeyLeases
from setpoint.bus.messages import Health, KeyStatus, Ticker
from setpoint.bus.replies import Request, Served
from setpoint.bus.supervise import Supervisor
from setpoint.bus.workqueue import WorkQueue, report_failure
from setpoint.config import Settings
from setpoint.core.diff import Plan
from setpoint.core.events import (
    DiffComputed,
    Event,
    RiskReason,
    RiskRejected,
    RiskRejectedData,
    TargetPublished,
    utcnow,
)
from setpoint.core.model import Key, Producer
from setpoint.core.riskview import RiskMemo
from setpoint.differ import decide
from setpoint.differ.desk import IntakeDesk
from setpoint.differ.metering import KeyMetrics
from setpoint.differ.status import key_status, portfolio_status, same_status, unverified_reasons
from setpoint.differ.view import DifferView
from setpoint.eventlog.port import (
    ConcurrencyConflict,
    EventLog,
    Recorded,
)
from setpoint.eventlog.projection import ProjectionRunner
from setpoint.eventlog.snapshots import snapshots_for
from setpoint.settings_core import loss_clocks, purge_after

log = logging.getLogger("setpoint.differ")
_TRACER = telemetry.tracer("setpoint.differ")

QUEUE_GROUP = "setpoint-differ"
APPEND_TRIES = 5
CATCH_UP_TIMEOUT_S = 5.0


class DifferService:
    """See the module docstring. `start()` returns once the service is ready."""

    def __init__(
        self,
        settings: Settings,
        event_log: EventLog,
        nc: NATS | None,
        *,
        workers: int = 4,
        tick_s: float = 5.0,  # float-ok
        clock: Callable[[], datetime] = utcnow,
        name: str = "differ",
        supervisor: Supervisor | None = None,
    ) -> None:
        self.settings, self.log, self.nc = settings, event_log, nc
        self.view = DifferView(purge_after(settings), loss_clocks(settings))
        self.queue: WorkQueue[Key] = WorkQueue()
        self.counters: dict[str, int] = {
            "accepted": 0, "rejected": 0, "unknown_account": 0, "decisions": 0, "lost_races": 0,
        }  # fmt: skip
        self.ready = asyncio.Event()
        self._workers, self._tick_s, self._clock, self._name = workers, tick_s, clock, name
        self.supervisor = supervisor or Supervisor("differ")
        self.runner = ProjectionRunner(
            event_log, self._on_record, self._held, name="log", supervisor=self.supervisor
        )
        self.runner.use_snapshots(
            snapshots_for(
                settings, event_log, "differ", purge_after(settings), loss_clocks(settings)
            ),
            self.view.capture, self.view.restore,
        )  # fmt: skip
        self._subs: list[Subscription] = []
        self._intake: Served | None = None
        self._broker: NatsBroker | None = None
        self._causes: dict[Key, str] = {}
        self._problems: dict[Key, str] = {}
        self._status: dict[Key, KeyStatus] = {}
        self._prices: Map[Key, Decimal] = Map()
        """Replaced on each price, never changed in place (`_risk_memo` keys on it)."""
        self._risk_memo = RiskMemo()
        self._plans: dict[Key, Plan] = {}
        self._wakes: dict[Key, datetime] = {}
        self._started_at: datetime | None = None
        self._inherited: frozenset[Key] = frozenset()
        self.desk = IntakeDesk(settings, event_log, self.view, self._applied_own, self.counters)
        self.partitions = KeyLeases(nc, settings, "differ", self._gained)
        self.metrics = KeyMetrics(self._status, list(settings.accounts), self.view.mode, clock)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Rebuild from the log, follow it live, serve requests, reconcile every key.

        With `nc` None (unit tests) nothing is served on NATS; call `intake` and `kill`
        directly."""
        await self.runner.rebuild()
        self._started_at = self._clock()
        self._inherited = frozenset(self.view.targeted_keys())
        self.runner.start()
        await self.partitions.start(self.supervisor)
        for worker in range(self._workers):
            self.supervisor.spawn(f"worker {worker + 1}", self._work)
        self.supervisor.spawn("tick", self._tick)
        for key in self.view.keys_to_decide():
            self.queue.add(key)
            self._schedule_expiry(key)
        self.ready.set()
        self.supervisor.set_ready()
        if self.nc is not None:
            await self._serve(self.nc)
        log.info(
            "%s ready (log position %d, %d keys)",
            self._name,
            self.view.position,
            len(self.view.targeted_keys()),
        )

    async def _gained(self, partition: int) -> None:
        """A partition taken over: catch up with the log, then decide each of its keys."""
        await self.runner.caught_up(CATCH_UP_TIMEOUT_S)
        for key in self.view.keys_to_decide():
            if self.partitions.partition(key) == partition:
                self.queue.add(key)

    async def _serve(self, nc: NATS) -> None:
        # Partitioned: every instance hears every target and answers those of its own
        # partitions (docs/decisions.md); alone: one queue group, as always.
        queue = "" if self.partitions.partitioned else QUEUE_GROUP
        self._intake = await Served(
            nc, subjects.TARGET_ALL, self._on_target, queue, ordered=True
        ).start()
        ticks = await nc.subscribe(subjects.ticker_subject("*", "*"), cb=self._on_ticker)
        self._subs.append(ticks)
        await nc.flush()
        await self._start_broker()

    async def stop(self) -> None:
        """Stop answering and reconciling. Idempotent; the log and NATS stay open."""
        self.queue.shut_down()
        if self._intake is not None:
            await self._intake.stop()
            self._intake = None
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None
        await self.runner.stop()
        await self.supervisor.stop()
        await self.partitions.stop()

    async def _start_broker(self) -> None:
        """Control, status and health handlers (FastStream, off the hot path)."""
        broker = NatsBroker(
            list(self.settings.nats.servers),
            logger=None,
            name=f"setpoint-{self._name}",
            **broker_options(self.settings.nats),
        )

        @broker.subscriber(subjects.control_subject("*", "kill"), queue=QUEUE_GROUP)
        async def on_kill(msg: NatsMessage) -> bytes:
            account = msg.raw_message.subject.split(".")[2]
            return json.dumps(await self.kill(account, msg.body)).encode()

        @broker.subscriber(subjects.STATUS_REQUEST, queue=QUEUE_GROUP)
        async def on_status(msg: NatsMessage) -> bytes:
            keys = [s.model_dump(mode="json") for s in self.statuses()]
            portfolio = portfolio_status(self.view.portfolio)
            return json.dumps({"keys": keys, "portfolio": portfolio}).encode()

        @broker.subscriber(subjects.health_subject("differ"))
        async def on_health(msg: NatsMessage) -> bytes:
            return (await self.health()).model_dump_json().encode()

        await broker.start()
        await broker.connection.flush()  # "ready" must mean the server routes to us
        self._broker = broker

    async def health(self) -> Health:
        """Ready only while every task works and the view holds the log's head."""
        return await self.supervisor.health()

    # ------------------------------------------------------------------ the live log

    def _held(self) -> int:
        """The view's position: the subscription's copies of our own appends (folded at
        once by `_applied_own`) are at or below it and are skipped before parsing."""
        return self.view.position

    def _on_record(self, record: Recorded) -> None:
        if record.position > self.view.position:
            self._enqueue(record.event, self.view.apply(record))

    def _applied_own(self, position: int, event: Event) -> None:
        """Fold our own append at once when the view is just before it (the fast path
        from intake to decision); otherwise the live subscription brings it."""
        keys = self.view.apply_own(position, event)
        if keys is not None:
            self.runner.notify()
            self._enqueue(event, keys)

    def _enqueue(self, event: Event, keys: list[Key]) -> None:
        if self._stands(event):  # the executor carrying out the last decision
            self._causes[event.key] = event.event_id
            self._publish_status(event.key)
            return
        for key in keys:
            self._causes[key] = event.event_id
            self.queue.add(key)
        if isinstance(event, TargetPublished):
            self._schedule_expiry(event.key)

    def _stands(self, event: Event) -> bool:
        """The key's last decision stands after `event` (`decide.carries_out`): it is not
        decided again; only its status is refreshed (a key with a problem is decided)."""
        if event.symbol is None or event.key in self._problems:
            return False
        facts = self.view.keys.get(event.key)
        return facts is not None and decide.carries_out(
            event, facts.decision, facts.decision_event_id
        )

    def _schedule_expiry(self, key: Key) -> None:
        """A target's `expires_at` is a moment to decide again (its orders drop out)."""
        accepted = self.view.target(key)
        expires = None if accepted is None else accepted.target.expires_at
        if expires is not None:
            delay = (expires - self._clock()).total_seconds()
            if delay > 0:
                self.queue.add_after(key, delay + 0.001)

    def _schedule_wake(self, key: Key, at: datetime) -> None:
        """Decide `key` again at `at` (the end of a retry backoff): no event marks it."""
        now = self._clock()
        pending = self._wakes.get(key)
        if pending is not None and now < pending <= at:
            return  # an earlier (or the same) wake-up is already set
        self._wakes[key] = at
        telemetry.metrics().retried("backoff")
        self.queue.add_after(key, (at - now).total_seconds() + 0.001)

    async def _tick(self) -> None:
        """Level-triggered safety net: every key is decided again each `tick_s`."""
        while True:
            await asyncio.sleep(self._tick_s)
            for key in self.view.keys_to_decide():
                self.queue.add(key)

    # ------------------------------------------------------------------ intake

    async def _on_target(self, msg: Request) -> None:
        parts = msg.subject.split(".")
        if len(parts) == 4 and not self.partitions.owns_subject(parts[2], parts[3]):
            return  # another instance's partition: it answers
        with _TRACER.start_as_current_span("intake", context=telemetry.extract(msg.headers)):
            reply = await self.intake(parts[2], parts[3], msg.data)
        if msg.reply:
            await msg.respond(json.dumps(reply).encode())

    async def intake(self, account: str, token: str, raw: bytes) -> dict[str, Any]:
        """Handle one target body published on `setpoint.target.<account>.<token>`."""
        return await self.desk.target(account, token, raw)

    async def kill(self, account: str, raw: bytes) -> dict[str, Any]:
        """Handle one kill-switch command for `account`."""
        return await self.desk.kill(account, raw)

    # ------------------------------------------------------------------ the loop

    async def _work(self) -> None:
        async for key in self.queue.keys():
            await self.queue.run(key, self._reconcile, self._decision_failed)

    def _decision_failed(self, key: Key, delay: float) -> None:  # float-ok
        """Called by the queue inside the `except` of a failed `_reconcile(key)`."""
        report_failure(log, f"deciding {key}", delay)
        self._problems[key] = "DecisionFailed"
        self._publish_status(key)

    async def _reconcile(self, key: Key) -> None:
        """Decide for `key`; append the decision when it differs from the last one."""
        accepted = self.view.target(key)
        account = self.settings.accounts.get(key.account)
        if account is None or not self.view.decides(key) or not self.partitions.owns(key):
            return
        chain = (
            accepted.event_id if accepted is not None else self.view.mode_events.get(key.account)
        )
        if chain is None:
            return
        facts = self.view.facts(key)
        started_ns = time.time_ns()
        outcome = decide.decide(
            self.view.intent, self.view.actual, key, account, self._clock(),
            last_price=self._prices.get(key), previous=self._plans.get(key),
            prices=self._prices, portfolio=self.view.portfolio.account(key.account),
            memo=self._risk_memo,
        )  # fmt: skip
        if outcome.liquidate is not None:
            await self._liquidate(key.account, outcome.liquidate)
        if decide.should_append(outcome.data, facts.decision, facts.acted):
            # A span only for a decision that is recorded: the periodic re-decisions that
            # change nothing would otherwise grow the target's trace forever.
            with telemetry.continue_trace(_TRACER, "diff", facts.traceparent, started_ns):
                await self._append_decision(key, outcome, chain)
        if outcome.plan is not None:
            self._plans[key] = outcome.plan
        if outcome.wake_at is not None:
            self._schedule_wake(key, outcome.wake_at)
        self._problems.pop(key, None)
        if outcome.problem is not None:
            self._problems[key] = outcome.problem
        self._publish_status(key)

    async def _liquidate(self, account: str, reason: RiskReason) -> None:
        """A loss limit is breached: the account goes liquidate-only by itself, recorded
        as `AccountModeChanged` with the limit, the value and the threshold as its reason."""
        body = {"mode": "liquidate_only", "reason": f"{reason.rule}: {reason.detail}"}
        answer = await self.kill(account, json.dumps(body).encode())
        if not answer.get("ok"):
            raise RuntimeError(f"cannot put {account} in liquidate-only: {answer.get('error')}")

    async def _append_decision(self, key: Key, outcome: decide.Outcome, target_id: str) -> None:
        """Append `DiffComputed` (+ one `RiskRejected` per refused action) under
        (key, differ). A lost race waits for the winner's events, then decides again."""
        diff_event = DiffComputed.create(
            key, Producer.DIFFER, outcome.data,
            correlation_id=target_id, causation_id=self._causes.get(key, target_id),
            traceparent=telemetry.current_traceparent(), worker=self.partitions.worker(key),
        )  # fmt: skip
        events: list[Event] = [diff_event, *_refusals(key, outcome, diff_event, target_id)]
        expected = self.view.expected(key, Producer.DIFFER)
        try:
            positions = await self.log.append(key, Producer.DIFFER, events, expected)
        except ConcurrencyConflict as exc:
            self.counters["lost_races"] += 1
            await asyncio.wait_for(self.view.wait_for(exc.actual), CATCH_UP_TIMEOUT_S)
            self.queue.add(key)
            return
        self.counters["decisions"] += 1
        for refused in outcome.refused:
            limit = {"account": key.account, "limit": refused.rule}
            telemetry.metrics().risk_refusals.add(1, limit)
        for position, event in zip(positions, events, strict=True):
            self._applied_own(position, event)
        if self.view.position < positions[-1]:  # usually folded just above: no task, no timer
            await asyncio.wait_for(self.view.wait_for(positions[-1]), CATCH_UP_TIMEOUT_S)

    # ------------------------------------------------------------------ market data

    async def _on_ticker(self, msg: Msg) -> None:
        """Remember the last price of a key; a key that is not converged is decided again
        (position orders and price bands depend on the price)."""
        try:
            ticker = Ticker.model_validate_json(msg.data)
        except ValueError:
            return
        price = ticker.last
        if price is None and ticker.bid is not None and ticker.ask is not None:
            price = (ticker.bid + ticker.ask) / 2
        if price is None:
            return
        key = Key(ticker.account, ticker.symbol)
        known = self._prices.get(key)
        self._prices = self._prices.set(key, price)
        decision = self.view.facts(key).decision if key in self.view.keys else None
        if self.view.decides(key) and (known is None or decision is None or not decision.converged):
            self.queue.add(key)

    # ------------------------------------------------------------------ status

    def status(self, key: Key) -> KeyStatus:
        last = self.view.actual.last_reconciliation(key)
        actual = self.view.actual.key(key)
        return key_status(
            key,
            self.view.target(key),
            self.view.facts(key).decision,
            actual,
            mode=self.view.mode(key.account),
            problem=self._problems.get(key),
            last_reconciliation=None if last is None else last.occurred_at,
            now=self._clock(),
            unverified=unverified_reasons(
                actual, last, inherited=key in self._inherited, not_before=self._not_before(key)
            ),
            market=self.view.actual.market(key),
        )

    def _not_before(self, key: Key) -> datetime:
        """The oldest reconciliation that still verifies `key` (differ/status.py)."""
        started = self._started_at or self._clock()
        account = self.settings.accounts.get(key.account)
        interval = 0.0 if account is None else account.reconcile_interval_s  # float-ok
        return started - timedelta(seconds=interval)

    def statuses(self) -> list[KeyStatus]:
        return [self.status(key) for key in sorted(self.view.targeted_keys(), key=str)]

    def _publish_status(self, key: Key) -> None:
        current = self.status(key)
        if same_status(self._status.get(key), current):
            return
        self._status[key] = current
        accepted = self.view.target(key)
        self.metrics.changed(key, current, None if accepted is None else accepted.published_at)
        subject = subjects.status_subject(key.account, key.symbol or "_")
        if self.nc is not None:
            payload = current.model_dump_json().encode()
            task = asyncio.ensure_future(self.nc.publish(subject, payload))
            task.add_done_callback(_ignore_result)


def _ignore_result(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("status publish failed: %s", task.exception())


def _refusals(
    key: Key, outcome: decide.Outcome, diff_event: DiffComputed, target_id: str
) -> list[Event]:
    return [
        RiskRejected.create(
            key,
            Producer.DIFFER,
            RiskRejectedData(intent_id=r.intent_id, rule=r.rule, detail=r.detail),
            correlation_id=target_id,
            causation_id=diff_event.event_id,
        )
        for r in outcome.refused
    ]
