"""The effective target: what the differ converges to, after what a target may add
(docs/semantics.md §3) and the account mode.

`effective_target(target, actual, account_state, now)` keeps the accepted target's orders
except:

* ``oco``: in an oco group where some order has a fill, the orders without a fill drop out
  at once (the filled one keeps working for its rest);
* ``expired``: at or after `expires_at`, no orders at all; the position target is kept;
* ``liquidate_only`` (account mode): the position target is clamped between the current
  position and zero (it may shrink the position, never grow or flip it), and at most the
  position's size stays working on the reducing side (sells when long, buys when short,
  nothing when flat), counted cumulatively (`liquidate_only_orders`): first what position
  orders will still do (open ones, and the move the clamped position target asks for),
  then the target's reducing orders nearest the market first (market orders, then sells
  by rising price / buys by falling price; ties by intent id) while their remaining
  quantities (`quantity - filled`) fit; the first that does not fit is reduced to what is
  left (rounded down to the step) when that is placeable (step, minimum quantity, minimum
  notional at its price), else dropped; every later one is dropped. The choice depends
  only on the log, so a replay makes it again, and it is made again after every fill;
* ``flatten`` (account mode `flatten` / `flatten_all`, `setpoint kill --flatten`): no
  target orders at all, and the position target is zero — on a derivative always, closed
  with reduce-only position orders (`reduce_only_position`); on spot only when the key's
  fills bought more than they sold (a spot key sells what it bought, never more than the
  fold says it holds, and never buys). `flatten_all` also asks the diff to cancel adopted
  foreign orders (`cancel_foreign`). It needs no accepted target: a key the account knows
  only from its facts (a position, orders) is flattened too. Position orders keep their
  retry backoff, so a position that finds no liquidity within the band is tried again,
  and wait (`position_paused`) while orders the flatten cancels are still live: cancel
  first, then close;
* ``retry_backoff``: an intent whose last attempts the venue rejected non-terminally
  (`KeyActual.backoff`) and that has no live order is left out until `retry_after`; the
  `POSITION_BACKOFF` entry pauses position orders (`position_paused`) the same way.
  `wake_at` is the earliest such `retry_after`: the caller decides the key again then (no
  event marks the end of a backoff).

Each exclusion is reported as a `RiskReason` (rule ``oco`` / ``expired`` /
``liquidate_only`` / ``retry_backoff``). Risk limits on single actions (notional, open
orders, price band) are applied to the plan's actions by `risk.screen`, called from
`diff`, because they judge what would be sent, not what is already working.

A reduced order is in `reduced` (intent id → the order with its smaller quantity).

The result shares the accepted target's order map, so it costs O(oco orders + backoff
entries) in the normal mode (O(orders) in liquidate-only mode) and the differ can diff
incrementally.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from immutables import Map

from setpoint.core.events import AccountMode, Origin, RiskReason
from setpoint.core.model import Key, MarketInfo, Side, TargetOrder
from setpoint.core.numeric import ZERO, round_to
from setpoint.core.projections import (
    POSITION_BACKOFF,
    AcceptedTarget,
    AccountActual,
    Backoff,
    KeyActual,
)

__all__ = ["EffectiveTarget", "effective_target", "liquidate_only_orders"]

_NO_REDUCED: Map[str, TargetOrder] = Map()


@dataclass(frozen=True, slots=True)
class EffectiveTarget:
    """The target to converge to for one key.

    `order(intent_id)` is the target order to keep working, or None when the intent is not
    listed, is excluded, or orders are not held at all (`hold_orders` False)."""

    key: Key
    accepted: AcceptedTarget | None
    excluded: frozenset[str] = frozenset()
    hold_orders: bool = True
    position: Decimal | None = None
    reasons: tuple[RiskReason, ...] = ()
    position_paused: bool = False
    """Position orders wait: the last one was rejected non-terminally or ended with nothing
    filled (``retry_backoff``)."""
    wake_at: datetime | None = None
    """The earliest moment a backoff ends (decide the key again then); None if none."""
    reduced: Map[str, TargetOrder] = _NO_REDUCED
    """Orders kept with a smaller quantity (liquidate-only), by intent id."""
    reduce_only_position: bool = False
    """Position orders carry the venue's reduce-only flag (flatten, derivatives)."""
    cancel_foreign: bool = False
    """Adopted foreign orders are cancelled too (`flatten_all`)."""

    @property
    def generation(self) -> int | None:
        return None if self.accepted is None else self.accepted.generation

    @property
    def target_event_id(self) -> str | None:
        return None if self.accepted is None else self.accepted.event_id

    def order(self, intent_id: str) -> TargetOrder | None:
        if self.accepted is None or not self.hold_orders or intent_id in self.excluded:
            return None
        if self.reduced:
            smaller = self.reduced.get(intent_id)
            if smaller is not None:
                return smaller
        return self.accepted.orders.get(intent_id)

    def orders(self) -> Iterator[TargetOrder]:
        if self.accepted is None or not self.hold_orders:
            return iter(())
        excluded, reduced = self.excluded, self.reduced
        return (reduced.get(i, o) for i, o in self.accepted.orders.items() if i not in excluded)


