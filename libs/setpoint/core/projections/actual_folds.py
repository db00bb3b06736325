"""The actual store's folds: `apply_actual(state, position, event)` and one fold per
event type (what each does: the table in the package docstring).

Every fold returns a new `ActualState`; `_commit` stores a changed order and keeps every
index of its key (live orders, venue ids, intents' progress, pending actions, position,
journal, backoff) in step with it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from immutables import Map

from setpoint.core.events import (
    AccountModeChanged,
    AmendSubmitted,
    BalanceObserved,
    CancelSubmitted,
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
    TargetPublished,
)
from setpoint.core.fillcount import count_fill
from setpoint.core.ids import written_by_us
from setpoint.core.model import Key, Side
from setpoint.core.numeric import ZERO
from setpoint.core.projections._values import new_tuple
from setpoint.core.projections.actual import (
    EMPTY_KEY,
    NO_ACCOUNT,
    ActualState,
    KeyActual,
    ReconcileSummary,
)
from setpoint.core.projections.journal import orphan_name
from setpoint.core.projections.orders import (
    AMEND,
    CANCEL,
    NO_PROGRESS,
    OPEN,
    POSITION_BACKOFF,
    SUBMIT,
    Backoff,
    IntentProgress,
    OrderRecord,
    find_order,
    position_generation,
    retry_delay,
)
from setpoint.core.projections.purge import ClosedQueue, due, fill_time, remember_fill

__all__ = ["STALE_CANCEL", "apply_actual"]

_AMENDED = ObservationSource.AMEND

STALE_CANCEL = timedelta(seconds=5)
"""A pending cancel at least this old (by the observation's time) is cleared by a REST or
query observation that still finds the order open: its answer was lost (package docstring).
Reconciliation waits `max(in_flight_timeout_s, STALE_CANCEL)` before reporting one."""

_ACKED = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED})
_UNFILLED_END = frozenset({OrderStatus.EXPIRED, OrderStatus.CANCELED})
"""How the venue ends an order without a complete fill (a rejection has its own fold)."""
_OURS = Origin.OURS
_INFERRED = FillSource.INFERRED


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
    p = intents.get(iid, NO_PROGRESS)
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
    return intents.set(iid, new_tuple(IntentProgress, progress))


def _evolve(
    o: OrderRecord,
    order_id: str | None,
    status: OrderStatus | None,
    filled: Decimal,
    reported: Decimal,
    pending: str | None,
) -> OrderRecord:
    """`o` with its venue-state fields replaced: a fast `_replace` for the hot folds."""
    return new_tuple(
        OrderRecord, (*o[:3], order_id, *o[4:14], status, filled, reported, pending, *o[18:])
    )


def _with_pending(o: OrderRecord, pending: str | None) -> OrderRecord:
    """`o` with `pending` replaced (a fast `_replace`)."""
    return new_tuple(OrderRecord, (*o[:17], pending, *o[18:]))


def _cancel_pending(o: OrderRecord, at: datetime) -> OrderRecord:
    """`o` with a cancel pending since `at`."""
    return new_tuple(OrderRecord, (*o[:17], CANCEL, *o[18:24], at, *o[25:]))


def _is_live(o: OrderRecord) -> bool:
    """`o.is_live` without the property call (the hot folds ask twice per event)."""
    return o[14] in OPEN and (o[19] is _OURS or o[20])


def _commit(
    state: ActualState,
    position: int,
    at: datetime,
    old: OrderRecord | None,
    new: OrderRecord,
    applied: Decimal = ZERO,
    fill: tuple[tuple[str, str], datetime] | None = None,
) -> ActualState:
    """Store `new` (replacing `old`) by the event of `at` and update every index of its key
    (`fill`: the id and time of the fill the event brings); with a purge buffer for the
    account, queue `new` if it closed and purge what is due (`projections.purge`)."""
    _, keys, accounts, reconciliations, purge_after = state
    key = new.key
    (pos, observed, orders, live, venue_ids, intents, pending, pos_open, fills, journal,
     backoff, net, closed, buying, selling, fill_times, last_fill, listed,
     generation) = keys.get(key, EMPTY_KEY)  # fmt: skip
    ref, iid, order_id = new.ref, new.intent_id, new.order_id
    was_live, now_live = old is not None and _is_live(old), _is_live(new)
    if now_live is not was_live:
        live = live.set(ref, None) if now_live else live.delete(ref)
    if was_live or now_live:
        buying, selling = _working(buying, selling, old if was_live else None, -1)
        buying, selling = _working(buying, selling, new if now_live else None, 1)
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
    buffer = purge_after.get(key.account) if purge_after else None
    if fill is not None:
        fills, fill_times, last_fill = remember_fill(fills, fill_times, last_fill, fill, buffer)
    journal = journal.touch(iid if iid is not None else orphan_name(ref))
    orders = orders.set(ref, new)
    if buffer is not None and (old is None or old[14] in OPEN) and new[14] not in OPEN:
        closed = closed.push(at, ref)
    if buffer is not None and closed:
        closed, orders, venue_ids, intents, backoff = _purged(
            (closed, orders, venue_ids, intents, backoff), listed, generation, at, buffer
        )
    new_ka = new_tuple(
        KeyActual,
        (pos, observed, orders, live, venue_ids, intents, pending, pos_open, fills, journal,
         backoff, net, closed, buying, selling, fill_times, last_fill, listed, generation),
    )  # fmt: skip
    return new_tuple(
        ActualState, (position, keys.set(key, new_ka), accounts, reconciliations, purge_after)
    )


def _working(
    buying: Decimal, selling: Decimal, live: OrderRecord | None, sign: int
) -> tuple[Decimal, Decimal]:
    """The key's working totals (`KeyActual.buying`, `selling`) with the remaining quantity
    of `live` (a live order, or None: nothing) added (`sign` 1) or taken out (-1), unless
    a cancel of it is pending. Read by position, as the other hot helpers."""
    if live is None or live[17] == CANCEL:
        return buying, selling
    filled, reported = live[15], live[16]
    rest = live[9] - (filled if filled >= reported else reported)
    if rest <= 0:
        return buying, selling
    if sign < 0:
        rest = -rest
    if live[6] is Side.BUY:
        return buying + rest, selling
    return buying, selling + rest


_Purgeable = tuple[
    ClosedQueue, Map[str, OrderRecord], Map[str, str], Map[str, IntentProgress], Map[str, Backoff]
]
"""What a purge changes of a key: (closed, orders, venue_ids, intents, backoff)."""


def _purged(
    held: _Purgeable, listed: Map[str, None], generation: int, at: datetime, buffer: timedelta
) -> _Purgeable:
    """`held` without the orders of `closed` that are due at `at`, and the progress and
    backoff of intents nothing can place again (`projections.purge`). An order whose
    reported fills are not all folded yet (`reported > filled`: they are on their way) is
    queued again from `at` rather than dropped, so its fills still find it."""
    closed, refs = due(held[0], at, buffer)
    if not refs:
        return held
    _, orders, venue_ids, intents, backoff = held
    for ref in refs:
        record = orders.get(ref)
        if record is None or record[14] in OPEN:
            continue
        if record[16] > record[15]:
            closed = closed.push(at, ref)
            continue
        orders = orders.delete(ref)
        order_id, iid = record[3], record[4]
        if order_id is not None and venue_ids.get(order_id) == ref:
            venue_ids = venue_ids.delete(order_id)
        if iid is not None and _forgettable(iid, intents.get(iid), orders, listed, generation):
            intents = intents.delete(iid)
            if iid in backoff:
                backoff = backoff.delete(iid)
    return closed, orders, venue_ids, intents, backoff


def _forgettable(
    iid: str,
    progress: IntentProgress | None,
    orders: Map[str, OrderRecord],
    listed: Map[str, None],
    generation: int,
) -> bool:
    """Whether nothing can place intent `iid` again (`projections.purge`): no live order,
    its last attempt no longer in `orders`, and not listed by the key's newest target (a
    position intent: made for a generation below that target's)."""
    if progress is None or progress.live:
        return False
    last = progress.last_client_order_id
    if last is not None and last in orders:
        return False
    made_for = position_generation(iid)
    if made_for is not None:
        return made_for < generation
    return iid not in listed


def _target(state: ActualState, position: int, event: TargetPublished) -> ActualState:
    """The intent ids of the key's newest target (by generation, as the intent store
    accepts it), and the progress of the intents it no longer lists forgotten when nothing
    can place them again (only with a purge buffer for the account)."""
    target = event.data.target
    key = target.key
    ka = state.keys.get(key, EMPTY_KEY)
    if target.generation <= ka.generation:
        return skip(state, position, None)
    listed = Map((o.id, None) for o in target.orders)
    ka = ka._replace(listed=listed, generation=target.generation)
    if state.purge_after and key.account in state.purge_after:
        intents, backoff = ka.intents, ka.backoff
        for iid, progress in ka.intents.items():
            if _forgettable(iid, progress, ka.orders, listed, target.generation):
                intents = intents.delete(iid)
                if iid in backoff:
                    backoff = backoff.delete(iid)
        ka = ka._replace(intents=intents, backoff=backoff)
    return new_tuple(ActualState, (position, state.keys.set(key, ka), *state[2:]))


def _backoff_name(order: OrderRecord) -> str | None:
    return POSITION_BACKOFF if order.position_order else order.intent_id


def _backoff_cleared(
    backoff: Map[str, Backoff], iid: str, new: OrderRecord, intents: Map[str, IntentProgress]
) -> Map[str, Backoff]:
    """Without the entry of `new`'s intent once the venue acknowledged it (open or filled)
    or the intent is consumed. A position order's family: once an attempt filled anything
    (counted or reported), since an acknowledged IOC may still end with nothing filled."""
    if new.position_order:
        if new.done and POSITION_BACKOFF in backoff:
            return backoff.delete(POSITION_BACKOFF)
        return backoff
    if iid in backoff and (new.status in _ACKED or intents.get(iid, NO_PROGRESS).consumed):
        return backoff.delete(iid)
    return backoff


def _find(ka: KeyActual, coid: str | None, order_id: str | None) -> OrderRecord | None:
    return find_order(ka.orders, ka.venue_ids, coid, order_id)


def _lookup(
    state: ActualState, key: Key, coid: str | None, order_id: str | None
) -> OrderRecord | None:
    return _find(state.keys.get(key, EMPTY_KEY), coid, order_id)


def skip(state: ActualState, position: int, event: Any) -> ActualState:
    return new_tuple(ActualState, (position, *state[1:]))


def _submitted(state: ActualState, position: int, event: OrderSubmitted) -> ActualState:
    d = event.data
    key = event.key
    orders = state.keys.get(key, EMPTY_KEY).orders
    if d.client_order_id in orders:
        return skip(state, position, None)
    order = new_tuple(OrderRecord, (
        d.client_order_id, key, d.client_order_id, None, d.intent_id, d.attempt,
        d.side, d.type, d.price, d.quantity, d.time_in_force, d.post_only, d.reduce_only,
        d.position_order, None, ZERO, ZERO, SUBMIT, event.occurred_at, Origin.OURS,
        False, 0, None, event.correlation_id, None, ZERO, False,
    ))  # fmt: skip
    if d.replaces is not None:
        old = orders.get(d.replaces)
        if old is not None and old.is_live:
            state = _commit(
                state, position, event.occurred_at, old, _cancel_pending(old, event.occurred_at)
            )
    return _commit(state, position, event.occurred_at, None, order)


def _clear_submit(order: OrderRecord) -> str | None:
    return None if order.pending == SUBMIT else order.pending


def _placed(state: ActualState, position: int, event: OrderPlaced) -> ActualState:
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, d.order_id)
    if old is None or (old.status is not None and not old.status.is_open):
        return skip(state, position, None)
    status = d.status
    reported = min(max(old.reported, d.filled), old.quantity)
    pending = _clear_submit(old) if status.is_open else None
    new = _evolve(old, d.order_id, status, old.filled, reported, pending)
    return _closed(
        _commit(state, position, event.occurred_at, old, new), position, new, event.occurred_at
    )


