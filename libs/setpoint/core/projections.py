"""The intent store and the actual store: pure folds of the event log (SEMANTICS.md §5).

Both stores span every key and record the log position they have folded up to
(`state.position`). `apply_intent` / `apply_actual` take `(state, position, event)` and
return the next state; an event at a position at or below `state.position` changes nothing,
so resuming a fold from a checkpoint is idempotent. `rebuild(records)` folds both from
scratch: the same records always give equal states (`==`).

Every value is immutable: records are NamedTuples, collections are `immutables.Map`s (HAMT),
so one event costs O(log n) and an old state stays valid after a newer one is made.

What each event does
====================

=======================  =====  ==============================================================
event                    store  effect
=======================  =====  ==============================================================
TargetPublished          I      becomes the key's accepted target when its generation is above
                                the last accepted one (else ignored); intents = its orders,
                                oco groups indexed, changed intent ids journaled
TargetRejected           -      nothing (the target in force is unchanged)
DiffComputed             I      last plan summary of the key (generation, converged)
MarketsLoaded            A      the account's markets, replaced as a whole
OrderSubmitted           A      new order, in flight (status None, pending "submit"); the
                                intent's attempt = max(attempt, this one); `replaces`: the old
                                order is marked pending "cancel". A duplicate coid: nothing.
OrderPlaced              A      venue acknowledged: order id, status, reported filled; pending
                                "submit" cleared; the intent's retry backoff cleared (open or
                                filled)
OrderRejected            A      closed; terminal → REJECTED (intent consumed), else CANCELED
                                (placed again under the next attempt, after a backoff: the
                                intent's `backoff` entry counts consecutive rejections n and
                                sets retry_after = occurred_at + min(60 s, 1 s * 2**(n-1));
                                position orders share the entry `POSITION_BACKOFF`)
CancelSubmitted          A      order pending "cancel" since occurred_at (no second action
                                until answered)
OrderCancelled           A      closed: CANCELED (EXPIRED for reason "expired"), reported
                                filled kept; pending cleared; fills are never rolled back.
                                Reason "lost" of an order still in flight, without venue id
                                or fill: marked `lost` (does not consume its intent)
OrderObserved            A      venue state of a known order (status, filled, price, qty;
                                not-found count reset; open → pending "submit" cleared; open,
                                source rest/query, occurred_at ≥ cancel sent + STALE_CANCEL →
                                a stale pending "cancel" cleared: its answer was lost, the
                                differ cancels again); open or filled clears the intent's
                                retry backoff; an unknown order is recorded (ours, or foreign
                                adopted/not)
OrderNotFound            A      the order's consecutive not-found count (first time noted);
                                client id "#<venue id>" names an order without a client id
FillObserved             A      once per (venue, trade id) per key: order filled += quantity,
                                capped at the order quantity (inferred fills: see below);
                                position and `fill_net` += signed applied quantity for our and
                                adopted orders (ours by client id when the order is unknown)
PositionObserved         A      position := reported quantity (derivatives) + the fills
                                counted since the read (`fill_net - fills_net`, when the event
                                names `fills_net`); later fills add
BalanceObserved          A      the account wallet's assets, merged by asset
ReconciliationCompleted  A      last reconciliation of the key (or account, symbol None)
AccountModeChanged       A      account mode (normal | liquidate_only)
RiskRejected             -      nothing (a decision, not a change of state)
=======================  =====  ==============================================================

Consumed (SEMANTICS §1): an intent is consumed once one of its orders is completely filled,
an IOC/FOK/market attempt is closed (whatever it filled), or the venue rejected an attempt
as invalid. Cancelled or expired GTC orders do not consume their intent, and neither does a
lost attempt (SEMANTICS §4: closed as `lost` while in flight, never acknowledged, no fill),
whatever its time in force: the differ places the intent again under the next attempt. A
fill that still turns up for a lost attempt counts, and the attempt then consumes as any.

Inferred fills: an order counts `min(quantity, max(sum of its real trades, the venue filled
quantity named by its inferred fills))`, whatever order those facts come in. An inferred
fill tops `filled` up to its `order_filled` (older events without it add their quantity);
`inferred` keeps the part of `filled` no real trade stands for yet, and a real trade first
replaces that part, then adds. So the trade an inference stood for never counts twice.

Retry backoff: a non-terminal rejection (insufficient funds, no gateway answering, bad
credentials) does not consume the intent, but the effective target leaves the intent out
until `retry_after` (`effective.py`, rule ``retry_backoff``), so such an order is tried 1 s,
2 s, 4 s … then every 60 s after its rejections, not in a tight loop. The entry goes when
an attempt is acknowledged (open or filled: OrderPlaced, OrderObserved, a fill that
completes it) or the intent is consumed (not for the position family, whose every IOC
attempt consumes its own intent id: only an acknowledgement clears it). Entries of intents
the target no longer lists stay until then; they exclude nothing.

Position (SEMANTICS §2): the last `PositionObserved` (zero if none) plus the signed fills
folded since; for a spot key that is simply the net of its fills.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, TypeVar

from immutables import Map

from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    AssetBalance,
    BalanceObserved,
    CancelSubmitted,
    DiffComputed,
    Event,
    FillObserved,
    FillSource,
    MarketsLoaded,
    ObservationSource,
    OrderCancelled,
    OrderNotFound,
    OrderObserved,
    OrderPlaced,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    Origin,
    PositionObserved,
    ReconciliationCompleted,
    ReconciliationCompletedData,
    TargetPublished,
    Wallet,
)
from setpoint.core.fillcount import count_fill
from setpoint.core.model import (
    Key,
    MarketInfo,
    OrderType,
    Side,
    TargetOrder,
    TargetState,
    TimeInForce,
)
from setpoint.core.numeric import ZERO

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "EMPTY_KEY",
    "JOURNAL_SIZE",
    "POSITION_BACKOFF",
    "STALE_CANCEL",
    "AcceptedTarget",
    "AccountActual",
    "ActualState",
    "Backoff",
    "DiffSummary",
    "IntentProgress",
    "IntentState",
    "Journal",
    "KeyActual",
    "OrderRecord",
    "ReconcileSummary",
    "Recorded",
    "apply_actual",
    "apply_intent",
    "find_order",
    "gc_paused",
    "orphan_name",
    "rebuild",
    "retry_delay",
]

JOURNAL_SIZE = 4096
"""How many recent intent changes a key's journal remembers (see `Journal.since`)."""
BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_MAX = timedelta(seconds=60)
"""Backoff after non-terminal rejections: `min(BACKOFF_MAX, BACKOFF_BASE * 2**(count-1))`."""
POSITION_BACKOFF = "@pos"
"""Backoff entry shared by every position intent (`@pos-<generation>-<n>`) of a key."""
STALE_CANCEL = timedelta(seconds=5)
"""A pending cancel at least this old (by the observation's time) is cleared by a REST or
query observation that still finds the order open: its answer was lost (module docstring).
Reconciliation waits `max(in_flight_timeout_s, STALE_CANCEL)` before reporting one."""

