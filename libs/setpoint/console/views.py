"""What the console shows, as JSON-ready values: pure functions of the folds the services
use (`core.projections`: the intent and the actual store), the differ's `KeyStatus`
answers and the log's records. The web shell (`console.web`) only serves them.

* `overview(...)` - every account (its mode) and every key (generation, condition with its
  reasons and since when, open orders target/venue, position target/actual, last
  reconciliation, PnL columns when a portfolio is plugged in), and the services' health.
* `ladder(...)` - one key's target orders and venue orders by price (asks above bids):
  each row lists the intents wanting that price, our orders at the venue (open, in flight
  or cancelling) and foreign ones.
* `event_row(record)` - one log record for the live tail and the timelines: type, key,
  time, producer, ids, the order ids an explain link needs, the trace id, one line of
  summary (the same words `setpoint explain` uses).
* `timeline(records, conditions)` - the key's history as lanes for the chart: targets,
  decisions, orders, fills, and the condition the differ reported.

`PnlColumns` is how realised/unrealised PnL enters the overview: a function key ->
`{"realised": ..., "unrealised": ...}` (the console reads the portfolio fold, `pnl_columns`),
or `no_portfolio` for no PnL columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from setpoint.bus.messages import KeyStatus
from setpoint.core.events import Origin
from setpoint.core.model import Key
from setpoint.core.numeric import at_increment
from setpoint.core.projections import ActualState, IntentState, OrderRecord, PortfolioState
from setpoint.eventlog.port import Recorded
from setpoint.ops.explain import summarize, trace_id

__all__ = [
    "UNKNOWN",
    "ConditionMark",
    "PnlColumns",
    "event_row",
    "ladder",
    "no_portfolio",
    "overview",
    "pnl_columns",
    "timeline",
]

UNKNOWN = "unknown"
"""The condition of a key the differ has not reported (it does not answer)."""

PnlColumns = Callable[[Key], Mapping[str, str | None] | None]
"""A key's PnL columns (module docstring), or None without a portfolio."""


def no_portfolio(key: Key) -> None:
    """No PnL columns."""
    return None


def pnl_columns(portfolio: PortfolioState) -> PnlColumns:
    """The PnL columns of the portfolio fold: a key without a fill of ours shows none."""

    def columns(key: Key) -> Mapping[str, str | None] | None:
        held = portfolio.key(key)
        if not held.trades:
            return None
        return {"realised": str(held.realized_pnl), "unrealised": str(held.unrealized_pnl)}

    return columns


@dataclass(frozen=True, slots=True)
class ConditionMark:
    """The differ reported `condition` (with `reasons`) for a key at `at`."""

    at: datetime
    condition: str
    reasons: tuple[str, ...]


def _dec(value: Decimal | None, increment: Decimal | None = None) -> str | None:
    """A decimal as shown: at `increment` (the market's tick for prices, step for
    quantities) when known (`numeric.at_increment`, no digit dropped); None stays."""
    return None if value is None else at_increment(value, increment)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# --------------------------------------------------------------------------- overview


def overview(
    intent: IntentState,
    actual: ActualState,
    statuses: Mapping[Key, KeyStatus],
    since: Mapping[Key, datetime],
    services: Iterable[Mapping[str, Any]],
    accounts: Iterable[str] = (),
    pnl: PnlColumns = no_portfolio,
) -> dict[str, Any]:
    """The overview page's data (module docstring). Keys are every key with a target, an
    order or a status; accounts every configured one and every one a key names."""
    keys = sorted(_all_keys(intent, actual, statuses), key=lambda k: (k.account, k.symbol or ""))
    rows = [_key_row(k, intent, actual, statuses.get(k), since.get(k), pnl(k)) for k in keys]
    names = sorted({*accounts, *(k.account for k in keys)})
    return {
        "position": actual.position,
        "services": [dict(s) for s in services],
        "accounts": [{"account": a, "mode": actual.mode(a).value} for a in names],
        "pnl": any(r["pnl"] is not None for r in rows),
        "keys": rows,
    }


def _all_keys(
    intent: IntentState, actual: ActualState, statuses: Mapping[Key, KeyStatus]
) -> set[Key]:
    return {
        *intent.keys(),
        *(k for k, ka in actual.keys.items() if k.symbol is not None and ka.orders),
        *statuses,
    }


def _key_row(
    key: Key,
    intent: IntentState,
    actual: ActualState,
    status: KeyStatus | None,
    since: datetime | None,
    pnl: Mapping[str, str | None] | None,
) -> dict[str, Any]:
    accepted = intent.target(key)
    ka = actual.key(key)
    recon = actual.last_reconciliation(key)
    market = actual.market(key)
    step = None if market is None else market.step
    row: dict[str, Any] = {
        "account": key.account,
        "symbol": key.symbol,
        "generation": None if accepted is None else accepted.generation,
        "condition": UNKNOWN,
        "reasons": [],
        "since": _time(since),
        "orders_target": _wanted(key, intent, actual),
        "orders_venue": sum(1 for _ in ka.live_orders()),
        "position_target": None if accepted is None else _dec(accepted.target.position, step),
        "position_actual": _dec(ka.position, step),
        "last_reconciliation": None if recon is None else _time(recon.occurred_at),
        "pnl": None if pnl is None else dict(pnl),
    }
    if status is not None:  # the differ's word wins where it has spoken
        row |= {
            "generation": status.generation,
            "condition": status.condition.value,
            "reasons": list(status.reasons),
            "orders_target": status.open_orders_target,
            "orders_venue": status.open_orders_venue,
            "position_target": _dec(status.position_target, step),
            "position_actual": _dec(status.position_actual, step),
            "last_reconciliation": _time(status.last_reconciliation) or row["last_reconciliation"],
        }
    return row