def _rejected(state: ActualState, position: int, event: OrderRejected) -> ActualState:
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, None)
    if old is None or (old.status is not None and not old.status.is_open):
        return skip(state, position, None)
    status = OrderStatus.REJECTED if d.terminal else OrderStatus.CANCELED
    new = _evolve(old, old.order_id, status, old.filled, old.reported, None)
    state = _commit(state, position, event.occurred_at, old, new)
    name = _backoff_name(new)
    if d.terminal or name is None:
        return state
    if not new.position_order and state.keys[event.key].intents[name].consumed:
        return state  # an IOC/FOK/market intent: finished, never placed again
    return _backed_off(state, position, event.key, name, event.occurred_at)


def _backed_off(
    state: ActualState, position: int, key: Key, name: str, at: datetime
) -> ActualState:
    """One more consecutive failed attempt for backoff entry `name` of `key`, at `at`:
    count n = previous + 1 (1 without one), retry_after = at + `retry_delay(n)`."""
    ka = state.keys[key]
    previous = ka.backoff.get(name)
    count = 1 if previous is None else previous.rejections + 1
    entry = Backoff(count, at + retry_delay(count))
    new_ka = ka._replace(backoff=ka.backoff.set(name, entry))
    return new_tuple(ActualState, (position, state.keys.set(key, new_ka), *state[2:]))


