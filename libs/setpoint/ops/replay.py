"""`setpoint replay [--until TIME|SEQ] [--account A] [--symbol S] [--json]`.

Rebuilds the intent and actual projections (core.projections) from the log as of a point
and prints them: a table by default, or the JSON of docs/operations.md ("replay"):
`{"position": SEQ, "keys": [{"account", "symbol", "generation", "position",
"target_position", "intents": [...], "open_orders": [{"client_order_id", "order_id",
"side", "price", "quantity", "filled"}]}]}`.

`--until SEQ` folds the events at positions up to SEQ; `--until TIME` (RFC 3339, UTC when
no zone is given; or a time of day today, local time, `19:50:20`; or a time ago, `5m`,
`2h ago`: `UNTIL_FORMS`) folds the log up to the first event that occurred after TIME. `position`
in the output is the last log position read. `--account` / `--symbol` only select what is
folded and shown: keys are independent, so the selected keys come out as in a full replay.
"""

from __future__ import annotations

import argparse
import re
import sys
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any

from rich.console import Console
from rich.table import Table

from setpoint.core.model import Key
from setpoint.core.projections import (
    AcceptedTarget,
    ActualState,
    IntentState,
    KeyActual,
    OrderRecord,
    apply_actual,
    apply_intent,
)
from setpoint.eventlog.port import EventLog
from setpoint.eventlog.projection import gc_paused
from setpoint.ops import output
from setpoint.ops.exits import OK, USAGE
from setpoint.ops.logread import dec, opened_log, parse_time, print_json, run_on_log, stream

_INTENT_TYPES = frozenset({"TargetPublished", "DiffComputed"})


@dataclass(frozen=True, slots=True)
class Until:
    """Where a replay stops: a log position, a time, or (both None) the head."""

    position: int | None = None
    time: datetime | None = None

    @classmethod
    def parse(cls, text: str | None, now: datetime | None = None) -> Until:
        """One of `UNTIL_FORMS`: `"1234"` is a position; `"2026-01-01T12:00:00Z"` an RFC
        3339 time (UTC without a zone); `"19:50:20"` or `"19:50"` a time of day today in
        the machine's local time zone; `"5m"`, `"2h ago"`, `"90s"`, `"1d"` that long
        before `now` (default: the clock). ValueError for anything else."""
        if text is None:
            return cls()
        value = text.strip()
        if value.isdigit():
            return cls(position=int(value))
        current = now or datetime.now(UTC)
        relative = _RELATIVE.fullmatch(value.lower())
        if relative is not None:
            amount, unit = int(relative["amount"]), relative["unit"]
            return cls(time=current - timedelta(seconds=amount * _UNIT_S[unit]))
        if _TIME_OF_DAY.fullmatch(value):
            local = current.astimezone()
            clock = dt_time.fromisoformat(value)
            return cls(time=datetime.combine(local.date(), clock, local.tzinfo).astimezone(UTC))
        return cls(time=parse_time(value))


UNTIL_FORMS = (
    "a log position (1234)",
    "an RFC 3339 time (2026-01-01T19:50:20Z; UTC without a zone)",
    "a time of day today, local time (19:50:20 or 19:50)",
    "a time ago (90s, 5m, 2h ago, 1d; units s, m, h, d)",
)
"""What `--until` accepts, as the error message lists it."""

_RELATIVE = re.compile(r"(?P<amount>\d+)\s*(?P<unit>s|m|h|d)(?:\s+ago)?")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?")


@dataclass(frozen=True, slots=True)
class Replayed:
    """Both projections as of `position` (the last log position read)."""

    intent: IntentState
    actual: ActualState
    position: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--until",
        metavar="TIME|SEQ",
        help="stop at this position or time: " + "; ".join(UNTIL_FORMS),
    )
    parser.add_argument("--account", help="only this account")
    parser.add_argument("--symbol", help="only this unified symbol (e.g. BTC/USDT)")
    parser.add_argument("--json", action="store_true", help="print JSON (docs/operations.md)")


def main(config: str | None, args: argparse.Namespace) -> int:
    try:
        until = Until.parse(args.until)
    except ValueError:
        print(
            f"setpoint replay: --until {args.until!r} is neither a position nor a time; "
            f"accepted: {'; '.join(UNTIL_FORMS)}",
            file=sys.stderr,
        )
        return USAGE
    replayed = run_on_log("replay", _run(config, until, args.account, args.symbol))
    body = snapshot(replayed, args.account, args.symbol)
    if args.json:
        print_json(body)
    else:
        render(body)
    return OK


