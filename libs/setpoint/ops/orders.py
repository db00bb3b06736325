"""`setpoint orders [--account A] [--symbol S] [--limit N] [--json]`: recent orders per key.

The list a user needs before `setpoint explain`: per key, the newest orders first (by
submission time; orders the system did not submit, which have none, after them), each
with its client order id, venue order id, intent id and attempt, side, type, price,
quantity, filled quantity and status. Folded from the log by the actual store (`replay`
over the whole log, so an order closed long ago is still there), `--limit` per key
(default 20, 0 for all).

Status: the venue's (`NEW`, `PARTIALLY_FILLED`, `FILLED`, `CANCELED`, `EXPIRED`,
`REJECTED`), `in flight` (submitted, no answer yet) or `lost` (closed as never having
reached the venue). The table writes prices at the market's tick and quantities at its
step once the gateway has loaded the markets; `--json` keeps plain decimal strings:

`{"position": N, "keys": [{"account", "symbol", "orders": [{"client_order_id", "order_id",
"intent_id", "attempt", "side", "type", "price", "quantity", "filled", "status",
"origin", "submitted_at"}]}]}` (`origin`: `ours`, `adopted` or `foreign`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from setpoint.core.model import Key, MarketInfo
from setpoint.core.projections import ActualState, OrderRecord
from setpoint.ops import output
from setpoint.ops.exits import OK, USAGE
from setpoint.ops.logread import dec, opened_log, print_json, run_on_log
from setpoint.ops.replay import Replayed, Until, replay

DEFAULT_LIMIT = 20
_EPOCH = datetime.min.replace(tzinfo=UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", help="only this account")
    parser.add_argument("--symbol", help="only this unified symbol (e.g. BTC/USDT)")
    parser.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help="orders per key, newest first (0: all)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON (docs/operations.md)")


def main(config: str | None, args: argparse.Namespace) -> int:
    if args.limit < 0:
        print(f"setpoint orders: --limit {args.limit} is negative (0 for all)", file=sys.stderr)
        return USAGE
    replayed = run_on_log("orders", _run(config, args.account, args.symbol))
    body = listing(replayed, args.account, args.symbol, args.limit)
    if args.json:
        print_json(body)
    else:
        render(body, markets_of(replayed.actual, body))
    return OK


async def _run(config: str | None, account: str | None, symbol: str | None) -> Replayed:
    async with opened_log(config) as log:
        return await replay(log, Until(), account=account, symbol=symbol)


def listing(
    replayed: Replayed,
    account: str | None = None,
    symbol: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """The JSON of `setpoint orders --json` (module docstring)."""
    actual = replayed.actual
    keys = sorted(
        (
            k
            for k in actual.keys
            if k.symbol is not None and account in (None, k.account) and symbol in (None, k.symbol)
        ),
        key=lambda k: (k.account, k.symbol or ""),
    )
    return {
        "position": replayed.position,
        "keys": [_key_json(k, actual, limit) for k in keys if actual.key(k).orders],
    }


def _key_json(key: Key, actual: ActualState, limit: int) -> dict[str, Any]:
    orders = newest_first(actual.key(key).orders.values())
    return {
        "account": key.account,
        "symbol": key.symbol,
        "orders": [_order_json(o) for o in (orders[:limit] if limit else orders)],
    }


def newest_first(orders: Iterable[OrderRecord]) -> list[OrderRecord]:
    """Submitted orders newest first, then the others (foreign ones) by ref."""
    every = list(orders)
    submitted = [o for o in every if o.submitted_at is not None]
    submitted.sort(key=lambda o: (o.submitted_at or _EPOCH, o.ref), reverse=True)
    return submitted + sorted((o for o in every if o.submitted_at is None), key=lambda o: o.ref)


def status_of(order: OrderRecord) -> str:
    """The status column (module docstring)."""
    if order.lost:
        return "lost"
    return "in flight" if order.status is None else order.status.value


def _order_json(order: OrderRecord) -> dict[str, Any]:
    origin = "adopted" if order.adopted else order.origin.value
    return {
        "client_order_id": order.client_order_id,
        "order_id": order.order_id,
        "intent_id": order.intent_id,
        "attempt": order.attempt,
        "side": order.side.value,
        "type": order.type.value,
        "price": dec(order.price),
        "quantity": dec(order.quantity),
        "filled": dec(order.done),
        "status": status_of(order),
        "origin": origin,
        "submitted_at": None if order.submitted_at is None else order.submitted_at.isoformat(),
    }


# --------------------------------------------------------------------------- table


def markets_of(actual: ActualState, body: dict[str, Any]) -> dict[tuple[str, str], MarketInfo]:
    """The market of each listed key, where the gateway has loaded it."""
    found = {}
    for k in body["keys"]:
        market = actual.market(Key(k["account"], k["symbol"]))
        if market is not None:
            found[(k["account"], k["symbol"])] = market
    return found


_COLUMNS = (
    "client_order_id", "order_id", "intent_id", "attempt", "side", "type", "price",
    "quantity", "filled", "status", "origin", "submitted_at",
)  # fmt: skip


def render(
    body: dict[str, Any],
    markets: dict[tuple[str, str], MarketInfo] | None = None,
    console: Console | None = None,
) -> None:
    """One table per key; prices at the market's tick, quantities at its step."""
    out = console or output.console()
    if not body["keys"]:
        out.print("no orders in the log")
        return
    for key in body["keys"]:
        market = (markets or {}).get((key["account"], key["symbol"]))
        table = Table(*_COLUMNS, title=f"{key['account']} {key['symbol']}: recent orders")
        for order in key["orders"]:
            table.add_row(*_row(order, market))
        out.print(output.whole(table))


def _row(order: dict[str, Any], market: MarketInfo | None) -> tuple[str, ...]:
    tick = None if market is None else market.tick
    step = None if market is None else market.step
    shown = order | {
        "price": output.decimal(order["price"], tick),
        "quantity": output.decimal(order["quantity"], step),
        "filled": output.decimal(order["filled"], step),
    }
    return tuple("-" if shown[c] is None else str(shown[c]) for c in _COLUMNS)