_EMPTY: Map[Any, Any] = Map()
_new_tuple = tuple.__new__
"""`_new_tuple(Record, values)` builds a NamedTuple without its Python-level `__new__`
(the hot folds make several per event); `values` must have every field, in order."""
_SUBMIT, _CANCEL = "submit", "cancel"
_CONSUMING_TIF = (TimeInForce.IOC, TimeInForce.FOK)
_OPEN = frozenset({None, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
_ACKED = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED})
_OURS = Origin.OURS
_INFERRED = FillSource.INFERRED


# --------------------------------------------------------------------------- journal


_Node = tuple[int, str, Any]
"""(seq, name, previous node of the same segment or None)."""


class Journal(NamedTuple):
    """A bounded, persistent record of which names (intent ids) changed, by sequence number.

    `seq` grows by one per change; `touch` is O(1) and returns a new journal. `since(s)`
    returns the names changed after `s`, or None when the changes after `s` are no longer
    all remembered (at least the last `JOURNAL_SIZE` are): the caller then recomputes
    everything. Two journals are equal when they hold the same sequence of names.
    """

    seq: int = 0
    head: _Node | None = None
    older: _Node | None = None
    """Head of the previous segment (segments of `JOURNAL_SIZE` changes; two are kept)."""

    def touch(self, name: str) -> Journal:
        seq = self[0] + 1
        if seq % JOURNAL_SIZE == 1:
            return _new_tuple(Journal, (seq, (seq, name, None), self[1]))
        return _new_tuple(Journal, (seq, (seq, name, self[1]), self[2]))

    def touch_all(self, names: Iterable[str]) -> Journal:
        journal = self
        for name in names:
            journal = journal.touch(name)
        return journal

    def _walk(self) -> Iterator[_Node]:
        node = self.head
        while node is not None:
            yield node
            node = node[2]
        node = self.older
        while node is not None:
            yield node
            node = node[2]

    def since(self, seq: int) -> frozenset[str] | None:
        if seq > self.seq:
            return None
        names: set[str] = set()
        lowest = self.seq + 1
        for node in self._walk():
            if node[0] <= seq:
                return frozenset(names)
            names.add(node[1])
            lowest = node[0]
        return frozenset(names) if seq >= lowest - 1 else None

    def __eq__(self, other: object) -> bool:  # iterative: the nodes nest thousands deep
        if not isinstance(other, Journal):
            return NotImplemented
        if self.seq != other.seq:
            return False
        return [n[:2] for n in self._walk()] == [n[:2] for n in other._walk()]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.seq)

    def __repr__(self) -> str:
        return f"Journal(seq={self.seq})"


def orphan_name(ref: str) -> str:
    """Journal name of an order that serves no intent (adopted, or ours but unknown)."""
    return "\x00" + ref


# --------------------------------------------------------------------------- intent store


@dataclass(frozen=True, slots=True)
class AcceptedTarget:
    """The target in force for a key, with what the differ needs to act on it."""

    target: TargetState
    event_id: str
    generation: int
    position: int
    """Log position of the TargetPublished."""
    published_at: datetime
    orders: Map[str, TargetOrder]
    """Intent id → target order."""
    oco: Map[str, tuple[str, ...]]
    """OCO group → intent ids of the group, in target order."""
    journal: Journal
    """Intent ids changed, added or removed, across every accepted target of the key."""


class DiffSummary(NamedTuple):
    position: int
    generation: int | None
    converged: bool
    occurred_at: datetime


