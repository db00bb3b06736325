"""Synthetic logs with realistic causal chains, for tests and benchmarks.

`ChainBuilder` makes events the way the services do: a `TargetPublished` starts a chain;
the differ's `DiffComputed` names it; the executor's `OrderSubmitted` is caused by the
diff; the gateway's `OrderPlaced`, fills and cancellations carry the order's correlation.
`synthetic_log(n)` plays a grid-like workload over several keys until about `n` events.
Times advance by a fixed step from a fixed start, so a seed gives the same log every time
(event ids are deterministic too).

The single facts the chains are made of are builders of their own, shared by tests and
benchmarks: `market` (a `MarketInfo` with the usual filters), `buy` (a limit buy intent),
`submitted_data` (what the executor records for an action), `fill_data` (a maker fill as
the gateway reports it), `observed_data` (an order as the gateway observes it) and
`markets_loaded`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    AccountModeChangedData,
    Action,
    ActionKind,
    CancelSubmitted,
    CancelSubmittedData,
    DiffComputed,
    DiffComputedData,
    Event,
    FillObserved,
    FillObservedData,
    FillSource,
    Liquidity,
    MarketsLoaded,
    MarketsLoadedData,
    ObservationSource,
    OrderCancelled,
    OrderCancelledData,
    OrderObserved,
    OrderObservedData,
    OrderPlaced,
    OrderPlacedData,
    OrderStatus,
    OrderSubmitted,
    OrderSubmittedData,
    Origin,
    PositionObserved,
    PositionObservedData,
    ReconcileTrigger,
    ReconciliationCompleted,
    ReconciliationCompletedData,
    TargetPublished,
    TargetPublishedData,
)
from setpoint.core.ids import client_order_id
from setpoint.core.model import (
    Key,
    MarketInfo,
    MarketKind,
    OrderType,
    Producer,
    Side,
    TargetOrder,
    TargetState,
)
from setpoint.core.numeric import ZERO
from setpoint.eventlog.port import ANY, EventLog

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(slots=True)
class Placed:
    """One of our orders as the builder knows it."""

    key: Key
    client_order_id: str
    order_id: str
    intent_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    correlation_id: str
    submitted_id: str
    filled: Decimal = ZERO


@dataclass
class ChainBuilder:
    """Makes correctly linked events; every method returns the event it made, and keeps
    them all, in order, in `events`."""

    seed: int = 1
    step: timedelta = timedelta(milliseconds=50)
    venue: str = "binance"
    events: list[Event] = field(default_factory=list)
    _now: datetime = START
    _ids: int = 0
    _order_ids: int = 0
    _trade_ids: int = 0
    _generation: dict[Key, int] = field(default_factory=dict)

    def _envelope(
        self, key: Key, producer: Producer, correlation: str | None, causation: str | None
    ) -> dict[str, object]:
        self._ids += 1
        self._now += self.step
        eid = str(uuid.UUID(int=(self.seed << 64) | self._ids, version=4))
        return {
            "event_id": eid,
            "account": key.account,
            "symbol": key.symbol,
            "occurred_at": self._now,
            "correlation_id": correlation or eid,
            "causation_id": causation,
            "producer": producer,
            "traceparent": _traceparent(correlation or eid, eid),
        }

    def _add(self, event: Event) -> Event:
        self.events.append(event)
        return event

    def advance(self, delta: timedelta) -> None:
        """Let `delta` of log time pass before the next event."""
        self._now += delta

    def target(
        self, key: Key, orders: tuple[TargetOrder, ...], position: Decimal | None = None
    ) -> TargetPublished:
        generation = self._generation.get(key, 0) + 1
        self._generation[key] = generation
        state = TargetState(
            account=key.account,
            symbol=key.symbol or "",
            generation=generation,
            strategy="grid-1",
            position=position,
            orders=orders,
        )
        env = self._envelope(key, Producer.INTAKE, None, None)
        event = TargetPublished(**env, data=TargetPublishedData(target=state))  # type: ignore[arg-type]
        self._add(event)
        return event

    def diff(self, target: TargetPublished, actions: tuple[Action, ...]) -> DiffComputed:
        data = DiffComputedData(
            generation=target.data.target.generation,
            target_event_id=target.event_id,
            actions=actions,
        )
        env = self._envelope(target.key, Producer.DIFFER, target.event_id, target.event_id)
        event = DiffComputed(**env, data=data)  # type: ignore[arg-type]
        self._add(event)
        return event

    def submit(self, diff: DiffComputed, action: Action) -> OrderSubmitted:
        env = self._envelope(diff.key, Producer.EXECUTOR, diff.correlation_id, diff.event_id)
        event = OrderSubmitted(**env, data=submitted_data(action))  # type: ignore[arg-type]
        self._add(event)
        return event

    def planned(
        self, target: TargetPublished, wanted: TargetOrder, attempt: int = 1
    ) -> OrderSubmitted:
        """The differ's diff of `target` placing `wanted` (attempt `attempt`, alone), then
        the executor's submission of that place."""
        diff = self.diff(target, (place_action(target.key, wanted, attempt),))
        return self.submit(diff, diff.data.actions[0])

    def submitted(self, key: Key, wanted: TargetOrder) -> OrderSubmitted:
        """A target of `wanted` alone for `key`, then `planned` for it: the three events a
        fresh order chain starts with, up to the submission."""
        return self.planned(self.target(key, (wanted,)), wanted)

    def placed(self, submitted: OrderSubmitted) -> tuple[OrderPlaced, Placed]:
        self._order_ids += 1
        order_id = str(1_000_000 + self._order_ids)
        data = OrderPlacedData(client_order_id=submitted.data.client_order_id, order_id=order_id)
        env = self._envelope(
            submitted.key, Producer.GATEWAY, submitted.correlation_id, submitted.event_id
        )
        event = OrderPlaced(**env, data=data)  # type: ignore[arg-type]
        self._add(event)
        sub = submitted.data
        assert sub.intent_id is not None
        assert sub.price is not None
        order = Placed(
            submitted.key,
            sub.client_order_id,
            order_id,
            sub.intent_id,
            sub.side,
            sub.price,
            sub.quantity,
            submitted.correlation_id,
            submitted.event_id,
        )
        return event, order

    def foreign(
        self, key: Key, order_id: str, side: Side, price: Decimal, quantity: Decimal, *,
        adopted: bool = False,
    ) -> Placed:  # fmt: skip
        """The gateway observes a limit order on `key` that the system did not place
        (adopted or not); returns it for `fill`, whose fills of it name no client order id."""
        data = observed_data(
            None, order_id, side, price, quantity, origin=Origin.FOREIGN, adopted=adopted
        )
        env = self._envelope(key, Producer.GATEWAY, None, None)
        event = OrderObserved(**env, data=data)  # type: ignore[arg-type]
        self._add(event)
        return Placed(key, "", order_id, "-", side, price, quantity, event.event_id, event.event_id)

    def fill(self, order: Placed, quantity: Decimal, trade_id: str | None = None) -> FillObserved:
        if trade_id is None:
            self._trade_ids += 1
            trade_id = str(5_000_000 + self._trade_ids)
        fee = (order.price * quantity * Decimal("0.0002")).quantize(Decimal("0.00000001"))
        data = fill_data(
            order.client_order_id or None, order.order_id, order.side, order.price, quantity,
            trade_id=trade_id, venue=self.venue, fee=fee,
        )  # fmt: skip
        env = self._envelope(order.key, Producer.GATEWAY, order.correlation_id, order.submitted_id)
        order.filled += quantity
        event = FillObserved(**env, data=data)  # type: ignore[arg-type]
        self._add(event)
        return event

    def cancel(self, diff: DiffComputed, order: Placed) -> tuple[CancelSubmitted, OrderCancelled]:
        data = CancelSubmittedData(
            client_order_id=order.client_order_id,
            order_id=order.order_id,
            intent_id=order.intent_id,
            reason="intent no longer listed",
        )
        env = self._envelope(order.key, Producer.EXECUTOR, order.correlation_id, diff.event_id)
        submitted = CancelSubmitted(**env, data=data)  # type: ignore[arg-type]
        self._add(submitted)
        done = OrderCancelledData(
            client_order_id=order.client_order_id, order_id=order.order_id, filled=order.filled
        )
        env = self._envelope(order.key, Producer.GATEWAY, order.correlation_id, submitted.event_id)
        cancelled = OrderCancelled(**env, data=done)  # type: ignore[arg-type]
        self._add(cancelled)
        return submitted, cancelled

    def position(self, key: Key, quantity: Decimal) -> PositionObserved:
        env = self._envelope(key, Producer.GATEWAY, None, None)
        event = PositionObserved(**env, data=PositionObservedData(quantity=quantity))  # type: ignore[arg-type]
        self._add(event)
        return event

    def mode(self, account: str, mode: AccountMode) -> AccountModeChanged:
        """The differ's record of an operator's `kill` (or `--resume`) for `account`."""
        env = self._envelope(Key(account, None), Producer.DIFFER, None, None)
        event = AccountModeChanged(**env, data=AccountModeChangedData(mode=mode))  # type: ignore[arg-type]
        self._add(event)
        return event

    def reconciled(self, key: Key, matched: int) -> ReconciliationCompleted:
        data = ReconciliationCompletedData(
            trigger=ReconcileTrigger.PERIODIC, ok=True, matched=matched
        )
        env = self._envelope(key, Producer.GATEWAY, None, None)
        event = ReconciliationCompleted(**env, data=data)  # type: ignore[arg-type]
        self._add(event)
        return event


