"""The strategy host: NATS in, strategies called, targets out.

For every configured strategy (a `Runner`) the host
1. follows the log of each of its keys (`setpoint.evt.<account>.<token>.>`, an ordered
   JetStream consumer from the first message) and of its account's markets
   (`setpoint.evt.<account>._.gateway.MarketsLoaded`), folding events into the runner;
2. subscribes to the tickers of its keys (`setpoint.md.<account>.<token>.ticker`);
3. once every log is caught up, answers `setpoint.health.strategy` and prints `ready`;
4. calls the strategy after each change (bursts collapse into one call) and publishes
   the targets that changed, as NATS requests to `setpoint.target.<account>.<token>` with
   the current trace context in the headers. A target that got no answer (no differ yet)
   is sent again, with a new generation, after `RETRY_S`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api

from setpoint.bus import subjects, telemetry
from setpoint.bus.messages import Health, Ticker
from setpoint.config import Settings
from setpoint.core.events import Event, EventParseError, parse_event
from setpoint.core.model import Key, TargetState, symbol_token

from .runner import Runner

log = logging.getLogger("setpoint.strategy")
RETRY_S = 2.0
REQUEST_TIMEOUT_S = 5.0
_tracer = telemetry.tracer("setpoint.strategy")


class Follow:
    """An ordered consumer over one filter subject, from the start of the stream.
    `caught_up` is set once every message that existed at subscription time was handled."""

    def __init__(self, subject: str, handle: Callable[[Event], None]) -> None:
        self.subject = subject
        self.handle = handle
        self.caught_up = asyncio.Event()
        self.sub: JetStreamContext.PushSubscription | None = None

    async def start(self, js: JetStreamContext, stream: str) -> None:
        self.sub = await js.subscribe(
            self.subject,
            cb=self._on_message,
            stream=stream,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.ALL,
        )
        info = await self.sub.consumer_info()
        # nothing pending and nothing delivered: no message matches (the server then reports
        # the stream's last sequence as `delivered.stream_seq`, so only consumer_seq tells)
        if info.num_pending == 0 and (info.delivered is None or not info.delivered.consumer_seq):
            self.caught_up.set()

    async def _on_message(self, msg: Msg) -> None:
        try:
            self.handle(parse_event(msg.data))
        except EventParseError as exc:
            log.warning("skipping an entry on %s: %s", msg.subject, exc.reason)
        if msg.metadata.num_pending == 0:
            self.caught_up.set()


class Host:
    """Runs `runners` against one NATS connection; see the module docstring."""

    def __init__(self, settings: Settings, runners: list[Runner]) -> None:
        self.settings = settings
        self.runners = runners
        self.started_at = datetime.now(UTC)
        self.wake = asyncio.Event()
        self.follows: list[Follow] = []
        self.ready = False

    async def start(self, nc: NATS) -> None:
        """Subscribe to everything, wait for the logs to catch up, then answer health."""
        self.nc = nc
        js = nc.jetstream()
        stream = await self._stream(js)
        for runner in self.runners:
            await self._follow_runner(js, stream, runner)
        log.info("replaying the log of %d subjects", len(self.follows))
        await self._caught_up()
        await nc.subscribe(subjects.health_subject("strategy"), cb=self._health)
        await nc.flush()  # the server knows every subscription before we say ready
        self.ready = True
        self.wake.set()
        names = ", ".join(f"{r.name} ({r.config.kind})" for r in self.runners) or "none"
        print(f"strategy ready: strategies {names}", flush=True)

    async def _caught_up(self) -> None:
        """Wait for every follow to catch up, saying every 10 s which ones are behind."""
        while True:
            behind = [f.subject for f in self.follows if not f.caught_up.is_set()]
            if not behind:
                return
            waits = [f.caught_up.wait() for f in self.follows if not f.caught_up.is_set()]
            try:
                await asyncio.wait_for(asyncio.gather(*waits), 10)
            except TimeoutError:
                log.warning("still replaying the log of %s", ", ".join(behind))

    async def _stream(self, js: JetStreamContext) -> str:
        """The log's stream, created if missing (by the event log adapter, as every service
        does); the host needs the JetStream backend."""
        name = self.settings.eventlog.stream
        if self.settings.eventlog.backend != "jetstream":
            raise SystemExit(
                "the strategy host follows the log on JetStream; eventlog.backend = "
                f"{self.settings.eventlog.backend!r} is not supported by it"
            )
        log.info("opening the event log stream %s", name)
        from setpoint.eventlog.jetstream import JetStreamEventLog

        await JetStreamEventLog.open(
            self.nc, stream=name, duplicate_window_s=self.settings.eventlog.duplicate_window_s
        )
        await js.stream_info(name)
        return name

    async def _follow_runner(self, js: JetStreamContext, stream: str, runner: Runner) -> None:
        def fold(event: Event, runner: Runner = runner) -> None:
            runner.apply(event)
            if self.ready:
                self.wake.set()

        markets = f"setpoint.evt.{runner.account}._.gateway.MarketsLoaded"
        filters = [markets] + [subjects.key_filter(Key(runner.account, s)) for s in runner.symbols]
        for subject in filters:
            follow = Follow(subject, fold)
            await follow.start(js, stream)
            self.follows.append(follow)
        for symbol in runner.symbols:
            await self.nc.subscribe(
                subjects.ticker_subject(runner.account, symbol), cb=self._ticker_handler(runner)
            )

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

    async def _health(self, msg: Msg) -> None:
        health = Health(
            service="strategy",
            ready=self.ready,
            version=version("setpoint"),
            started_at=self.started_at,
        )
        await msg.respond(health.model_dump_json().encode())

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
