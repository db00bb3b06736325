"""The audit: one streaming pass over the log that checks its invariants (pure, no I/O).

`AuditChecker.feed(position, event)` is called for every event in log order, then
`finish()` returns an `AuditReport`. The checker is a fold with bounded memory: what it
keeps per order lives only while the order is open (plus a fixed-size window of recently
closed orders, for late facts); what stays proportional to the log is a set of 64-bit
hashes of fill ids (8 bytes per fill) and one running sum per key. docs/operations.md lists
every invariant, what is checkable and what is not.

Invariants (the `invariant` field of a `Violation`):

* `order_traced` - an `OrderSubmitted` is caused by a `DiffComputed` of its key that plans
  it (a place or amend action with that client order id), that diff names a
  `TargetPublished` of the key, and all three share one correlation id; an `OrderPlaced`
  answers an `OrderSubmitted` of the same client order id and correlation.
  An `AmendSubmitted` (a native in-place amend) is traced the same way; the amended
  order keeps its client order id, and its new total size comes with the venue's answer
  (`OrderObserved`), against which its fills (before and after the amend) are counted.
* `fill_unique` - no fill recorded twice: (account, symbol, venue, trade id) is unique.
* `one_live_order_per_intent` - an intent never has two live orders at once (an amend
  that names the order it replaces is not a second one), and a live order's client order
  id is never submitted again.
* `fill_within_quantity` - the fills of an order never add up to more than its quantity.
  Fills count by the projection's rule (`core.fillcount`): an inferred fill and the real
  trades it stood for count once, `max(real trades, the venue's order_filled)`.
* `position_matches_fills` - where the venue reports positions (`PositionObserved`, i.e.
  derivatives), the reported position moves by exactly the net of the recorded fills, as
  the projection counts them (plus fills of foreign orders, which it does not count); a
  report that names `fills_net` includes the counted fills up to that running net, and
  those recorded after it are on top. A difference that is still there at a report
  `position_settle` (log time) after it first appeared is a violation (a shorter one is a
  fill recorded late).
* `order_resolved` - an `OrderSubmitted` with no venue answer is reported as in flight;
  it is a violation only when the log goes on for `stale_after` (log time) past it.
* `fill_correlated` - a fill of one of our orders carries that order's correlation id
  (venue facts inherit it: docs/events.md), so the fill traces back to its target; reported
  once per order.
* `liquidate_only_reduces` - while the account is liquidate-only or flattening
  (`AccountModeChanged`), no
  counted fill takes a key's position through zero, away from zero, or off zero (the
  position as this checker tracks it: the last venue report plus the fills since where
  the venue reports positions, else the net of the counted fills).
* `no_quarantine` - no log entry was unreadable (`quarantined()`).
* `decisions_not_interleaved` - no key is worked by two instances at once: the decisions
  of one key and producer that name their `worker` (a partitioned differ's
  `DiffComputed`, a partitioned executor's `OrderSubmitted` / `CancelSubmitted`: the
  instance and lease tenure) come in runs, one tenure after another; a tenure that decides
  again after another one has decided for the key is a violation. Decisions without a
  worker (one instance, or logs written before partitions) are not checked.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from setpoint.core.events import (
    AccountModeChanged,
    ActionKind,
    AmendSubmitted,
    DiffComputed,
    FillObserved,
    FillObservedData,
    FillSource,
    OrderCancelled,
    OrderObserved,
    OrderPlaced,
    OrderRejected,
    OrderSubmitted,
    Origin,
    PositionObserved,
    TargetPublished,
)
from setpoint.core.fillcount import count_fill
from setpoint.core.ids import written_by_us
from setpoint.core.model import Key, Side
from setpoint.core.numeric import ZERO

ORDER_TRACED = "order_traced"
FILL_UNIQUE = "fill_unique"
ONE_LIVE_ORDER = "one_live_order_per_intent"
FILL_WITHIN_QUANTITY = "fill_within_quantity"
POSITION_MATCHES_FILLS = "position_matches_fills"
ORDER_RESOLVED = "order_resolved"
FILL_CORRELATED = "fill_correlated"
NO_QUARANTINE = "no_quarantine"
LIQUIDATE_ONLY_REDUCES = "liquidate_only_reduces"
DECISIONS_NOT_INTERLEAVED = "decisions_not_interleaved"

INVARIANTS = (
    ORDER_TRACED,
    FILL_UNIQUE,
    ONE_LIVE_ORDER,
    FILL_WITHIN_QUANTITY,
    POSITION_MATCHES_FILLS,
    ORDER_RESOLVED,
    FILL_CORRELATED,
    NO_QUARANTINE,
    LIQUIDATE_ONLY_REDUCES,
    DECISIONS_NOT_INTERLEAVED,
)


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant, at the log position of the event that revealed it."""

    invariant: str
    position: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"invariant": self.invariant, "position": self.position, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class InFlight:
    """An `OrderSubmitted` that the venue had not answered by the end of the log."""

    client_order_id: str
    account: str
    symbol: str | None
    position: int
    submitted_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "client_order_id": self.client_order_id,
            "account": self.account,
            "symbol": self.symbol,
            "position": self.position,
            "submitted_at": self.submitted_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Counts:
    """`targets` accepted; `intents` that reached the venue (first attempts); `orders`
    placement attempts (`OrderSubmitted`); `fills` recorded (duplicates included)."""

    targets: int = 0
    intents: int = 0
    orders: int = 0
    fills: int = 0


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The outcome of an audit. `clean` when no invariant is broken; orders in flight at
    the end of the log are listed but do not make the log unclean."""

    events: int
    counts: Counts
    violations: tuple[Violation, ...]
    in_flight: tuple[InFlight, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        """The JSON of `setpoint audit --json` (docs/operations.md), `in_flight` included."""
        return {
            "clean": self.clean,
            "events": self.events,
            "counts": asdict(self.counts),
            "violations": [v.to_json() for v in self.violations],
            "in_flight": [o.to_json() for o in self.in_flight],
        }


# --------------------------------------------------------------------------- compact set


class HashSet64:
    """A set of 64-bit hashes at about 8 bytes each: a small set of recent entries and
    sorted `array('q')` runs, merged like an LSM tree (each run at least twice the next)."""

    def __init__(self, recent_limit: int = 1 << 15) -> None:
        self._recent: set[int] = set()
        self._runs: list[array[int]] = []
        self._limit = recent_limit

    def __len__(self) -> int:
        return len(self._recent) + sum(len(run) for run in self._runs)

    def __contains__(self, value: int) -> bool:
        if value in self._recent:
            return True
        for run in self._runs:
            index = bisect_left(run, value)
            if index < len(run) and run[index] == value:
                return True
        return False

    def add(self, value: int) -> bool:
        """Add `value`; False when it was already there."""
        if value in self:
            return False
        self._recent.add(value)
        if len(self._recent) >= self._limit:
            self._flush()
        return True

    def _flush(self) -> None:
        run = array("q", sorted(self._recent))
        self._recent = set()
        while self._runs and len(self._runs[-1]) <= 2 * len(run):
            # two sorted runs: timsort merges them in linear time
            run = array("q", sorted(self._runs.pop() + run))
        self._runs.append(run)


def fill_hash(account: str, symbol: str | None, venue: str, trade_id: str) -> int:
    """The dedupe key of a fill. Venues number trades per symbol, and two of our accounts
    can be the two sides of one trade, so the account and symbol are part of it."""
    return hash((account, symbol, venue, trade_id))


# --------------------------------------------------------------------------- state


@dataclass(slots=True)
class _Diff:
    """A DiffComputed with placements not yet submitted."""

    key: Key
    correlation_id: str
    pending: set[str]
    broken: str | None  # why the diff does not trace to a target, if it does not


@dataclass(slots=True)
class _Order:
    """What the checker keeps of one order while it is open (and briefly after)."""

    client_order_id: str
    key: Key
    intent: tuple[str, str | None, str] | None
    quantity: Decimal
    correlation_id: str
    position: int
    submitted_at: datetime
    submitted: bool = True
    answered: bool = False
    order_id: str | None = None
    filled: Decimal = ZERO
    inferred: Decimal = ZERO  # the part of `filled` inferred fills stand for (fillcount)
    counts: bool = True  # ours or adopted: its fills move the projection's position
    overfilled: bool = False
    miscorrelated: bool = False


@dataclass(slots=True)
class _PositionTrack:
    """Venue-reported position of a derivative key against the net of recorded fills."""

    observed: Decimal
    net_at_observation: Decimal
    drift_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditLimits:
    """Tuning of the checker. Times are log time (`occurred_at`), never the wall clock, so
    one log always gives one report."""

    stale_after: timedelta = timedelta(minutes=10)
    position_settle: timedelta = timedelta(minutes=2)
    closed_window: int = 65_536
    targets_per_key: int = 64
    diffs_per_key: int = 64


@dataclass(slots=True)
class _State:
    counts: Counter[str] = field(default_factory=Counter)  # by the fields of `Counts`
    events: int = 0
    last_time: datetime | None = None
    violations: list[Violation] = field(default_factory=list)
    targets: dict[Key, dict[str, None]] = field(default_factory=dict)
    diffs: dict[str, _Diff] = field(default_factory=dict)
    diffs_by_key: dict[Key, dict[str, None]] = field(default_factory=dict)
    open: dict[str, _Order] = field(default_factory=dict)
    closed: OrderedDict[str, _Order] = field(default_factory=OrderedDict)
    by_order_id: dict[tuple[str, str], str] = field(default_factory=dict)
    live: dict[tuple[str, str | None, str], str] = field(default_factory=dict)
    fills: HashSet64 = field(default_factory=HashSet64)
    net: dict[Key, Decimal] = field(default_factory=dict)
    """Per key, the projection's `fill_net`: the signed sum of what fills counted."""
    other: dict[Key, Decimal] = field(default_factory=dict)
    """Per key, the signed sum of recorded fills the projection does not count (of
    foreign orders not adopted)."""
    positions: dict[Key, _PositionTrack] = field(default_factory=dict)
    liquidating: set[str] = field(default_factory=set)
    """Accounts in liquidate-only mode."""