# --------------------------------------------------------------------------- single facts


def market(symbol: str, kind: MarketKind = MarketKind.SPOT, **changes: Any) -> MarketInfo:
    """A market named by its unified `symbol` (`BTC/USDT`, `BTC/USDT:USDT`): base, quote and
    venue symbol follow from it; tick 0.01, step 0.00001 and min notional 5 unless `changes`
    say otherwise (any other `MarketInfo` field too)."""
    base, quote = symbol.split(":")[0].split("/")
    fields: dict[str, Any] = {
        "symbol": symbol,
        "venue_symbol": base + quote,
        "kind": kind,
        "base": base,
        "quote": quote,
        "tick": Decimal("0.01"),
        "step": Decimal("0.00001"),
        "min_notional": Decimal(5),
    }
    return MarketInfo(**(fields | changes))


def markets_loaded(account: str, *markets: MarketInfo, exchange: str = "binance") -> MarketsLoaded:
    """The gateway's account-wide report of `markets`."""
    data = MarketsLoadedData(exchange=exchange, markets=markets)
    return MarketsLoaded.create(Key(account, None), Producer.GATEWAY, data)


def buy(intent: str = "b1", price: str = "60000", qty: str = "0.010", **extra: Any) -> TargetOrder:
    """A limit buy intent (GTC unless `extra` says otherwise)."""
    return TargetOrder(
        id=intent, side=Side.BUY, price=Decimal(price), quantity=Decimal(qty), **extra
    )