def effective_target(
    target: AcceptedTarget | None,
    actual: KeyActual,
    account_state: AccountActual,
    now: datetime,
    key: Key | None = None,
) -> EffectiveTarget:
    """The effective target of a key (module docstring). `key` is needed only when
    `target` is None (no target yet: no orders, no position target)."""
    if account_state.mode.flattening:
        return _flattening(target, actual, account_state, now, key)
    if target is None:
        if key is None:
            raise ValueError("effective_target needs a key when there is no target")
        return EffectiveTarget(key, None)
    state = target.target
    expires = state.expires_at
    if expires is not None and now >= expires:
        reason = RiskReason(rule="expired", detail=f"target expired at {expires.isoformat()}")
        pos_wait = _backing_off(target, actual, now, None) if actual.backoff else _NO_WAIT
        return EffectiveTarget(
            state.key, target, hold_orders=False, position=state.position,
            reasons=(reason, *pos_wait[1]), position_paused=pos_wait[2], wake_at=pos_wait[3],
        )  # fmt: skip
    excluded, reasons = _oco_excluded(target, actual)
    position = state.position
    reduced = _NO_REDUCED
    if account_state.mode is AccountMode.LIQUIDATE_ONLY:
        position = _clamp(position, actual.position)
        market = None if state.key.symbol is None else account_state.markets.get(state.key.symbol)
        more, reduced, more_reasons = liquidate_only_orders(
            target, actual, position, excluded, market
        )
        excluded, reasons = excluded | more, reasons + more_reasons
    if not actual.backoff:
        return EffectiveTarget(
            state.key, target, excluded, True, position, reasons, reduced=reduced
        )
    waiting, wait_reasons, paused, wake = _backing_off(target, actual, now, excluded)
    return EffectiveTarget(
        state.key, target, excluded | waiting, True, position, reasons + wait_reasons,
        paused, wake, reduced,
    )  # fmt: skip


def _flattening(
    target: AcceptedTarget | None,
    actual: KeyActual,
    account_state: AccountActual,
    now: datetime,
    key: Key | None,
) -> EffectiveTarget:
    """The effective target while the account is flattening (module docstring)."""
    key = target.target.key if target is not None else key
    if key is None:
        raise ValueError("effective_target needs a key when there is no target")
    market = None if key.symbol is None else account_state.markets.get(key.symbol)
    derivative = market is not None and market.is_derivative
    position = ZERO if derivative or actual.position > 0 else actual.position
    detail = f"account is flattening; position {actual.position}"
    reasons: tuple[RiskReason, ...] = (RiskReason(rule="flatten", detail=detail),)
    paused, wake = False, None
    if actual.backoff:
        _, waits, paused, wake = _backing_off(target, actual, now, None)
        reasons += waits
    flatten_all = account_state.mode is AccountMode.FLATTEN_ALL
    going = _still_working(actual, flatten_all)
    if going:
        paused = True
        why = f"flatten: closing the position after {going} order(s) are cancelled"
        reasons += (RiskReason(intent_id=POSITION_BACKOFF, rule="flatten", detail=why),)
    return EffectiveTarget(
        key, target, hold_orders=False, position=position, reasons=reasons,
        position_paused=paused, wake_at=wake, reduce_only_position=derivative,
        cancel_foreign=flatten_all,
    )  # fmt: skip


def _still_working(actual: KeyActual, foreign: bool) -> int:
    """Live orders a flatten cancels (ours but position orders; foreign ones too under
    `foreign`): the position orders wait until they are gone, so that the executor, which
    counts working orders on the reducing side, never sees the close as growing the
    position."""
    return sum(
        1
        for o in actual.live_orders()
        if not o.position_order and (foreign or o.origin is Origin.OURS)
    )


_Wait = tuple[frozenset[str], tuple[RiskReason, ...], bool, datetime | None]
_NO_WAIT: _Wait = (frozenset(), (), False, None)


def _backing_off(
    target: AcceptedTarget | None,
    actual: KeyActual,
    now: datetime,
    already: frozenset[str] | None,
) -> _Wait:
    """Intents (and the position family) still in their retry backoff at `now`: excluded
    intents, reasons, position paused, earliest end. `already` None (or no `target`): the
    position only."""
    out: list[str] = []
    reasons: list[RiskReason] = []
    paused, wake = False, None
    entries: list[tuple[str, Backoff]] = sorted(actual.backoff.items())
    for name, entry in entries:
        if entry.retry_after <= now:
            continue
        if name == POSITION_BACKOFF:
            paused = True
        elif (
            already is None
            or target is None
            or name in already
            or name not in target.orders
            or actual.progress(name).live
        ):
            continue
        else:
            out.append(name)
        wake = entry.retry_after if wake is None else min(wake, entry.retry_after)
        failed = "failed attempt(s)" if name == POSITION_BACKOFF else "non-terminal rejection(s)"
        retry = entry.retry_after.isoformat()
        detail = f"{entry.rejections} consecutive {failed}; retry after {retry}"
        reasons.append(RiskReason(intent_id=name, rule="retry_backoff", detail=detail))
    return frozenset(out), tuple(reasons), paused, wake


