"""The differ: the minimal actions that take one key from its actual state to its effective
target (docs/semantics.md §1, §2, §4 "one action per intent at a time").

Per intent id (`decide`):

* an action of the intent is in flight (an order pending submit or cancel) → nothing;
* not in the effective target, or consumed → cancel its live orders;
* listed, no live order → **place** `quantity - filled` (filled over every attempt) under
  the next attempt's client order id, if that is at least one step and the minimum
  quantity and notional;
* listed, live order with the same side, type, price, flags and remaining quantity →
  matched, nothing;
* listed, live order that differs → **amend** to `quantity - filled` under the next attempt
  (cancel the old, place the new), or cancel only when nothing placeable is left;
* extra live orders of one intent (older attempts) → cancel.

A live order of ours that serves no intent is cancelled; adopted foreign orders are left
alone, unless the effective target says `cancel_foreign` (`flatten_all`). Position orders
are never cancelled (IOC, they finish on their own).

Position (docs/semantics.md §2):
`delta = target - (position + signed open quantity of position orders)`; when `|delta|`
rounded down to the step is at least one step, the minimum quantity and the minimum
notional, one IOC limit order at last price ± `ioc_band_bps` (rounded to the tick inward),
intent id `@pos-<generation>-<n>` (n = first unused; generation 0 for a key flattened
without a target), attempt 1, reduce-only when the effective target says so (flatten on a
derivative) — unless the effective target pauses position orders (a retry backoff after a
non-terminal rejection).

Every place/amend then passes `risk.screen`. Actions come sorted: cancels, amends, places,
each by intent id. The plan is `converged` when there is nothing to do, nothing in flight,
no intent or position order waiting out a retry backoff, and the position is as close to
its target as an order can take it (the rest is below one step, the minimum quantity or
the minimum notional at the last price).

Incremental: pass the previous plan of the key as `previous`. Only the intents that the
target's journal, the actual journal or the exclusions and reductions (oco, liquidate-only,
retry backoff: an intent whose backoff ended is decided again without any new event) name
as changed since
that plan are decided again; the others keep their cached decision. An unchanged key costs
O(actions), one changed order O(log n). Anything the journals cannot vouch for (another
key, another market, orders no longer held, a window overrun) falls back to a full diff;
both paths give the same plan.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from immutables import Map

from setpoint.core.effective import EffectiveTarget
from setpoint.core.events import Action, ActionKind, DiffComputedData, Origin, RiskReason
from setpoint.core.ids import IdScheme, client_order_id
from setpoint.core.model import Key, MarketInfo, OrderType, Side, TargetOrder, TimeInForce
from setpoint.core.numeric import ZERO, round_to
from setpoint.core.projections import (
    AcceptedTarget,
    IntentProgress,
    KeyActual,
    OrderRecord,
    orphan_name,
)
from setpoint.core.projections.orders import POSITION_PREFIX
from setpoint.core.risk import NO_LIMITS, NO_VIEW, AccountRiskView, KeyBook, RiskLimits, screen

__all__ = ["POSITION_PREFIX", "Plan", "decide", "diff", "position_delta", "position_intent_id"]
# Intent ids of position orders (`POSITION_PREFIX`, from `projections.orders`, which reads
# the generation back); `@` cannot start a strategy's intent id.

_BPS = Decimal(10_000)
_NO_PROGRESS = IntentProgress()
_RANK = {ActionKind.CANCEL: 0, ActionKind.AMEND: 1, ActionKind.PLACE: 2}
_EMPTY: Map[str, tuple[Action, ...]] = Map()
_TEMPLATE = {
    name: None if f.is_required() else f.get_default() for name, f in Action.model_fields.items()
}
"""Every field of Action, in declaration order (the order its JSON is written in)."""


def _action(**fields: object) -> Action:
    """An Action from values the kernel built itself (already valid): no re-validation.
    The same as `Action.model_construct`, without its per-field default lookups."""
    action = Action.__new__(Action)
    values = dict(_TEMPLATE)
    values.update(fields)
    _set(action, "__dict__", values)
    _set(action, "__pydantic_fields_set__", set(fields))
    _set(action, "__pydantic_extra__", None)
    _set(action, "__pydantic_private__", None)
    return action


_set = object.__setattr__


class _Cache(NamedTuple):
    key: Key
    accepted: AcceptedTarget | None
    target_seq: int
    actual: KeyActual
    actual_seq: int
    excluded: frozenset[str]
    reduced: Map[str, TargetOrder]
    hold_orders: bool
    market: MarketInfo | None
    decisions: Map[str, tuple[Action, ...]]
    cancel_foreign: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """The actions for one key, and whether it is converged."""

    key: Key
    generation: int | None
    target_event_id: str | None
    actions: tuple[Action, ...]
    risk: tuple[RiskReason, ...] = ()
    converged: bool = False
    waiting: int = 0
    """Orders with an action in flight (the differ waits for their answers)."""
    cache: _Cache | None = field(default=None, compare=False, repr=False)

    def data(self) -> DiffComputedData:
        return DiffComputedData(
            generation=self.generation,
            target_event_id=self.target_event_id,
            actions=self.actions,
            risk=self.risk,
            converged=self.converged,
        )


@dataclass(frozen=True, slots=True)
class _Ctx:
    account: str
    symbol: str
    tick: Decimal
    step: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    ids: IdScheme = IdScheme.DASHED

    @classmethod
    def of(cls, key: Key, market: MarketInfo | None, ids: IdScheme = IdScheme.DASHED) -> _Ctx:
        if key.symbol is None:
            raise ValueError("a diff needs a symbol key")
        if market is None:
            return cls(key.account, key.symbol, ZERO, ZERO, ZERO, ZERO, ids)
        return cls(
            key.account, key.symbol, market.tick, market.step, market.min_quantity,
            market.min_notional, ids,
        )  # fmt: skip

    def placeable(self, quantity: Decimal, price: Decimal | None) -> bool:
        if quantity <= 0 or quantity < self.step or quantity < self.min_quantity:
            return False
        return price is None or price * quantity >= self.min_notional


# --------------------------------------------------------------------------- per intent


def decide(name: str, target: EffectiveTarget, actual: KeyActual, ctx: _Ctx) -> tuple[Action, ...]:
    """The actions for one intent id (or `orphan_name(ref)`), per the module docstring."""
    if name.startswith("\x00"):
        return _orphan(actual.orders.get(name[1:]), target.cancel_foreign)
    p = actual.intents.get(name)
    live: tuple[OrderRecord, ...] = ()
    if p is not None:
        if p.position_order:
            return ()
        if p.live:
            orders = actual.orders
            live = tuple(orders[r] for r in p.live)
            for order in live:
                if order.pending is not None:
                    return ()
    want = target.order(name)
    if want is None:
        return tuple(_cancel(o, "not in the effective target") for o in live)
    if p is not None and p.consumed:
        return tuple(_cancel(o, "intent consumed") for o in live)
    return _converge(want, p or _NO_PROGRESS, live, ctx)


def _converge(
    want: TargetOrder, p: IntentProgress, live: tuple[OrderRecord, ...], ctx: _Ctx
) -> tuple[Action, ...]:
    rest = want.quantity - p.filled
    if ctx.step and rest > 0 and rest % ctx.step:
        rest = round_to(rest, ctx.step)
    if not live:
        if not ctx.placeable(rest, want.price):
            return ()
        return (_place(want, p.attempt + 1, rest, ctx),)
    keep = live[-1]
    out = [_cancel(o, "older attempt") for o in live[:-1]]
    if keep.remaining == rest and _same_terms(keep, want):
        return tuple(out)
    if not ctx.placeable(rest, want.price):
        out.append(_cancel(keep, "nothing placeable left"))
    else:
        out.append(_place(want, p.attempt + 1, rest, ctx, replacing=keep))
    return tuple(out)


def _same_terms(order: OrderRecord, want: TargetOrder) -> bool:
    return (
        order.side is want.side
        and order.price == want.price
        and order.type is want.type
        and (order.time_in_force or TimeInForce.GTC) is want.time_in_force
        and order.post_only is want.post_only
        and order.reduce_only is want.reduce_only
    )


def _orphan(order: OrderRecord | None, cancel_foreign: bool = False) -> tuple[Action, ...]:
    """A live order of ours that serves no intent is cancelled (adopted ones stay, unless
    `cancel_foreign`)."""
    if order is None or not order.is_live or order.pending is not None:
        return ()
    if order.position_order:
        return ()
    if order.origin is not Origin.OURS:
        return (_cancel(order, "flatten: foreign order"),) if cancel_foreign else ()
    return (_cancel(order, "serves no intent"),)


def _cancel(order: OrderRecord, reason: str) -> Action:
    return _action(
        kind=ActionKind.CANCEL,
        intent_id=order.intent_id,
        client_order_id=order.client_order_id or "",
        order_id=order.order_id,
        reason=reason,
    )


def _place(
    want: TargetOrder,
    attempt: int,
    quantity: Decimal,
    ctx: _Ctx,
    replacing: OrderRecord | None = None,
) -> Action:
    """A new attempt of `want` for `quantity`; an amend when it replaces a live order."""
    old: dict[str, object] = {}
    if replacing is not None:
        old = {"order_id": replacing.order_id, "replaces": replacing.client_order_id}
    return _action(
        kind=ActionKind.AMEND if old else ActionKind.PLACE,
        intent_id=want.id,
        client_order_id=client_order_id(ctx.account, ctx.symbol, want.id, attempt, ctx.ids),
        **old,
        attempt=attempt,
        side=want.side,
        type=want.type,
        price=want.price,
        quantity=quantity,
        time_in_force=want.time_in_force,
        post_only=want.post_only,
        reduce_only=want.reduce_only,
        reason="amend" if old else "place",
    )


# --------------------------------------------------------------------------- position


def position_intent_id(generation: int, n: int) -> str:
    return f"{POSITION_PREFIX}{generation}-{n}"


def position_delta(target: EffectiveTarget, actual: KeyActual) -> Decimal:
    """`target - (position + signed open quantity of position orders)`; 0 with no target."""
    if target.position is None:
        return ZERO
    return target.position - (actual.position + actual.position_open)


def _ioc_price(side: Side, last_price: Decimal, band_bps: int, ctx: _Ctx) -> Decimal:
    """A position order's limit: the last price ± the band, rounded to the tick inward."""
    band = Decimal(band_bps) / _BPS
    if side is Side.BUY:
        price = last_price * (1 + band)
        return round_to(price, ctx.tick, "down") if ctx.tick else price
    price = last_price * (1 - band)
    return round_to(price, ctx.tick, "up") if ctx.tick else price