def submitted_data(action: Action) -> OrderSubmittedData:
    """What the executor records when it submits `action` (see `OrderSubmittedData.of_action`)."""
    return OrderSubmittedData.of_action(action)


def fill_data(
    client_order_id: str | None,
    order_id: str,
    side: Side,
    price: Decimal,
    quantity: Decimal,
    *,
    trade_id: str,
    venue: str = "binance",
    fee: Decimal = ZERO,
    source: FillSource = FillSource.WS,
) -> FillObservedData:
    """A maker fill of `quantity` at `price`, its fee (default none) paid in USDT."""
    return FillObservedData(
        venue=venue,
        trade_id=trade_id,
        order_id=order_id,
        client_order_id=client_order_id,
        side=side,
        price=price,
        quantity=quantity,
        fee=fee,
        fee_currency="USDT",
        liquidity=Liquidity.MAKER,
        source=source,
    )


def observed_data(
    client_order_id: str | None, order_id: str, side: Side, price: Decimal | None,
    quantity: Decimal, *, source: ObservationSource = ObservationSource.REST, **fields: Any,
) -> OrderObservedData:  # fmt: skip
    """A limit order as the gateway observes it at the venue: ours, new, nothing filled
    unless `fields` say otherwise (any other `OrderObservedData` field)."""
    values: dict[str, Any] = {"type": OrderType.LIMIT, "status": OrderStatus.NEW} | fields
    return OrderObservedData(
        client_order_id=client_order_id, order_id=order_id, side=side, price=price,
        quantity=quantity, source=source, **values,
    )  # fmt: skip


def _traceparent(chain: str, event_id: str) -> str:
    """One trace per chain (its correlation id), one span per event, as the services do."""
    return f"00-{chain.replace('-', '')}-{event_id.replace('-', '')[-16:]}-01"


