"""`python -m bench e2e`: the whole execution path, every service its own process.

Starts nats-server, the simulator (with `--keys` extra spot markets) and `setpoint run
gateway|differ|executor`, then measures:

* **latency** (`--count` targets, one at a time on one key): target request sent → order
  booked by the simulator (`created_us` in `GET /_sim/state`), p50/p99; each target
  replaces the last with a new intent, so every target costs a place (and a cancel of
  the previous order). The stages are split with the events' own timestamps (one host,
  one clock): intake (TargetPublished), diff (DiffComputed), write-ahead
  (OrderSubmitted), venue booking, answer recorded (OrderPlaced); and the CPU time
  spent per target (user + system, from /proc) by the gateway, differ and executor, and
  by every process (the simulator and nats-server too).
* **throughput** (`--seconds` at `--rate` targets/s round-robin over `--keys` keys):
  targets sent, orders placed, and the placement lag (target sent → its order booked) in
  the first and the last third of the run (a lag that grows means a growing backlog), and
  the CPU per target of each process over the run, as for latency.
* **startup reconciliation** with `--open` open orders of ours at the venue: the gateway
  is restarted and its startup reconciliation timed (its own log line) and the time to
  ready measured.

`--metrics` runs every service with its Prometheus endpoint on (`telemetry.metrics_port`)
and scrapes each once a second meanwhile, as Prometheus would: run it alternately with
and without to see what the metrics cost.

The account's token bucket and the venue's counts are raised out of reach (`UNPACED`):
the bench measures the path, not pacing.

Prints one JSON object. Goals: latency p50 ≤ 3 ms, p99 ≤ 10 ms; startup reconciliation of
1,000 orders ≤ 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))

from system import ACCOUNT, System, eventually

from setpoint.bus import subjects
from setpoint.core.ids import client_order_id
from setpoint.core.model import Producer

SERVICES = ("gateway", "differ", "executor")
LATENCY_SYMBOL = "BTC/USDT"
UNPACED = {name: 1_000_000 for name in ("binance-spot-orders", "binance-spot-weight")}
"""The venue's counts raised out of reach (the simulator enforces none unless told): the
bench offers far more orders than Binance's 100 per 10 s and measures the path, not the
pacer's waits."""
STARTUP_SYMBOL = "ETH/USDT"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench e2e")
    parser.add_argument("--count", type=int, default=1000, help="latency targets")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--keys", type=int, default=50, help="keys for the throughput run")
    parser.add_argument("--rate", type=float, default=100.0, help="targets/s offered")
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput run length")
    parser.add_argument("--open", type=int, default=1000, help="open orders at startup")
    parser.add_argument(
        "--reconcile-interval",
        type=float,
        default=30.0,
        help="the gateway's periodic reconciliation (s)",
    )
    parser.add_argument(
        "--metrics", action="store_true", help="metrics endpoints on, scraped every second"
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=["latency", "throughput", "startup"]
    )
    return parser


def bench_symbols(keys: int) -> list[str]:
    return [f"K{i:03d}/USDT" for i in range(keys)]


def sim_extra(keys: int) -> str:
    markets = [
        '{ symbol = "BTC/USDT", step = "0.00001" }',
        '{ symbol = "ETH/USDT", step = "0.0001" }',
        '{ symbol = "BTC/USDT:USDT", step = "0.00001" }',
        *(f'{{ symbol = "{s}", step = "0.001" }}' for s in bench_symbols(keys)),
    ]
    prices = ['"BTC/USDT" = "60000"', '"ETH/USDT" = "3000"', '"BTC/USDT:USDT" = "60000"',
              *(f'"{s}" = "100"' for s in bench_symbols(keys))]  # fmt: skip
    return (
        'balances = { USDT = "100000000", BTC = "10", ETH = "100" }\n'
        f"markets = [{', '.join(markets)}]\n"
        f"prices = {{ {', '.join(prices)} }}\n"
    )


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(ordered[-1], 3),
            "mean": round(statistics.fmean(ordered), 3), "n": len(ordered)}  # fmt: skip


class Placements:
    """OrderPlaced events as they are stored (core NATS on the log's subjects), and when
    each place command was seen on its way to the gateway (a plain subscriber on the
    command subject gets a copy of every request; it never answers)."""

    def __init__(self) -> None:
        self.seen: dict[str, asyncio.Event] = {}
        self.commands: dict[str, int] = {}

    async def on_command(self, msg: Any) -> None:
        self.commands[json.loads(msg.data)["client_order_id"]] = time.time_ns() // 1000

    def waiter(self, coid: str) -> asyncio.Event:
        return self.seen.setdefault(coid, asyncio.Event())

    async def on_message(self, msg: Any) -> None:
        data = json.loads(msg.data)
        self.waiter(data["data"]["client_order_id"]).set()


async def _subscribe_placements(system: System) -> Placements:
    placements = Placements()
    assert system.nc is not None
    subject = f"setpoint.evt.{ACCOUNT}.*.{Producer.EXECUTOR.value}.OrderPlaced"
    await system.nc.subscribe(subject, cb=placements.on_message)
    await system.nc.subscribe(subjects.gateway_subject(ACCOUNT, "place"),
                              cb=placements.on_command)  # fmt: skip
    return placements