def _closed(state: ActualState, position: int, new: OrderRecord, at: datetime) -> ActualState:
    """`state` after `new` (open before) was committed; a position order the venue ended
    (expired or cancelled) with nothing filled made no progress: its family backs off as
    after a non-terminal rejection (package docstring, "Retry backoff")."""
    if new.position_order and new.status in _UNFILLED_END and not new.done and not new.lost:
        return _backed_off(state, position, new.key, POSITION_BACKOFF, at)
    return state


def _cancel_submitted(state: ActualState, position: int, event: CancelSubmitted) -> ActualState:
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, d.order_id)
    if old is None or not old.is_open or old.pending == CANCEL:
        return skip(state, position, None)
    return _commit(state, position, event.occurred_at, old, _cancel_pending(old, event.occurred_at))


def _amend_submitted(state: ActualState, position: int, event: AmendSubmitted) -> ActualState:
    """An open order without a pending action gets a pending "amend" since the event: it
    keeps its ids, price and size until the venue's answer (`OrderObserved`) says what
    the venue holds."""
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, d.order_id)
    if old is None or not old.is_open or old.pending is not None:
        return skip(state, position, None)
    at = event.occurred_at
    return _commit(state, position, at, old, new_tuple(
        OrderRecord, (*old[:17], AMEND, *old[18:24], at, *old[25:])
    ))  # fmt: skip


