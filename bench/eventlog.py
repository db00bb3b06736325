"""`python -m bench eventlog`: the JetStream EventLog's append latency and replay speed.

Starts its own nats-server (the bundled binary, a temporary store, a free port) unless
`--url` names one, and prints one JSON object:

* `append_sequential`: single-event appends with the per-producer expected-sequence
  check, one at a time (p50/p99 latency in ms, appends/s);
* `append_pipelined`: single-event appends kept `--window` in flight (events/s); these
  fill the log for the replay figures;
* `replay`: `read_all` + parse of the whole log (events/s);
* `replay_projections`: the same, folded into the intent and actual projections
  (`setpoint.core.projections`), or a note when that module is not there yet (median of
  `--repeats` runs);
* `replay_projections_two_processes`: the same fold, with the reading from NATS in a
  second process (`bench._raw_reader`) and the parsing and folding here (`reader_cpu_s`:
  that process's CPU time). Setpoint does not replay this way: see docs/benchmarks.md.

`--cluster N`: the same against N clustered bundled nats-servers on loopback
(`setpoint.bus.cluster`), the stream with `--replicas` copies (default min(N, 3)): an
append is acknowledged once a majority of the copies holds it, so its latency shows what
replication costs (on one machine the network is loopback: a real cluster adds its
round trips). `--cluster 1` is the single server (default).

The 1-minute load average is printed too: on a shared machine the wall-clock figures
fall with it, the `per_cpu_s` ones (events per CPU second of this process) much less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats

from setpoint.bus.cluster import EmbeddedCluster, free_cluster_url
from setpoint.bus.embedded import EmbeddedNats, free_port
from setpoint.core.events import (
    Event,
    EventParseError,
    FillObserved,
    ObservationSource,
    OrderObserved,
    OrderPlaced,
    OrderPlacedData,
    OrderStatus,
    OrderSubmitted,
    parse_event,
)
from setpoint.core.ids import client_order_id
from setpoint.core.model import Key, Producer, Side, TargetOrder
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.offload import Worker
from setpoint.eventlog.port import ANY, EventLog, Recorded
from setpoint.testing.synthetic import fill_data, observed_data, place_action, submitted_data

KEYS = (
    Key("demo", "BTC/USDT"),
    Key("demo", "ETH/USDT"),
    Key("demo", "BTC/USDT:USDT"),
    Key("carry", "BTC/USDT"),
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class _Ids:
    """Reproducible UUIDs and timestamps."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.tick = 0

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now(self) -> datetime:
        self.tick += 1
        return T0 + timedelta(milliseconds=self.tick)


def order_cycle(ids: _Ids, key: Key, n: int) -> list[Event]:
    """One order's life: submitted, placed, partly filled, filled (6 events)."""
    corr = ids.uuid()
    side = Side.BUY if n % 2 == 0 else Side.SELL
    price = Decimal("60000.00") + Decimal(n % 500) / 100
    qty = Decimal("0.010")
    intent = f"b{n:06d}"
    coid = client_order_id(key.account, key.symbol or "_", intent, 1)
    oid = str(1_000_000 + n)
    common: dict[str, Any] = {"correlation_id": corr}
    submitted = OrderSubmitted.create(
        key,
        Producer.EXECUTOR,
        submitted_data(
            place_action(key, TargetOrder(id=intent, side=side, price=price, quantity=qty))
        ),
        event_id=ids.uuid(),
        occurred_at=ids.now(),
        **common,
    )
    placed = OrderPlaced.create(
        key,
        Producer.GATEWAY,
        OrderPlacedData(client_order_id=coid, order_id=oid),
        event_id=ids.uuid(),
        occurred_at=ids.now(),
        causation_id=submitted.event_id,
        **common,
    )
    out: list[Event] = [submitted, placed]
    for part, status in (
        (Decimal("0.004"), OrderStatus.PARTIALLY_FILLED),
        (Decimal("0.006"), OrderStatus.FILLED),
    ):
        fill = FillObserved.create(
            key,
            Producer.GATEWAY,
            fill_data(
                coid,
                oid,
                side,
                price,
                part,
                trade_id=ids.uuid()[:12],
                fee=price * part * Decimal("0.0002"),
            ),
            event_id=ids.uuid(),
            occurred_at=ids.now(),
            causation_id=placed.event_id,
            **common,
        )
        filled = qty if status is OrderStatus.FILLED else part
        observed = OrderObserved.create(
            key,
            Producer.GATEWAY,
            observed_data(
                coid,
                oid,
                side,
                price,
                qty,
                source=ObservationSource.WS,
                filled=filled,
                status=status,
            ),
            event_id=ids.uuid(),
            occurred_at=ids.now(),
            causation_id=placed.event_id,
            **common,
        )
        out += [fill, observed]
    return out