def _wanted(key: Key, intent: IntentState, actual: ActualState) -> int:
    """Target orders whose intent is not consumed yet (what should work at the venue)."""
    accepted = intent.target(key)
    if accepted is None:
        return 0
    ka = actual.key(key)
    return sum(1 for o in accepted.target.orders if not ka.progress(o.id).consumed)


# --------------------------------------------------------------------------- ladder


def ladder(key: Key, intent: IntentState, actual: ActualState) -> list[dict[str, Any]]:
    """The key's price ladder (module docstring): rows by price, highest first, sells
    before buys at one price; a market order (no price) on a row of its own at the top."""
    rows: dict[tuple[str, str | None], dict[str, Any]] = {}
    market = actual.market(key)
    tick, step = (None, None) if market is None else (market.tick, market.step)

    def row(side: str, price: Decimal | None) -> dict[str, Any]:
        shown = _dec(price, tick)
        found = rows.get((side, shown))
        if found is None:
            found = {"side": side, "price": shown, "target": [], "ours": [], "foreign": []}
            rows[(side, shown)] = found
        return found

    accepted = intent.target(key)
    ka = actual.key(key)
    for order in () if accepted is None else accepted.target.orders:
        progress = ka.progress(order.id)
        if not progress.consumed:
            row(order.side.value, order.price)["target"].append(
                {"intent_id": order.id, "quantity": _dec(order.quantity, step),
                 "filled": _dec(progress.filled, step)}
            )  # fmt: skip
    for record in ka.orders.values():
        if record.is_open:
            lane = "ours" if record.counts else "foreign"
            row(record.side.value, record.price)[lane].append(_venue_order(record, step))
    return sorted(rows.values(), key=_ladder_order)


def _ladder_order(row: dict[str, Any]) -> tuple[int, Decimal, int]:
    price = row["price"]
    if price is None:
        return (0, Decimal(0), 0)
    return (1, -Decimal(price), 0 if row["side"] == "sell" else 1)


def _venue_order(record: OrderRecord, step: Decimal | None) -> dict[str, Any]:
    if record.status is None:
        state = "in flight"
    elif record.pending == "cancel":
        state = "cancelling"
    else:
        state = record.status.value.lower()
    return {
        "client_order_id": record.client_order_id,
        "order_id": record.order_id,
        "intent_id": record.intent_id,
        "quantity": _dec(record.quantity, step),
        "filled": _dec(record.done, step),
        "state": state,
        "in_flight": record.status is None or record.pending is not None,
        "adopted": record.adopted and record.origin is not Origin.OURS,
    }


# --------------------------------------------------------------------------- events


def event_row(record: Recorded) -> dict[str, Any]:
    """One record for the tail and the timelines (module docstring)."""
    event: Any = record.event
    data = getattr(event, "data", None)
    coid = getattr(data, "client_order_id", None)
    return {
        "position": record.position,
        "type": event.type,
        "account": event.account,
        "symbol": event.symbol,
        "occurred_at": event.occurred_at.isoformat(),
        "producer": event.producer.value,
        "event_id": event.event_id,
        "correlation_id": event.correlation_id,
        "trace_id": trace_id(event.traceparent),
        "client_order_id": coid,
        "order_id": getattr(data, "order_id", None),
        "summary": summarize(event, coid or "") or _fields(data),
    }


def _fields(data: Any) -> str:
    """A short `name=value` line for the events `setpoint explain` does not summarise."""
    if data is None:
        return ""
    dumped = data.model_dump(mode="json")
    parts = [f"{k}={v}" for k, v in dumped.items() if v not in (None, [], {}, "")]
    line = ", ".join(parts)
    return line if len(line) <= 200 else line[:199] + "…"


# --------------------------------------------------------------------------- timeline

_LANES = {
    "TargetPublished": "target",
    "TargetRejected": "target",
    "DiffComputed": "decision",
    "RiskRejected": "decision",
    "OrderSubmitted": "order",
    "OrderPlaced": "order",
    "OrderRejected": "order",
    "CancelSubmitted": "order",
    "OrderCancelled": "order",
    "FillObserved": "fill",
}
LANES = ("target", "decision", "order", "fill", "condition")
"""The timeline's lanes, top to bottom."""


def timeline(
    records: Iterable[Recorded], conditions: Iterable[ConditionMark] = ()
) -> list[dict[str, Any]]:
    """The marks of a key's chart, in time order: one per target, decision, order event and
    fill of `records`, and one per condition the differ reported (a converged decision of
    the log counts as such a mark too)."""
    marks: list[tuple[datetime, dict[str, Any]]] = []
    for record in records:
        event: Any = record.event
        lane = _LANES.get(event.type)
        if lane is None:
            continue
        row = event_row(record)
        mark = {"lane": lane, "at": row["occurred_at"], "type": event.type,
                "label": row["summary"], "position": record.position}  # fmt: skip
        if event.type == "DiffComputed":
            mark["state"] = "converged" if event.data.converged else "drifting"
        marks.append((event.occurred_at, mark))
    for c in conditions:
        mark = {"lane": "condition", "at": c.at.isoformat(), "type": c.condition,
                "label": ", ".join(c.reasons) or c.condition, "state": c.condition}  # fmt: skip
        marks.append((c.at, mark))
    return [mark for _, mark in sorted(marks, key=lambda m: m[0])]