def _cancelled(state: ActualState, position: int, event: OrderCancelled) -> ActualState:
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, d.order_id)
    if old is None or not old.is_open:
        return skip(state, position, None)
    status = OrderStatus.EXPIRED if d.reason == "expired" else OrderStatus.CANCELED
    reported = min(max(old.reported, d.filled), old.quantity)
    new = _evolve(old, old.order_id or d.order_id, status, old.filled, reported, None)
    if d.reason == "lost" and _never_acknowledged(old) and d.order_id is None and not reported:
        new = new._replace(lost=True)
    return _closed(
        _commit(state, position, event.occurred_at, old, new), position, new, event.occurred_at
    )


def _never_acknowledged(order: OrderRecord) -> bool:
    """Still in flight (no venue answer), with no fill and no venue id."""
    return order.status is None and order.order_id is None and not order.done


def _observed_new(event: OrderObserved) -> OrderRecord:
    d = event.data
    coid = d.client_order_id
    ours = d.origin is Origin.OURS and written_by_us(event.account, coid)
    ref = coid if ours and coid is not None else f"~{event.account}/{event.symbol}/{d.order_id}"
    return new_tuple(OrderRecord, (
        ref, event.key, coid, d.order_id, None, 0, d.side, d.type, d.price, d.quantity,
        d.time_in_force, False, False, False, d.status, ZERO, min(d.filled, d.quantity),
        None, None, d.origin, d.adopted, 0, None, event.correlation_id, None, ZERO, False,
    ))  # fmt: skip