def generate(count: int, seed: int = 7, ids: _Ids | None = None, first: int = 0) -> Iterator[Event]:
    """`count` realistic events over a few keys (OrderSubmitted/Placed/Fill/Observed);
    `ids`: where ids and times come from (`_Ids(seed)`), `first`: the first order's number."""
    ids = _Ids(seed) if ids is None else ids
    made, n = 0, first
    while made < count:
        for event in order_cycle(ids, KEYS[n % len(KEYS)], n):
            if made == count:
                return
            made += 1
            yield event
        n += 1


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 4)


async def sequential_appends(log: EventLog, events: list[Event]) -> dict[str, Any]:
    """Single-event appends, one at a time, each with its producer's expected position."""
    last: dict[tuple[Key, Producer], int] = {}
    latencies = []
    started = time.perf_counter()
    for event in events:
        slot = (event.key, event.producer)
        begin = time.perf_counter()
        (position,) = await log.append(event.key, event.producer, [event], last.get(slot, 0))
        latencies.append(time.perf_counter() - begin)
        last[slot] = position
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "count": len(events),
        "p50_ms": _ms(cuts[49]),
        "p99_ms": _ms(cuts[98]),
        "per_s": round(len(events) / elapsed),
    }


async def pipelined_appends(log: EventLog, events: list[Event], window: int) -> dict[str, Any]:
    """Single-event appends (expected = ANY) by `window` concurrent writers."""
    queue = iter(events)

    async def writer() -> None:
        for event in queue:
            await log.append(event.key, event.producer, [event], ANY)

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(window)))
    elapsed = time.perf_counter() - started
    return {"count": len(events), "window": window, "per_s": round(len(events) / elapsed)}


