"""The exchange gateway of one account: commands, facts, reconciliation, market data.

Contract:

* On start: the projections are folded from the log (the one projection runner, which
  then follows it live and resumes after a broken subscription), `MarketsLoaded` is appended, the
  command handlers answer `setpoint.gw.<account>.*`, and the startup reconciliation runs
  (REST snapshot → facts → docs/semantics.md §4 decisions). Only then is the gateway ready.
* Afterwards: reconciliation again on every stream break (trigger `reconnect`), every
  `reconcile_interval_s` (`periodic`, the first `reconcile_startup_delay_s` after the
  startup run, and within a second of a symbol entering the scope, so a new key is
  reconciled from its first target on), and every `in_flight_check_interval_s` over the
  symbols whose submissions have gone unanswered for `in_flight_timeout_s`
  (`in_flight`); websocket order and trade
  updates are appended as `OrderObserved` / `FillObserved` hints; tickers are published on
  `setpoint.md.<account>.<token>.ticker` for `market_data_scope()`: the reconciliation
  scope, the symbols of the account's configured strategies, and the symbols named by
  live subscriptions on `setpoint.md.<account>.subscribe` (`MarketDataSubscription`,
  refreshed by the strategy host for every symbol its strategies declare): a strategy
  gets prices before it has published anything, configured here or hosted elsewhere.
* Accounts whose venue lists derivative markets: the futures wallet's state
  (`MarginObserved`, gateway/margin.py) at start and every `account_state_interval_s`,
  appended only when it differs from the last one in the log; with `dead_man_switch` the
  venue's dead-man switch is armed and renewed (gateway/deadman.py).
* Every fact is appended by producer `gateway`. Fills are deduplicated against the
  projection (the log is the memory) and by their stable event id.
* Metrics: an order of the account that becomes filled in the live projection counts in
  `setpoint_orders_total{outcome="filled"}` (not while the log is replayed at start); each
  stream failure in `setpoint_ws_reconnects_total` (the stream is then watched again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from nats.aio.client import Client as NATS

from setpoint.bus import subjects, telemetry
from setpoint.bus.messages import MarketDataSubscription, Ticker
from setpoint.bus.supervise import Supervisor
from setpoint.config import AccountConfig, Settings
from setpoint.core.events import (
    Event,
    FillObserved,
    FillSource,
    MarginObserved,
    MarginObservedData,
    MarketsLoaded,
    MarketsLoadedData,
    ObservationSource,
    OrderObserved,
    OrderPlaced,
    OrderStatus,
    ReconcileTrigger,
)
from setpoint.core.ids import is_ours
from setpoint.core.model import Key, Producer
from setpoint.core.projections import ActualState, IntentState, apply_actual, apply_intent
from setpoint.core.projections.snapshot import expect
from setpoint.core.reconcile import VenueOrder
from setpoint.eventlog import ANY, EventLog, Recorded
from setpoint.eventlog.projection import ProjectionRunner
from setpoint.eventlog.snapshots import snapshots_for
from setpoint.gateway import facts
from setpoint.gateway.convert import dec, to_fill, to_order
from setpoint.gateway.deadman import DeadManSwitch, supported
from setpoint.gateway.handlers import CommandHandlers
from setpoint.gateway.margin import margin_data
from setpoint.gateway.reconciler import Reconciler
from setpoint.gateway.streams import watch
from setpoint.gateway.subscriptions import NONE, live, renew
from setpoint.gateway.venue import Venue, VenueError
from setpoint.settings_core import purge_after
from setpoint.venues.errors import Outcome

log = logging.getLogger(__name__)

_Filling = OrderPlaced | OrderObserved | FillObserved
_FILLING = (OrderPlaced, OrderObserved, FillObserved)
"""Events that can fill an order (counted once it is filled)."""
FACT_CATCH_UP_S = 5.0  # float-ok: longest wait for the write-ahead of an order a fact is about
NEW_SCOPE_CHECK_S = 1.0  # float-ok: how often the periodic loop looks for a new symbol in scope


class Gateway:
    """See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        account: str,
        nc: NATS,
        event_log: EventLog,
        venue: Venue,
        stream: Any | None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.settings, self.account, self.nc, self.log = settings, account, nc, event_log
        self.supervisor = supervisor or Supervisor("gateway")
        self.config: AccountConfig = settings.accounts[account]
        self.venue, self.stream = venue, stream
        self.actual = ActualState.empty(purge_after(settings))
        self.intent = IntentState.empty()
        self.position = 0
        self.pending_fills: set[str] = set()
        self.last_fill_at: dict[Key, datetime] = {}
        self.runner = ProjectionRunner(
            event_log, self._on_record, self._applied, name=f"log ({account})",
            supervisor=self.supervisor,
        )  # fmt: skip
        snapshots = snapshots_for(
            settings, event_log, f"gateway.{account}", purge_after(settings), account
        )
        self.runner.use_snapshots(snapshots, self._capture, self._restore)
        self.handlers = CommandHandlers(nc, account, venue, self.record_fills_of)
        self.reconciler = Reconciler(venue, self, self.append, account=account, config=self.config)
        self._once: set[asyncio.Task[None]] = set()
        self._reconcile_lock = asyncio.Lock()
        self._break_pending = False
        self.subscriptions = NONE
        self._settled: asyncio.Task[None] | None = None
        self._live = False
        self._metrics = telemetry.metrics()
        self.last_prices: dict[str, Decimal] = {}
        self.last_margin: MarginObservedData | None = None

    @property
    def exchange(self) -> str:
        return self.config.exchange

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.runner.rebuild()
        self._live = True
        self.runner.start()
        await self._load_markets()
        await self._check_position_mode()
        await self.handlers.start()
        await self.nc.subscribe(
            subjects.market_data_subscribe_subject(self.account), cb=self._on_subscription
        )
        if self.stream is not None:
            self._start_streams()
        await self.reconcile(ReconcileTrigger.STARTUP)
        self._spawn("periodic reconciliation", self._periodic)
        self._spawn("in-flight checks", self._in_flight_checks)
        self._spawn("tickers", self._tickers)
        if any(m.is_derivative for m in self.venue.markets.values()):
            self._watch_account_state()
            self._arm_dead_man_switch()

    async def stop(self) -> None:
        await self.handlers.stop()
        await self.runner.stop()
        await self.supervisor.stop()
        for task in list(self._once):
            task.cancel()
        await asyncio.gather(*self._once, return_exceptions=True)

    async def close(self) -> None:
        """Close the ccxt clients (after `stop`)."""
        await self.venue.rest.close()
        if self.stream is not None:
            await self.stream.close()

    def _spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """A long-running task of this account's gateway, supervised (resumed if it dies)."""
        self.supervisor.spawn(f"{name} ({self.account})", factory)

    # ------------------------------------------------------------------ log

    def _fold(self, position: int, event: Event) -> None:
        self.position = position
        if event.account != self.account:
            return
        before = self.actual
        self.actual = apply_actual(self.actual, position, event)
        if self._live and isinstance(event, _FILLING):
            self._count_filled(before, event)
        self.intent = apply_intent(self.intent, position, event)
        if isinstance(event, MarginObserved):
            self.last_margin = event.data
        if isinstance(event, FillObserved):
            self.pending_fills.discard(event.event_id)
            at = event.data.traded_at or event.occurred_at
            previous = self.last_fill_at.get(event.key)
            if previous is None or at > previous:
                self.last_fill_at[event.key] = at

    def _count_filled(self, before: ActualState, event: _Filling) -> None:
        """`setpoint_orders_total{outcome="filled"}` when `event` filled an order."""
        coid = event.data.client_order_id
        if coid is None:
            return
        now = self.actual.order(event.key, coid)
        if now is None or now.status is not OrderStatus.FILLED:
            return
        was = before.order(event.key, coid)
        if was is None or was.status is not OrderStatus.FILLED:
            labels = {"account": self.account, "symbol": event.symbol or "", "outcome": "filled"}
            self._metrics.orders.add(1, labels)

    def _on_record(self, record: Recorded) -> None:
        self._fold(record.position, record.event)

    def _applied(self) -> int:
        return self.position

    def _capture(self) -> tuple[Any, ...]:
        """The fold's state for a snapshot (the runner's `use_snapshots`)."""
        return (self.actual, self.intent, self.position, self.last_margin,
                dict(self.last_fill_at))  # fmt: skip

    def _restore(self, state: tuple[Any, ...]) -> None:
        actual, intent, position, margin, last_fill_at = expect(
            state, ActualState, IntentState, int, (MarginObservedData, type(None)), dict
        )
        self.actual, self.intent, self.position, self.last_margin = actual, intent, position, margin
        self.last_fill_at = dict(last_fill_at)

    async def caught_up(self, within_s: float = 30.0) -> None:  # float-ok
        """Wait until every event in the log now has been folded (TimeoutError after
        `within_s`: a reconciliation never judges from a projection it knows is behind)."""
        started = time.monotonic()
        if not await self.runner.caught_up(within_s):
            waited = time.monotonic() - started
            raise TimeoutError(
                f"the log's head was not reached after {waited:.1f} s (the log did not answer, "
                f"or the projection is behind by more than {within_s:g} s)"
            )

    async def append(self, key: Key, events: Sequence[Event]) -> None:
        """Append facts of one key (idempotent by event id)."""
        if not events:
            return
        for event in events:
            if isinstance(event, FillObserved):
                self.pending_fills.add(event.event_id)
        await self.log.append(key, Producer.GATEWAY, list(events), ANY)

    # ------------------------------------------------------------------ markets

    async def _check_position_mode(self) -> None:
        """Refuse to trade a hedge-mode account (`Venue.check_position_mode` raises
        ConfigError, and the start fails with it); retried while the venue does not
        answer; a venue that refuses the read (no permission) is logged and let be."""
        delay = 0.5
        while True:
            try:
                await self.venue.check_position_mode()
                return
            except VenueError as exc:
                if exc.outcome not in (Outcome.TRANSIENT, Outcome.RATE_LIMITED):
                    log.warning("position mode not read (%s)", exc.failure.reason)
                    return
                log.warning("position mode not read (%s); retrying", exc.failure.reason)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _load_markets(self) -> None:
        """Load markets, retrying while the venue does not answer (nothing works before)."""
        delay = 0.5
        while True:
            try:
                markets = await self.venue.load_markets()
                break
            except VenueError as exc:
                if exc.outcome is Outcome.FATAL:
                    raise
                log.warning("markets not loaded (%s); retrying", exc.failure.reason)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        data = MarketsLoadedData(exchange=self.exchange, markets=markets)
        known = self.actual.markets(self.account)
        if known and all(known.get(m.symbol) == m for m in markets) and len(known) == len(markets):
            return
        key = Key(self.account, None)
        await self.append(key, [MarketsLoaded.create(key, Producer.GATEWAY, data)])

    def scope(self) -> list[str]:
        """Symbols looked at: those that have or had a target or an order of ours."""
        symbols = {k.symbol for k in self.intent.targets if k.account == self.account}
        symbols |= {k.symbol for k in self.actual.keys if k.account == self.account}
        return sorted(s for s in symbols if s is not None and s in self.venue.markets)

    def market_data_scope(self) -> list[str]:
        """`scope()` plus the symbols the configured strategies of this account trade and
        those of live market-data subscriptions."""
        configured = {
            symbol
            for strategy in self.settings.strategies.values()
            if strategy.account == self.account
            for symbol in strategy.traded_symbols()
        }
        configured |= live(self.subscriptions, time.monotonic())
        known = {s for s in configured if s in self.venue.markets}
        return sorted(known | set(self.scope()))

    # ------------------------------------------------------------------ reconciliation

    async def reconcile(self, trigger: ReconcileTrigger, symbols: list[str] | None = None) -> None:
        """One reconciliation run over `symbols` (default: the whole scope); runs of the
        account never overlap."""
        async with self._reconcile_lock:
            await self.caught_up()
            await self.reconciler.run(trigger, symbols)

    async def _continuous(self) -> None:
        """Wait out `reconcile_startup_delay_s` once per process (counted from the end of
        the startup run), so a loop resumed after a failure does not wait again."""
        if self._settled is None:
            self._settled = asyncio.get_running_loop().create_task(
                asyncio.sleep(self.config.reconcile_startup_delay_s)
            )
        await asyncio.shield(self._settled)

    async def _periodic(self) -> None:
        """`periodic` runs: the first `reconcile_startup_delay_s` after the startup run,
        then every `reconcile_interval_s` after the previous one ends, and sooner, within
        about a second, when a symbol enters the scope (a key's first target): a new key is
        checked against the venue, and shows a last reconciliation, from the start rather
        than up to an interval later."""
        await self._continuous()
        while True:
            seen = set(self.scope())
            try:
                await self.reconcile(ReconcileTrigger.PERIODIC)
            except Exception:
                log.exception("periodic reconciliation failed")
            await self._interval_or_new(seen)

    async def _in_flight_checks(self) -> None:
        """Every `in_flight_check_interval_s` (after the startup delay): when submissions
        of this account have gone unanswered for `in_flight_timeout_s`, an `in_flight` run
        over their symbols settles them (found, or counted not found towards lost), so a
        place whose answer was lost is not left for the next periodic run."""
        await self._continuous()
        while True:
            symbols = self.aged_in_flight_symbols()
            if symbols:
                try:
                    await self.reconcile(ReconcileTrigger.IN_FLIGHT, symbols)
                except Exception:
                    log.exception("in-flight check failed")
            await asyncio.sleep(self.config.in_flight_check_interval_s)

    def aged_in_flight_symbols(self) -> list[str]:
        """Symbols of this account with a submission unanswered for `in_flight_timeout_s`."""
        aged = self.actual.in_flight(datetime.now(UTC), self.config.in_flight_timeout_s)
        return sorted(
            {o.key.symbol for o in aged if o.key.account == self.account and o.key.symbol}
            & set(self.venue.markets)
        )

    async def _interval_or_new(self, seen: set[str]) -> None:
        """Sleep `reconcile_interval_s`, or less once `scope()` names a symbol not in `seen`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.reconcile_interval_s
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(left, NEW_SCOPE_CHECK_S))
            if not set(self.scope()) <= seen:
                return

    async def _on_break(self) -> None:
        self._metrics.ws_reconnects.add(1, {"account": self.account})
        if self._break_pending:
            return
        self._break_pending = True
        task = asyncio.create_task(self._reconnect_reconcile())
        self._once.add(task)
        task.add_done_callback(self._once.discard)

    async def _reconnect_reconcile(self) -> None:
        await asyncio.sleep(0.3)
        self._break_pending = False
        try:
            await self.reconcile(ReconcileTrigger.RECONNECT)
        except Exception:
            log.exception("reconnect reconciliation failed")

    # ------------------------------------------------------------------ streams

    def _start_streams(self) -> None:
        """Order and trade streams of the spot account, and of the USD-M account when
        the venue lists derivative markets (Binance keeps them on separate streams)."""
        assert self.stream is not None
        kinds: list[dict[str, str]] = [{}]
        if any(m.is_derivative for m in self.venue.markets.values()):
            kinds.append({"type": "future"})
        for params in kinds:
            kind = params.get("type", "spot")
            orders = partial(
                self._watch, "orders", self.stream.watch_orders, params, self._on_orders
            )
            trades = partial(
                self._watch, "trades", self.stream.watch_my_trades, params, self._on_trades
            )
            self._spawn(f"orders stream ({kind})", orders)
            self._spawn(f"trades stream ({kind})", trades)

    async def _watch(
        self,
        name: str,
        method: Callable[..., Awaitable[list[dict[str, Any]]]],
        params: dict[str, str],
        on_batch: Callable[[list[dict[str, Any]]], Awaitable[None]],
    ) -> None:
        label = f"{name} ({params.get('type', 'spot')})"
        await watch(label, lambda: method(None, None, None, params), on_batch, self._on_break,
                    self.venue.redactions)  # fmt: skip

    async def _on_orders(self, batch: list[dict[str, Any]]) -> None:
        for raw in batch:
            order = to_order(raw)
            key = Key(self.account, order.symbol)
            record = facts.find_order(self.actual, key, order.client_order_id, order.order_id)
            if record is None:
                continue  # unknown orders are for reconciliation to judge (zombie policy)
            if record.pending is not None:
                continue  # the executor records the answer it is waiting for
            event = facts.order_event(self.actual, key, order, ObservationSource.WS)
            if event is not None:
                await self.append(key, [event])

    async def record_fills_of(self, order: VenueOrder) -> None:
        """Record the trades of `order` now (REST), e.g. an IOC that filled on arrival.
        A failed read is logged and left to the websocket and the next reconciliation.
        Part of answering a command: counted in the account's bucket, never waiting."""
        since = (order.venue_time or datetime.now(UTC)) - timedelta(minutes=1)
        try:
            fills = await self.venue.fills(order.symbol, since, pace=False)
        except VenueError as exc:
            log.warning("trades of %s: %s", order.client_order_id, exc.failure.reason)
            return
        key = Key(self.account, order.symbol)
        await self._knows(key, order.client_order_id, order.order_id)
        events = []
        for fill in fills:
            if fill.order_id != order.order_id:
                continue
            named = fill.model_copy(update={"client_order_id": order.client_order_id})
            event = facts.fill_event(
                self.actual, key, self.exchange, named, FillSource.REST, self.pending_fills
            )
            if event is not None:
                events.append(event)
        await self.append(key, events)

    async def _knows(self, key: Key, client_order_id: str | None, order_id: str) -> None:
        """Before a fact about an order of ours that the projection does not hold yet (its
        write-ahead is in the log, not yet folded: an IOC that filled on arrival, a trade
        right after a restart), fold the log up to its head, so the fact is traced to the
        order's target. Waits at most `FACT_CATCH_UP_S`; the fact is recorded either way."""
        if not is_ours(self.account, client_order_id):
            return
        if facts.find_order(self.actual, key, client_order_id, order_id) is None:
            await self.runner.caught_up(FACT_CATCH_UP_S)

    async def _on_trades(self, batch: list[dict[str, Any]]) -> None:
        for raw in batch:
            fill = to_fill(raw)
            key = Key(self.account, fill.symbol)
            await self._knows(key, fill.client_order_id, fill.order_id)
            event = facts.fill_event(
                self.actual, key, self.exchange, fill, FillSource.WS, self.pending_fills
            )
            if event is not None:
                await self.append(key, [event])

    # ------------------------------------------------------------------ account state

    def _watch_account_state(self) -> None:
        if not self.venue.capabilities.rules.reads_margin:
            log.info("futures account of %s: not read on %s", self.account, self.exchange)
            return
        self._spawn("account state", self._account_state)

    async def _account_state(self) -> None:
        while True:
            await self.record_account_state()
            await asyncio.sleep(self.config.account_state_interval_s)

    async def record_account_state(self) -> None:
        """Read the futures wallet and positions; append `MarginObserved` when it differs
        from the last one folded. A failed or malformed read is logged, nothing appended."""
        try:
            balance = await self.venue.call(self.venue.rest.fetch_balance({"type": "future"}))
            rows = await self.venue.call(self.venue.rest.fetch_positions(None, {"useV2": True}))
            marks = {s: p for s, p in self.last_prices.items() if s in self.market_data_scope()}
            data = margin_data(balance, rows, self.venue.markets, marks)
        except VenueError as exc:
            log.warning("futures account of %s not read: %s", self.account, exc.failure.reason)
            return
        except ValueError as exc:
            log.warning("futures account of %s: unreadable answer (%s)", self.account, exc)
            return
        if data == self.last_margin:
            return
        key = Key(self.account, None)
        await self.append(key, [MarginObserved.create(key, Producer.GATEWAY, data)])
        self.last_margin = data

    def _arm_dead_man_switch(self) -> None:
        if not self.config.dead_man_switch:
            return
        rule = self.venue.capabilities.rules.dead_man
        if rule is None or not supported(self.venue.rest, rule):
            log.warning("dead-man switch: %s has none; not armed", self.exchange)
            return
        switch = DeadManSwitch(
            self.venue, self.scope, self.config.dead_man_countdown_s, self.account, rule
        )
        self._spawn("dead-man switch", switch.run)

    # ------------------------------------------------------------------ market data

    async def _on_subscription(self, msg: Any) -> None:
        try:
            message = MarketDataSubscription.model_validate_json(msg.data)
        except ValueError as exc:
            log.warning("bad market-data subscription on %s: %s", msg.subject, exc)
            return
        if message.account == self.account:
            self.subscriptions = renew(self.subscriptions, message, time.monotonic())

    async def _tickers(self) -> None:
        """Poll and publish every symbol's ticker each `ticker_interval_s`, untraced (a
        root span per poll would bury the traces that matter; `telemetry.untraced`)."""
        while True:
            with telemetry.untraced():
                for symbol in self.market_data_scope():
                    try:
                        await self._publish_ticker(symbol)
                    except VenueError as exc:
                        log.debug("ticker %s: %s", symbol, exc)
            await asyncio.sleep(self.config.ticker_interval_s)

    async def _publish_ticker(self, symbol: str) -> None:
        raw = await self.venue.call(self.venue.rest.fetch_ticker(symbol))
        funding = None
        market = self.venue.markets.get(symbol)
        if market is not None and market.is_derivative:
            rate = await self.venue.call(self.venue.rest.fetch_funding_rate(symbol))
            funding = dec(rate.get("fundingRate"))
        ticker = Ticker(
            account=self.account, symbol=symbol, last=dec(raw.get("last")),
            bid=dec(raw.get("bid")), ask=dec(raw.get("ask")), funding_rate=funding,
            at=datetime.now(UTC),
        )  # fmt: skip
        if ticker.last is not None and ticker.last > 0:
            self.last_prices[symbol] = ticker.last
        subject = subjects.ticker_subject(self.account, symbol)
        await self.nc.publish(subject, ticker.model_dump_json().encode())