def _observed(state: ActualState, position: int, event: OrderObserved) -> ActualState:
    d = event.data
    old = _lookup(state, event.key, d.client_order_id, d.order_id)
    if old is None:
        return _commit(state, position, event.occurred_at, None, _observed_new(event))
    if old.status is not None and not old.status.is_open:
        return skip(state, position, None)
    price = d.price if d.price is not None else old.price
    reported = min(max(old.reported, d.filled), d.quantity)
    pending = _clear_submit(old) if d.status.is_open else None
    if pending == CANCEL and _stale_cancel(old, event):
        pending = None
    elif pending == AMEND and (d.source is _AMENDED or _stale_cancel(old, event)):
        pending = None  # the amend's answer, or a stale amend's: the venue's word now
    # old._replace(order_id, status, price, quantity, reported, pending, adopted,
    # not_found=0, not_found_since=None), without the cost of `_replace`
    new = new_tuple(OrderRecord, (
        *old[:3], d.order_id, *old[4:8], price, d.quantity, *old[10:14], d.status,
        old.filled, reported, pending, *old[18:20], old.adopted or d.adopted, 0, None,
        *old[23:],
    ))  # fmt: skip
    return _closed(
        _commit(state, position, event.occurred_at, old, new), position, new, event.occurred_at
    )


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
        return skip(state, position, None)
    since = old.not_found_since if d.consecutive > 1 and old.not_found_since else None
    new = old._replace(not_found=d.consecutive, not_found_since=since or event.occurred_at)
    return _commit(state, position, event.occurred_at, old, new)


def _fill(state: ActualState, position: int, event: FillObserved) -> ActualState:
    d = event.data
    key = event.key
    ka = state.keys.get(key, EMPTY_KEY)
    fid = (d.venue, d.trade_id)
    if fid in ka.fills:
        return skip(state, position, None)
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
    return _commit(state, position, event.occurred_at, old, new, applied, (fid, fill_time(event)))


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
    applied = filled - old.filled
    return _commit(state, position, event.occurred_at, old, new, applied, (fid, fill_time(event)))


def _orphan_fill(
    state: ActualState, position: int, event: FillObserved, ka: KeyActual, fid: tuple[str, str]
) -> ActualState:
    """A fill of an order the store does not know: counted when the client id is ours."""
    d = event.data
    pos, net = ka.position, ka.fill_net
    if written_by_us(event.account, d.client_order_id):
        signed = d.quantity if d.side is Side.BUY else -d.quantity
        pos, net = pos + signed, net + signed
    buffer = state.purge_after.get(event.account) if state.purge_after else None
    fills, times, last_at = remember_fill(
        ka.fills, ka.fill_times, ka.last_fill_at, (fid, fill_time(event)), buffer
    )
    new_ka = ka._replace(
        position=pos, fills=fills, fill_net=net, fill_times=times, last_fill_at=last_at
    )
    return state._replace(position=position, keys=state.keys.set(event.key, new_ka))


def _position(state: ActualState, position: int, event: PositionObserved) -> ActualState:
    ka = state.keys.get(event.key, EMPTY_KEY)
    quantity, covered = event.data.quantity, event.data.fills_net
    if covered is not None:
        quantity += ka.fill_net - covered  # fills counted since the venue's read: on top
    new_ka = ka._replace(position=quantity, position_observed=True)
    return state._replace(position=position, keys=state.keys.set(event.key, new_ka))


def _with_account(state: ActualState, position: int, account: str, **changes: Any) -> ActualState:
    acc = state.accounts.get(account, NO_ACCOUNT)._replace(**changes)
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


FOLDS: dict[str, Callable[[ActualState, int, Any], ActualState]] = {
    "OrderSubmitted": _submitted,
    "OrderPlaced": _placed,
    "OrderRejected": _rejected,
    "CancelSubmitted": _cancel_submitted,
    "AmendSubmitted": _amend_submitted,
    "OrderCancelled": _cancelled,
    "OrderObserved": _observed,
    "OrderNotFound": _not_found,
    "FillObserved": _fill,
    "TargetPublished": _target,
    "PositionObserved": _position,
    "BalanceObserved": _balances,
    "MarketsLoaded": _markets,
    "AccountModeChanged": _mode,
    "ReconciliationCompleted": _reconciled,
}


def apply_actual(state: ActualState, position: int, event: Event) -> ActualState:
    """Fold one event into the actual store (see the package docstring)."""
    if position <= state.position:
        return state
    return FOLDS.get(event.type, skip)(state, position, event)