def _position_action(
    target: EffectiveTarget,
    actual: KeyActual,
    ctx: _Ctx,
    last_price: Decimal | None,
    band_bps: int,
) -> Action | None:
    delta = position_delta(target, actual)
    if not delta or last_price is None or target.position_paused:
        return None
    generation = target.generation or 0
    side = Side.BUY if delta > 0 else Side.SELL
    quantity = round_to(abs(delta), ctx.step) if ctx.step else abs(delta)
    price = _ioc_price(side, last_price, band_bps, ctx)
    if price <= 0 or not ctx.placeable(quantity, price):
        return None
    n = 1
    while position_intent_id(generation, n) in actual.intents:
        n += 1
    intent = position_intent_id(generation, n)
    return _action(
        kind=ActionKind.PLACE,
        intent_id=intent,
        client_order_id=client_order_id(ctx.account, ctx.symbol, intent, 1, ctx.ids),
        attempt=1,
        side=side,
        type=OrderType.LIMIT,
        price=price,
        quantity=quantity,
        time_in_force=TimeInForce.IOC,
        reduce_only=target.reduce_only_position,
        position_order=True,
        reason=f"position delta {delta}",
    )


# --------------------------------------------------------------------------- plan


def diff(
    target: EffectiveTarget,
    actual: KeyActual,
    market: MarketInfo | None,
    *,
    last_price: Decimal | None = None,
    ioc_band_bps: int = 50,
    limits: RiskLimits = NO_LIMITS,
    previous: Plan | None = None,
    view: AccountRiskView | Callable[[], AccountRiskView] = NO_VIEW,
    ids: IdScheme = IdScheme.DASHED,
) -> Plan:
    """The plan that converges `actual` (one key) to `target` (module docstring). `view`:
    the account's facts for the exposure gates (`risk.check_exposure`), or a function that
    builds them, called only when a plan places or amends and an exposure gate needs them;
    `ids`: how the venue's client order ids are written (`core.ids`)."""
    ctx = _Ctx.of(target.key, market, ids)
    decisions = _decisions(target, actual, market, ctx, previous)
    raw = _flatten(decisions)
    move = _position_action(target, actual, ctx, last_price, ioc_band_bps)
    if move is not None:
        raw.append(move)
    book, ceiling = None, None
    if raw and market is not None and limits.exposure:
        size = market.contract_size
        ceiling = KeyBook(actual.position * size, actual.buying * size, actual.selling * size)
        book = functools.partial(_book, actual, raw, market)
    actions, reasons = screen(
        raw, limits, live_count=len(actual.live), last_price=last_price, market=market,
        book=book, view=view, ceiling=ceiling,
    )  # fmt: skip
    settled = _position_settled(position_delta(target, actual), ctx, last_price, ioc_band_bps)
    cache = _Cache(
        target.key,
        target.accepted,
        0 if target.accepted is None else target.accepted.journal.seq,
        actual,
        actual.journal.seq,
        target.excluded,
        target.reduced,
        target.hold_orders,
        market,
        decisions,
        target.cancel_foreign,
    )
    return Plan(
        key=target.key,
        generation=target.generation,
        target_event_id=target.target_event_id,
        actions=actions,
        risk=reasons,
        converged=not raw and not actual.pending and settled and target.wake_at is None,
        waiting=len(actual.pending),
        cache=cache,
    )


