"""`python -m bench audit`: how fast `setpoint audit` checks a log, and in how much memory.

Prints one JSON object with two figures:

* `checker`: the pure audit (`core.audit.AuditChecker`) over `--events` events (default
  1,000,000) of the synthetic grid workload (`setpoint.ops.synthetic`: targets, diffs,
  orders, partial fills, cancels, position reports over five keys). Events are made in
  chunks of `--chunk` outside the timed section and fed to one checker, so the figure is
  the checker's own speed and the log never sits in memory whole: `rss_mb` sampled after
  each chunk shows whether the checker's memory grows with the log (it should stay flat
  but for the 8-byte fill hashes).
* `jetstream`: the real path of the command: `--jetstream-events` events (default 200,000;
  0 skips it) appended to a JetStream log on a nats-server (`--url`, else a bundled one
  started on a free port with a temporary store), then `ops.audit.audit(log)` -
  `read_all`, parse and check - timed end to end.

`peak_rss_mb` is the process's peak resident memory (`ru_maxrss`), which includes the
chunk being fed and, for the JetStream run, the events generated for writing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from setpoint.core.audit import AuditChecker
from setpoint.core.events import Event
from setpoint.ops.synthetic import GridWorkload


def _rss_mb() -> float:
    """Current resident set size (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def checker_run(events: int, chunk: int, seed: int) -> dict[str, Any]:
    """Feed `events` synthetic events to one checker in chunks; time only the feeding."""
    stream = GridWorkload(seed).events(events)
    checker = AuditChecker()
    position, elapsed, samples = 0, 0.0, {}
    every = max(chunk, events // 10)
    while True:
        batch: list[Event] = [e for _, e in zip(range(chunk), stream, strict=False)]
        if not batch:
            break
        elapsed += _feed(checker, position, batch)
        position += len(batch)
        del batch
        if position % every < chunk:
            gc.collect()
            samples[str(position)] = _rss_mb()
    start = time.perf_counter()
    report = checker.finish()
    elapsed += time.perf_counter() - start
    return {
        "source": "synthetic events fed straight to AuditChecker (generation not timed)",
        "events": position,
        "seconds": round(elapsed, 2),
        "events_per_s": round(position / elapsed) if elapsed else None,
        "clean": report.clean,
        "counts": report.to_json()["counts"],
        "rss_mb_after_events": samples,
    }


def _feed(checker: AuditChecker, before: int, batch: list[Event]) -> float:
    """Feed one chunk; the seconds it took."""
    feed = checker.feed
    start = time.perf_counter()
    for offset, event in enumerate(batch, start=before + 1):
        feed(offset, event)
    return time.perf_counter() - start


async def _fill_jetstream(url: str, events: list[Event], window: int) -> Any:
    import nats

    from setpoint.eventlog.jetstream import JetStreamEventLog
    from setpoint.eventlog.port import ANY

    nc = await nats.connect(url)
    log = await JetStreamEventLog.open(nc, owns_connection=True)
    gate = asyncio.Semaphore(window)

    async def one(event: Event) -> None:
        async with gate:
            await log.append(event.key, event.producer, [event], ANY)

    # one task per key and producer keeps each producer's order; windows overlap them
    await asyncio.gather(*(one(e) for e in events))
    return log


async def jetstream_run(url: str, count: int, seed: int, window: int) -> dict[str, Any]:
    """Write `count` events to JetStream, then audit them through `read_all`."""
    from setpoint.ops.audit import audit

    events = list(GridWorkload(seed).events(count))
    start = time.perf_counter()
    log = await _fill_jetstream(url, events, window)
    written = time.perf_counter() - start
    del events
    gc.collect()
    start = time.perf_counter()
    read = sum([1 async for _ in log.read_all()])
    read_only = time.perf_counter() - start
    start = time.perf_counter()
    report = await audit(log, progress=False)
    elapsed = time.perf_counter() - start
    await log.close()
    return {
        "source": "JetStream stream on nats-server: read_all + parse + AuditChecker",
        "events": report.events,
        "append_seconds": round(written, 2),
        "read_all_only_events_per_s": round(read / read_only),
        "seconds": round(elapsed, 2),
        "events_per_s": round(report.events / elapsed),
        "clean": report.clean,
        "violations": len(report.violations),
    }


def _with_server(url: str | None, body: Any) -> Any:
    """Run `body(url)` against `url`, or against a bundled nats-server started for it."""
    if url is not None:
        return body(url)
    from setpoint.bus.embedded import EmbeddedNats, free_port

    with tempfile.TemporaryDirectory() as store:
        server = EmbeddedNats(f"nats://127.0.0.1:{free_port()}", store)
        server.start()
        try:
            return body(server.url)
        finally:
            server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench audit", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--jetstream-events", type=int, default=200_000)
    parser.add_argument("--window", type=int, default=256, help="appends in flight")
    parser.add_argument("--url", help="nats-server to use (default: start a bundled one)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"checker": checker_run(args.events, args.chunk, args.seed)}
    if args.jetstream_events > 0:
        result["jetstream"] = _with_server(
            args.url,
            lambda url: asyncio.run(
                jetstream_run(url, args.jetstream_events, args.seed, args.window)
            ),
        )
    result["peak_rss_mb"] = _peak_mb()
    print(json.dumps(result, indent=2))
    return 0