async def replay(
    log: EventLog, fold: Callable[[int, Event], None] | None, *, offloaded: bool = False
) -> dict[str, Any]:
    """read_all from 1, parse, and (optionally) fold every event. `per_cpu_s` divides by
    this process's CPU time, a steadier figure on a shared machine than `per_s`. A fold
    runs with the cyclic collector paused, as the services' catch-up and `setpoint replay`
    fold (`gc_paused`). `offloaded`: read through `offloaded_read_all` (a
    second process reads from NATS, this one parses and folds); `reader_cpu_s` is the
    CPU time of that process."""
    count = 0
    source = offloaded_read_all(log) if offloaded else log.read_all(1)
    started, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    with _paused() if fold is not None else contextlib.nullcontext():
        async for rec in source:
            if fold is not None:
                fold(rec.position, rec.event)
            count += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    result = {
        "count": count,
        "seconds": round(elapsed, 3),
        "per_s": round(count / elapsed),
        "per_cpu_s": round(count / cpu),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if offloaded:
        result["reader_cpu_s"] = round(_children_cpu() - children, 2)
    return result


async def offloaded_read_all(log: EventLog) -> AsyncIterator[Recorded]:
    """`read_all(1)` with the reading from NATS in a second process (`bench._raw_reader`,
    on a connection of its own) and the parsing here: the same records, bad entries
    skipped."""
    assert isinstance(log, JetStreamEventLog)
    stop = await log.head()
    url = log.connection.connected_url
    assert url is not None
    async with await Worker.start("bench._raw_reader") as worker:
        await worker.send((url.geturl(), log.stream, f"{log.subject_root}.>", 1, stop))
        while (frame := await worker.receive()) is not None:
            if frame[0] == "error":
                raise RuntimeError(f"the reader process failed: {frame[1]}")
            positions, _, payloads = frame
            for position, payload in zip(positions, payloads, strict=True):
                try:
                    yield Recorded(position, parse_event(payload))
                except EventParseError:
                    continue


def _children_cpu() -> float:
    """CPU seconds of this process's reaped children."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _paused() -> contextlib.AbstractContextManager[None]:
    """`gc_paused()` where this commit has it (eventlog.projection; earlier commits kept it
    in core.projections), else nothing."""
    try:
        from setpoint.eventlog.projection import gc_paused
    except ImportError:
        try:
            from setpoint.core.projections import gc_paused  # type: ignore[attr-defined,no-redef]
        except ImportError:
            return contextlib.nullcontext()
    return gc_paused()


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median time, with every run's rate."""
    chosen = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {**chosen, "runs_per_s": [run["per_s"] for run in runs]}


def projection_fold() -> tuple[Callable[[int, Event], None] | None, str]:
    """A fold into both projections, or None and why it is unavailable."""
    try:
        from setpoint.core import projections as p
    except ImportError as exc:
        return None, f"setpoint.core.projections not importable yet: {exc}"
    needed = ("IntentState", "ActualState", "apply_intent", "apply_actual")
    missing = [name for name in needed if not hasattr(p, name)]
    if missing:
        return None, f"setpoint.core.projections lacks {', '.join(missing)}"
    state = {"intent": p.IntentState.empty(), "actual": p.ActualState.empty()}

    def fold(position: int, event: Event) -> None:
        state["intent"] = p.apply_intent(state["intent"], position, event)
        state["actual"] = p.apply_actual(state["actual"], position, event)

    return fold, ""


async def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    nc = await nats.connect(url.split(","), name="bench-eventlog")
    log = await JetStreamEventLog.open(
        nc, stream=f"BENCH_{uuid.uuid4().hex[:8].upper()}", replicas=args.replicas
    )
    try:
        events = list(generate(args.events + args.sequential, args.seed))
        result: dict[str, Any] = {
            "server": str(nc.connected_server_version),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "servers": args.cluster,
            "replicas": args.replicas,
        }
        result["append_sequential"] = await sequential_appends(log, events[: args.sequential])
        result["append_pipelined"] = await pipelined_appends(
            log, events[args.sequential :], args.window
        )
        result["replay"] = await replay(log, None)
        for name, offloaded in (("", False), ("_two_processes", True)):
            runs = []
            for _ in range(args.repeats):
                fold, why = projection_fold()  # a fresh state each run
                if fold is None:
                    break
                runs.append(await replay(log, fold, offloaded=offloaded))
            result["replay_projections" + name] = _median(runs) if runs else {"skipped": why}
        result["quarantined"] = len(log.quarantine)
        return result
    finally:
        await nc.drain()


async def run_on_cluster(args: argparse.Namespace) -> dict[str, Any]:
    """`run` against a local cluster of `args.cluster` servers started for it."""
    with tempfile.TemporaryDirectory(prefix="bench-eventlog-") as store:
        cluster = EmbeddedCluster(free_cluster_url(args.cluster), args.cluster, Path(store))
        await asyncio.to_thread(cluster.start)
        try:
            return await run(cluster.url, args)
        finally:
            cluster.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench eventlog", description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="events in the log")
    parser.add_argument("--sequential", type=int, default=3_000, help="sequential appends")
    parser.add_argument("--window", type=int, default=512, help="pipelined appends in flight")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="replays into projections")
    parser.add_argument("--url", help="use this nats-server instead of starting one")
    parser.add_argument("--cluster", type=int, default=1, help="clustered servers to start")
    parser.add_argument("--replicas", type=int, help="the stream's copies (min(cluster, 3))")
    args = parser.parse_args(argv)
    if args.replicas is None:
        args.replicas = min(args.cluster, 3)
    if args.cluster > 1 and not args.url:
        result = asyncio.run(run_on_cluster(args))
    else:
        result = on_server(run, args, "bench-eventlog-")
    print(json.dumps(result, indent=2))
    return 0


def on_server(
    run: Callable[[str, argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
    args: argparse.Namespace,
    prefix: str,
) -> dict[str, Any]:
    """`run(url, args)` against `args.url`, else a bundled nats-server started for it (a
    temporary store, a free port)."""
    if args.url:
        return asyncio.run(run(args.url, args))
    with tempfile.TemporaryDirectory(prefix=prefix) as store:
        url = f"nats://127.0.0.1:{free_port()}"
        with EmbeddedNats(url, store):
            return asyncio.run(run(url, args))