class IntentState(NamedTuple):
    """What the strategies asked for: the accepted target per key."""

    position: int
    targets: Map[Key, AcceptedTarget]
    diffs: Map[Key, DiffSummary]

    @classmethod
    def empty(cls) -> IntentState:
        return cls(0, _EMPTY, _EMPTY)

    def target(self, key: Key) -> AcceptedTarget | None:
        """The latest accepted target of the key (None before the first)."""
        return self.targets.get(key)

    def generation(self, key: Key) -> int:
        """Generation of the accepted target (0 when none): a new one must be above it."""
        accepted = self.targets.get(key)
        return 0 if accepted is None else accepted.generation

    def intents(self, key: Key) -> Map[str, TargetOrder]:
        accepted = self.targets.get(key)
        return _EMPTY if accepted is None else accepted.orders

    def intent(self, key: Key, intent_id: str) -> TargetOrder | None:
        return self.intents(key).get(intent_id)

    def oco_group(self, key: Key, group: str) -> tuple[TargetOrder, ...]:
        accepted = self.targets.get(key)
        if accepted is None:
            return ()
        return tuple(accepted.orders[i] for i in accepted.oco.get(group, ()))

    def keys(self) -> Iterator[Key]:
        return iter(self.targets.keys())


def _accept(state: IntentState, position: int, event: TargetPublished) -> IntentState:
    target = event.data.target
    key = target.key
    previous = state.targets.get(key)
    if previous is not None and target.generation <= previous.generation:
        return IntentState(position, state.targets, state.diffs)
    orders = Map((o.id, o) for o in target.orders)
    old = _EMPTY if previous is None else previous.orders
    changed = [i for i, o in orders.items() if old.get(i) != o]
    changed += [i for i in old if i not in orders]
    journal = Journal() if previous is None else previous.journal
    groups: dict[str, list[str]] = {}
    for order in target.orders:
        if order.oco_group is not None:
            groups.setdefault(order.oco_group, []).append(order.id)
    accepted = AcceptedTarget(
        target=target,
        event_id=event.event_id,
        generation=target.generation,
        position=position,
        published_at=event.occurred_at,
        orders=orders,
        oco=Map((g, tuple(ids)) for g, ids in groups.items()),
        journal=journal.touch_all(sorted(changed)),
    )
    return IntentState(position, state.targets.set(key, accepted), state.diffs)


def _diff_done(state: IntentState, position: int, event: DiffComputed) -> IntentState:
    summary = DiffSummary(position, event.data.generation, event.data.converged, event.occurred_at)
    return IntentState(position, state.targets, state.diffs.set(event.key, summary))


def apply_intent(state: IntentState, position: int, event: Event) -> IntentState:
    """Fold one event into the intent store (see the module table)."""
    if position <= state.position:
        return state
    fold = _INTENT.get(event.type)
    if fold is not None:
        return fold(state, position, event)
    return _new_tuple(IntentState, (position, state[1], state[2]))


_INTENT: dict[str, Callable[[IntentState, int, Any], IntentState]] = {
    "TargetPublished": _accept,
    "DiffComputed": _diff_done,
}


# --------------------------------------------------------------------------- orders


class OrderRecord(NamedTuple):
    """One order as the actual store knows it. `status` None = in flight (no answer yet).

    `filled` is the sum of fills folded for it (never above `quantity`); `reported` the
    highest filled quantity the venue stated; `done` = the larger of the two.
    """

    ref: str
    """Store key: the client order id for our ids (`sp-…`), else `~account/symbol/order id`."""
    key: Key
    client_order_id: str | None
    order_id: str | None
    intent_id: str | None
    attempt: int
    side: Side
    type: OrderType
    price: Decimal | None
    quantity: Decimal
    time_in_force: TimeInForce | None
    post_only: bool
    reduce_only: bool
    position_order: bool
    status: OrderStatus | None
    filled: Decimal
    reported: Decimal
    pending: str | None
    """"submit" (OrderSubmitted, no answer) or "cancel" (CancelSubmitted, no answer)."""
    submitted_at: datetime | None
    origin: Origin
    adopted: bool
    not_found: int
    not_found_since: datetime | None
    correlation_id: str | None
    pending_since: datetime | None = None
    """When the pending cancel was sent (CancelSubmitted, or the amend that replaces it)."""
    inferred: Decimal = ZERO
    """The part of `filled` that inferred fills stand for and no real trade has replaced
    yet (module docstring, "Inferred fills")."""
    lost: bool = False
    """Closed as a lost attempt: never acknowledged by the venue, no fill (it does not
    consume its intent while it has none)."""

    @property
    def done(self) -> Decimal:
        return self.filled if self.filled >= self.reported else self.reported

    @property
    def remaining(self) -> Decimal:
        rest = self.quantity - self.done
        return rest if rest > 0 else ZERO

    @property
    def is_open(self) -> bool:
        """Working at the venue or in flight."""
        return self.status in _OPEN

    @property
    def counts(self) -> bool:
        """Ours or adopted: part of the actual state and of exposure."""
        return self.origin is _OURS or self.adopted

    @property
    def is_live(self) -> bool:
        return self.status in _OPEN and (self.origin is _OURS or self.adopted)

    @property
    def consumes_intent(self) -> bool:
        """True when this attempt consumes its intent (module docstring)."""
        status = self.status
        if status in _OPEN:
            return self.filled >= self.quantity or self.reported >= self.quantity
        if status is OrderStatus.FILLED or self.done >= self.quantity:
            return True
        if status is OrderStatus.REJECTED:
            return True
        if self.lost and not self.done:
            return False  # never reached the venue: the intent is placed again
        return self.type is OrderType.MARKET or self.time_in_force in _CONSUMING_TIF