async def _run(
    config: str | None, until: Until, account: str | None, symbol: str | None
) -> Replayed:
    async with opened_log(config) as log:
        return await replay(log, until, account=account, symbol=symbol)


def _wanted(event: Any, account: str | None, symbol: str | None) -> bool:
    if account is not None and event.account != account:
        return False
    return symbol is None or event.symbol is None or event.symbol == symbol


async def replay(
    log: EventLog,
    until: Until = Until(),
    *,
    account: str | None = None,
    symbol: str | None = None,
    progress: bool | None = None,
) -> Replayed:
    """Fold the log into both projections, from position 1 to `until`."""
    intent, actual = IntentState.empty(), ActualState.empty()
    last = 0
    with gc_paused():
        async with aclosing(stream(log, "replay", progress=progress)) as records:
            async for record in records:
                position, event = record.position, record.event
                if until.position is not None and position > until.position:
                    break
                if until.time is not None and event.occurred_at > until.time:
                    break
                last = position
                if not _wanted(event, account, symbol):
                    continue
                if event.type in _INTENT_TYPES:
                    intent = apply_intent(intent, position, event)
                actual = apply_actual(actual, position, event)
    return Replayed(intent, actual, last)


# --------------------------------------------------------------------------- JSON


def snapshot(
    replayed: Replayed, account: str | None = None, symbol: str | None = None
) -> dict[str, Any]:
    """The JSON of `setpoint replay --json`."""
    intent, actual = replayed.intent, replayed.actual
    keys = set(intent.keys()) | {k for k in actual.keys if k.symbol is not None}
    chosen = sorted(
        (k for k in keys if account in (None, k.account) and symbol in (None, k.symbol)),
        key=lambda k: (k.account, k.symbol or ""),
    )
    return {
        "position": replayed.position,
        "keys": [_key_json(k, intent.target(k), actual.key(k)) for k in chosen],
    }


def _key_json(key: Key, accepted: AcceptedTarget | None, ka: KeyActual) -> dict[str, Any]:
    target = None if accepted is None else accepted.target
    live = sorted(ka.live_orders(), key=lambda o: (o.client_order_id or "", o.order_id or ""))
    return {
        "account": key.account,
        "symbol": key.symbol,
        "generation": None if accepted is None else accepted.generation,
        "position": dec(ka.position),
        "target_position": None if target is None else dec(target.position),
        "intents": [] if target is None else [_intent_json(o, ka) for o in target.orders],
        "open_orders": [_order_json(o) for o in live],
    }


def _intent_json(order: Any, ka: KeyActual) -> dict[str, Any]:
    progress = ka.progress(order.id)
    return {
        "id": order.id,
        "side": order.side.value,
        "type": order.type.value,
        "price": dec(order.price),
        "quantity": dec(order.quantity),
        "time_in_force": order.time_in_force.value,
        "filled": dec(progress.filled),
        "attempt": progress.attempt,
        "consumed": progress.consumed,
        "live_orders": [o.client_order_id for o in ka.intent_orders(order.id)],
    }


def _order_json(order: OrderRecord) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "order_id": order.order_id,
        "side": order.side.value,
        "price": dec(order.price),
        "quantity": dec(order.quantity),
        "filled": dec(order.done),
    }


# --------------------------------------------------------------------------- table


def render(body: dict[str, Any], console: Console | None = None) -> None:
    """The snapshot as tables: one line per key, then each key's open orders."""
    out = console or output.console()
    table = Table(title=f"Projections as of log position {body['position']}")
    for column in (
        "account",
        "symbol",
        "generation",
        "position",
        "target",
        "intents",
        "open orders",
    ):
        table.add_column(column, justify="right" if column != "symbol" else "left")
    for key in body["keys"]:
        table.add_row(
            key["account"],
            key["symbol"],
            _text(key["generation"]),
            key["position"],
            _text(key["target_position"]),
            str(len(key["intents"])),
            str(len(key["open_orders"])),
        )
    out.print(output.whole(table))
    for key in body["keys"]:
        if key["open_orders"]:
            out.print(output.whole(_orders_table(key)))


def _orders_table(key: dict[str, Any]) -> Table:
    table = Table(title=f"{key['account']} {key['symbol']}: open orders")
    columns = ("client_order_id", "order_id", "side", "price", "quantity", "filled")
    for column in columns:
        table.add_column(column)
    for order in key["open_orders"]:
        table.add_row(*(_text(order[c]) for c in columns))
    return table


def _text(value: Any) -> str:
    return "-" if value is None else str(value)