def _book(actual: KeyActual, raw: list[Action], market: MarketInfo) -> KeyBook:
    """The key's position and working orders (base units) once the plan's cancels and
    its amends' old orders are gone (orders already being cancelled do not count): the
    projection's working totals (`KeyActual.buying`, `selling`) less those orders,
    O(actions) whatever the number of live orders."""
    going = {a.client_order_id for a in raw if a.kind is ActionKind.CANCEL}
    going.update(a.replaces for a in raw if a.replaces is not None)
    buying, selling = actual.buying, actual.selling
    for ref in going:
        order = actual.order(ref) if ref in actual.live else None
        if order is None or order.pending == "cancel":
            continue
        if order.side is Side.BUY:
            buying -= order.remaining
        else:
            selling -= order.remaining
    size = market.contract_size
    return KeyBook(actual.position * size, buying * size, selling * size)


def _position_settled(delta: Decimal, ctx: _Ctx, last_price: Decimal | None, band_bps: int) -> bool:
    """The position is as close to its target as orders can take it: the rest is below
    one step, the minimum quantity or the minimum notional at the price a position order
    would carry (`_ioc_price`, as `_position_action` judges it)."""
    if not delta:
        return True
    size = round_to(abs(delta), ctx.step) if ctx.step else abs(delta)
    if last_price is None:
        return size <= 0 or size < ctx.min_quantity
    price = _ioc_price(Side.BUY if delta > 0 else Side.SELL, last_price, band_bps, ctx)
    return price <= 0 or not ctx.placeable(size, price)