# The hot folds (`_evolve`, `_with_pending`, `_is_live`, `_observed`) build and read
# OrderRecord by position to skip NamedTuple overhead. They rely on this layout: a field
# added or moved without updating them must fail at import, never fold wrongly.
_ORDER_LAYOUT = {
    3: "order_id", 8: "price", 9: "quantity", 14: "status", 15: "filled", 16: "reported",
    17: "pending", 19: "origin", 20: "adopted", 21: "not_found", 22: "not_found_since",
    23: "correlation_id", 24: "pending_since", 25: "inferred", 26: "lost",
}  # fmt: skip
if len(OrderRecord._fields) != 27 or any(
    OrderRecord._fields[i] != name for i, name in _ORDER_LAYOUT.items()
):
    raise RuntimeError("OrderRecord's field layout changed: update the positional folds")


class IntentProgress(NamedTuple):
    """What the actual store knows of one intent across all its attempts."""

    attempt: int = 0
    """Highest attempt submitted (the next placement uses attempt + 1)."""
    filled: Decimal = ZERO
    """Filled over every attempt (sum of each order's `done`)."""
    consumed: bool = False
    live: tuple[str, ...] = ()
    """Refs of its live orders (oldest first)."""
    position_order: bool = False
    last_client_order_id: str | None = None


_NO_PROGRESS = IntentProgress()


class Backoff(NamedTuple):
    """Consecutive non-terminal rejections of an intent and when it may be placed again."""

    rejections: int
    retry_after: datetime


def retry_delay(count: int) -> timedelta:
    """Wait after the `count`-th consecutive non-terminal rejection: 1 s, 2 s, 4 s, … 60 s."""
    if count > 7:  # 2**6 = 64 s is already above the cap
        return BACKOFF_MAX
    return min(BACKOFF_MAX, BACKOFF_BASE * (1 << (count - 1)))


class KeyActual(NamedTuple):
    """The actual state of one key."""

    position: Decimal = ZERO
    position_observed: bool = False
    orders: Map[str, OrderRecord] = _EMPTY
    """Every order of the key (open and closed), by ref."""
    live: Map[str, None] = _EMPTY
    """Refs of open or in-flight orders, ours or adopted."""
    venue_ids: Map[str, str] = _EMPTY
    """Venue order id → ref."""
    intents: Map[str, IntentProgress] = _EMPTY
    pending: Map[str, str] = _EMPTY
    """Orders with an action in flight, by ref: "submit" or "cancel"."""
    position_open: Decimal = ZERO
    """Signed quantity position orders will still add: the remaining quantity of live ones
    (in flight included) plus fills the venue reported that are not folded yet."""
    fills: Map[tuple[str, str], None] = _EMPTY
    """(venue, trade id) of every fill folded for the key."""
    journal: Journal = Journal()
    """Names (intent ids, `orphan_name(ref)`) whose actual state changed."""
    backoff: Map[str, Backoff] = _EMPTY
    """Intents (and `POSITION_BACKOFF` for position orders) whose last attempts were
    rejected non-terminally: not placed again before `retry_after` (module docstring)."""
    fill_net: Decimal = ZERO
    """Running signed sum of every quantity fills added to `position`, never reset (a
    `PositionObserved` names the value it includes: later fills go on top of it)."""

    def progress(self, intent_id: str) -> IntentProgress:
        return self.intents.get(intent_id, _NO_PROGRESS)

    def order(self, client_order_id: str) -> OrderRecord | None:
        """Our order by client order id."""
        return self.orders.get(client_order_id)

    def order_by_venue_id(self, order_id: str) -> OrderRecord | None:
        ref = self.venue_ids.get(order_id)
        return None if ref is None else self.orders.get(ref)

    def live_orders(self) -> Iterator[OrderRecord]:
        orders = self.orders
        return (orders[r] for r in self.live)

    def intent_orders(self, intent_id: str) -> tuple[OrderRecord, ...]:
        """Live orders of the intent, oldest attempt first."""
        orders = self.orders
        return tuple(orders[r] for r in self.intents.get(intent_id, _NO_PROGRESS).live)

    def has_fill(self, venue: str, trade_id: str) -> bool:
        return (venue, trade_id) in self.fills


EMPTY_KEY = KeyActual()


class AccountActual(NamedTuple):
    mode: AccountMode = AccountMode.NORMAL
    balances: Map[tuple[Wallet, str], AssetBalance] = _EMPTY
    markets: Map[str, MarketInfo] = _EMPTY
    exchange: str | None = None


_NO_ACCOUNT = AccountActual()


class ReconcileSummary(NamedTuple):
    position: int
    occurred_at: datetime
    data: ReconciliationCompletedData


