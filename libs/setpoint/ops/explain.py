"""`setpoint explain ID [--account A] [--symbol S] [--json]`: the causal chain of an order.

ID is a client order id (`sp-...`), a venue order id, or an intent id (every attempt of
the intent; `--account` and `--symbol` narrow a venue or intent id that several keys use).
A client order id gives the chain of that order as below; the other two give
`{"id", "matched": "order_id" | "intent_id", "found", "orders": [chain, ...]}`
(`ops.lookup`), at the cost of a second pass over the log.

From the target that asked for it (generation, strategy) through the `DiffComputed` that
planned it, the order's own events (submission, venue answers, cancels, observations) to
every fill, each with its log position, time, producer, event ids and trace id (the W3C
`traceparent` of the envelope, so the same chain can be found in the tracing backend).

One pass over the log (`read_all`); what is kept while reading is the events of this order
and the targets of its account (to find the one the order's correlation id names). Exit status 0
when an order is found, 1 when none is.
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
from setpoint.core.model import MarketInfo
from setpoint.core.numeric import ZERO
from setpoint.eventlog.port import EventLog, Recorded
from setpoint.ops import output
from setpoint.ops.exits import FAILED, OK
from setpoint.ops.logread import dec, opened_log, print_json, run_on_log, stream
from setpoint.ops.lookup import Lookup, Named

_ORDER_TYPES = ORDER_LIFE | {"RiskRejected"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "id",
        metavar="ID",
        help="a client order id (sp-...), a venue order id, or an intent id "
        "(`setpoint orders` lists them)",
    )
    parser.add_argument("--account", help="only orders of this account")
    parser.add_argument("--symbol", help="only orders of this unified symbol (e.g. BTC/USDT)")
    parser.add_argument("--json", action="store_true", help="print JSON (docs/operations.md)")


def main(config: str | None, args: argparse.Namespace) -> int:
    body = run_on_log("explain", _run(config, args.id, args.account, args.symbol))
    if args.json:
        print_json(body)
    else:
        render(body)
    return OK if body["found"] else FAILED


async def _run(
    config: str | None, ident: str, account: str | None, symbol: str | None
) -> dict[str, Any]:
    async with opened_log(config) as log:
        return await explain_any(log, ident, account=account, symbol=symbol)


@dataclass
class _Search:
    """What one pass collects for one client order id."""

    coid: str
    """The client order id ("" for a foreign order known only by its venue order id,
    given in `venue_ids`)."""
    targets: dict[str, Recorded] = field(default_factory=dict)
    diffs: list[Recorded] = field(default_factory=list)
    events: list[Recorded] = field(default_factory=list)
    venue_ids: set[tuple[str, str | None, str]] = field(default_factory=set)
    markets: dict[tuple[str, str | None], MarketInfo] = field(default_factory=dict)
    """The last `MarketsLoaded` of every account, by (account, symbol): for showing the
    order's prices at the tick and quantities at the step."""

    def feed(self, record: Recorded) -> None:
        event: Any = record.event
        kind = event.type
        if kind == "MarketsLoaded":
            self.markets.update({(event.account, m.symbol): m for m in event.data.markets})
        elif kind == "TargetPublished":
            if self.coid and self.coid.startswith(account_prefixes(event.account)):
                self.targets[event.event_id] = record  # only the order's account
        elif kind == "DiffComputed":
            if self.coid and any(
                self.coid in (a.client_order_id, a.replaces) for a in event.data.actions
            ):
                self.diffs.append(record)
        elif kind in _ORDER_TYPES and self._concerns(event):
            self.events.append(record)

    def _concerns(self, event: Any) -> bool:
        data = event.data
        order_id = getattr(data, "order_id", None)
        if self.coid and getattr(data, "client_order_id", None) == self.coid:
            if order_id is not None:
                self.venue_ids.add((event.account, event.symbol, order_id))
            return True
        if self.coid and getattr(data, "replaces", None) == self.coid:
            return True
        return order_id is not None and (event.account, event.symbol, order_id) in self.venue_ids


