"""The executor: carries out `DiffComputed` plans through the gateway, write-ahead.

Contract (this module: the lifecycle and the wiring of the parts; each part states its
own contract):

* The projections are folded from the log by the one projection runner (`rebuild`, then
  follow it live, resumed after a broken subscription); the executor's own appends are
  folded at once when the projection is right before them (their copies from the
  subscription are then skipped undecoded, `writeahead`); the newest plan of each key is
  what runs (`staging`: a plan superseded by a newer one stops between stages). A key
  runs one plan at a time until the plan's last stage has been sent (its answers are then
  recorded in the background, so the next plan does not wait for them).
* On start, every submission of ours without an answer in the log is queried and what
  the venue holds recorded (`venue_actions`); then the newest plan of every key runs
  again: everything it already did is skipped (`decide`), so a restart never acts twice.
  A plan cut short by a failure (the log or the gateway unavailable midway through a
  stage) runs again the same way after a backoff (the key runner's, from
  `RETRY_FAILED_PLAN_S`), so the rest of its stage is not lost; a plan given up after a
  lost race it could not catch up with runs again later.
* `staging`: the stages of a plan, each action sent as soon as its own write-ahead event
  is recorded, the places of a stage first when they cannot trade against the orders it
  cancels.
* `writeahead`: `OrderSubmitted` / `CancelSubmitted` is appended **before** the gateway
  is called; appends are checked per (key, executor) against the last executor event
  folded or appended, so a decision made on a stale projection cannot pass; facts are
  appended even after a conflict.
* `venue_actions`: the commands through the gateway, paced per account; an answer that
  means "maybe happened" leads to queries by client order id (`venues.settle`), never a
  blind retry; what they do not settle stays in flight for the gateway's reconciliation.
* Partitioned (`leases.enabled`): only the keys of the partitions the instance holds run
  (`bus.leases.KeyLeases`); a partition taken over is caught up, its unanswered
  submissions settled, and the newest plan of each of its keys run again (`decide` skips
  what the former holder did). The (key, executor) expected sequence fences a former
  holder; write-ahead events name their tenure (`worker`).
* Last prices for the price-band rule come from the tickers
  (`setpoint.md.<account>.<token>.ticker`).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import ValidationError

from setpoint.bus import telemetry
from setpoint.bus.leases import KeyLeases
from setpoint.bus.messages import Ticker
from setpoint.bus.supervise import Supervisor
from setpoint.bus.telemetry import Reading
from setpoint.bus.workqueue import KeyRunner
from setpoint.config import Settings
from setpoint.core.events import DiffComputed, Event, OrderSubmitted
from setpoint.core.model import Key, Producer
from setpoint.core.projections import ActualState, PortfolioState, apply_actual, apply_portfolio
from setpoint.core.projections.snapshot import expect
from setpoint.eventlog import EventLog, Recorded
from setpoint.eventlog.projection import ProjectionRunner
from setpoint.eventlog.snapshots import snapshots_for
from setpoint.executor import metering
from setpoint.executor.gateway_client import GatewayClient
from setpoint.executor.staging import Staging
from setpoint.executor.venue_actions import VenueActions
from setpoint.executor.writeahead import WriteAhead
from setpoint.settings_core import loss_clocks, purge_after

RETRY_FAILED_PLAN_S = 1.0  # float-ok: first backoff before a plan that failed midway runs again
_tracer = telemetry.tracer("setpoint.executor")


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
        self.actual = ActualState.empty(purge_after(settings))
        self.portfolio = PortfolioState.empty(loss_clocks(settings), purge_after(settings))
        """The portfolio fold (margin facts, loss) for the margin and loss gates."""
        self.plans: dict[Key, DiffComputed] = {}
        self.done: dict[Key, str] = {}
        self.submitted: set[str] = set()
        self.last_prices: dict[Key, Decimal] = {}
        timeout = max((a.venue_timeout_s for a in settings.accounts.values()), default=10)
        self.partitions = KeyLeases(nc, settings, "executor", self._gained)
        self.write_ahead = WriteAhead(
            event_log,
            self._caught_up,
            self._fold_own,
            self.partitions.owns,
            self.partitions.worker,
        )
        self.venue = VenueActions(
            settings, GatewayClient(nc, timeout * 2 + 1), lambda: self.actual,
            self.write_ahead.record_facts,
        )  # fmt: skip
        self.staging = Staging(self, self.write_ahead, self.venue)
        self.queue: KeyRunner[Key] = KeyRunner(self._run_key, base_delay=RETRY_FAILED_PLAN_S)
        self.runner = ProjectionRunner(
            event_log, self._on_record, self._applied, name="log", supervisor=self.supervisor
        )
        snapshots = snapshots_for(
            settings, event_log, "executor", purge_after(settings), loss_clocks(settings),
            sorted(settings.accounts),
        )  # fmt: skip
        self.runner.use_snapshots(snapshots, self._capture, self._restore)
        gauges = telemetry.metrics().gauges
        gauges.observe("actions_pending", self._actions_pending)
        gauges.observe("orders_inflight", self._orders_inflight)
        gauges.observe("cancels_pending", self._cancels_pending)

    # ------------------------------------------------------------------ gauges (`metering`)

    def _actions_pending(self) -> list[Reading]:
        return metering.actions_pending(self.actual, self.plans, self.done, self.submitted)

    def _orders_inflight(self) -> list[Reading]:
        return metering.in_flight(self.actual, self.plans.keys(), "submit")

    def _cancels_pending(self) -> list[Reading]:
        return metering.in_flight(self.actual, self.plans.keys(), "cancel")

    @property
    def gateway(self) -> GatewayClient:
        """The client of the gateways (replaceable before `start`)."""
        return self.venue.gateway

    @gateway.setter
    def gateway(self, gateway: GatewayClient) -> None:
        self.venue.gateway = gateway

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Fold the log, resolve our unanswered submissions, start following the log."""
        await self.runner.rebuild()
        self.runner.start()
        await self.partitions.start(self.supervisor)
        await self.nc.subscribe("setpoint.md.*.*.ticker", cb=self._on_ticker)
        await self.venue.resolve_unanswered(self.partitions.owns)
        for key in list(self.plans):
            self.queue.mark(key)

    async def _gained(self, partition: int) -> None:
        """A partition taken over: catch up with the log, settle its keys' unanswered
        submissions (its former holder may have died between a write-ahead and the
        answer), then run the newest plan of each of its keys."""
        await self.runner.caught_up(10.0)

        def mine(key: Key) -> bool:
            return self.partitions.partition(key) == partition

        await self.venue.resolve_unanswered(mine)
        for key in [k for k in self.plans if mine(k)]:
            self.done.pop(key, None)
            self.queue.mark(key)

    async def stop(self) -> None:
        await self.partitions.stop()
        await self.runner.stop()
        answers = list(self.staging.answers)
        for answer in answers:  # unanswered: in flight, settled at the next start
            answer.cancel()
        await self.queue.stop()
        await asyncio.gather(*answers, *self.staging.answers, return_exceptions=True)
        await self.gateway.close()

    # ------------------------------------------------------------------ the fold

    def _fold(self, position: int, event: Event) -> None:
        self.actual = apply_actual(self.actual, position, event)
        self.portfolio = apply_portfolio(self.portfolio, position, event)
        if event.producer is Producer.EXECUTOR:
            self.write_ahead.folded(event.key, position)
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

    def _capture(self) -> tuple[Any, ...]:
        """The fold's state for a snapshot (the runner's `use_snapshots`)."""
        return self.actual, self.portfolio, dict(self.plans), dict(self.write_ahead.expected)

    def _restore(self, state: tuple[Any, ...]) -> None:
        self.actual, self.portfolio, plans, expected = expect(
            state, ActualState, PortfolioState, dict, dict
        )
        self.plans, self.write_ahead.expected = dict(plans), dict(expected)

    def _fold_own(self, position: int, event: Event) -> None:
        """Fold an event this process has just appended at `position` when the projection
        holds everything before it (so the fold stays in log order); the subscription's
        copy is then skipped before it is decoded. Otherwise the subscription brings it."""
        if position == self.actual.position + 1:
            self._on_record(Recorded(position, event))
            self.runner.notify()

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
        if plan is None or self.done.get(key) == plan.event_id or not self.partitions.owns(key):
            return
        # A failure midway (the log or the gateway unavailable) raises: what was recorded
        # stays, and the key runner runs the plan again after its backoff.
        with telemetry.continue_trace(_tracer, "execute", plan.traceparent):
            completed = await self.staging.execute(key, plan)
        if completed:
            self.done[key] = plan.event_id
        else:  # gave up (a lost race, a failure): run it again; `decide` skips what was done
            self.queue.mark(key)