class ActualState(NamedTuple):
    """What is at the venue, as far as the log knows, for every key and account."""

    position: int
    keys: Map[Key, KeyActual]
    accounts: Map[str, AccountActual]
    reconciliations: Map[Key, ReconcileSummary]

    @classmethod
    def empty(cls) -> ActualState:
        return cls(0, _EMPTY, _EMPTY, _EMPTY)

    def key(self, key: Key) -> KeyActual:
        return self.keys.get(key, EMPTY_KEY)

    def order(self, key: Key, client_order_id: str) -> OrderRecord | None:
        """Our order by client order id (foreign orders: `order_by_venue_id`)."""
        return self.key(key).orders.get(client_order_id)

    def order_by_venue_id(self, key: Key, order_id: str) -> OrderRecord | None:
        return self.key(key).order_by_venue_id(order_id)

    def live_orders(self, key: Key) -> list[OrderRecord]:
        return list(self.key(key).live_orders())

    def progress(self, key: Key, intent_id: str) -> IntentProgress:
        return self.key(key).progress(intent_id)

    def consumed(self, key: Key, intent_id: str) -> bool:
        return self.key(key).progress(intent_id).consumed

    def last_attempt(self, key: Key, intent_id: str) -> int:
        return self.key(key).progress(intent_id).attempt

    def position_of(self, key: Key) -> Decimal:
        return self.key(key).position

    def in_flight(self, now: datetime, older_than_s: float) -> list[OrderRecord]:  # float-ok
        """Orders submitted with no venue answer, at or before `now - older_than_s`."""
        cutoff = now - timedelta(seconds=older_than_s)
        out = []
        for ka in self.keys.values():
            for ref, what in ka.pending.items():
                order = ka.orders[ref]
                at = order.submitted_at
                if what == _SUBMIT and order.status is None and at is not None and at <= cutoff:
                    out.append(order)
        return out

    def account(self, account: str) -> AccountActual:
        return self.accounts.get(account, _NO_ACCOUNT)

    def mode(self, account: str) -> AccountMode:
        return self.account(account).mode

    def balances(self, account: str) -> Map[tuple[Wallet, str], AssetBalance]:
        return self.account(account).balances

    def markets(self, account: str) -> Map[str, MarketInfo]:
        return self.account(account).markets

    def market(self, key: Key) -> MarketInfo | None:
        return None if key.symbol is None else self.markets(key.account).get(key.symbol)

    def fills_seen(self, key: Key) -> Map[tuple[str, str], None]:
        return self.key(key).fills

    def last_reconciliation(self, key: Key) -> ReconcileSummary | None:
        return self.reconciliations.get(key)


# --------------------------------------------------------------------------- actual folds


def _signed_open(order: OrderRecord | None) -> Decimal:
    """What a position order will still add to the position: its remaining quantity while it
    works (in flight included), plus what the venue reported filled beyond the fills folded
    so far (fills on their way). Without the second part a finished IOC whose fills have not
    arrived yet would look as if it never traded, and the differ would trade the delta again.
    """
    if order is None:
        return ZERO
    rest = order.remaining if order.is_live else ZERO
    if order.reported > order.filled:
        rest += order.reported - order.filled
    return rest if order.side is Side.BUY else -rest


def _progress(
    intents: Map[str, IntentProgress],
    iid: str,
    old: OrderRecord | None,
    new: OrderRecord,
    was_live: bool,
    now_live: bool,
) -> Map[str, IntentProgress]:
    """The intent's progress after its order `old` became `new` (same map if unchanged)."""
    p = intents.get(iid, _NO_PROGRESS)
    attempt, filled, consumed, live, position_order, last = p
    if now_live and not was_live:
        live = (*live, new.ref)
    elif was_live and not now_live:
        ref = new.ref
        live = () if live == (ref,) else tuple(r for r in live if r != ref)
    if old is None:
        filled += new.done
    elif new.filled != old.filled or new.reported != old.reported:
        filled += new.done - old.done
    if not consumed and (old is None or new.status is not old.status or filled != p.filled):
        consumed = new.consumes_intent
    if new.attempt > attempt or (new.attempt == attempt and old is None):
        attempt, last = new.attempt, new.client_order_id
    elif live is p.live and consumed is p.consumed and filled == p.filled:
        return intents  # nothing the intent cares about changed
    position_order = position_order or new.position_order
    progress = (attempt, filled, consumed, live, position_order, last)
    return intents.set(iid, _new_tuple(IntentProgress, progress))


def _evolve(
    o: OrderRecord,
    order_id: str | None,
    status: OrderStatus | None,
    filled: Decimal,
    reported: Decimal,
    pending: str | None,
) -> OrderRecord:
    """`o` with its venue-state fields replaced: a fast `_replace` for the hot folds."""
    return _new_tuple(
        OrderRecord, (*o[:3], order_id, *o[4:14], status, filled, reported, pending, *o[18:])
    )


def _with_pending(o: OrderRecord, pending: str | None) -> OrderRecord:
    """`o` with `pending` replaced (a fast `_replace`)."""
    return _new_tuple(OrderRecord, (*o[:17], pending, *o[18:]))


def _cancel_pending(o: OrderRecord, at: datetime) -> OrderRecord:
    """`o` with a cancel pending since `at`."""
    return _new_tuple(OrderRecord, (*o[:17], _CANCEL, *o[18:24], at, *o[25:]))


def _is_live(o: OrderRecord) -> bool:
    """`o.is_live` without the property call (the hot folds ask twice per event)."""
    return o[14] in _OPEN and (o[19] is _OURS or o[20])