def place_action(
    key: Key, order: TargetOrder, attempt: int = 1, replaces: str | None = None
) -> Action:
    """The place (or, with `replaces`, amend) action the differ plans for `order`."""
    assert key.symbol is not None
    return Action(
        kind=ActionKind.AMEND if replaces else ActionKind.PLACE,
        intent_id=order.id,
        client_order_id=client_order_id(key.account, key.symbol, order.id, attempt),
        replaces=replaces,
        attempt=attempt,
        side=order.side,
        type=order.type,
        price=order.price,
        quantity=order.quantity,
        time_in_force=order.time_in_force,
    )


def cancel_action(order: Placed) -> Action:
    return Action(
        kind=ActionKind.CANCEL,
        intent_id=order.intent_id,
        client_order_id=order.client_order_id,
        order_id=order.order_id,
    )


# --------------------------------------------------------------------------- workload

KEYS = (
    Key("alpha", "BTC/USDT"),
    Key("alpha", "ETH/USDT"),
    Key("alpha", "BTC/USDT:USDT"),
    Key("beta", "BTC/USDT"),
    Key("beta", "BTC/USDT:USDT"),
)
_MID = {
    "BTC/USDT": Decimal("60000"),
    "ETH/USDT": Decimal("3000"),
    "BTC/USDT:USDT": Decimal("60000"),
}


@dataclass
class _KeyRun:
    key: Key
    open: list[Placed] = field(default_factory=list)
    net: Decimal = ZERO
    cycles: int = 0


class GridWorkload:
    """A grid strategy on several keys: each cycle publishes a target with a buy and a
    sell, cancels the previous cycle's unfilled orders, places the new ones and fills some
    in one or two trades; perpetuals get periodic `PositionObserved` reports that agree
    with the fills. About 11 events per cycle."""

    def __init__(self, seed: int = 1, keys: tuple[Key, ...] = KEYS) -> None:
        self.builder = ChainBuilder(seed=seed)
        self.rng = random.Random(seed)
        self.runs = [_KeyRun(key) for key in keys]

    def cycle(self, run: _KeyRun) -> None:
        b = self.builder
        run.cycles += 1
        key = run.key
        assert key.symbol is not None
        mid = _MID[key.symbol] + self.rng.randint(-50, 50)
        qty = Decimal("0.010")
        orders = (
            TargetOrder(id=f"b-{run.cycles}", side=Side.BUY, price=mid - 10, quantity=qty),
            TargetOrder(id=f"s-{run.cycles}", side=Side.SELL, price=mid + 10, quantity=qty),
        )
        target = b.target(key, orders)
        actions = tuple(place_action(key, o) for o in orders)
        diff = b.diff(target, actions + tuple(cancel_action(o) for o in run.open))
        for old in run.open:
            b.cancel(diff, old)
        run.open = []
        for action in actions:
            _, order = b.placed(b.submit(diff, action))
            run.open.append(order)
        self._fill_some(run)
        if key.symbol.endswith(":USDT") and run.cycles % 5 == 0:
            b.position(key, run.net)
        if run.cycles % 20 == 0:
            b.reconciled(key, len(run.open))

    def _fill_some(self, run: _KeyRun) -> None:
        order = run.open[self.rng.randrange(2)]
        first = Decimal("0.004") if self.rng.random() < 0.5 else order.quantity
        for part in (first, order.quantity - first):
            if part > 0:
                self.builder.fill(order, part)
                run.net += part if order.side is Side.BUY else -part
        run.open.remove(order)

    def events(self, count: int) -> Iterator[Event]:
        """Yield about `count` events (whole cycles), made as they are consumed."""
        made = 0
        while made < count:
            self.cycle(self.runs[self.rng.randrange(len(self.runs))])
            made += len(self.builder.events)
            yield from self.builder.events
            self.builder.events.clear()


def synthetic_log(count: int, seed: int = 1) -> list[Event]:
    """About `count` events of the grid workload, in log order."""
    return list(GridWorkload(seed).events(count))


async def write(log: EventLog, events: Iterable[Event], batch: int = 1) -> int:
    """Append `events` to `log` in order, each under its own key and producer (no
    concurrency check: a synthetic log has one writer); returns the last position."""
    last = 0
    run: list[Event] = []
    for event in events:
        if run and (
            len(run) >= batch or run[0].key != event.key or run[0].producer is not event.producer
        ):
            last = (await log.append(run[0].key, run[0].producer, run, ANY))[-1]
            run = []
        run.append(event)
    if run:
        last = (await log.append(run[0].key, run[0].producer, run, ANY))[-1]
    return last
