"""Following a flatten (`setpoint kill --flatten`): read the log from the start, take the
account's state when its `AccountModeChanged` to flatten was recorded, then keep folding
the new records and print, per key, what was cancelled, closed and what remains
(`core.flatten`) whenever it changes, until the account is flat or the deadline passes.

Lines (stdout):

    BTC/USDT: cancelled 2, closed 0.5, remaining 0, open orders 0
    BTC/USDT:USDT: cancelled 1, closed 0, remaining -0.3, open orders 0; no fill within
      the band (2 attempt(s) in a row); retrying after 2026-01-01T00:00:05+00:00
    foreign orders: 1 left at the last reconciliation           (--all)
    flat: account e2e has no position to close and no order working
    not flat after 60s: BTC/USDT:USDT remaining -0.3; ...

`follow` returns OK when flat, FAILED when something is left at the deadline or the
account left flatten meanwhile (someone resumed it).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

from setpoint.core.flatten import (
    KeyProgress,
    flatten_done,
    flatten_progress,
    foreign_left,
)
from setpoint.core.projections import ActualState, apply_actual
from setpoint.ops.exits import FAILED, OK
from setpoint.ops.logread import opened_log

POLL_S = 0.5  # float-ok


def describe(p: KeyProgress) -> str:
    """One key's progress as one line."""
    line = (
        f"{p.key.symbol}: cancelled {p.cancelled}, closed {_plain(p.closed)}, "
        f"remaining {_plain(p.remaining)}, open orders {p.open_orders}"
    )
    return f"{line}; {p.retry}" if p.retry else line


def left(progress: tuple[KeyProgress, ...], foreign: int | None, cancel_foreign: bool) -> str:
    """What is left, for the final line."""
    parts = [
        f"{p.key.symbol} remaining {_plain(p.remaining)}, open orders {p.open_orders}"
        for p in progress
        if not p.done
    ]
    if cancel_foreign and foreign != 0:
        parts.append(
            "foreign orders not yet checked" if foreign is None else f"{foreign} foreign order(s)"
        )
    return "; ".join(parts)


def _plain(quantity: Decimal) -> str:
    """`0.00100000` -> `0.001`, `0E-8` -> `0` (never an exponent)."""
    return f"{quantity.normalize():f}" if quantity else "0"


async def follow(
    config: str | None,
    account: str,
    event_id: str,
    cancel_foreign: bool,
    deadline: float,  # float-ok: monotonic seconds
) -> int:
    """Follow the flatten recorded as `event_id` until flat or `deadline` (monotonic)."""
    started = time.monotonic()
    async with opened_log(config) as log:
        state, then, since = ActualState.empty(), None, 0
        shown: dict[str, str] = {}
        shown_foreign: int | None = None
        while True:
            async for rec in log.read_all(state.position + 1):
                state = apply_actual(state, rec.position, rec.event)
                if then is None and rec.event.event_id == event_id:
                    then, since = state, rec.position
            if then is not None:
                if not state.mode(account).flattening:
                    print(f"account {account} left flatten: it is {state.mode(account).value}")
                    return FAILED
                now = datetime.now(UTC)
                progress = flatten_progress(then, state, account, now, foreign=cancel_foreign)
                foreign = foreign_left(state, account, since)
                _show(progress, shown)
                if cancel_foreign and foreign is not None and foreign != shown_foreign:
                    print(f"foreign orders: {foreign} left at the last reconciliation", flush=True)
                    shown_foreign = foreign
                if flatten_done(progress, foreign, cancel_foreign):
                    print(f"flat: account {account} has no position to close and no order working")
                    return OK
                if time.monotonic() > deadline:
                    waited = round(time.monotonic() - started)
                    print(
                        f"not flat after {waited}s: {left(progress, foreign, cancel_foreign)}; "
                        f"the account stays in flatten and keeps retrying "
                        f"(`setpoint kill --account {account} --resume` returns it to normal)"
                    )
                    return FAILED
            elif time.monotonic() > deadline:
                print(f"the flatten {event_id} is not on the log")
                return FAILED
            await asyncio.sleep(POLL_S)


def _show(progress: tuple[KeyProgress, ...], shown: dict[str, str]) -> None:
    """Print the line of each key whose progress changed since it was last printed."""
    for p in progress:
        line = describe(p)
        name = p.key.symbol or ""
        if shown.get(name) != line:
            shown[name] = line
            print(line, flush=True)