def _commit(
    state: ActualState,
    position: int,
    old: OrderRecord | None,
    new: OrderRecord,
    applied: Decimal = ZERO,
    fill_id: tuple[str, str] | None = None,
) -> ActualState:
    """Store `new` (replacing `old`) and update every index of its key."""
    _, keys, accounts, reconciliations = state
    key = new.key
    (pos, observed, orders, live, venue_ids, intents, pending, pos_open, fills, journal,
     backoff, net) = keys.get(key, EMPTY_KEY)  # fmt: skip
    ref, iid, order_id = new.ref, new.intent_id, new.order_id
    was_live, now_live = old is not None and _is_live(old), _is_live(new)
    if now_live is not was_live:
        live = live.set(ref, None) if now_live else live.delete(ref)
    want = new.pending if now_live else None
    if (old.pending if was_live and old is not None else None) != want:
        pending = pending.delete(ref) if want is None else pending.set(ref, want)
    if applied and new.counts:
        if new.side is Side.BUY:
            pos, net = pos + applied, net + applied
        else:
            pos, net = pos - applied, net - applied
    if new.position_order:
        pos_open = pos_open + _signed_open(new) - _signed_open(old)
    if order_id is not None and (old is None or old.order_id != order_id):
        venue_ids = venue_ids.set(order_id, ref)
    if iid is not None:
        intents = _progress(intents, iid, old, new, was_live, now_live)
        if backoff:
            backoff = _backoff_cleared(backoff, iid, new, intents)
    if fill_id is not None:
        fills = fills.set(fill_id, None)
    journal = journal.touch(iid if iid is not None else orphan_name(ref))
    orders = orders.set(ref, new)
    new_ka = _new_tuple(
        KeyActual,
        (pos, observed, orders, live, venue_ids, intents, pending, pos_open, fills, journal,
         backoff, net),
    )  # fmt: skip
    return _new_tuple(ActualState, (position, keys.set(key, new_ka), accounts, reconciliations))


def _backoff_name(order: OrderRecord) -> str | None:
    return POSITION_BACKOFF if order.position_order else order.intent_id


def _backoff_cleared(
    backoff: Map[str, Backoff], iid: str, new: OrderRecord, intents: Map[str, IntentProgress]
) -> Map[str, Backoff]:
    """Without the entry of `new`'s intent once the venue acknowledged it (open or filled)
    or the intent is consumed (a position order's family: on acknowledgement only)."""
    if new.position_order:
        if new.status in _ACKED and POSITION_BACKOFF in backoff:
            return backoff.delete(POSITION_BACKOFF)
        return backoff
    if iid in backoff and (new.status in _ACKED or intents.get(iid, _NO_PROGRESS).consumed):
        return backoff.delete(iid)
    return backoff


T = TypeVar("T")


def find_order(
    orders: Mapping[str, T], venue_ids: Mapping[str, str], coid: str | None, order_id: str | None
) -> T | None:
    """An order of a key as the folds find it: by client order id (its ref), then by the
    venue's order id (`venue_ids`: order id -> ref). Shared with the strategies' view."""
    if coid is not None:
        found = orders.get(coid)
        if found is not None:
            return found
    if order_id is not None:
        ref = venue_ids.get(order_id)
        if ref is not None:
            return orders.get(ref)
    return None


def _find(ka: KeyActual, coid: str | None, order_id: str | None) -> OrderRecord | None:
    return find_order(ka.orders, ka.venue_ids, coid, order_id)


def _lookup(
    state: ActualState, key: Key, coid: str | None, order_id: str | None
) -> OrderRecord | None:
    return _find(state.keys.get(key, EMPTY_KEY), coid, order_id)


def _skip(state: ActualState, position: int, event: Any) -> ActualState:
    return _new_tuple(ActualState, (position, *state[1:]))


def _submitted(state: ActualState, position: int, event: OrderSubmitted) -> ActualState:
    d = event.data
    key = event.key
    orders = state.keys.get(key, EMPTY_KEY).orders
    if d.client_order_id in orders:
        return _skip(state, position, None)
    order = _new_tuple(OrderRecord, (
        d.client_order_id, key, d.client_order_id, None, d.intent_id, d.attempt,
        d.side, d.type, d.price, d.quantity, d.time_in_force, d.post_only, d.reduce_only,
        d.position_order, None, ZERO, ZERO, _SUBMIT, event.occurred_at, Origin.OURS,
        False, 0, None, event.correlation_id, None, ZERO, False,
    ))  # fmt: skip
    if d.replaces is not None:
        old = orders.get(d.replaces)
        if old is not None and old.is_live:
            state = _commit(state, position, old, _cancel_pending(old, event.occurred_at))
    return _commit(state, position, None, order)


def _clear_submit(order: OrderRecord) -> str | None:
    return None if order.pending == _SUBMIT else order.pending


def _placed(state: ActualState, position: int, event: OrderPlaced) -> ActualState:
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, d.order_id)
    if old is None or (old.status is not None and not old.status.is_open):
        return _skip(state, position, None)
    status = d.status
    reported = min(max(old.reported, d.filled), old.quantity)
    pending = _clear_submit(old) if status.is_open else None
    new = _evolve(old, d.order_id, status, old.filled, reported, pending)
    return _commit(state, position, old, new)


def _rejected(state: ActualState, position: int, event: OrderRejected) -> ActualState:
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, None)
    if old is None or (old.status is not None and not old.status.is_open):
        return _skip(state, position, None)
    status = OrderStatus.REJECTED if d.terminal else OrderStatus.CANCELED
    new = _evolve(old, old.order_id, status, old.filled, old.reported, None)
    state = _commit(state, position, old, new)
    name = _backoff_name(new)
    if d.terminal or name is None:
        return state
    ka = state.keys[event.key]
    if not new.position_order and ka.intents[name].consumed:
        return state  # an IOC/FOK/market intent: finished, never placed again
    previous = ka.backoff.get(name)
    count = 1 if previous is None else previous.rejections + 1
    entry = Backoff(count, event.occurred_at + retry_delay(count))
    new_ka = ka._replace(backoff=ka.backoff.set(name, entry))
    return _new_tuple(ActualState, (position, state.keys.set(event.key, new_ka), *state[2:]))


