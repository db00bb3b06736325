"""The effective target: what the differ converges to, after what a target may add
(docs/semantics.md §3) and the account mode.

`effective_target(target, actual, account_state, now)` keeps the accepted target's orders
except:

* ``oco``: in an oco group where some order has a fill, the orders without a fill drop out
  at once (the filled one keeps working for its rest);
* ``expired``: at or after `expires_at`, no orders at all; the position target is kept;
* ``liquidate_only`` (account mode): only orders that reduce the position stay (sells when
  long, buys when short, none when flat), and the position target is clamped between the
  current position and zero (it may shrink the position, never grow or flip it);
* ``retry_backoff``: an intent whose last attempts the venue rejected non-terminally
  (`KeyActual.backoff`) and that has no live order is left out until `retry_after`; the
  `POSITION_BACKOFF` entry pauses position orders (`position_paused`) the same way.
  `wake_at` is the earliest such `retry_after`: the caller decides the key again then (no
  event marks the end of a backoff).

Each exclusion is reported as a `RiskReason` (rule ``oco`` / ``expired`` /
``liquidate_only`` / ``retry_backoff``). Risk limits on single actions (notional, open
orders, price band) are applied to the plan's actions by `risk.screen`, called from
`diff`, because they judge what would be sent, not what is already working.

The result shares the accepted target's order map, so it costs O(oco orders + backoff
entries) in the normal mode (O(orders) in liquidate-only mode) and the differ can diff
incrementally.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from setpoint.core.events import AccountMode, RiskReason
from setpoint.core.model import Key, Side, TargetOrder
from setpoint.core.projections import (
    POSITION_BACKOFF,
    AcceptedTarget,
    AccountActual,
    Backoff,
    KeyActual,
)

__all__ = ["EffectiveTarget", "effective_target"]


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

    @property
    def generation(self) -> int | None:
        return None if self.accepted is None else self.accepted.generation

    @property
    def target_event_id(self) -> str | None:
        return None if self.accepted is None else self.accepted.event_id

    def order(self, intent_id: str) -> TargetOrder | None:
        if self.accepted is None or not self.hold_orders or intent_id in self.excluded:
            return None
        return self.accepted.orders.get(intent_id)

    def orders(self) -> Iterator[TargetOrder]:
        if self.accepted is None or not self.hold_orders:
            return iter(())
        excluded = self.excluded
        return (o for i, o in self.accepted.orders.items() if i not in excluded)


def effective_target(
    target: AcceptedTarget | None,
    actual: KeyActual,
    account_state: AccountActual,
    now: datetime,
    key: Key | None = None,
) -> EffectiveTarget:
    """The effective target of a key (module docstring). `key` is needed only when
    `target` is None (no target yet: no orders, no position target)."""
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
    if account_state.mode is AccountMode.LIQUIDATE_ONLY:
        more, more_reasons = _liquidate_only(target, actual.position, excluded)
        excluded, reasons = excluded | more, reasons + more_reasons
        position = _clamp(position, actual.position)
    if not actual.backoff:
        return EffectiveTarget(state.key, target, excluded, True, position, reasons)
    waiting, wait_reasons, paused, wake = _backing_off(target, actual, now, excluded)
    return EffectiveTarget(
        state.key, target, excluded | waiting, True, position, reasons + wait_reasons,
        paused, wake,
    )  # fmt: skip


_Wait = tuple[frozenset[str], tuple[RiskReason, ...], bool, datetime | None]
_NO_WAIT: _Wait = (frozenset(), (), False, None)


def _backing_off(
    target: AcceptedTarget, actual: KeyActual, now: datetime, already: frozenset[str] | None
) -> _Wait:
    """Intents (and the position family) still in their retry backoff at `now`: excluded
    intents, reasons, position paused, earliest end. `already` None: the position only."""
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


def _liquidate_only(
    target: AcceptedTarget, position: Decimal, already: frozenset[str]
) -> tuple[frozenset[str], tuple[RiskReason, ...]]:
    """Orders that would not reduce `position` (every order when flat)."""
    reducing = Side.SELL if position > 0 else Side.BUY if position < 0 else None
    out = [i for i, o in target.orders.items() if i not in already and o.side is not reducing]
    detail = f"account is liquidate-only; position {position}"
    reasons = tuple(RiskReason(intent_id=i, rule="liquidate_only", detail=detail) for i in out)
    return frozenset(out), reasons


def _clamp(target: Decimal | None, position: Decimal) -> Decimal | None:
    """A position target that may move `position` toward zero, never away or across."""
    if target is None:
        return None
    low, high = (min(position, Decimal(0)), max(position, Decimal(0)))
    return min(max(target, low), high)
