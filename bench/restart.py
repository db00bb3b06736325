"""`python -m bench restart --events N`: how long a service's projection takes to be ready
on a long log, from the log alone and from a snapshot (`eventlog.snapshots`).

Starts its own nats-server (the bundled binary, a temporary store, a free port) unless
`--url` names one, then:

1. appends `--events` events, `--window` appends in flight (the lifecycle of
   `bench.eventlog`: submitted, placed, two fills and two observations per order, over
   four keys, `--spacing-ms` of log time apart, so the purge of closed orders (one hour,
   the default) drops the orders an hour old as it would in production);
2. folds the whole log into the differ's view (`DifferView`: the intent, actual and
   portfolio projections and the differ's per-key facts, a superset of what the executor
   and the gateway fold) with the one projection runner, which writes the snapshot at the
   head in the background (timed: `snapshot_write_s`, its size; reading it back from the
   object store, `snapshot_get_s`, and decoding it, `snapshot_decode_s`);
3. appends `--tail` more events (a restart comes some time after the last snapshot; with
   `eventlog.snapshot_every` = N the tail is between 0 and N events);
4. `--rounds` times, alternately: a fresh view rebuilt from the log alone (`full_s`; left
   out with `--skip-full`, for long logs) and one restored from the snapshot then folded
   through the tail (`snapshot_s`): the time to ready of a restarting service, less its
   connecting. Medians, and each run.

Prints one JSON object. `python -m bench.restart` works too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import nats
from immutables import Map

from bench.eventlog import KEYS, T0, _Ids, generate, on_server
from setpoint.core.events import Event
from setpoint.core.projections.snapshot import loads
from setpoint.differ.view import DifferView
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.port import ANY, Recorded
from setpoint.eventlog.projection import ProjectionRunner
from setpoint.eventlog.snapshots import ObjectSnapshotStore, Snapshots, settings_digest

PURGE_AFTER = timedelta(hours=1)


class _Spaced(_Ids):
    """`bench.eventlog`'s ids, with `spacing` of log time between events."""

    def __init__(self, seed: int, spacing: timedelta) -> None:
        super().__init__(seed)
        self.spacing = spacing

    def now(self) -> Any:
        self.tick += 1
        return T0 + self.spacing * self.tick


def events(count: int, seed: int, spacing: timedelta, first: int = 0) -> Iterator[Event]:
    """`count` events, orders numbered from `first` (their times after the previous ones)."""
    ids = _Spaced(seed, spacing)
    ids.tick = first * 6
    return generate(count, ids=ids, first=first)


async def append(log: JetStreamEventLog, source: Iterator[Event], window: int) -> float:
    """Append everything `source` yields, `window` in flight; events/s."""
    count = 0

    async def writer() -> None:
        nonlocal count
        for event in source:
            await log.append(event.key, event.producer, [event], ANY)
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(window)))
    return count / (time.perf_counter() - started)


def purge() -> Map[str, timedelta]:
    return Map({k.account: PURGE_AFTER for k in KEYS})


async def ready(log: JetStreamEventLog, snapshots: Snapshots | None) -> tuple[float, Any]:
    """Seconds until a fresh differ view holds the log's head; the runner."""
    view = DifferView(purge())

    def apply(record: Recorded) -> None:
        view.apply(record)

    runner = ProjectionRunner(log, apply, lambda: view.position, name="bench")
    if snapshots is not None:
        runner.use_snapshots(snapshots, view.capture, view.restore)
    started = time.perf_counter()
    await runner.rebuild()
    return time.perf_counter() - started, runner


def _snapshots(store: ObjectSnapshotStore, every: int) -> Snapshots:
    return Snapshots(store, "differ", settings_digest(purge()), every)


async def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    nc = await nats.connect(url, name="bench-restart")
    suffix = uuid.uuid4().hex[:8].upper()
    log = await JetStreamEventLog.open(nc, stream=f"BENCH_{suffix}")
    store = ObjectSnapshotStore(nc, f"BENCH_SNAP_{suffix}")
    spacing = timedelta(milliseconds=args.spacing_ms)
    try:
        result: dict[str, Any] = {
            "events": args.events, "tail": args.tail, "load_average_1m": os.getloadavg()[0],
        }  # fmt: skip
        rate = await append(log, events(args.events, args.seed, spacing), args.window)
        result["append_per_s"] = round(rate)
        first, runner = await ready(log, _snapshots(store, 1))  # writes one at the head
        started = time.perf_counter()
        assert await runner.snapshot_written(), "the snapshot was not written"
        result["first_full_s"] = round(first, 3)
        result["snapshot_write_s"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        raw = await store.get("differ")
        result["snapshot_get_s"] = round(time.perf_counter() - started, 3)
        result["snapshot_bytes"] = len(raw or b"")
        started = time.perf_counter()
        await asyncio.to_thread(loads, (raw or b"").partition(b"\n")[2])
        result["snapshot_decode_s"] = round(time.perf_counter() - started, 3)
        tail = events(args.tail, args.seed, spacing, first=args.events // 6 + 1)
        await append(log, tail, args.window)
        full, snap = [], []
        for _ in range(args.rounds):
            if not args.skip_full:
                full.append((await ready(log, None))[0])
            snap.append((await ready(log, _snapshots(store, 10**12)))[0])
        result["full_s"] = round(statistics.median(full), 3) if full else None
        result["snapshot_s"] = round(statistics.median(snap), 3)
        result["runs"] = {"full_s": [round(t, 3) for t in full],
                          "snapshot_s": [round(t, 3) for t in snap]}  # fmt: skip
        return result
    finally:
        await log.close()
        await nc.drain()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench restart", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log")
    parser.add_argument("--tail", type=int, default=25_000, help="events after the snapshot")
    parser.add_argument("--window", type=int, default=512, help="appends in flight")
    parser.add_argument("--rounds", type=int, default=3, help="alternating restarts of each")
    parser.add_argument("--spacing-ms", type=int, default=100, help="log time between events")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--skip-full",
        action="store_true",
        help="time only the restarts from the snapshot (the first fold, which writes it, "
        "still reads the whole log: first_full_s)",
    )
    parser.add_argument("--url", help="use this nats-server instead of starting one")
    args = parser.parse_args(argv)
    print(json.dumps(on_server(run, args, "bench-restart-"), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
