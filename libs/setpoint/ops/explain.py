"""`setpoint explain <client-order-id> [--json]`: the causal chain of one order.

From the target that asked for it (generation, strategy) through the `DiffComputed` that
planned it, the order's own events (submission, venue answers, cancels, observations) to
every fill, each with its log position, time, producer, event ids and trace id (the W3C
`traceparent` of the envelope, so the same chain can be found in the tracing backend).

One pass over the log (`read_all`); what is kept while reading is the events of this order
and the targets of its account (to find the one the order's correlation id names). Exit status 0
when the order is in the log, 1 when it is not.
"""

from __future__ import annotations

import argparse
from contextlib import aclosing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.tree import Tree

from setpoint.core.events import ORDER_LIFE
from setpoint.core.ids import account_prefixes
from setpoint.core.numeric import ZERO
from setpoint.eventlog.port import EventLog, Recorded
from setpoint.ops import output
from setpoint.ops.exits import FAILED, OK
from setpoint.ops.logread import dec, opened_log, print_json, run_on_log, stream

_ORDER_TYPES = ORDER_LIFE | {"RiskRejected"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("client_order_id", help="the order's client order id (sp-...)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def main(config: str | None, args: argparse.Namespace) -> int:
    body = run_on_log("explain", _run(config, args.client_order_id))
    if args.json:
        print_json(body)
    else:
        render(body)
    return OK if body["found"] else FAILED


async def _run(config: str | None, coid: str) -> dict[str, Any]:
    async with opened_log(config) as log:
        return await explain(log, coid)


@dataclass
class _Search:
    """What one pass collects for one client order id."""

    coid: str
    targets: dict[str, Recorded] = field(default_factory=dict)
    diffs: list[Recorded] = field(default_factory=list)
    events: list[Recorded] = field(default_factory=list)
    venue_ids: set[tuple[str, str | None, str]] = field(default_factory=set)

    def feed(self, record: Recorded) -> None:
        event: Any = record.event
        kind = event.type
        if kind == "TargetPublished":
            if self.coid.startswith(account_prefixes(event.account)):
                self.targets[event.event_id] = record  # only the order's account
        elif kind == "DiffComputed":
            if any(self.coid in (a.client_order_id, a.replaces) for a in event.data.actions):
                self.diffs.append(record)
        elif kind in _ORDER_TYPES and self._concerns(event):
            self.events.append(record)

    def _concerns(self, event: Any) -> bool:
        data = event.data
        order_id = getattr(data, "order_id", None)
        if getattr(data, "client_order_id", None) == self.coid:
            if order_id is not None:
                self.venue_ids.add((event.account, event.symbol, order_id))
            return True
        if getattr(data, "replaces", None) == self.coid:
            return True
        return order_id is not None and (event.account, event.symbol, order_id) in self.venue_ids


async def explain(log: EventLog, coid: str, *, progress: bool | None = None) -> dict[str, Any]:
    """The chain of `coid` as a JSON-ready dict (`found` False when it is not in the log)."""
    search = _Search(coid)
    async with aclosing(stream(log, "explain", progress=progress)) as records:
        async for record in records:
            search.feed(record)
    return _chain(search)


def _chain(search: _Search) -> dict[str, Any]:
    own = [
        r
        for r in search.events
        if r.event.type != "OrderSubmitted" or _data(r).client_order_id == search.coid
    ]
    submitted = next((r for r in own if r.event.type == "OrderSubmitted"), None)
    target = _target_of(search, submitted)
    chain = sorted(
        [*([target] if target else []), *search.diffs, *search.events], key=lambda r: r.position
    )
    fills = _unique_fills(search.events)
    filled = sum((f.quantity for f in fills), ZERO)
    first = submitted or (own[0] if own else None)
    return {
        "client_order_id": search.coid,
        "found": bool(own),
        "account": None if first is None else first.event.account,
        "symbol": None if first is None else first.event.symbol,
        "intent_id": None if submitted is None else _data(submitted).intent_id,
        "attempt": None if submitted is None else _data(submitted).attempt,
        "target": None if target is None else _target_json(target),
        "filled": dec(filled),
        "average_price": _average(fills, filled),
        "chain": [_entry(r, search.coid) for r in chain],
    }


def _unique_fills(events: list[Recorded]) -> list[Any]:
    """The order's fills, each (venue, trade id) once: a duplicate does not add up."""
    seen: set[tuple[str, str]] = set()
    out = []
    for record in events:
        if record.event.type == "FillObserved":
            data = _data(record)
            if (data.venue, data.trade_id) not in seen:
                seen.add((data.venue, data.trade_id))
                out.append(data)
    return out


def _target_of(search: _Search, submitted: Recorded | None) -> Recorded | None:
    """The target the order's chain names: its correlation id, else its diff's target."""
    if submitted is None:
        return None
    found = search.targets.get(submitted.event.correlation_id)
    if found is None:
        cause = next(
            (d for d in search.diffs if d.event.event_id == submitted.event.causation_id), None
        )
        target_id = None if cause is None else _data(cause).target_event_id
        found = None if target_id is None else search.targets.get(target_id)
    return found


def _average(fills: list[Any], filled: Decimal) -> str | None:
    if not fills or filled == 0:
        return None
    notional = sum((f.price * f.quantity for f in fills), ZERO)
    return dec(notional / filled)


def _target_json(record: Recorded) -> dict[str, Any]:
    target = _data(record).target
    return {
        "event_id": record.event.event_id,
        "position": record.position,
        "generation": target.generation,
        "strategy": target.strategy,
        "occurred_at": record.event.occurred_at.isoformat(),
    }


def _data(record: Recorded) -> Any:
    """The event's data, typed loosely: callers have checked the event type."""
    return record.event.data


def trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`)."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) >= 4 else None


def _entry(record: Recorded, coid: str) -> dict[str, Any]:
    event = record.event
    return {
        "position": record.position,
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat(),
        "producer": event.producer.value,
        "event_id": event.event_id,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "trace_id": trace_id(event.traceparent),
        "traceparent": event.traceparent,
        "summary": summarize(event, coid),
    }


# --------------------------------------------------------------------------- summaries


def summarize(event: Any, coid: str) -> str:
    """One line saying what the event means for the order `coid`."""
    data = event.data
    kind = event.type
    if kind == "TargetPublished":
        t = data.target
        return (
            f"generation {t.generation} by {t.strategy}: {len(t.orders)} orders, "
            f"position {_text(t.position)}"
        )
    if kind == "DiffComputed":
        mine = [a for a in data.actions if coid in (a.client_order_id, a.replaces)]
        said = ", ".join(f"{a.kind.value} {a.client_order_id}" for a in mine)
        return f"generation {_text(data.generation)}: {len(data.actions)} actions; {said}"
    line: str = _ORDER_SUMMARY.get(kind, lambda d: "")(data)
    return line


def _submitted(d: Any) -> str:
    what = f"{d.side.value} {d.quantity} @ {_text(d.price)} {d.type.value} {d.time_in_force.value}"
    also = f", replaces {d.replaces}" if d.replaces else ""
    return f"{d.client_order_id}: {what} (intent {d.intent_id}, attempt {d.attempt}{also})"


def _fill(d: Any) -> str:
    return (
        f"trade {d.trade_id}: {d.side.value} {d.quantity} @ {d.price}, fee {d.fee} "
        f"{d.fee_currency} ({d.liquidity.value}, {d.source.value})"
    )


_ORDER_SUMMARY: dict[str, Any] = {
    "OrderSubmitted": _submitted,
    "OrderPlaced": lambda d: f"venue order {d.order_id}: {d.status.value}, filled {d.filled}",
    "OrderRejected": lambda d: f"rejected ({'terminal' if d.terminal else 'retry'}): {d.reason}",
    "CancelSubmitted": lambda d: f"cancel sent: {d.reason or 'no reason given'}",
    "OrderCancelled": lambda d: f"cancelled ({d.reason}), filled {d.filled}",
    "OrderObserved": lambda d: (
        f"{d.status.value}, filled {d.filled} of {d.quantity} ({d.source.value})"
    ),
    "OrderNotFound": lambda d: f"not found at the venue ({d.consecutive} in a row)",
    "FillObserved": _fill,
    "RiskRejected": lambda d: f"risk rule {d.rule}: {d.detail}",
}


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


# --------------------------------------------------------------------------- tree


def render(body: dict[str, Any], console: Console | None = None) -> None:
    """The chain as a tree: target, then each event in log order."""
    out = console or output.console()
    if not body["found"]:
        out.print(f"{body['client_order_id']}: no such order in the log")
        return
    head = (
        f"[bold]{body['client_order_id']}[/bold] {body['account']} {body['symbol']} "
        f"intent {body['intent_id']} attempt {body['attempt']}: filled {body['filled']}"
        f" avg {_text(body['average_price'])}"
    )
    tree = Tree(head)
    for entry in body["chain"]:
        trace = entry["trace_id"] or "-"
        tree.add(
            f"#{entry['position']} {entry['occurred_at']} [cyan]{entry['type']}[/cyan] "
            f"({entry['producer']}) {entry['summary']} [dim]trace {trace}[/dim]"
        )
    out.print(tree)