def _coid(symbol: str, intent: str) -> str:
    return client_order_id(ACCOUNT, symbol, intent, 1)


async def _publish(
    system: System, symbol: str, generation: int, intent: str, price: str, quantity: str
) -> None:
    assert system.nc is not None
    body = {"account": ACCOUNT, "symbol": symbol, "generation": generation, "strategy": "bench",
            "orders": [{"id": intent, "side": "buy", "type": "limit", "price": price,
                        "quantity": quantity}]}  # fmt: skip
    reply = await system.nc.request(
        subjects.target_subject(ACCOUNT, symbol), json.dumps(body).encode(), timeout=10
    )
    answer = json.loads(reply.data)
    if not answer.get("accepted"):
        raise RuntimeError(f"target refused: {answer}")


# --------------------------------------------------------------------------- latency


def cpu_seconds(system: System) -> dict[str, float]:  # float-ok
    """User + system CPU time of every process the system runs: the services, the
    simulator and nats-server (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    processes = dict(system.processes)
    if system.nats_server.process is not None:
        processes["nats-server"] = system.nats_server.process
    out: dict[str, float] = {}  # float-ok
    for name, process in processes.items():
        stat = Path(f"/proc/{process.pid}/stat")
        if process.poll() is None and stat.exists():
            fields = stat.read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


def cpu_report(
    before: dict[str, float],  # float-ok
    after: dict[str, float],  # float-ok
    count: int,
) -> dict[str, Any]:
    """CPU ms per target: Setpoint's three services together, each of them, and every
    process (the simulator and nats-server included, so that the rate with the venue and
    the server elsewhere can be worked out)."""
    per = {n: round((after[n] - before.get(n, 0)) * 1000 / max(count, 1), 3) for n in after}
    return {
        "service_cpu_ms_per_target": round(sum(v for n, v in per.items() if n in SERVICES), 3),
        "cpu_ms_per_target_by_service": {n: v for n, v in per.items() if n in SERVICES},
        "cpu_ms_per_target_by_process": per,
    }


async def _scraping(system: System) -> None:
    """Scrape every service's /metrics once a second (as Prometheus would)."""
    while True:
        for service in system.metrics_ports:
            await system.scrape(service)
        await asyncio.sleep(1)


async def latency(system: System, count: int, warmup: int) -> dict[str, Any]:
    placements = await _subscribe_placements(system)
    sent: dict[str, int] = {}
    cpu_before: dict[str, float] = {}  # float-ok
    for i in range(warmup + count):
        if i == warmup:
            cpu_before = cpu_seconds(system)
        intent = f"lat-{i}"
        coid = _coid(LATENCY_SYMBOL, intent)
        waiter = placements.waiter(coid)
        t0 = time.time_ns() // 1000
        await _publish(system, LATENCY_SYMBOL, i + 1, intent, "50000.00", "0.00100")
        await asyncio.wait_for(waiter.wait(), 10)
        if i >= warmup:
            sent[coid] = t0
    cpu = cpu_report(cpu_before, cpu_seconds(system), count)
    booked = {o["client_order_id"]: o["created_us"] for o in (await system.venue())["orders"]}
    wire = [(booked[c] - t0) / 1000 for c, t0 in sent.items() if c in booked]
    return {
        "target_to_wire_ms": percentiles(wire),
        **cpu,
        "stages_ms": await _stages(system, set(sent), booked, placements.commands),
    }


async def _stages(
    system: System, coids: set[str], booked: dict[str, int], commands: dict[str, int]
) -> dict[str, Any]:
    """Per placement: where the time went, from the events' own timestamps."""
    events = await system.events(LATENCY_SYMBOL)
    by_corr: dict[str, dict[str, float]] = {}
    for event in events:
        stamp = event.occurred_at.timestamp() * 1e6
        by_corr.setdefault(event.correlation_id, {}).setdefault(event.type, stamp)
        if event.type == "OrderSubmitted" and event.data.client_order_id in coids:
            by_corr[event.correlation_id]["venue"] = booked.get(event.data.client_order_id, 0)
            by_corr[event.correlation_id]["command"] = commands.get(event.data.client_order_id, 0)
    split: dict[str, list[float]] = {
        "intake→diff": [],
        "diff→write-ahead": [],
        "write-ahead→command sent": [],
        "command→booked": [],
        "booked→answer recorded": [],
    }
    for stamps in by_corr.values():
        if (
            not {"TargetPublished", "DiffComputed", "OrderSubmitted", "venue", "OrderPlaced"}
            <= stamps.keys()
        ):
            continue
        split["intake→diff"].append((stamps["DiffComputed"] - stamps["TargetPublished"]) / 1000)
        split["diff→write-ahead"].append((stamps["OrderSubmitted"] - stamps["DiffComputed"]) / 1000)
        split["write-ahead→command sent"].append(
            (stamps["command"] - stamps["OrderSubmitted"]) / 1000
        )
        split["command→booked"].append((stamps["venue"] - stamps["command"]) / 1000)
        split["booked→answer recorded"].append((stamps["OrderPlaced"] - stamps["venue"]) / 1000)
    return {name: percentiles(values) for name, values in split.items()}