def _cancel_submitted(state: ActualState, position: int, event: CancelSubmitted) -> ActualState:
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, d.order_id)
    if old is None or not old.is_open or old.pending == _CANCEL:
        return _skip(state, position, None)
    return _commit(state, position, old, _cancel_pending(old, event.occurred_at))


def _cancelled(state: ActualState, position: int, event: OrderCancelled) -> ActualState:
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, d.order_id)
    if old is None or not old.is_open:
        return _skip(state, position, None)
    status = OrderStatus.EXPIRED if d.reason == "expired" else OrderStatus.CANCELED
    reported = min(max(old.reported, d.filled), old.quantity)
    new = _evolve(old, old.order_id or d.order_id, status, old.filled, reported, None)
    if d.reason == "lost" and _never_acknowledged(old) and d.order_id is None and not reported:
        new = new._replace(lost=True)
    return _commit(state, position, old, new)


def _never_acknowledged(order: OrderRecord) -> bool:
    """Still in flight (no venue answer), with no fill and no venue id."""
    return order.status is None and order.order_id is None and not order.done


def _observed_new(event: OrderObserved) -> OrderRecord:
    d = event.data
    coid = d.client_order_id
    ours = d.origin is Origin.OURS and coid is not None and coid.startswith("sp-")
    ref = coid if ours and coid is not None else f"~{event.account}/{event.symbol}/{d.order_id}"
    return _new_tuple(OrderRecord, (
        ref, event.key, coid, d.order_id, None, 0, d.side, d.type, d.price, d.quantity,
        d.time_in_force, False, False, False, d.status, ZERO, min(d.filled, d.quantity),
        None, None, d.origin, d.adopted, 0, None, event.correlation_id, None, ZERO, False,
    ))  # fmt: skip


def _observed(state: ActualState, position: int, event: OrderObserved) -> ActualState:
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, d.order_id)
    if old is None:
        return _commit(state, position, None, _observed_new(event))
    if old.status is not None and not old.status.is_open:
        return _skip(state, position, None)
    price = d.price if d.price is not None else old.price
    reported = min(max(old.reported, d.filled), d.quantity)
    pending = _clear_submit(old) if d.status.is_open else None
    if pending == _CANCEL and _stale_cancel(old, event):
        pending = None
    # old._replace(order_id, status, price, quantity, reported, pending, adopted,
    # not_found=0, not_found_since=None), without the cost of `_replace`
    new = _new_tuple(OrderRecord, (
        *old[:3], d.order_id, *old[4:8], price, d.quantity, *old[10:14], d.status,
        old.filled, reported, pending, *old[18:20], old.adopted or d.adopted, 0, None,
        *old[23:],
    ))  # fmt: skip
    return _commit(state, position, old, new)


def _stale_cancel(old: OrderRecord, event: OrderObserved) -> bool:
    """A REST/query observation of the order still open, `STALE_CANCEL` or more after its
    cancel was sent: the cancel's answer was lost (a websocket hint never decides it)."""
    since = old.pending_since
    return (
        event.data.source is not ObservationSource.WS
        and since is not None
        and event.occurred_at - since >= STALE_CANCEL
    )


def _not_found(state: ActualState, position: int, event: OrderNotFound) -> ActualState:
    d = event.data
    coid = d.client_order_id  # "#<venue id>" names an order without a client id
    venue_id = coid[1:] if coid.startswith("#") else None
    old = _lookup(state, event.key, None if venue_id else coid, venue_id)
    if old is None or not old.is_open:
        return _skip(state, position, None)
    since = old.not_found_since if d.consecutive > 1 and old.not_found_since else None
    new = old._replace(not_found=d.consecutive, not_found_since=since or event.occurred_at)
    return _commit(state, position, old, new)


def _fill(state: ActualState, position: int, event: FillObserved) -> ActualState:
    d = event.data
    key = event.key
    ka = state.keys.get(key, EMPTY_KEY)
    fid = (d.venue, d.trade_id)
    if fid in ka.fills:
        return _skip(state, position, None)
    old = _find(ka, d.client_order_id, d.order_id)
    if old is None:
        return _orphan_fill(state, position, event, ka, fid)
    if d.source is _INFERRED or old[25]:  # an inferred fill, or one to net against
        return _netted_fill(state, position, event, old, fid)
    room = old.quantity - old.filled
    applied = d.quantity if d.quantity <= room else (room if room > 0 else ZERO)
    filled = old.filled + applied
    status = old.status
    if filled >= old.quantity:
        status = OrderStatus.FILLED
    pending = old.pending if status is None or status.is_open else None
    new = _evolve(old, old.order_id, status, filled, old.reported, pending)
    return _commit(state, position, old, new, applied, fid)


def _netted_fill(
    state: ActualState, position: int, event: FillObserved, old: OrderRecord,
    fid: tuple[str, str],
) -> ActualState:  # fmt: skip
    """A fill of an order that has (or gets) inferred quantity. The order then counts
    `min(quantity, max(sum of its real trades, venue filled of its inferred fills))`, in
    whatever order they come: an inferred fill tops the count up to the venue's filled
    quantity; a real trade first replaces inferred quantity, then adds (`core.fillcount`,
    the rule the audit counts with too)."""
    d = event.data
    qty = old.quantity
    filled, inferred, _ = count_fill(
        qty, old.filled, old.inferred, d.quantity, d.source is _INFERRED, d.order_filled
    )
    status = OrderStatus.FILLED if filled >= qty else old.status
    pending = old.pending if status is None or status.is_open else None
    new = _evolve(old, old.order_id, status, filled, old.reported, pending)
    new = new._replace(inferred=inferred)
    return _commit(state, position, old, new, filled - old.filled, fid)


