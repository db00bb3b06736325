"""How far a flatten has got (`setpoint kill --flatten`): a pure comparison of the actual
projection when the account's `AccountModeChanged` to `flatten` / `flatten_all` was
recorded with the projection now.

`flatten_progress(then, now, account, at, foreign=...)` gives one `KeyProgress` per key
of the account that had or has something to close: orders working, or a position to close
(`closable`: the whole position on a derivative; on spot what the key's fills bought and
did not sell, never less than zero, since a flatten never buys on spot). Per key:

* `cancelled`: orders live at the flatten that are not any more (ours; adopted foreign
  ones too under `foreign`);
* `closed`: how much of the position the flatten has taken off (toward zero);
* `remaining`: the position still to close; `open_orders`: orders still live;
* `retry`: why the position is not closing just now — its position orders found no
  liquidity within the band (or were rejected) and the next is sent after a backoff.

A key is done when nothing remains and no order works. Foreign orders the log never
adopted are judged from the account's reconciliations (`foreign_left`): under `foreign`,
the flatten is done only once a reconciliation recorded after it found no zombie.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from setpoint.core.events import Origin
from setpoint.core.model import Key, MarketInfo
from setpoint.core.numeric import ZERO
from setpoint.core.projections import POSITION_BACKOFF, ActualState, KeyActual

__all__ = ["KeyProgress", "closable", "flatten_done", "flatten_progress", "foreign_left"]


@dataclass(frozen=True, slots=True)
class KeyProgress:
    key: Key
    cancelled: int
    closed: Decimal
    remaining: Decimal
    open_orders: int
    retry: str | None = None

    @property
    def done(self) -> bool:
        return self.remaining == 0 and self.open_orders == 0


def closable(position: Decimal, market: MarketInfo | None) -> Decimal:
    """The part of `position` a flatten closes (module docstring)."""
    if market is not None and not market.is_derivative:
        return max(position, ZERO)
    return position


def flatten_progress(
    then: ActualState, now: ActualState, account: str, at: datetime, *, foreign: bool = False
) -> tuple[KeyProgress, ...]:
    """One `KeyProgress` per key with something to close then or now, by symbol."""
    keys = {k for state in (then, now) for k in state.keys if k.account == account and k.symbol}
    out = []
    for key in sorted(keys, key=str):
        progress = _key_progress(key, then, now, at, foreign)
        if progress is not None:
            out.append(progress)
    return tuple(out)


def _key_progress(
    key: Key, then: ActualState, now: ActualState, at: datetime, foreign: bool
) -> KeyProgress | None:
    market = now.market(key)
    before, after = then.key(key), now.key(key)
    live_then = _live(before, foreign)
    live_now = _live(after, foreign)
    pos_then = closable(before.position, market)
    pos_now = closable(after.position, market)
    if not live_then and not live_now and not pos_then and not pos_now:
        return None
    closed = max(abs(pos_then) - abs(pos_now), ZERO) if pos_then * pos_now >= 0 else ZERO
    return KeyProgress(
        key,
        cancelled=len(live_then - live_now),
        closed=closed,
        remaining=pos_now,
        open_orders=len(live_now),
        retry=_retry(after, at) if pos_now else None,
    )


def _live(actual: KeyActual, foreign: bool) -> frozenset[str]:
    """Refs of the key's live orders that a flatten cancels."""
    return frozenset(
        o.ref
        for o in actual.live_orders()
        if not o.position_order and (o.origin is Origin.OURS or foreign)
    )


def _retry(actual: KeyActual, at: datetime) -> str | None:
    entry = actual.backoff.get(POSITION_BACKOFF)
    if entry is None or entry.retry_after <= at:
        return None
    return (
        f"no fill within the band ({entry.rejections} attempt(s) in a row); "
        f"retrying after {entry.retry_after.isoformat(timespec='seconds')}"
    )


def foreign_left(now: ActualState, account: str, since: int) -> int | None:
    """Zombies (orders open at the venue that the log does not hold) the account's newest
    reconciliation recorded after log position `since` found; None when none is recorded
    yet or it could not read everything."""
    newest = None
    for key, summary in now.reconciliations.items():
        later = newest is None or summary.position > newest.position
        if key.account == account and summary.position > since and later:
            newest = summary
    if newest is None or not newest.data.ok:
        return None
    return newest.data.zombies


def flatten_done(
    progress: tuple[KeyProgress, ...], foreign: int | None, cancel_foreign: bool
) -> bool:
    """Every key done and, under `cancel_foreign`, a reconciliation since found no zombie."""
    if cancel_foreign and foreign != 0:
        return False
    return all(p.done for p in progress)