# --------------------------------------------------------------------------- throughput


async def throughput(system: System, keys: int, rate: float, seconds: float) -> dict[str, Any]:
    symbols = bench_symbols(keys)
    placements = await _subscribe_placements(system)
    generations = dict.fromkeys(symbols, 0)
    sent: list[tuple[str, int]] = []
    cpu_before = cpu_seconds(system)
    interval, started, n = 1.0 / rate, time.monotonic(), 0
    while time.monotonic() - started < seconds:
        symbol = symbols[n % keys]
        generations[symbol] += 1
        intent = f"thr-{generations[symbol]}"
        sent.append((_coid(symbol, intent), time.time_ns() // 1000))
        await _publish(system, symbol, generations[symbol], intent, "90.00", "0.100")
        n += 1
        delay = started + n * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    elapsed = time.monotonic() - started
    last = {c for c, _ in sent[-keys:]}
    await eventually(lambda: _all_set(placements, last), 60, "last targets placed")
    cpu = cpu_report(cpu_before, cpu_seconds(system), len(sent))
    return {**await _throughput_report(system, sent, elapsed, placements, last), **cpu}


async def _all_set(placements: Placements, coids: set[str]) -> bool:
    return all(placements.waiter(c).is_set() for c in coids)


async def _throughput_report(
    system: System,
    sent: list[tuple[str, int]],
    elapsed: float,
    placements: Placements,
    last: set[str],
) -> dict[str, Any]:
    booked = {o["client_order_id"]: o["created_us"] for o in (await system.venue())["orders"]}
    lags = [(booked[c] - t0) / 1000 for c, t0 in sent if c in booked]
    third = max(1, len(sent) // 3)
    first = [(booked[c] - t0) / 1000 for c, t0 in sent[:third] if c in booked]
    final = [(booked[c] - t0) / 1000 for c, t0 in sent[-third:] if c in booked]
    return {
        "targets_sent": len(sent), "seconds": round(elapsed, 2),
        "targets_per_s": round(len(sent) / elapsed, 1),
        "orders_placed": len(lags), "placed_per_s": round(len(lags) / elapsed, 1),
        "superseded_before_placement": len(sent) - len(lags),
        "lag_ms_first_third": percentiles(first), "lag_ms_last_third": percentiles(final),
    }  # fmt: skip


# --------------------------------------------------------------------------- startup


async def startup(system: System, open_orders: int) -> dict[str, Any]:
    assert system.nc is not None
    orders = [{"id": f"st-{i}", "side": "buy", "price": f"{2000 - i * 0.01:.2f}",
               "quantity": "0.0100"} for i in range(open_orders)]  # fmt: skip
    body = {"account": ACCOUNT, "symbol": STARTUP_SYMBOL, "generation": 1,
            "strategy": "bench", "orders": orders}  # fmt: skip
    reply = await system.nc.request(
        subjects.target_subject(ACCOUNT, STARTUP_SYMBOL), json.dumps(body).encode(), timeout=30
    )
    if not json.loads(reply.data).get("accepted"):
        raise RuntimeError(reply.data.decode())

    async def all_open() -> bool:
        return len(await system.open_orders(STARTUP_SYMBOL)) >= open_orders

    await eventually(all_open, 300, "all orders open")
    system.stop("gateway")
    started = time.monotonic()
    await system.start("gateway")
    to_ready = time.monotonic() - started
    text = system.output("gateway").read_text()
    match = re.search(r"reconciliation \(startup\).* in ([0-9.]+)s", text)
    return {
        "open_orders": open_orders,
        "startup_reconciliation_s": float(match.group(1)) if match else None,
        "process_start_to_ready_s": round(to_ready, 2),
    }


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="setpoint-bench-e2e-"))
    account = {"reconcile_interval_s": args.reconcile_interval, "ticker_interval_s": 5,
               "rate_limit_per_s": 100_000, "venue_rate_limits": UNPACED}  # fmt: skip
    system = System(root, sim_extra(args.keys), account, metrics=args.metrics)
    result: dict[str, Any] = {"bench": "e2e", "goals": {
        "target_to_wire_p50_ms": 3, "target_to_wire_p99_ms": 10,
        "startup_reconciliation_1000_s": 2}}  # fmt: skip
    scraper: asyncio.Task[None] | None = None
    try:
        await system.up()
        if args.metrics:
            scraper = asyncio.create_task(_scraping(system))
        result["metrics"] = args.metrics
        if "latency" not in args.skip:
            result["latency"] = await latency(system, args.count, args.warmup)
        if "throughput" not in args.skip:
            result["throughput"] = await throughput(system, args.keys, args.rate, args.seconds)
        if "startup" not in args.skip:
            result["startup"] = await startup(system, args.open)
    finally:
        if scraper is not None:
            scraper.cancel()
        await system.down()
    return result


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2))
    return 0