def _orphan_fill(
    state: ActualState, position: int, event: FillObserved, ka: KeyActual, fid: tuple[str, str]
) -> ActualState:
    """A fill of an order the store does not know: counted when the client id is ours."""
    d = event.data
    pos, net = ka.position, ka.fill_net
    if d.client_order_id is not None and d.client_order_id.startswith("sp-"):
        signed = d.quantity if d.side is Side.BUY else -d.quantity
        pos, net = pos + signed, net + signed
    new_ka = ka._replace(position=pos, fills=ka.fills.set(fid, None), fill_net=net)
    return state._replace(position=position, keys=state.keys.set(event.key, new_ka))


def _position(state: ActualState, position: int, event: PositionObserved) -> ActualState:
    ka = state.keys.get(event.key, EMPTY_KEY)
    quantity, covered = event.data.quantity, event.data.fills_net
    if covered is not None:
        quantity += ka.fill_net - covered  # fills counted since the venue's read: on top
    new_ka = ka._replace(position=quantity, position_observed=True)
    return state._replace(position=position, keys=state.keys.set(event.key, new_ka))


def _with_account(state: ActualState, position: int, account: str, **changes: Any) -> ActualState:
    acc = state.accounts.get(account, _NO_ACCOUNT)._replace(**changes)
    return state._replace(position=position, accounts=state.accounts.set(account, acc))


def _balances(state: ActualState, position: int, event: BalanceObserved) -> ActualState:
    wallet = event.data.wallet
    with state.balances(event.account).mutate() as balances:
        for b in event.data.balances:
            balances[(wallet, b.asset)] = b
        merged = balances.finish()
    return _with_account(state, position, event.account, balances=merged)


def _markets(state: ActualState, position: int, event: MarketsLoaded) -> ActualState:
    markets = Map((m.symbol, m) for m in event.data.markets)
    return _with_account(
        state, position, event.account, markets=markets, exchange=event.data.exchange
    )


def _mode(state: ActualState, position: int, event: AccountModeChanged) -> ActualState:
    return _with_account(state, position, event.account, mode=event.data.mode)


def _reconciled(state: ActualState, position: int, event: ReconciliationCompleted) -> ActualState:
    summary = ReconcileSummary(position, event.occurred_at, event.data)
    recs = state.reconciliations.set(event.key, summary)
    return state._replace(position=position, reconciliations=recs)


_ACTUAL: dict[str, Callable[[ActualState, int, Any], ActualState]] = {
    "OrderSubmitted": _submitted,
    "OrderPlaced": _placed,
    "OrderRejected": _rejected,
    "CancelSubmitted": _cancel_submitted,
    "OrderCancelled": _cancelled,
    "OrderObserved": _observed,
    "OrderNotFound": _not_found,
    "FillObserved": _fill,
    "PositionObserved": _position,
    "BalanceObserved": _balances,
    "MarketsLoaded": _markets,
    "AccountModeChanged": _mode,
    "ReconciliationCompleted": _reconciled,
}


def apply_actual(state: ActualState, position: int, event: Event) -> ActualState:
    """Fold one event into the actual store (see the module table)."""
    if position <= state.position:
        return state
    return _ACTUAL.get(event.type, _skip)(state, position, event)


# --------------------------------------------------------------------------- rebuild


class Recorded(Protocol):
    """What `rebuild` needs of a log record (`eventlog.port.Recorded` is one)."""

    @property
    def position(self) -> int: ...

    @property
    def event(self) -> Event: ...


_INTENT_TYPES = frozenset({"TargetPublished", "DiffComputed"})


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a long fold (a replay or a catch-up), and
    restore it after (a nested use leaves it to the outermost).

    The folds make only acyclic immutable values, which reference counting frees; but the
    state they build is large and long-lived, so with the collector on every full
    collection walks all of it again (about a third of a replay's time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def rebuild(
    records: Iterable[Recorded],
    intent: IntentState | None = None,
    actual: ActualState | None = None,
) -> tuple[IntentState, ActualState]:
    """Fold `records` (in log order) into both stores, from empty or from the given
    checkpoint states; records at or below a state's position are skipped for it.

    The cyclic garbage collector is paused while folding (and while `records` yields): the
    fold allocates only acyclic immutable values, and a collection pass over a large state
    would cost more than the fold itself."""
    i = IntentState.empty() if intent is None else intent
    a = ActualState.empty() if actual is None else actual
    handlers, intent_types = _ACTUAL, _INTENT_TYPES
    ipos, apos = i.position, a.position
    last = max(ipos, apos)
    with gc_paused():
        for rec in records:
            position, event = rec.position, rec.event
            kind = event.type
            if position > apos:
                a = handlers.get(kind, _skip)(a, position, event)
                apos = position
            if kind in intent_types and position > ipos:
                i = apply_intent(i, position, event)
                ipos = position
            if position > last:
                last = position
    if last > i.position:
        i = i._replace(position=last)
    if last > a.position:
        a = a._replace(position=last)
    return i, a
