"""The gateway's reconciliation run: REST snapshot → `core.reconcile` → facts and cancels.

One run (startup, stream reconnect, periodic):

1. the projection catches up with the log (kept as `before`); the venue is read: open
   orders (one call for the spot account, one per derivative symbol), trades since the
   last recorded fill less the account's `open_order_lookback_s` up to now (paged, at
   most `TRADE_PAGES` calls per symbol: a read stopped by that cap is marked
   incomplete), positions of derivative symbols (each between two trades reads, so the
   core can tell whether a trade moved while it was read: the second is one page from the
   first's newest trade), spot balances. Each read is a `Fetched`: a failed read
   concludes nothing (the core never reads it as "empty");
2. the projection catches up again, so every order the venue showed has its write-ahead
   `OrderSubmitted` folded (the executor appends it before placing);
3. `reconcile` decides; the targeted queries it asks for (ghosts, aged in-flight orders)
   are made and it decides again on the completed snapshot;
4. facts are appended per key in order; the venue cancels are sent (a lost attempt's
   cancel is followed by `OrderCancelled(reason="lost")` when the venue does not know the
   order, so the differ places the intent again under the next attempt; if the cancel
   finds it after all, its real state is recorded instead); a `ReconciliationCompleted`
   closes each key.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from setpoint.bus import telemetry
from setpoint.config import AccountConfig
from setpoint.core import reconcile as core
from setpoint.core.events import (
    AccountMode,
    Action,
    AssetBalance,
    Event,
    ObservationSource,
    OrderCancelled,
    OrderCancelledData,
    ReconcileTrigger,
    ReconciliationCompleted,
    Wallet,
)
from setpoint.core.model import Key, Producer
from setpoint.core.reconcile import VenueFill, VenueOrder
from setpoint.gateway import facts, metering
from setpoint.gateway.ports import Append, ProjectionView, ReconcileVenue
from setpoint.gateway.venue import TradesRead, VenueError
from setpoint.settings_core import reconcile_policy
from setpoint.venues.commands import CancelCommand
from setpoint.venues.errors import Outcome

log = logging.getLogger(__name__)
TRADES_PER_READ = 1000
"""The most trades one call asks the venue for (a page)."""
TRADE_PAGES = 10
"""The most calls one trades read of a symbol makes per run."""
T = TypeVar("T")


async def fetched(read: Callable[[], Awaitable[T]]) -> core.Fetched[T]:
    try:
        return core.Fetched.of(await read())
    except VenueError as exc:
        return core.Fetched.failed(exc.failure.reason)


class Reconciler:
    """Reconciliation runs of one account (module docstring), through the ports of
    `gateway.ports`: the venue, a read-only view of the projections, the log's append
    and the account's settings. One run at a time (the caller serializes them)."""

    def __init__(
        self,
        venue: ReconcileVenue,
        view: ProjectionView,
        append: Append,
        *,
        account: str,
        config: AccountConfig,
        page: int = TRADES_PER_READ,
        pages: int = TRADE_PAGES,
    ) -> None:
        self.venue, self.view, self.append = venue, view, append
        self.account, self.config = account, config
        self.last_duration_s = 0.0
        self.page = page
        self.pages = pages
        self.read_to: dict[str, datetime] = {}
        """Per symbol: the newest trade a recorded run's trades read showed (this process)."""
        self.runs: Counter[ReconcileTrigger] = Counter()
        """Runs this process completed, by trigger."""
        self._metrics = telemetry.metrics()

    def policy(self) -> core.ReconcilePolicy:
        targets = frozenset(
            k.symbol for k in self.view.intent.targets if k.account == self.account and k.symbol
        )
        flatten_all = self.view.actual.mode(self.account) is AccountMode.FLATTEN_ALL
        return reconcile_policy(self.config, targets, cancel_foreign=flatten_all)

    async def run(
        self, trigger: ReconcileTrigger, symbols: list[str] | None = None
    ) -> core.ReconcileOutcome:
        """One run over `symbols` (default: the whole scope, `view.scope()`)."""
        started = time.perf_counter()
        labels = {"account": self.account, "trigger": trigger.value}
        try:
            outcome, keys = await self._run(trigger, symbols)
        finally:
            self.last_duration_s = time.perf_counter() - started
            self._metrics.reconcile_runs.add(1, labels)
            self._metrics.reconcile_duration.record(self.last_duration_s, labels)
        self.runs[trigger] += 1
        if not outcome.report.errors:
            self._metrics.reconcile_last_success.set(time.time(), {"account": self.account})
        log.info(
            "reconciliation (%s): %d keys, %d matched, %d events, %d actions in %.3fs",
            trigger.value, keys, outcome.report.matched, len(outcome.events),
            len(outcome.actions), self.last_duration_s,
        )  # fmt: skip
        return outcome

    async def _run(
        self, trigger: ReconcileTrigger, symbols: list[str] | None
    ) -> tuple[core.ReconcileOutcome, int]:
        """One run (module docstring); returns its outcome and the number of keys read."""
        before = self.view.actual
        snap = await self._snapshot(self.view.scope() if symbols is None else symbols)
        await self.view.caught_up()
        snap = replace(snap, fills={s: self._named(s, f) for s, f in snap.fills.items()})
        policy, now = self.policy(), datetime.now(UTC)
        outcome = core.reconcile(self.view.actual, snap, policy, now, before=before)
        if outcome.queries:
            snap = replace(snap, queries=await self._queries(outcome.queries))
            outcome = core.reconcile(self.view.actual, snap, policy, now, before=before)
        for key in outcome.unsettled:
            log.info("position of %s not recorded: trades moved while it was read", key.symbol)
        self._measured(outcome, snap)
        await self._record(outcome, snap, trigger)
        self._advance(snap)
        return outcome, len(snap.open_orders)

    def _measured(self, outcome: core.ReconcileOutcome, snap: core.VenueSnapshot) -> None:
        """Findings and position discrepancies of the run (`gateway.metering`)."""
        for kind, count in metering.findings(outcome).items():
            if count:
                attributes = {"account": self.account, "kind": kind}
                self._metrics.reconcile_findings.add(count, attributes)
        for symbol, gap in metering.discrepancies(snap, self.view.actual).items():
            attributes = {"account": self.account, "symbol": symbol}
            self._metrics.position_discrepancy.set(float(gap), attributes)  # float-ok

    # ------------------------------------------------------------------ snapshot

    async def _snapshot(self, scope: list[str]) -> core.VenueSnapshot:
        spot = [s for s in scope if not _derivative(self.venue, s)]
        derivatives = [s for s in scope if _derivative(self.venue, s)]
        open_orders = await self._open_orders(spot, derivatives)
        reads = {s: await fetched(lambda s=s: self._fills(s)) for s in spot}  # type: ignore[misc]
        positions: dict[str, core.Fetched[Decimal]] = {}
        after: dict[str, core.Fetched[tuple[VenueFill, ...]]] = {}
        for symbol in derivatives:  # trades, position, trades again: one after the other
            reads[symbol] = first = await fetched(lambda s=symbol: self._fills(s))  # type: ignore[misc]
            positions[symbol] = await fetched(lambda s=symbol: self._position(s))  # type: ignore[misc]
            after[symbol] = await fetched(lambda s=symbol, f=first: self._fills_after(s, f))  # type: ignore[misc]
        fills = {s: _map(read, lambda r: r.fills) for s, read in reads.items()}
        incomplete = frozenset(
            s for s, r in reads.items() if r.value is not None and not r.value.complete
        )
        balances: dict[Wallet, core.Fetched[tuple[AssetBalance, ...]]] = {
            Wallet.SPOT: await fetched(self.venue.balances)
        }
        return core.VenueSnapshot(
            account=self.account, venue=self.config.exchange, taken_at=datetime.now(UTC),
            open_orders=open_orders, fills=fills, positions=positions, balances=balances,
            fills_after=after, fills_incomplete=incomplete,
        )  # fmt: skip

    async def _open_orders(
        self, spot: list[str], derivatives: list[str]
    ) -> dict[str, core.Fetched[tuple[VenueOrder, ...]]]:
        """Spot: one account-wide call (zombie scope "account" sees every symbol) where the
        venue lists open orders account-wide, else one call per symbol, as derivatives."""
        out: dict[str, core.Fetched[tuple[VenueOrder, ...]]] = {}
        per_symbol = derivatives
        if not self.venue.open_orders_account_wide:
            per_symbol = [*spot, *derivatives]
        else:
            every = await fetched(lambda: self.venue.open_orders(None))
            if not every.ok:
                out.update({s: core.Fetched.failed(every.error or "") for s in spot})
            else:
                found = every.value or []
                symbols = set(spot) | {o.symbol for o in found if o.symbol in self.venue.markets}
                for symbol in symbols:
                    out[symbol] = core.Fetched.of(tuple(o for o in found if o.symbol == symbol))
        for symbol in per_symbol:
            answer = await fetched(lambda s=symbol: self.venue.open_orders(s))  # type: ignore[misc]
            out[symbol] = _map(answer, tuple)
        return out

    def _since(self, symbol: str) -> datetime | None:
        """From the last recorded fill of the key or the newest trade an earlier run read
        and recorded (so trades not of ours, which are not recorded, move it on too), less
        the account's `open_order_lookback_s`; None (the venue's newest page) when neither
        is known."""
        known = [self.view.last_fill_at.get(Key(self.account, symbol)), self.read_to.get(symbol)]
        times = [t for t in known if t is not None]
        lookback = timedelta(seconds=self.config.open_order_lookback_s)
        return max(times) - lookback if times else None

    def _advance(self, snap: core.VenueSnapshot) -> None:
        for symbol, read in snap.fills.items():
            times = [f.traded_at for f in read.value or () if f.traded_at is not None]
            if times:
                newest = max(times)
                self.read_to[symbol] = max(newest, self.read_to.get(symbol, newest))

    async def _fills(self, symbol: str) -> TradesRead:
        """Every trade from `_since` up to now, unless the page cap stopped the read."""
        since = self._since(symbol)
        return await self.venue.all_fills(symbol, since, page=self.page, pages=self.pages)

    async def _fills_after(
        self, symbol: str, first: core.Fetched[TradesRead]
    ) -> tuple[VenueFill, ...]:
        """One page from the first read's newest trade (its millisecond's rows come again):
        it only has to show a trade the first read lacks. From `_since` instead, a page
        would hold only the oldest rows the first read already has."""
        shown = () if first.value is None else first.value.fills
        times = [f.traded_at for f in shown if f.traded_at is not None]
        since = max(times) if times else self._since(symbol)
        return tuple(await self.venue.fills(symbol, since, limit=self.page))

    def _named(
        self, symbol: str, answer: core.Fetched[tuple[VenueFill, ...]]
    ) -> core.Fetched[tuple[VenueFill, ...]]:
        """REST trades carry no client order id: take it from the order the log knows."""
        key = Key(self.account, symbol)

        def named(fill: VenueFill) -> VenueFill:
            if fill.client_order_id is not None:
                return fill
            record = self.view.actual.order_by_venue_id(key, fill.order_id)
            coid = None if record is None else record.client_order_id
            return fill if coid is None else fill.model_copy(update={"client_order_id": coid})

        return _map(answer, lambda fills: tuple(named(f) for f in fills))

    async def _position(self, symbol: str) -> Decimal:
        found = await self.venue.positions([symbol])
        return found[0].quantity if found else Decimal(0)

    async def _queries(
        self, wanted: tuple[tuple[Key, str], ...]
    ) -> dict[str, core.Fetched[VenueOrder]]:
        out: dict[str, core.Fetched[VenueOrder]] = {}
        for key, qkey in wanted:
            assert key.symbol is not None
            if qkey.startswith("#"):
                continue  # no client id: nothing to query by (the core retries next time)
            try:
                found = await self.venue.query(key.symbol, qkey)
            except VenueError as exc:
                out[qkey] = core.Fetched.failed(exc.failure.reason)
                continue
            out[qkey] = core.Fetched.of(found)
        return out

    # ------------------------------------------------------------------ record and act

    async def _record(
        self, outcome: core.ReconcileOutcome, snap: core.VenueSnapshot, trigger: ReconcileTrigger
    ) -> None:
        by_key: dict[Key, list[Event]] = {}
        for event in outcome.events:
            by_key.setdefault(event.key, []).append(event)
        for key, events in by_key.items():
            await self.append(key, events)
        for key, action in outcome.actions:
            await self._act(key, action)
        data = outcome.completed(trigger)
        for symbol in snap.open_orders:
            key = Key(self.account, symbol)
            await self.append(key, [ReconciliationCompleted.create(key, Producer.GATEWAY, data)])

    async def _act(self, key: Key, action: Action) -> None:
        command = CancelCommand(
            symbol=key.symbol or "",
            order_id=action.order_id,
            client_order_id=action.client_order_id or None,
        )
        try:
            order: VenueOrder | None = await self.venue.cancel(command)
        except VenueError as exc:
            if exc.outcome is not Outcome.NOT_FOUND:
                log.warning("cancel (%s) of %s: %s", action.reason, action.client_order_id,
                            exc.failure.reason)  # fmt: skip
                return
            order = None
        log.info("cancelled (%s) %s", action.reason, action.client_order_id or action.order_id)
        await self.append(key, self._after_cancel(key, action, order))

    def _after_cancel(self, key: Key, action: Action, order: VenueOrder | None) -> list[Event]:
        if action.reason == "lost" and order is None:  # the venue does not know it: lost
            record = self.view.actual.order(key, action.client_order_id)
            data = OrderCancelledData(client_order_id=action.client_order_id, reason="lost")
            corr = None if record is None else record.correlation_id
            return [OrderCancelled.create(key, Producer.GATEWAY, data, correlation_id=corr)]
        if order is None:
            return []
        event = facts.order_event(self.view.actual, key, order, ObservationSource.REST, force=True)
        return [] if event is None else [event]


def _derivative(venue: ReconcileVenue, symbol: str) -> bool:
    market = venue.markets.get(symbol)
    return market is not None and market.is_derivative


U = TypeVar("U")


def _map(answer: core.Fetched[T], convert: Callable[[T], U]) -> core.Fetched[U]:
    if not answer.ok:
        return core.Fetched.failed(answer.error or "")
    return core.Fetched.of(None if answer.value is None else convert(answer.value))
