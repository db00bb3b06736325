"""The strategy host: NATS in, strategies called, targets out.

For every configured strategy (a `Runner`) the host
1. folds the event log into the runners of its account: per trading account one view of
   the log that reads that account's entries only (what a strategy's NATS identity may
   read) and one projection runner over it (rebuild, then follow live, resumed after a
   broken subscription); each runner keeps the events of its own keys, its account's
   markets and its account's futures wallet (`MarginObserved`);
2. subscribes to the tickers of its keys (`setpoint.md.<account>.<token>.ticker`) and asks
   the gateway for them: a `MarketDataSubscription` per account on
   `setpoint.md.<account>.subscribe` naming every symbol its strategies declare, at start
   and every `SUBSCRIPTION_TTL_S / 3` after (so prices flow before any target exists,
   whether or not the gateway's configuration names the strategy);
3. once the log is caught up, answers `setpoint.health.strategy` and prints `ready`;
4. calls the strategy after each change (bursts collapse into one call) and publishes
   the targets that changed, as NATS requests to `setpoint.target.<account>.<token>` with
   the current trace context in the headers. A target that got no answer (no differ yet)
   is sent again, with a new generation, after `RETRY_S`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from setpoint.bus import subjects, telemetry
from setpoint.bus.messages import MarketDataSubscription, Ticker
from setpoint.bus.runtime import answer_health
from setpoint.bus.supervise import Supervisor
from setpoint.config import Settings
from setpoint.core.events import MarginObserved, MarketsLoaded
from setpoint.core.model import TargetState, symbol_token
from setpoint.eventlog import EventLog, Recorded
from setpoint.eventlog.factory import open_event_log
from setpoint.eventlog.projection import ProjectionRunner

from .runner import Runner

log = logging.getLogger("setpoint.strategy")
RETRY_S = 2.0
REQUEST_TIMEOUT_S = 5.0
SUBSCRIPTION_TTL_S = 30.0  # float-ok: a duration
_tracer = telemetry.tracer("setpoint.strategy")


class Host:
    """Runs `runners` against one NATS connection; see the module docstring."""

    def __init__(
        self, settings: Settings, runners: list[Runner], supervisor: Supervisor | None = None
    ) -> None:
        self.settings = settings
        self.runners = runners
        self.started_at = datetime.now(UTC)
        self.wake = asyncio.Event()
        self.ready = False
        self.positions: dict[str, int] = {}
        self.supervisor = supervisor or Supervisor("strategy")
        self.subscribed_at: float | None = None  # float-ok: monotonic seconds
        self.subscriber = f"strategy-host-{uuid.uuid4().hex[:12]}"
        self.event_logs: list[EventLog] = []
        self.followers: list[ProjectionRunner] = []

    async def start(self, nc: NATS) -> None:
        """Fold the log, follow it, subscribe to tickers, then answer health."""
        self.nc = nc
        accounts = sorted({runner.account for runner in self.runners})
        log.info("replaying the log for %d strategies", len(self.runners))
        for account in accounts:
            await self._follow(nc, account)
        for runner in self.runners:
            for symbol in runner.symbols:
                await nc.subscribe(
                    subjects.ticker_subject(runner.account, symbol),
                    cb=self._ticker_handler(runner),
                )
        await self.subscribe_market_data()
        await answer_health(nc, self.supervisor)  # the server routes to us before "ready"
        self.ready = True
        self.wake.set()
        names = ", ".join(f"{r.name} ({r.config.kind})" for r in self.runners) or "none"
        print(f"strategy ready: strategies {names}", flush=True)

    async def _follow(self, nc: NATS, account: str) -> None:
        """Rebuild the runners of `account` from its view of the log, then follow it."""
        event_log = await open_event_log(self.settings, nc=nc, account=account)
        self.event_logs.append(event_log)
        self.positions[account] = 0
        name = f"log {account}"
        follower = ProjectionRunner(
            event_log, lambda record: self._fold(account, record),
            lambda: self.positions[account], name=name, supervisor=self.supervisor,
        )  # fmt: skip
        self.followers.append(follower)
        await follower.rebuild()
        follower.start()

    async def stop(self) -> None:
        """Stop following the log and release it (the NATS connection stays the caller's)."""
        for follower in self.followers:
            await follower.stop()
        for event_log in self.event_logs:
            await event_log.close()

    def _fold(self, account: str, record: Recorded) -> None:
        """Give an event of `account` to its runners: each keeps its own keys and its
        account's markets."""
        self.positions[account] = record.position
        event = record.event
        for runner in self.runners:
            if event.account != runner.account or event.account != account:
                continue
            if isinstance(event, MarketsLoaded | MarginObserved) or event.symbol in runner.symbols:
                runner.apply(event)
                if self.ready:
                    self.wake.set()

    def subscriptions(self) -> list[MarketDataSubscription]:
        """One subscription per account: every symbol its strategies declare."""
        symbols: dict[str, set[str]] = {}
        for runner in self.runners:
            symbols.setdefault(runner.account, set()).update(runner.symbols)
        return [
            MarketDataSubscription(
                account=account, subscriber=self.subscriber,
                symbols=tuple(sorted(wanted)), ttl_s=SUBSCRIPTION_TTL_S,
            )
            for account, wanted in sorted(symbols.items())
        ]  # fmt: skip

    async def subscribe_market_data(self) -> None:
        """Publish the subscriptions (no reply: a gateway that starts later gets the next
        refresh)."""
        for message in self.subscriptions():
            subject = subjects.market_data_subscribe_subject(message.account)
            await self.nc.publish(subject, message.model_dump_json().encode())
        self.subscribed_at = time.monotonic()

    async def _refresh_subscriptions(self) -> None:
        due = self.subscribed_at is None or (
            time.monotonic() - self.subscribed_at >= SUBSCRIPTION_TTL_S / 3
        )
        if due:
            await self.subscribe_market_data()

    def _ticker_handler(self, runner: Runner) -> Callable[[Msg], Awaitable[None]]:
        async def on_ticker(msg: Msg) -> None:
            try:
                ticker = Ticker.model_validate_json(msg.data)
            except ValueError as exc:
                log.warning("bad ticker on %s: %s", msg.subject, exc)
                return
            if symbol_token(ticker.symbol) == msg.subject.split(".")[3]:
                runner.ticker(ticker)
                self.wake.set()

        return on_ticker

    async def run(self, stop: asyncio.Event) -> None:
        """Call the strategies after each change until `stop` is set."""
        while not stop.is_set():
            waiter = asyncio.ensure_future(self.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            _done, pending = await asyncio.wait(
                {waiter, stopper}, timeout=RETRY_S, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            self.wake.clear()
            if not stop.is_set():
                await self._refresh_subscriptions()
                await self.step_all()

    async def step_all(self) -> None:
        now = datetime.now(UTC)
        for runner in self.runners:
            try:
                targets = runner.step(now)
            except Exception:
                log.exception("strategy %s failed; its targets are left as they are", runner.name)
                continue
            for target in targets:
                await self.publish(runner, target)

    async def publish(self, runner: Runner, target: TargetState) -> None:
        """Request the target; record the answer (none: retried at the next step)."""
        subject = subjects.target_subject(target.account, target.symbol)
        with _tracer.start_as_current_span(
            "strategy.publish_target",
            attributes={
                "setpoint.account": target.account,
                "setpoint.symbol": target.symbol,
                "setpoint.generation": target.generation,
            },
        ):
            try:
                reply = await self.nc.request(
                    subject,
                    target.model_dump_json().encode(),
                    timeout=REQUEST_TIMEOUT_S,
                    headers=telemetry.inject(),
                )
            except NoRespondersError:
                runner.unheard(target)
                log.warning("no differ for %s yet; will retry", subject)
                return
            except NatsTimeout:
                log.warning(
                    "no answer for %s generation %d; will retry", subject, target.generation
                )
                return
        answer = _parse_reply(reply.data)
        runner.published(target, answer)
        if answer.get("accepted"):
            log.info(
                "%s: published %s generation %d (%d orders, position %s)",
                runner.name,
                target.symbol,
                target.generation,
                len(target.orders),
                target.position,
            )


def _parse_reply(data: bytes) -> Mapping[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {"accepted": False, "error": f"unreadable reply {data[:80]!r}"}
    return value if isinstance(value, dict) else {"accepted": False, "error": "bad reply"}