async def explain(log: EventLog, coid: str, *, progress: bool | None = None) -> dict[str, Any]:
    """The chain of `coid` as a JSON-ready dict (`found` False when it is not in the log)."""
    search = _Search(coid)
    async with aclosing(stream(log, "explain", progress=progress)) as records:
        async for record in records:
            search.feed(record)
    return _chain(search)


async def explain_any(
    log: EventLog,
    ident: str,
    *,
    account: str | None = None,
    symbol: str | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """What `setpoint explain ID` prints (module docstring): the chain of `ident` as a
    client order id when it is one (within `account`/`symbol`), else the chains of the
    orders it names as a venue order id or an intent id."""
    direct, lookup = _Search(ident), Lookup(ident, account, symbol)
    async with aclosing(stream(log, "explain", progress=progress)) as records:
        async for record in records:
            direct.feed(record)
            lookup.feed(record)
    body = _chain(direct)
    if body["found"] and account in (None, body["account"]) and symbol in (None, body["symbol"]):
        return body
    matched, named = lookup.found()
    if matched is None:
        return body | {"found": False, "chain": []}
    searches = [_search_of(n) for n in named]
    async with aclosing(stream(log, "explain", progress=progress)) as records:
        async for record in records:
            for search in searches:
                search.feed(record)
    orders = [_chain(s) for s in searches]
    return {"id": ident, "matched": matched, "found": True, "orders": orders}


def _search_of(named: Named) -> _Search:
    search = _Search(named.client_order_id or "")
    if named.order_id is not None:
        search.venue_ids.add((named.account, named.symbol, named.order_id))
    return search


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
    market = (
        None if first is None else search.markets.get((first.event.account, first.event.symbol))
    )
    return {
        "client_order_id": search.coid or None,
        "order_id": _venue_id(own),
        "found": bool(own),
        "account": None if first is None else first.event.account,
        "symbol": None if first is None else first.event.symbol,
        "intent_id": None if submitted is None else _data(submitted).intent_id,
        "attempt": None if submitted is None else _data(submitted).attempt,
        "target": None if target is None else _target_json(target),
        "filled": dec(filled),
        "average_price": _average(fills, filled),
        "tick": None if market is None else dec(market.tick),
        "step": None if market is None else dec(market.step),
        "chain": [_entry(r, search.coid, market) for r in chain],
    }


def _venue_id(own: list[Recorded]) -> str | None:
    """The venue order id the order's events name first (None before the venue answered)."""
    return next((oid for r in own if (oid := getattr(_data(r), "order_id", None))), None)


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


def _entry(record: Recorded, coid: str, market: MarketInfo | None) -> dict[str, Any]:
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
        "summary": summarize(event, coid, market),
    }


# --------------------------------------------------------------------------- summaries


def summarize(event: Any, coid: str, market: MarketInfo | None = None) -> str:
    """One line saying what the event means for the order `coid`; prices at the
    `market`'s tick and quantities at its step when it is known."""
    data = event.data
    kind = event.type
    if kind == "TargetPublished":
        t = data.target
        return (
            f"generation {t.generation} by {t.strategy}: {len(t.orders)} orders, "
            f"position {_qty(t.position, market)}"
        )
    if kind == "DiffComputed":
        mine = [a for a in data.actions if coid in (a.client_order_id, a.replaces)]
        said = ", ".join(f"{a.kind.value} {a.client_order_id}" for a in mine)
        return f"generation {_text(data.generation)}: {len(data.actions)} actions; {said}"
    summary = _ORDER_SUMMARY.get(kind)
    return "" if summary is None else str(summary(data, _Shown.of(market)))