def _flatten(decisions: Map[str, tuple[Action, ...]]) -> list[Action]:
    raw = [a for acts in decisions.values() for a in acts]
    raw.sort(key=lambda a: (_RANK[a.kind], a.intent_id or "", a.client_order_id))
    return raw


def _decisions(
    target: EffectiveTarget,
    actual: KeyActual,
    market: MarketInfo | None,
    ctx: _Ctx,
    previous: Plan | None,
) -> Map[str, tuple[Action, ...]]:
    cache = None if previous is None else previous.cache
    changed = None if cache is None else _changed(cache, target, actual, market)
    if cache is None or changed is None:
        return _decide_all(_all_names(target, actual), target, actual, ctx, _EMPTY)
    if not changed:
        return cache.decisions
    return _decide_all(changed, target, actual, ctx, cache.decisions)


def _decide_all(
    names: Iterable[str],
    target: EffectiveTarget,
    actual: KeyActual,
    ctx: _Ctx,
    base: Map[str, tuple[Action, ...]],
) -> Map[str, tuple[Action, ...]]:
    with base.mutate() as out:
        for name in names:
            actions = decide(name, target, actual, ctx)
            if actions:
                out[name] = actions
            elif name in out:
                del out[name]
        result = out.finish()
    return result


def _all_names(target: EffectiveTarget, actual: KeyActual) -> set[str]:
    names: set[str] = set()
    if target.accepted is not None and target.hold_orders:
        names.update(target.accepted.orders.keys())
    orders = actual.orders
    for ref in actual.live:
        intent_id = orders[ref].intent_id
        names.add(intent_id if intent_id is not None else orphan_name(ref))
    return names


def _reduced_changes(now: Map[str, TargetOrder], then: Map[str, TargetOrder]) -> set[str]:
    """Intent ids whose liquidate-only reduction differs between two plans."""
    names = {i for i, o in now.items() if then.get(i) != o}
    names.update(i for i in then if i not in now)
    return names


def _changed(
    cache: _Cache, target: EffectiveTarget, actual: KeyActual, market: MarketInfo | None
) -> frozenset[str] | None:
    """Names whose decision may differ from the cached one; None = decide everything."""
    if (
        cache.key != target.key
        or cache.hold_orders != target.hold_orders
        or cache.cancel_foreign != target.cancel_foreign
        or (cache.market is not market and cache.market != market)
    ):
        return None
    names: set[str] = set()
    if target.accepted is not cache.accepted:
        if target.accepted is None or cache.accepted is None:
            return None
        since = target.accepted.journal.since(cache.target_seq)
        if since is None:
            return None
        names.update(since)
    if actual is not cache.actual:
        moved = actual.journal.since(cache.actual_seq)
        if moved is None:
            return None
        names.update(moved)
    if target.excluded != cache.excluded:
        names.update(target.excluded ^ cache.excluded)
    if target.reduced is not cache.reduced:
        names.update(_reduced_changes(target.reduced, cache.reduced))
    return frozenset(names)
