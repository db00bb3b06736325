"""Reconciliation with the venue (docs/semantics.md §4): one pure function, at startup and at
runtime, compares the actual projection with a `VenueSnapshot` and returns what to record
and what to do.

`reconcile(actual, snapshot, policy, now, *, before=None) -> ReconcileOutcome`. Every part
of a snapshot is a `Fetched` value that is either a result or "query failed"; a failed part
concludes nothing (never "empty", "flat" or "gone") and is listed in `report.errors`. A
symbol absent from `snapshot.open_orders` was not looked at. Per symbol:

* **fills** the log does not hold (by `(venue, trade id)`) of our or adopted orders →
  `FillObserved` (source rest).
* **matched** (open locally and in the venue's open orders) → `OrderObserved` when status,
  filled, price or quantity differ. When the venue's filled quantity is above the known
  fills (log + new trades) and the trades were fetched, one inferred `FillObserved` with
  trade id `inferred-<client order id>-<venue filled>` and `order_filled` = the venue's
  filled covers the difference (the fold counts the real trades it stands for once, when
  they come: see projections, "Inferred fills"). A venue filled below the known fills is an
  error item; nothing is rolled back.
* **ghost** (open locally, absent from the venue's open orders) and **in flight**
  (submitted, no answer, older than `in_flight_timeout_s`, absent from the open orders):
  decided by a targeted query (`snapshot.queries[query_key(order)]`). No answer yet → the
  key is listed in `outcome.queries` (ask, then reconcile again). Failed → nothing. Found →
  its real state (`OrderObserved` source query, plus fills as for matched). Not found →
  `OrderNotFound` with the consecutive count; once the count reaches `not_found_retries` and
  the first not-found is at least `not_found_min_age_s` old: a ghost is closed
  (`OrderCancelled(reason="not_found")`, fills kept); an in-flight attempt is lost → a
  cancel by client order id (`Action(reason="lost")`, harmless if it never existed); its
  `OrderCancelled(reason="lost")` does not consume the intent (whatever its time in force),
  so the differ places it again under the next attempt.
  An in-flight order found in the open orders is adopted as matched.
* **stale cancel** (an order with a pending cancel sent at least
  `max(in_flight_timeout_s, projections.STALE_CANCEL)` ago that the venue still lists open,
  in its open orders or by a targeted query) → `OrderObserved` with the open state even if
  nothing else changed: its fold clears the pending cancel (the cancel's answer was lost)
  and the differ plans the cancel again. A venue that says closed closes it as usual. A
  pending in-place amend (`AmendSubmitted`) is treated the same way: the observation
  records the price and size the venue holds (amended or not) and clears it.
* **amended** orders keep their venue id and client order id, so they match as any other
  order; the new price and total size come as an `OrderObserved` (the executor's answer,
  source amend, or this kernel's when that answer was lost), and fills before and after the
  amend are one order's fills, counted once by trade id.
* **zombie** (open at the venue, unknown or closed locally), in scope (`zombie_scope`
  "keys": symbols that have or had a target; "account": all) and older than
  `in_flight_timeout_s` by its venue time (younger ones may be our own orders still being
  recorded: looked at next time): ours → cancel; foreign → `zombie_policy`: cancel, adopt
  (`OrderObserved(adopted=True)`), ignore.
* **position** (snapshot positions, derivatives) → `PositionObserved` when it differs from
  the projection once this call's fills are in (or was never observed), with `fills_net` =
  the key's running fill net those fills leave, which the position includes: fills folded
  after that (a trade that landed after the reads, appended before this event) go on top.
  A position observed before is recorded again only from a **settled** read (`_settled`):
  the trades read before it was fetched and complete (below `fills_limit` rows, not in
  `fills_incomplete`), the trades read after it (`fills_after`) shows no trade the first
  lacks, every fill folded since the reads began (`before`) is one the first read shows,
  and no fill of this call was inferred from a targeted query (made after the position
  was read). Otherwise a trade
  moved while it was read: the key is listed in `outcome.unsettled` and the next run
  tries again (meanwhile the position is the fold of fills). A first observation is
  recorded even from an unsettled read: better than assuming flat, and the next settled
  read corrects a trade that raced it. **balances** → `BalanceObserved` per wallet when
  they differ.

`VenueOrder` and `VenueFill` are the one venue vocabulary of Setpoint: the gateway reads
the venue into them, its command replies carry them (`venues.commands.CommandReply`, their
JSON on the wire) and this kernel judges them. Their docstrings are their descriptions in
docs/asyncapi.json.

Event ids are deterministic (a fill's from venue, symbol and trade id; others from the
snapshot time and the order), so reconciling the same snapshot twice appends nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Generic, Literal, TypeVar

from pydantic import AwareDatetime

from setpoint.core.events import (
    Action,
    ActionKind,
    AssetBalance,
    BalanceObserved,
    BalanceObservedData,
    Event,
    FillObserved,
    FillObservedData,
    FillSource,
    Liquidity,
    ObservationSource,
    OrderCancelled,
    OrderCancelledData,
    OrderNotFound,
    OrderNotFoundData,
    OrderObserved,
    OrderObservedData,
    OrderStatus,
    Origin,
    PositionObserved,
    PositionObservedData,
    ReconcileTrigger,
    ReconciliationCompletedData,
    ReconciliationItem,
    ReconciliationReport,
    Wallet,
    fill_event_id,
    stable_event_id,
)
from setpoint.core.ids import is_ours
from setpoint.core.model import Frozen, Key, OrderType, Producer, Side, TimeInForce
from setpoint.core.numeric import ZERO, Dec, NonNegativeDec, PositiveDec
from setpoint.core.projections import (
    STALE_CANCEL,
    ActualState,
    KeyActual,
    OrderRecord,
    apply_actual,
)

__all__ = [
    "Fetched",
    "ReconcileOutcome",
    "ReconcilePolicy",
    "VenueFill",
    "VenueOrder",
    "VenueSnapshot",
    "query_key",
    "reconcile",
]

T = TypeVar("T")
Category = Literal["matched", "ghost", "zombie", "in_flight"]
_PRODUCER = Producer.GATEWAY


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """The answer to one venue query: `ok` with a `value`, or failed with an `error`."""

    ok: bool
    value: T | None = None
    error: str | None = None

    @classmethod
    def of(cls, value: T | None) -> Fetched[T]:
        return cls(True, value)

    @classmethod
    def failed(cls, error: str) -> Fetched[T]:
        return cls(False, None, error)


class VenueOrder(Frozen):
    """An order as the venue reports it."""

    order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce | None = None
    price: PositiveDec | None = None
    quantity: PositiveDec
    filled: NonNegativeDec
    status: OrderStatus
    venue_time: AwareDatetime | None = None


class VenueFill(Frozen):
    """One trade of ours as the venue reports it."""

    trade_id: str
    order_id: str
    client_order_id: str | None = None
    symbol: str
    side: Side
    price: PositiveDec
    quantity: PositiveDec
    fee: Dec
    fee_currency: str
    liquidity: Liquidity
    traded_at: AwareDatetime | None = None


@dataclass(frozen=True, slots=True)
class VenueSnapshot:
    """What the venue said for one account. Mappings are keyed by unified symbol (and by
    `query_key` for `queries`, whose value None means "not found")."""

    account: str
    venue: str
    taken_at: datetime
    open_orders: Mapping[str, Fetched[tuple[VenueOrder, ...]]] = field(default_factory=dict)
    fills: Mapping[str, Fetched[tuple[VenueFill, ...]]] = field(default_factory=dict)
    positions: Mapping[str, Fetched[Decimal]] = field(default_factory=dict)
    balances: Mapping[Wallet, Fetched[tuple[AssetBalance, ...]]] = field(default_factory=dict)
    queries: Mapping[str, Fetched[VenueOrder]] = field(default_factory=dict)
    fills_after: Mapping[str, Fetched[tuple[VenueFill, ...]]] = field(default_factory=dict)
    """Per derivative symbol: the trades read again right after its position (from the
    newest trade `fills` shows, or the same start when it shows none). A position is
    settled only when this read shows no trade `fills` lacks."""
    fills_limit: int | None = None
    """For a reader that makes one call per trades read: the most trades one call
    returns, so a read that returns this many may have stopped short of the newest trades
    (a paging reader leaves it None and names such reads in `fills_incomplete`)."""
    fills_incomplete: frozenset[str] = frozenset()
    """Symbols whose `fills` read may have stopped short of the newest trades (a paging
    reader's cap on calls)."""


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    zombie_policy: Literal["cancel", "adopt", "ignore"] = "ignore"
    zombie_scope: Literal["keys", "account"] = "keys"
    in_flight_timeout_s: float = 5  # float-ok
    not_found_retries: int = 3
    not_found_min_age_s: float = 10  # float-ok
    target_symbols: frozenset[str] = frozenset()
    """Symbols that have or had a target (the "keys" zombie scope)."""


@dataclass(frozen=True, slots=True)
class ReconcileOutcome:
    """The report, the facts to append (in order), the venue actions to take per key, and
    the targeted queries to make before reconciling again."""

    report: ReconciliationReport
    events: tuple[Event, ...] = ()
    actions: tuple[tuple[Key, Action], ...] = ()
    queries: tuple[tuple[Key, str], ...] = ()
    inferred_fills: int = 0
    unsettled: tuple[Key, ...] = ()
    """Keys whose venue position differs from the log but was read while trades moved: not
    recorded this time (module docstring, "position")."""

    def count(self, category: Category) -> int:
        return sum(1 for item in self.report.items if item.category == category)

    def completed(self, trigger: ReconcileTrigger) -> ReconciliationCompletedData:
        """The `ReconciliationCompleted` data of this outcome."""
        errors = self.report.errors
        return ReconciliationCompletedData(
            trigger=trigger,
            ok=not errors,
            matched=self.report.matched,
            ghosts=self.count("ghost"),
            zombies=self.count("zombie"),
            in_flight=self.count("in_flight"),
            inferred_fills=self.inferred_fills,
            error="; ".join(errors) or None,
        )


def query_key(order: OrderRecord | VenueOrder) -> str:
    """How a targeted query names an order: its client order id, else `#<venue id>`."""
    return order.client_order_id or f"#{order.order_id}"


# --------------------------------------------------------------------------- working state


@dataclass
class _Work:
    """Mutable accumulator of one reconcile call (never escapes it)."""

    actual: ActualState
    snap: VenueSnapshot
    policy: ReconcilePolicy
    now: datetime
    before: ActualState
    folded: ActualState
    """`actual` with the fills emitted so far folded in (what the log will hold)."""
    matched: int = 0
    items: list[ReconciliationItem] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    actions: list[tuple[Key, Action]] = field(default_factory=list)
    queries: list[tuple[Key, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    inferred: int = 0
    unsettled: list[Key] = field(default_factory=list)

    def item(self, category: Category, order: object, resolution: str, detail: str = "") -> None:
        self.items.append(
            ReconciliationItem(
                category=category,
                client_order_id=getattr(order, "client_order_id", None),
                order_id=getattr(order, "order_id", None),
                resolution=resolution,
                detail=detail,
            )
        )

    def eid(self, *parts: str) -> str:
        return stable_event_id(
            "reconcile", self.snap.account, self.snap.taken_at.isoformat(), *parts
        )

    def fold(self, event: Event) -> None:
        self.folded = apply_actual(self.folded, self.folded.position + 1, event)


@dataclass
class _KeyWork:
    """Per key: the projection of the key (before this call's facts)."""

    key: Key
    ka: KeyActual
    fills_ok: bool
    late_fill: bool = False
    """A fill was inferred from a targeted query, made after the position was read."""


def reconcile(
    actual: ActualState,
    snapshot: VenueSnapshot,
    policy: ReconcilePolicy,
    now: datetime,
    *,
    before: ActualState | None = None,
) -> ReconcileOutcome:
    """Reconcile every symbol of `snapshot` (module docstring). Pure and deterministic.

    `before` is the projection as it was when the venue reads began (default `actual`):
    a fill folded since then that the trades read does not show leaves a position
    unsettled."""
    work = _Work(actual, snapshot, policy, now, actual if before is None else before, actual)
    symbols = sorted(set(snapshot.open_orders) | set(snapshot.fills) | set(snapshot.positions))
    for symbol in symbols:
        _reconcile_key(work, Key(snapshot.account, symbol))
    _balances(work)
    report = ReconciliationReport(
        matched=work.matched, items=tuple(work.items), errors=tuple(work.errors)
    )
    return ReconcileOutcome(
        report, tuple(work.events), tuple(work.actions), tuple(work.queries), work.inferred,
        tuple(work.unsettled),
    )  # fmt: skip


def _reconcile_key(work: _Work, key: Key) -> None:
    symbol = key.symbol or ""
    fetched_fills = work.snap.fills.get(symbol)
    kw = _KeyWork(key, work.actual.key(key), fetched_fills is not None and fetched_fills.ok)
    if fetched_fills is not None:
        _new_fills(work, kw, fetched_fills, symbol)
    fetched_open = work.snap.open_orders.get(symbol)
    if fetched_open is not None:
        if fetched_open.ok:
            _orders(work, kw, fetched_open.value or ())
        else:
            work.errors.append(f"{symbol}: open orders query failed: {fetched_open.error}")
    _position(work, kw, symbol)


# --------------------------------------------------------------------------- fills


def _new_fills(
    work: _Work, kw: _KeyWork, fetched: Fetched[tuple[VenueFill, ...]], symbol: str
) -> None:
    if not fetched.ok:
        work.errors.append(f"{symbol}: trades query failed: {fetched.error}")
        return
    venue = work.snap.venue
    for fill in fetched.value or ():
        if (venue, fill.trade_id) in kw.ka.fills:
            continue
        order = _local(kw.ka, fill.client_order_id, fill.order_id)
        if order is not None and not order.counts:
            continue
        if order is None and not is_ours(work.snap.account, fill.client_order_id):
            continue
        _emit_fill(work, kw, order, fill, FillSource.REST)


def _emit_fill(
    work: _Work, kw: _KeyWork, order: OrderRecord | None, fill: VenueFill, source: FillSource,
    order_filled: Decimal | None = None,
) -> None:  # fmt: skip
    data = FillObservedData(
        venue=work.snap.venue, trade_id=fill.trade_id, order_id=fill.order_id,
        client_order_id=fill.client_order_id, side=fill.side, price=fill.price,
        quantity=fill.quantity, fee=fill.fee, fee_currency=fill.fee_currency,
        liquidity=fill.liquidity, source=source, traded_at=fill.traded_at,
        order_filled=order_filled,
    )  # fmt: skip
    eid = fill_event_id(work.snap.venue, kw.key.symbol or "", fill.trade_id)
    corr = order.correlation_id if order is not None and order.correlation_id else eid
    event = FillObserved.create(
        kw.key, _PRODUCER, data, event_id=eid, correlation_id=corr, occurred_at=work.now
    )
    work.events.append(event)
    work.fold(event)


def _local(ka: KeyActual, coid: str | None, order_id: str | None) -> OrderRecord | None:
    if coid is not None and coid in ka.orders:
        return ka.orders[coid]
    return ka.order_by_venue_id(order_id) if order_id is not None else None


# --------------------------------------------------------------------------- orders


def _orders(work: _Work, kw: _KeyWork, venue_open: tuple[VenueOrder, ...]) -> None:
    by_coid = {v.client_order_id: v for v in venue_open if v.client_order_id}
    by_id = {v.order_id: v for v in venue_open}
    seen: set[str] = set()
    for order in sorted(kw.ka.live_orders(), key=lambda o: o.ref):
        found = by_coid.get(order.client_order_id or "") or by_id.get(order.order_id or "")
        if found is not None and order.status is None:  # in flight, and there it is
            seen.add(found.order_id)
            _sync(work, kw, order, found, ObservationSource.REST, "in_flight")
            work.item("in_flight", order, "found", found.status.value)
        elif found is not None:
            seen.add(found.order_id)
            work.matched += 1
            _sync(work, kw, order, found, ObservationSource.REST, "matched")
        elif order.status is None:
            if _older(order.submitted_at, work.now, work.policy.in_flight_timeout_s):
                _query(work, kw, order, "in_flight")
        else:
            _query(work, kw, order, "ghost")
    for venue_order in venue_open:
        if venue_order.order_id not in seen:
            _zombie(work, kw, venue_order)


def _older(at: datetime | None, now: datetime, seconds: float) -> bool:  # float-ok
    return at is None or now - at >= timedelta(seconds=seconds)


def _sync(
    work: _Work, kw: _KeyWork, order: OrderRecord, venue: VenueOrder,
    source: ObservationSource, category: Category,
) -> None:  # fmt: skip
    """Facts that bring a known order to the venue's state; fills never roll back."""
    current = work.folded.key(kw.key).orders.get(order.ref)  # with this call's fills
    known = order.filled if current is None else current.filled
    if venue.filled < order.filled:
        detail = f"venue reports filled {venue.filled} below the known fills {order.filled}"
        work.item(category, order, "error", detail)
        work.errors.append(f"{query_key(order)}: {detail}; nothing rolled back")
    elif venue.filled > known:
        _infer(work, kw, order, venue, venue.filled - known, category)
    changed = (
        venue.status is not order.status
        or venue.filled > order.done
        or venue.quantity != order.quantity
        or (venue.price is not None and venue.price != order.price)
    )
    stale = venue.status.is_open and _stale_cancel(work, order)
    if changed or stale:
        _observe(work, kw, order, venue, source, adopted=order.adopted)
        if category == "matched" and venue.status is not order.status:
            work.item(category, order, f"venue state {venue.status.value} recorded")
    if stale:
        work.item(category, order, "stale cancel", "still open: the cancel is planned again")


_STALE_PENDING = frozenset({"cancel", "amend"})


def _stale_cancel(work: _Work, order: OrderRecord) -> bool:
    """A cancel, or an in-place amend, sent at least `max(in_flight_timeout_s,
    STALE_CANCEL)` ago with no answer."""
    since = order.pending_since
    if order.pending not in _STALE_PENDING or since is None:
        return False
    wait = max(timedelta(seconds=work.policy.in_flight_timeout_s), STALE_CANCEL)
    return work.now - since >= wait


def _infer(
    work: _Work, kw: _KeyWork, order: OrderRecord, venue: VenueOrder, qty: Decimal,
    category: Category,
) -> None:  # fmt: skip
    """One inferred fill for a filled quantity the venue reports without trades."""
    price = order.price or venue.price
    if not kw.fills_ok or price is None:
        why = "trades were not fetched" if not kw.fills_ok else "no price to infer a fill at"
        work.errors.append(f"{query_key(order)}: venue filled {venue.filled}, {why}")
        return
    fill = VenueFill(
        trade_id=f"inferred-{query_key(order)}-{venue.filled}", order_id=venue.order_id,
        client_order_id=order.client_order_id, symbol=venue.symbol, side=order.side,
        price=price, quantity=qty, fee=ZERO, fee_currency="", liquidity=Liquidity.TAKER,
    )  # fmt: skip
    _emit_fill(work, kw, order, fill, FillSource.INFERRED, venue.filled)
    kw.late_fill = kw.late_fill or category != "matched"
    work.inferred += 1
    work.item(category, order, "inferred fill", f"{qty} filled without trades")


def _observe(
    work: _Work, kw: _KeyWork, order: OrderRecord | None, venue: VenueOrder,
    source: ObservationSource, *, adopted: bool = False, origin: Origin = Origin.OURS,
) -> None:  # fmt: skip
    data = OrderObservedData(
        client_order_id=venue.client_order_id, order_id=venue.order_id, side=venue.side,
        type=venue.type, time_in_force=venue.time_in_force, price=venue.price,
        quantity=venue.quantity, filled=venue.filled, status=venue.status, source=source,
        origin=origin, adopted=adopted, venue_time=venue.venue_time,
    )  # fmt: skip
    eid = work.eid("observed", kw.key.symbol or "", venue.order_id, venue.status.value,
                   str(venue.filled))  # fmt: skip
    corr = order.correlation_id if order is not None and order.correlation_id else eid
    work.events.append(
        OrderObserved.create(kw.key, _PRODUCER, data, event_id=eid, correlation_id=corr,
                             occurred_at=work.now)
    )  # fmt: skip


def _query(work: _Work, kw: _KeyWork, order: OrderRecord, category: Category) -> None:
    """Ghost or in-flight order: decided by the targeted query only."""
    qkey = query_key(order)
    answer = work.snap.queries.get(qkey)
    if answer is None:
        work.queries.append((kw.key, qkey))
        work.item(category, order, "query")
    elif not answer.ok:
        work.errors.append(f"{qkey}: order query failed: {answer.error}")
        work.item(category, order, "query failed", answer.error or "")
    elif answer.value is not None:
        _sync(work, kw, order, answer.value, ObservationSource.QUERY, category)
        work.item(category, order, "found", answer.value.status.value)
    else:
        _not_found(work, kw, order, category)


def _not_found(work: _Work, kw: _KeyWork, order: OrderRecord, category: Category) -> None:
    policy, qkey = work.policy, query_key(order)
    count = order.not_found + 1
    first = order.not_found_since or work.now
    eid = work.eid("not_found", qkey, str(count))
    corr = order.correlation_id or eid
    data = OrderNotFoundData(client_order_id=qkey, consecutive=count)
    work.events.append(
        OrderNotFound.create(kw.key, _PRODUCER, data, event_id=eid, correlation_id=corr,
                             occurred_at=work.now)
    )  # fmt: skip
    aged = work.now - first >= timedelta(seconds=policy.not_found_min_age_s)
    if count < policy.not_found_retries or not aged:
        work.item(category, order, "not found", f"{count}/{policy.not_found_retries}")
        return
    if category == "in_flight":
        work.actions.append((kw.key, _cancel(order.client_order_id or "", order.order_id, "lost")))
        work.item(category, order, "lost: cancel by client order id, then a new attempt")
        return
    close = OrderCancelledData(
        client_order_id=order.client_order_id, order_id=order.order_id, filled=order.done,
        reason="not_found",
    )  # fmt: skip
    ceid = work.eid("closed", qkey)
    work.events.append(
        OrderCancelled.create(kw.key, _PRODUCER, close, event_id=ceid,
                              correlation_id=order.correlation_id or ceid, occurred_at=work.now)
    )  # fmt: skip
    work.item(category, order, "closed", f"not found {count} times; fills kept")


def _cancel(coid: str, order_id: str | None, reason: str) -> Action:
    return Action(kind=ActionKind.CANCEL, client_order_id=coid, order_id=order_id, reason=reason)


def _zombie(work: _Work, kw: _KeyWork, venue: VenueOrder) -> None:
    policy, symbol = work.policy, kw.key.symbol or ""
    if policy.zombie_scope == "keys" and symbol not in policy.target_symbols:
        return
    if not _older(venue.venue_time, work.now, policy.in_flight_timeout_s):
        work.item("zombie", venue, "seen", "young: looked at again next time")
        return
    coid = venue.client_order_id or ""
    if is_ours(work.snap.account, venue.client_order_id):
        work.actions.append((kw.key, _cancel(coid, venue.order_id, "zombie")))
        work.item("zombie", venue, "cancel", "ours, unknown to the log")
    elif policy.zombie_policy == "cancel":
        work.actions.append((kw.key, _cancel(coid, venue.order_id, "foreign zombie")))
        work.item("zombie", venue, "cancel", "foreign")
    elif policy.zombie_policy == "adopt":
        known = _local(kw.ka, venue.client_order_id, venue.order_id)
        if known is None or not known.adopted:
            _observe(work, kw, None, venue, ObservationSource.REST, adopted=True,
                     origin=Origin.FOREIGN)  # fmt: skip
        work.item("zombie", venue, "adopt", "foreign")
    else:
        work.item("zombie", venue, "ignore", "foreign")


# --------------------------------------------------------------------------- position, balances


def _position(work: _Work, kw: _KeyWork, symbol: str) -> None:
    fetched = work.snap.positions.get(symbol)
    if fetched is None:
        return
    if not fetched.ok or fetched.value is None:
        work.errors.append(f"{symbol}: position query failed: {fetched.error}")
        return
    after = work.folded.key(kw.key)  # the key once this call's fills are in the log
    if kw.ka.position_observed and after.position == fetched.value:
        return
    if kw.ka.position_observed and not _settled(work, kw, symbol):
        work.unsettled.append(kw.key)
        return
    data = PositionObservedData(
        quantity=fetched.value, source=ObservationSource.REST, fills_net=after.fill_net
    )
    eid = work.eid("position", symbol, str(fetched.value))
    work.events.append(
        PositionObserved.create(kw.key, _PRODUCER, data, event_id=eid, occurred_at=work.now)
    )


def _settled(work: _Work, kw: _KeyWork, symbol: str) -> bool:
    """The position read is consistent with the fills this call leaves in the log: no
    trade happened while it was read. The trades read before it was complete (fetched,
    below the row limit, not named incomplete), the trades read after it shows nothing
    new, every fill folded since the reads began is one the first read showed, and no fill
    of this call comes from a query made after the position was read."""
    first, second = work.snap.fills.get(symbol), work.snap.fills_after.get(symbol)
    if first is None or not first.ok or second is None or not second.ok or kw.late_fill:
        return False
    trades = first.value or ()
    limit = work.snap.fills_limit
    if (limit is not None and len(trades) >= limit) or symbol in work.snap.fills_incomplete:
        return False
    ids = {t.trade_id for t in trades}
    if any(t.trade_id not in ids for t in second.value or ()):
        return False
    venue, seen_before = work.snap.venue, work.before.key(kw.key).fills
    since = len(kw.ka.fills) - len(seen_before)
    shown = sum(1 for i in ids if (venue, i) in kw.ka.fills and (venue, i) not in seen_before)
    return since == shown


def _balances(work: _Work) -> None:
    account = work.snap.account
    known = work.actual.balances(account)
    for wallet, fetched in sorted(work.snap.balances.items()):
        if not fetched.ok or fetched.value is None:
            work.errors.append(f"{wallet.value} balances query failed: {fetched.error}")
            continue
        if all(known.get((wallet, b.asset)) == b for b in fetched.value):
            continue
        data = BalanceObservedData(wallet=wallet, balances=fetched.value)
        eid = work.eid("balances", wallet.value)
        work.events.append(
            BalanceObserved.create(Key(account, None), _PRODUCER, data, event_id=eid,
                                   occurred_at=work.now)
        )  # fmt: skip
