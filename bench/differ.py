"""`python -m bench differ`: target intake → DiffComputed latency through a real nats-server.

Starts its own nats-server (the bundled binary, a temporary store, a free port) unless
`--url` names one, appends a `MarketsLoaded` for a bench account, starts the differ (a
separate process, `setpoint run differ`, unless `--in-process`), then publishes `--count`
targets one at a time over `--keys` keys, each a new generation with a new intent id (so
every target needs a new decision). For each target it measures:

* `intake`: request sent → intake reply received (`{"accepted": true}`);
* `decision`: request sent → the differ's `DiffComputed` for that generation seen on the
  event subject (a plain core-NATS subscription on the log's subjects receives each event
  as JetStream stores it).

Prints one JSON object: count, p50/p90/p99/max/mean in ms for both, the differ's mode and
the goal (decision p50 ≤ 1 ms). `--warmup` targets are sent first and not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from setpoint.bus import subjects
from setpoint.bus.embedded import EmbeddedNats, free_port, terminate
from setpoint.config import Settings
from setpoint.core.events import MarketsLoaded, MarketsLoadedData
from setpoint.core.model import Key, MarketInfo, MarketKind, Producer, symbol_token
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.port import ANY

ACCOUNT = "bench"


def markets(count: int) -> tuple[MarketInfo, ...]:
    return tuple(
        MarketInfo(
            symbol=f"C{i}/USDT",
            venue_symbol=f"C{i}USDT",
            kind=MarketKind.SPOT,
            base=f"C{i}",
            quote="USDT",
            tick=Decimal("0.01"),
            step=Decimal("0.0001"),
            min_notional=Decimal("5"),
        )
        for i in range(count)
    )


def target(symbol: str, generation: int, orders: int = 1) -> bytes:
    """A target whose orders all have new intent ids (so each needs a new decision)."""
    listed = [
        {"id": f"g{generation}-{i}", "side": "buy", "type": "limit",
         "price": f"{1000 + (generation + i) % 500}.00", "quantity": "0.0100"}
        for i in range(orders)
    ]  # fmt: skip
    body = {"account": ACCOUNT, "symbol": symbol, "generation": generation,
            "strategy": "bench", "orders": listed}  # fmt: skip
    return json.dumps(body).encode()


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {
        "p50_ms": pick(0.50),
        "p90_ms": pick(0.90),
        "p99_ms": pick(0.99),
        "max_ms": round(ordered[-1] * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


class Probe:
    """Waits for the DiffComputed of (symbol token, generation) on the event subjects."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, int], tuple[asyncio.Future[float], float]] = {}

    def expect(self, token: str, generation: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[(token, generation)] = (future, time.perf_counter())
        return future

    async def on_event(self, msg: Msg) -> None:
        seen = time.perf_counter()
        token = msg.subject.split(".")[3]
        generation = orjson.loads(msg.data)["data"]["generation"]
        entry = self.waiting.pop((token, generation), None)
        if entry is not None and not entry[0].done():
            entry[0].set_result(seen - entry[1])


async def measure(nc: NATS, args: argparse.Namespace) -> dict[str, Any]:
    probe = Probe()
    await nc.subscribe(f"setpoint.evt.{ACCOUNT}.*.differ.DiffComputed", cb=probe.on_event)
    symbols = [m.symbol for m in markets(args.keys)]
    intake: list[float] = []
    decision: list[float] = []
    for n in range(args.warmup + args.count):
        symbol = symbols[n % len(symbols)]
        generation = n // len(symbols) + 1
        seen = probe.expect(symbol_token(symbol), generation)
        sent = time.perf_counter()
        reply = await nc.request(
            subjects.target_subject(ACCOUNT, symbol),
            target(symbol, generation, args.orders),
            timeout=10,
        )
        answered = time.perf_counter() - sent
        if not orjson.loads(reply.data).get("accepted"):
            raise RuntimeError(f"target refused: {reply.data!r}")
        took = await asyncio.wait_for(seen, 10)
        if args.interval_ms:
            await asyncio.sleep(args.interval_ms / 1000)
        if n >= args.warmup:
            intake.append(answered)
            decision.append(took)
    return {"intake": summary(intake), "decision": summary(decision)}


async def prepare_log(url: str, keys: int) -> None:
    nc = await nats.connect(url)
    try:
        log = await JetStreamEventLog.open(nc)
        event = MarketsLoaded.create(
            Key(ACCOUNT, None), Producer.GATEWAY,
            MarketsLoadedData(exchange="binance", markets=markets(keys)),
        )  # fmt: skip
        await log.append(event.key, Producer.GATEWAY, [event], ANY)
    finally:
        await nc.close()


async def wait_ready(nc: NATS, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            await nc.request(subjects.health_subject("differ"), b"", timeout=0.5)
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the differ did not become ready")


def write_config(directory: Path, url: str) -> Path:
    path = directory / "setpoint.toml"
    path.write_text(
        f'[nats]\nurl = "{url}"\nembedded = false\ndata_dir = "{directory}"\n\n'
        f'[eventlog]\nbackend = "jetstream"\n\n[accounts.{ACCOUNT}]\nexchange = "binance"\n'
    )
    return path


async def run(url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    await prepare_log(url, args.keys)
    config = write_config(workdir, url)
    differ: Any = None
    nc = await nats.connect(url)
    try:
        differ = await start_differ(url, config, args.in_process)
        await wait_ready(nc)
        figures = await measure(nc, args)
    finally:
        await nc.close()
        await stop_differ(differ)
    mode = "in-process" if args.in_process else "separate process"
    return {"benchmark": "differ", "count": args.count, "keys": args.keys,
            "orders_per_target": args.orders, "differ": mode,
            "goal": "decision p50 <= 1 ms", **figures,
            "goal_met": figures["decision"]["p50_ms"] <= 1.0}  # fmt: skip


async def start_differ(url: str, config: Path, in_process: bool) -> Any:
    if not in_process:
        env = {**os.environ, "SETPOINT_CONFIG": str(config)}
        command = [sys.executable, "-m", "setpoint", "run", "differ", "--log-level", "WARNING"]
        return await asyncio.to_thread(subprocess.Popen, command, env=env)
    from setpoint.differ.service import DifferService

    settings = Settings(nats={"url": url, "embedded": False}, accounts={ACCOUNT: {}})
    nc = await nats.connect(url)
    service = DifferService(settings, await JetStreamEventLog.open(nc), nc)
    await service.start()
    return (service, nc)


async def stop_differ(differ: Any) -> None:
    if differ is None:
        return
    if isinstance(differ, subprocess.Popen):
        terminate(differ, 10)
        return
    service, nc = differ
    await service.stop()
    await nc.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench differ", description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--orders", type=int, default=1, help="orders per target")
    parser.add_argument(
        "--interval-ms", type=float, default=0, help="pause between targets (0: back to back)"
    )
    parser.add_argument("--url", help="use this nats-server (2.11+, JetStream) instead")
    parser.add_argument("--in-process", action="store_true", help="run the differ in this process")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="setpoint-bench-differ-") as tmp:
        workdir = Path(tmp)
        if args.url:
            result = asyncio.run(run(args.url, workdir, args))
        else:
            url = f"nats://127.0.0.1:{free_port()}"
            with EmbeddedNats(url, workdir / "nats", log_file=workdir / "nats.log"):
                result = asyncio.run(run(url, workdir, args))
    print(json.dumps(result, indent=2))
    return 0