def _oco_excluded(
    target: AcceptedTarget, actual: KeyActual
) -> tuple[frozenset[str], tuple[RiskReason, ...]]:
    """Unfilled siblings of every oco group in which some order has a fill."""
    if not target.oco:
        return frozenset(), ()
    out: list[str] = []
    reasons: list[RiskReason] = []
    for group, members in target.oco.items():
        filled = [i for i in members if actual.progress(i).filled > 0]
        if not filled:
            continue
        for intent_id in members:
            if intent_id not in filled:
                out.append(intent_id)
                detail = f"oco group {group}: {filled[0]} has a fill"
                reasons.append(RiskReason(intent_id=intent_id, rule="oco", detail=detail))
    return frozenset(out), tuple(reasons)


_Liquidation = tuple[frozenset[str], Map[str, TargetOrder], tuple[RiskReason, ...]]


def liquidate_only_orders(
    target: AcceptedTarget,
    actual: KeyActual,
    position_target: Decimal | None,
    already: frozenset[str],
    market: MarketInfo | None = None,
) -> _Liquidation:
    """What liquidate-only leaves of the target's orders (module docstring): the intents
    dropped, the intents reduced (intent id → smaller order) and a reason for each.
    `position_target` is the clamped one; `already` are excluded by another rule."""
    position = actual.position
    reducing = Side.SELL if position > 0 else Side.BUY if position < 0 else None
    room = _room(position, actual.position_open, position_target)
    candidates: list[TargetOrder] = []
    out: list[str] = []
    for intent_id, o in target.orders.items():
        if intent_id in already:
            continue
        if o.side is reducing:
            candidates.append(o)
        else:
            out.append(intent_id)
    detail = f"account is liquidate-only; position {position}"
    reasons = [RiskReason(intent_id=i, rule="liquidate_only", detail=detail) for i in out]
    reduced: dict[str, TargetOrder] = {}
    candidates.sort(key=_nearest_first)
    full = False
    for o in candidates:
        progress = actual.progress(o.id)
        rest = ZERO if progress.consumed else o.quantity - progress.filled
        if rest <= 0:
            continue  # nothing left to work (the diff cancels what is live)
        if not full and rest <= room:
            room -= rest
            continue
        fit = _placeable_part(room, o.price, market) if not full else ZERO
        full = True
        if fit > 0:
            reduced[o.id] = o.model_copy(update={"quantity": progress.filled + fit})
            room -= fit
            why = f"reduced to {fit} to stay within position {position}"
            reasons.append(RiskReason(intent_id=o.id, rule="liquidate_only", detail=why))
            continue
        out.append(o.id)
        why = f"{detail}: no room left on the reducing side"
        reasons.append(RiskReason(intent_id=o.id, rule="liquidate_only", detail=why))
    return frozenset(out), Map(reduced) if reduced else _NO_REDUCED, tuple(reasons)


def _room(position: Decimal, position_open: Decimal, position_target: Decimal | None) -> Decimal:
    """How much the target's reducing orders may still do: the position's size less what
    open position orders and the move toward the position target will do first."""
    room = abs(position)
    if position_open and (position_open > 0) != (position > 0):
        room -= abs(position_open)
    if position_target is not None:
        move = position_target - (position + position_open)
        if move and (move > 0) != (position > 0):
            room -= abs(move)
    return max(room, ZERO)


def _nearest_first(o: TargetOrder) -> tuple[int, Decimal, str]:
    """Market orders first, then the price the market reaches first, then intent id."""
    if o.price is None:
        return (0, ZERO, o.id)
    return (1, o.price if o.side is Side.SELL else -o.price, o.id)


def _placeable_part(room: Decimal, price: Decimal | None, market: MarketInfo | None) -> Decimal:
    """`room` rounded down to the step when that is a placeable order, else 0."""
    if room <= 0:
        return ZERO
    if market is None:
        return room
    fit = round_to(room, market.step)
    if fit <= 0 or fit < market.step or fit < market.min_quantity:
        return ZERO
    if price is not None and price * fit < market.min_notional:  # as the diff judges it
        return ZERO
    return fit


def _clamp(target: Decimal | None, position: Decimal) -> Decimal | None:
    """A position target that may move `position` toward zero, never away or across."""
    if target is None:
        return None
    low, high = (min(position, Decimal(0)), max(position, Decimal(0)))
    return min(max(target, low), high)