_PLACING = (ActionKind.PLACE, ActionKind.AMEND)
_INFERRED = FillSource.INFERRED
_OURS = Origin.OURS


# --------------------------------------------------------------------------- checker


class AuditChecker:
    """The streaming fold. Feed every event in log order, once; then `finish()`.

    Not thread-safe; one checker per pass. Memory: see the module docstring."""

    def __init__(self, limits: AuditLimits | None = None) -> None:
        self.limits = limits or AuditLimits()
        self._s = _State()
        self._handlers: dict[str, Callable[[int, Any], None]] = {
            "TargetPublished": self._on_target,
            "DiffComputed": self._on_diff,
            "OrderSubmitted": self._on_submitted,
            "AmendSubmitted": self._on_amend,
            "OrderPlaced": self._on_placed,
            "OrderRejected": self._on_closing,
            "OrderCancelled": self._on_closing,
            "OrderObserved": self._on_observed,
            "FillObserved": self._on_fill,
            "PositionObserved": self._on_position,
            "AccountModeChanged": self._on_mode,
            "CancelSubmitted": self._check_tenure,
        }
        self._tenures: dict[tuple[Key, str], tuple[str, set[str]]] = {}

    @property
    def events(self) -> int:
        return self._s.events

    def feed(self, position: int, event: Any) -> None:
        """Fold one event (any catalog event) read at `position`."""
        s = self._s
        s.events += 1
        when = event.occurred_at
        if s.last_time is None or when > s.last_time:
            s.last_time = when
        handler = self._handlers.get(event.type)
        if handler is not None:
            handler(position, event)

    def _check_tenure(self, position: int, event: Any) -> None:
        """`decisions_not_interleaved` (module docstring) for one decision."""
        worker = event.worker
        if worker is None:
            return
        slot = (event.key, event.producer.value)
        current = self._tenures.get(slot)
        if current is None:
            self._tenures[slot] = (worker, set())
        elif current[0] != worker:
            if worker in current[1]:
                self._violate(
                    DECISIONS_NOT_INTERLEAVED, position,
                    f"{event.type} of {event.key} by {worker} after {current[0]} had decided "
                    f"for the key since {worker}'s earlier decisions",
                )  # fmt: skip
            current[1].add(current[0])
            self._tenures[slot] = (worker, current[1])

    def quarantined(self, position: int, reason: str) -> None:
        """Record a log entry that could not be read (EventLog.quarantine)."""
        self._violate(NO_QUARANTINE, position, f"unreadable log entry: {reason}")

    def finish(self) -> AuditReport:
        """The report: violations in log order, then orders still in flight."""
        s = self._s
        in_flight = [o for o in s.open.values() if o.submitted and not o.answered]
        in_flight.sort(key=lambda o: o.position)
        for order in in_flight:
            if s.last_time is not None and s.last_time - order.submitted_at > (
                self.limits.stale_after
            ):
                age = s.last_time - order.submitted_at
                self._violate(
                    ORDER_RESOLVED,
                    order.position,
                    f"{order.client_order_id} submitted with no venue answer for "
                    f"{int(age.total_seconds())}s of log time",
                )
        return AuditReport(
            events=s.events,
            counts=Counts(**s.counts),
            violations=tuple(sorted(s.violations, key=lambda v: v.position)),
            in_flight=tuple(_in_flight(o) for o in in_flight),
        )

    def _violate(self, invariant: str, position: int, detail: str) -> None:
        self._s.violations.append(Violation(invariant, position, detail))

    # ------------------------------------------------------------------ targets, diffs

    def _on_target(self, position: int, event: TargetPublished) -> None:
        s = self._s
        s.counts["targets"] += 1
        _remember(s.targets, event.key, event.event_id, self.limits.targets_per_key)

    def _on_diff(self, position: int, event: DiffComputed) -> None:
        self._check_tenure(position, event)
        pending = {a.client_order_id for a in event.data.actions if a.kind in _PLACING}
        if not pending:
            return
        s = self._s
        key = event.key
        diff = _Diff(key, event.correlation_id, pending, self._diff_break(event))
        s.diffs[event.event_id] = diff
        evicted = _remember(s.diffs_by_key, key, event.event_id, self.limits.diffs_per_key)
        if evicted is not None:
            s.diffs.pop(evicted, None)

    def _diff_break(self, event: DiffComputed) -> str | None:
        """Why this diff does not trace to a target of its key, or None when it does."""
        target = event.data.target_event_id
        if target is None:
            return f"DiffComputed {event.event_id} names no target"
        diff = event.event_id
        if target not in self._s.targets.get(event.key, {}):
            return f"DiffComputed {diff} names {target}, not a recent target of {event.key}"
        if event.correlation_id != target:
            return f"DiffComputed {diff} has correlation {event.correlation_id}, not {target}"
        return None

    # ------------------------------------------------------------------ orders

    def _on_submitted(self, position: int, event: OrderSubmitted) -> None:
        self._check_tenure(position, event)
        s = self._s
        data = event.data
        coid = data.client_order_id
        if coid in s.open or coid in s.closed:
            self._resubmitted(position, coid)
            return
        s.counts["orders"] += 1
        if data.attempt == 1:
            s.counts["intents"] += 1
        self._check_trace(position, event)
        intent = None if data.intent_id is None else (event.account, event.symbol, data.intent_id)
        order = _Order(
            coid,
            event.key,
            intent,
            data.quantity,
            event.correlation_id,
            position,
            event.occurred_at,
        )
        s.open[coid] = order
        if intent is not None:
            self._claim_intent(position, order, data.replaces)

    def _on_amend(self, position: int, event: AmendSubmitted) -> None:
        """An in-place amend is traced like a submission (caused by a diff of its key that
        plans the amend, same correlation) without using up the diff's plan of its new
        client order id (placed when the amend falls back to cancel-then-place). The
        order keeps its quantity until the venue's answer (`OrderObserved`) gives it."""
        s = self._s
        cause = event.causation_id
        diff = s.diffs.get(cause) if cause is not None else None
        coid = event.data.client_order_id
        if (
            diff is None
            or diff.key != event.key
            or event.data.new_client_order_id not in diff.pending
        ):
            detail = f"amend of {coid}: its cause {cause} is not a recent DiffComputed of "
            self._violate(ORDER_TRACED, position, f"{detail}{event.key} that plans it")
        elif diff.broken is not None:
            self._violate(ORDER_TRACED, position, f"amend of {coid}: {diff.broken}")
        elif event.correlation_id != diff.correlation_id:
            detail = f"correlation {event.correlation_id} differs from its diff's"
            self._violate(
                ORDER_TRACED, position, f"amend of {coid}: {detail} {diff.correlation_id}"
            )

    def _resubmitted(self, position: int, coid: str) -> None:
        """The same attempt submitted again: one order, counted once. While the first is
        live, that is placing its intent twice at once (the venue should refuse the
        duplicate client id, but the system should not have tried)."""
        if coid in self._s.open:
            self._violate(
                ONE_LIVE_ORDER,
                position,
                f"{coid} submitted again while it is live",
            )

    def _check_trace(self, position: int, event: OrderSubmitted) -> None:
        s = self._s
        coid = event.data.client_order_id
        cause = event.causation_id
        diff = s.diffs.get(cause) if cause is not None else None
        if diff is None or diff.key != event.key or coid not in diff.pending:
            self._violate(
                ORDER_TRACED,
                position,
                f"{coid}: its cause {cause} is not a recent DiffComputed of {event.key} "
                "that plans it",
            )
            return
        diff.pending.discard(coid)
        if not diff.pending:
            del s.diffs[cause]  # type: ignore[arg-type]
            s.diffs_by_key[diff.key].pop(cause, None)  # type: ignore[arg-type]
        if diff.broken is not None:
            self._violate(ORDER_TRACED, position, f"{coid}: {diff.broken}")
        elif event.correlation_id != diff.correlation_id:
            self._violate(
                ORDER_TRACED,
                position,
                f"{coid}: correlation {event.correlation_id} differs from its diff's "
                f"{diff.correlation_id}",
            )

    def _claim_intent(self, position: int, order: _Order, replaces: str | None) -> None:
        assert order.intent is not None
        live = self._s.live
        other = live.get(order.intent)
        if other is not None and other != replaces and other in self._s.open:
            self._violate(
                ONE_LIVE_ORDER,
                position,
                f"intent {order.intent[2]} of {order.key}: {order.client_order_id} submitted "
                f"while {other} is live",
            )
        live[order.intent] = order.client_order_id

    def _find(self, account: str, coid: str | None, order_id: str | None) -> _Order | None:
        s = self._s
        if coid is None and order_id is not None:
            coid = s.by_order_id.get((account, order_id))
        if coid is None:
            return None
        return s.open.get(coid) or s.closed.get(coid)

    def _on_placed(self, position: int, event: OrderPlaced) -> None:
        data = event.data
        order = self._find(event.account, data.client_order_id, None)
        if order is None or not order.submitted:
            self._violate(
                ORDER_TRACED,
                position,
                f"OrderPlaced for {data.client_order_id}, which was never submitted",
            )
            return
        if event.correlation_id != order.correlation_id:
            self._violate(
                ORDER_TRACED,
                position,
                f"OrderPlaced for {data.client_order_id}: correlation {event.correlation_id} "
                f"differs from its submission's {order.correlation_id}",
            )
        self._answer(order, event.account, data.order_id)
        if not data.status.is_open:
            self._close(order)

    def _on_closing(self, position: int, event: OrderRejected | OrderCancelled) -> None:
        order_id = getattr(event.data, "order_id", None)
        order = self._find(event.account, event.data.client_order_id, order_id)
        if order is not None:
            self._answer(order, event.account, order_id)
            self._close(order)

    def _on_observed(self, position: int, event: OrderObserved) -> None:
        data = event.data
        order = self._find(event.account, data.client_order_id, data.order_id)
        if order is None:
            if not data.status.is_open:
                return
            coid = data.client_order_id or f"venue:{data.order_id}"
            order = _Order(
                coid,
                event.key,
                None,
                data.quantity,
                event.correlation_id,
                position,
                event.occurred_at,
                submitted=False,
                counts=data.origin is _OURS or data.adopted,
            )
            self._s.open[coid] = order
        elif data.adopted:
            order.counts = True
        order.quantity = data.quantity  # the venue's word (e.g. after a venue-side edit)
        self._answer(order, event.account, data.order_id)
        if not data.status.is_open:
            self._close(order)

    def _answer(self, order: _Order, account: str, order_id: str | None) -> None:
        order.answered = True
        if order_id is not None and order.order_id is None:
            order.order_id = order_id
            self._s.by_order_id[(account, order_id)] = order.client_order_id

    def _close(self, order: _Order) -> None:
        """Move an order from the open set to the bounded window of closed ones."""
        s = self._s
        if s.open.pop(order.client_order_id, None) is None:
            return
        if order.intent is not None and s.live.get(order.intent) == order.client_order_id:
            del s.live[order.intent]
        s.closed[order.client_order_id] = order
        if len(s.closed) > self.limits.closed_window:
            _, old = s.closed.popitem(last=False)
            if old.order_id is not None:
                s.by_order_id.pop((old.key.account, old.order_id), None)

    # ------------------------------------------------------------------ fills, positions

    def _on_fill(self, position: int, event: FillObserved) -> None:
        s = self._s
        data = event.data
        s.counts["fills"] += 1
        account = event.account
        if not s.fills.add(fill_hash(account, event.symbol, data.venue, data.trade_id)):
            self._violate(
                FILL_UNIQUE,
                position,
                f"trade {data.trade_id} on {data.venue} ({event.key}) recorded again",
            )
            return
        order = self._find(account, data.client_order_id, data.order_id)
        if order is None:  # as the projection: counted when the client id is ours
            qty = data.quantity
            coid = data.client_order_id
            counts = written_by_us(account, coid)
        else:
            qty = self._add_fill(position, order, data)
            counts = order.counts
            if order.submitted and event.correlation_id != order.correlation_id:
                self._miscorrelated(position, order, event.correlation_id)
        if qty:
            sums = s.net if counts else s.other
            key = event.key
            signed = qty if data.side is Side.BUY else -qty
            if counts and account in s.liquidating:
                self._check_reduces(position, key, signed, data.trade_id)
            sums[key] = sums.get(key, ZERO) + signed

    def _on_mode(self, position: int, event: AccountModeChanged) -> None:
        if event.data.mode.liquidating:
            self._s.liquidating.add(event.account)
        else:
            self._s.liquidating.discard(event.account)

    def _position(self, key: Key) -> Decimal:
        """The key's position as far as the recorded facts go (see the invariant)."""
        s = self._s
        net = s.net.get(key, ZERO)
        track = s.positions.get(key)
        if track is None:
            return net
        return track.observed + (net + s.other.get(key, ZERO) - track.net_at_observation)

    def _check_reduces(self, position: int, key: Key, signed: Decimal, trade_id: str) -> None:
        before = self._position(key)
        after = before + signed
        if before == 0 or after * before < 0 or abs(after) > abs(before):
            self._violate(
                LIQUIDATE_ONLY_REDUCES,
                position,
                f"{key}: trade {trade_id} moved the position from {before} to {after} while "
                f"{key.account} is liquidate-only",
            )

    def _miscorrelated(self, position: int, order: _Order, correlation: str) -> None:
        if not order.miscorrelated:
            order.miscorrelated = True
            self._violate(
                FILL_CORRELATED,
                position,
                f"fill of {order.client_order_id} carries correlation {correlation}, not its "
                f"order's {order.correlation_id} (reported once per order)",
            )

    def _add_fill(self, position: int, order: _Order, data: FillObservedData) -> Decimal:
        """Count one fill toward `order` by the projection's rule (`core.fillcount`: an
        inferred fill and the real trades it stands for count once); return by how much
        the order's count rose."""
        order.answered = True
        before, quantity, qty = order.filled, order.quantity, data.quantity
        if order.inferred or data.source is _INFERRED:
            filled, order.inferred, claimed = count_fill(
                quantity, before, order.inferred, qty, data.source is _INFERRED,
                data.order_filled,
            )  # fmt: skip
        else:  # count_fill's plain case (a real trade, nothing inferred), inlined: hot
            claimed = before + qty
            filled = claimed if claimed < quantity else (quantity if quantity > before else before)
        order.filled = filled
        if claimed > quantity and not order.overfilled:
            order.overfilled = True
            self._violate(
                FILL_WITHIN_QUANTITY,
                position,
                f"{order.client_order_id}: fills add up to {claimed}, above its "
                f"quantity {quantity}",
            )
        if filled >= quantity:
            self._close(order)
        return filled - before

    def _on_position(self, position: int, event: PositionObserved) -> None:
        s = self._s
        key = event.key
        covered = event.data.fills_net  # the counted fills the report already includes
        net = (s.net.get(key, ZERO) if covered is None else covered) + s.other.get(key, ZERO)
        observed = event.data.quantity
        track = s.positions.get(key)
        if track is None:
            s.positions[key] = _PositionTrack(observed, net)
            return
        drift = observed - (track.observed + (net - track.net_at_observation))
        if drift == 0:
            track.drift_since = None
        elif track.drift_since is None:
            track.drift_since = event.occurred_at
        elif event.occurred_at - track.drift_since >= self.limits.position_settle:
            self._violate(
                POSITION_MATCHES_FILLS,
                position,
                f"{key}: venue reports {observed}, recorded fills give "
                f"{observed - drift} (difference {drift}, "
                f"unexplained since {track.drift_since.isoformat()})",
            )
            s.positions[key] = _PositionTrack(observed, net)


def _remember(index: dict[Key, dict[str, None]], key: Key, item: str, limit: int) -> str | None:
    """Add `item` to the bounded, insertion-ordered set of `key`; return what fell out."""
    items = index.setdefault(key, {})
    items[item] = None
    if len(items) <= limit:
        return None
    oldest = next(iter(items))
    del items[oldest]
    return oldest


def _in_flight(order: _Order) -> InFlight:
    return InFlight(
        order.client_order_id,
        order.key.account,
        order.key.symbol,
        order.position,
        order.submitted_at,
    )
