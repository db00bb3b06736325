"""The soak's checks from outside: the venue's record (`GET /_sim/state`), the log, the
`setpoint` commands and the services' health and output.

Each check returns plain counts and a list of problems (strings); none of them asks the
services anything but their health. What "ours" means: a client order id that starts
with the account's prefix (`setpoint.core.ids`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from system import ACCOUNT, System

from setpoint.core.ids import parse_client_order_id

OPEN = ("NEW", "PARTIALLY_FILLED")
EXPECTED_TRACEBACKS: dict[str, str] = {
    "ConnectionResetError: Connection lost": "the simulator writing an answer that a fault "
    "held (timeout_after_accept, delay) to a client that gave up waiting (aiohttp logs it)",
}
"""Output that may hold a traceback, by a text it contains -> why."""


def ours(coid: str | None) -> bool:
    return parse_client_order_id(ACCOUNT, coid) is not None


def venue_orders(state: dict[str, Any]) -> dict[str, Any]:
    """No client id twice at the venue; no intent with two live orders at once (an order is
    live from `created_us` until `updated_us` once it is closed)."""
    mine = [o for o in state["orders"] if ours(o["client_order_id"])]
    counts = Counter(o["client_order_id"] for o in mine)
    problems = [f"client id {c} on {n} venue orders" for c, n in counts.items() if n > 1]
    by_intent: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for o in mine:
        parsed = parse_client_order_id(ACCOUNT, o["client_order_id"])
        assert parsed is not None
        by_intent[(o["symbol"], parsed.intent_hash)].append(o)
    overlaps = 0
    for orders in by_intent.values():
        orders.sort(key=lambda o: o["created_us"])
        for before, after in itertools.pairwise(orders):
            ended = before["updated_us"] if before["status"] not in OPEN else None
            if ended is None or after["created_us"] < ended:
                overlaps += 1
                problems.append(
                    f"two live orders of one intent: {_brief(before)} / {_brief(after)}"
                )
    duplicates = sum(n - 1 for n in counts.values())
    return {"orders": len(mine), "duplicates": duplicates, "overlaps": overlaps,
            "problems": problems}  # fmt: skip


def _brief(order: dict[str, Any]) -> str:
    keys = ("client_order_id", "status", "created_us", "updated_us", "filled", "quantity")
    return json.dumps({k: order[k] for k in keys})


def fills(state: dict[str, Any], logged: list[Any]) -> dict[str, Any]:
    """Every venue trade of ours once in the log as a FillObserved (by symbol and trade id),
    and no fill in the log the venue did not make. An inferred fill (`source` inferred,
    docs/services.md) is allowed for an order whose venue trades reach its `order_filled`;
    a venue trade missing from the log while such a fill covers its order is counted as
    `inferred`, not lost."""
    trades = {(t["symbol"], t["trade_id"]): t for t in state["trades"]}
    real = Counter((f.symbol, f.data.trade_id) for f in logged if f.data.source != "inferred")
    inferred = [f for f in logged if f.data.source == "inferred"]
    covered = {f.data.client_order_id for f in inferred}
    problems: list[str] = []
    lost = double = covered_only = 0
    for key, trade in trades.items():
        seen = real.get(key, 0)
        if seen > 1:
            double += 1
            problems.append(f"trade {key} recorded {seen} times")
        elif seen == 0 and ours(trade["client_order_id"]):
            if trade["client_order_id"] in covered:
                covered_only += 1
            else:
                lost += 1
                problems.append(f"trade {key} of {trade['client_order_id']} not in the log")
    phantom = [k for k in real if k not in trades]
    problems += [f"fill {k} in the log, no such venue trade" for k in phantom]
    problems += _inferred_problems(state, inferred)
    mine = sum(1 for t in trades.values() if ours(t["client_order_id"]))
    return {"fills": mine, "lost_fills": lost, "double_fills": double,
            "phantom_fills": len(phantom), "inferred": len(inferred),
            "inferred_only": covered_only, "problems": problems}  # fmt: skip


def _inferred_problems(state: dict[str, Any], inferred: list[Any]) -> list[str]:
    filled: dict[str, Decimal] = defaultdict(Decimal)
    for t in state["trades"]:
        filled[t["client_order_id"]] += Decimal(t["quantity"])
    return [
        f"inferred fill of {f.data.client_order_id} beyond the venue's trades"
        for f in inferred
        if (f.data.order_filled or Decimal(0)) > filled.get(f.data.client_order_id, Decimal(0))
    ]


async def command(system: System, *args: str) -> tuple[int, Any]:
    """`setpoint --config <the system's> ARGS` as a user runs it; (status, parsed JSON)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "setpoint", "--config", str(system.config), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=system.env, cwd=system.root,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 300)
    try:
        return process.returncode or 0, json.loads(out)
    except ValueError:
        return process.returncode or 0, {"stdout": out.decode()[-2000:], "stderr": err.decode()}


async def audit(system: System) -> dict[str, Any]:
    status, report = await command(system, "audit", "--json")
    clean = status == 0 and report.get("clean") is True
    problems = [] if clean else [f"audit (status {status}): {json.dumps(report)[:3000]}"]
    return {"audit": "clean" if clean else "violations", "problems": problems}


async def replay(system: System, state: dict[str, Any], symbols: list[str]) -> dict[str, Any]:
    """The replayed open orders of each key equal the venue's open orders of ours."""
    status, report = await command(system, "replay", "--json", "--account", ACCOUNT)
    if status != 0 or "keys" not in report:
        return {"replay": "failed", "problems": [f"replay (status {status}): {report}"]}
    replayed = {k["symbol"]: k for k in report["keys"]}
    problems = []
    for symbol in symbols:
        log_side = {
            o["client_order_id"]: Decimal(o["filled"])
            for o in replayed.get(symbol, {}).get("open_orders", [])
        }
        venue_side = {
            o["client_order_id"]: Decimal(o["filled"])
            for o in state["orders"]
            if o["symbol"] == symbol and o["status"] in OPEN and ours(o["client_order_id"])
        }
        if log_side != venue_side:
            problems.append(f"replay of {symbol}: {log_side} != venue {venue_side}")
    return {"replay": "equal" if not problems else "differs", "problems": problems}


async def health(system: System, services: tuple[str, ...]) -> dict[str, Any]:
    problems = []
    for service in services:
        try:
            answer = await system.health(service)
        except Exception as error:  # no answer is the finding
            problems.append(f"{service}: no health answer ({error!r})")
            continue
        tasks = answer.get("tasks", {})
        if not answer.get("ready") or not tasks or set(tasks.values()) != {"following"}:
            problems.append(f"{service}: {answer}")
    return {"health": "ready" if not problems else "not ready", "problems": problems}


def tracebacks(system: System) -> dict[str, Any]:
    """Service output (every start of every service) without an unexpected Traceback."""
    problems = []
    for path in sorted(system.root.glob("*.out")):
        text = path.read_text(errors="replace")
        for chunk in text.split("Traceback")[1:]:
            if not any(mark in chunk[:6000] for mark in EXPECTED_TRACEBACKS):
                last = [line for line in chunk[:6000].splitlines() if line[:1] not in " \t"]
                problems.append(f"{path.name}: Traceback ... {' | '.join(last[-2:])[:600]}")
    return {"tracebacks": len(problems), "problems": problems}