@dataclass(frozen=True, slots=True)
class _Shown:
    """Prices at a market's tick, quantities at its step (as given when not known)."""

    tick: Decimal | None = None
    step: Decimal | None = None

    @classmethod
    def of(cls, market: MarketInfo | None) -> _Shown:
        return cls() if market is None else cls(market.tick, market.step)

    def p(self, value: Decimal | None) -> str:
        return output.decimal(value, self.tick)

    def q(self, value: Decimal | None) -> str:
        return output.decimal(value, self.step)


def _qty(value: Decimal | None, market: MarketInfo | None) -> str:
    return _Shown.of(market).q(value)


def _submitted(d: Any, s: _Shown) -> str:
    what = (
        f"{d.side.value} {s.q(d.quantity)} @ {s.p(d.price)} {d.type.value} {d.time_in_force.value}"
    )
    also = f", replaces {d.replaces}" if d.replaces else ""
    return f"{d.client_order_id}: {what} (intent {d.intent_id}, attempt {d.attempt}{also})"


def _fill(d: Any, s: _Shown) -> str:
    return (
        f"trade {d.trade_id}: {d.side.value} {s.q(d.quantity)} @ {s.p(d.price)}, fee {d.fee} "
        f"{d.fee_currency} ({d.liquidity.value}, {d.source.value})"
    )


_ORDER_SUMMARY: dict[str, Any] = {
    "OrderSubmitted": _submitted,
    "OrderPlaced": lambda d, s: (
        f"venue order {d.order_id}: {d.status.value}, filled {s.q(d.filled)}"
    ),
    "OrderRejected": lambda d, s: f"rejected ({'terminal' if d.terminal else 'retry'}): {d.reason}",
    "CancelSubmitted": lambda d, s: f"cancel sent: {d.reason or 'no reason given'}",
    "AmendSubmitted": lambda d, s: (
        f"amend sent: price {s.p(d.price)}, total {s.q(d.quantity)} (filled {s.q(d.filled)};"
        f" attempt {d.attempt} in place, {d.new_client_order_id} if it falls back)"
    ),
    "OrderCancelled": lambda d, s: f"cancelled ({d.reason}), filled {s.q(d.filled)}",
    "OrderObserved": lambda d, s: (
        f"{d.status.value}, filled {s.q(d.filled)} of {s.q(d.quantity)} ({d.source.value})"
    ),
    "OrderNotFound": lambda d, s: f"not found at the venue ({d.consecutive} in a row)",
    "FillObserved": _fill,
    "RiskRejected": lambda d, s: f"risk rule {d.rule}: {d.detail}",
}


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


# --------------------------------------------------------------------------- tree


def render(body: dict[str, Any], console: Console | None = None) -> None:
    """Each chain as a tree: target, then each event in log order; an id that named
    several orders (an intent's attempts) gives one tree per order."""
    out = console or output.console()
    if not body["found"]:
        ident = body.get("id") or body["client_order_id"]
        out.print(f"{ident}: no order in the log has this client order id, order id or intent id")
        return
    if "orders" in body:
        out.print(f"{body['id']} ({body['matched']}): {len(body['orders'])} order(s)")
    for chain in body.get("orders", [body]):
        out.print(_tree(chain))


def _tree(body: dict[str, Any]) -> Tree:
    tick, step = (body.get(k) for k in ("tick", "step"))
    shown = _Shown(None if tick is None else Decimal(tick), None if step is None else Decimal(step))
    average = body["average_price"]
    head = (
        f"[bold]{body['client_order_id'] or '-'}[/bold] order {_text(body['order_id'])} "
        f"{body['account']} {body['symbol']} intent {_text(body['intent_id'])} "
        f"attempt {_text(body['attempt'])}: filled {shown.q(Decimal(body['filled']))}"
        f" avg {shown.p(None if average is None else Decimal(average))}"
    )
    tree = Tree(head)
    for entry in body["chain"]:
        trace = entry["trace_id"] or "-"
        tree.add(
            f"#{entry['position']} {entry['occurred_at']} [cyan]{entry['type']}[/cyan] "
            f"({entry['producer']}) {entry['summary']} [dim]trace {trace}[/dim]"
        )
    return tree
