"""`python -m bench audit`: how fast `setpoint audit` checks a log, and in how much memory.

Prints one JSON object with two figures:

* `checker`: the pure audit (`core.audit.AuditChecker`) over `--events` events (default
  1,000,000) of the synthetic grid workload (`setpoint.testing.synthetic`: targets, diffs,
  orders, partial fills, cancels, position reports over five keys). Events are made in
  chunks of `--chunk` outside the timed section and fed to one checker, so the figure is
  the checker's own speed and the log never sits in memory whole: `rss_mb` sampled after
  each chunk shows whether the checker's memory grows with the log (it should stay flat
  but for the 8-byte fill hashes).
* `jetstream`: the real path of the command: `--jetstream-events` events (default
  1,000,000, as in the issue; 0 skips it) appended to a JetStream log on a nats-server
  (`--url`, else a bundled one started on a free port with a temporary store), then
  `ops.audit.audit(log)` timed end to end both ways, `--repeats` times each, alternating:
  `one_process` (`--workers 0`: read, parse and check here) and `two_processes`
  (`--workers 1`: read here, parse and check in a worker process). Medians, with the
  1-minute load average of each run and the CPU microseconds per event of this process,
  the worker process and the bundled nats-server: on a shared machine the wall-clock
  figures fall with the load, the CPU figures much less, and they bound what an idle
  machine would do. `same_report` says whether every run gave the same report.

`peak_rss_mb` is the process's peak resident memory (`ru_maxrss`), which includes the
chunk being fed and, for the JetStream run, the events generated for writing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from setpoint.core.audit import AuditChecker
from setpoint.core.events import Event
from setpoint.eventlog.offload import usable_cpus
from setpoint.testing.synthetic import GridWorkload


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


async def _fill_jetstream(url: str, count: int, seed: int, window: int) -> Any:
    """A JetStream log of `count` synthetic events, written by `window` concurrent
    appenders that take events in order from one generator (so each producer's events
    are published in order, and the whole log is never in memory)."""
    import nats

    from setpoint.eventlog.jetstream import JetStreamEventLog
    from setpoint.eventlog.port import ANY

    nc = await nats.connect(url)
    log = await JetStreamEventLog.open(nc, owns_connection=True)
    events = GridWorkload(seed).events(count)

    async def writer() -> None:
        for event in events:
            await log.append(event.key, event.producer, [event], ANY)

    await asyncio.gather(*(writer() for _ in range(window)))
    return log


class _Cpu:
    """CPU seconds spent since creation by this process, its reaped children (the audit's
    worker process) and, when known, the nats-server."""

    def __init__(self, server_pid: int | None) -> None:
        self._server = server_pid
        self._start = self._now()

    def _now(self) -> tuple[float, float, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime, self._server_cpu())

    def _server_cpu(self) -> float:
        if self._server is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self._server}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def per_event_us(self, events: int) -> dict[str, float]:
        now = self._now()
        spent = [(b - a) / max(events, 1) * 1e6 for a, b in zip(self._start, now, strict=True)]
        names = ("this_process", "worker_process", "nats_server")
        return {name: round(value, 2) for name, value in zip(names, spent, strict=True)}


async def _timed_audit(log: Any, workers: int, server_pid: int | None) -> dict[str, Any]:
    from setpoint.ops.audit import audit

    gc.collect()
    load = os.getloadavg()[0]
    cpu = _Cpu(server_pid)
    start = time.perf_counter()
    report = await audit(log, progress=False, workers=workers)
    elapsed = time.perf_counter() - start
    return {
        "report": report,
        "seconds": elapsed,
        "load": load,
        "cpu_us_per_event": cpu.per_event_us(report.events),
    }


async def jetstream_run(
    url: str, count: int, seed: int, window: int, repeats: int, server_pid: int | None
) -> dict[str, Any]:
    """Write `count` events to JetStream, then audit them both ways, `repeats` times each,
    alternating (so both see the same load); medians."""
    start = time.perf_counter()
    log = await _fill_jetstream(url, count, seed, window)
    written = time.perf_counter() - start
    gc.collect()
    start = time.perf_counter()
    read = sum([1 async for _ in log.read_all()])
    read_only = time.perf_counter() - start
    runs: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
    for _ in range(repeats):
        for workers in runs:
            runs[workers].append(await _timed_audit(log, workers, server_pid))
    await log.close()
    reports = [run["report"] for both in runs.values() for run in both]
    return {
        "source": "JetStream stream on nats-server: setpoint audit's own path",
        "events": reports[0].events,
        "append_seconds": round(written, 2),
        "read_all_only_events_per_s": round(read / read_only),
        "one_process": _summary(runs[0]),
        "two_processes": _summary(runs[1]),
        "same_report": all(r == reports[0] for r in reports),
        "clean": reports[0].clean,
        "violations": len(reports[0].violations),
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median figures of repeated audits (`events_per_s` from the median time)."""
    seconds = statistics.median(run["seconds"] for run in runs)
    events = runs[0]["report"].events
    cpu = {
        name: round(statistics.median(run["cpu_us_per_event"][name] for run in runs), 2)
        for name in runs[0]["cpu_us_per_event"]
    }
    return {
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds) if seconds else None,
        "runs_events_per_s": [round(events / run["seconds"]) for run in runs],
        "load_average_1m": [round(run["load"], 2) for run in runs],
        "cpu_us_per_event": cpu,
    }


def _with_server(url: str | None, body: Any) -> Any:
    """Run `body(url, server_pid)` against `url`, or against a bundled nats-server started
    for it (whose pid lets the CPU it spends be counted)."""
    if url is not None:
        return body(url, None)
    from setpoint.bus.embedded import EmbeddedNats, free_port

    with tempfile.TemporaryDirectory() as store:
        server = EmbeddedNats(f"nats://127.0.0.1:{free_port()}", store)
        server.start()
        try:
            return body(server.url, server.process.pid if server.process else None)
        finally:
            server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench audit", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--jetstream-events", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=256, help="appends in flight")
    parser.add_argument("--repeats", type=int, default=3, help="audits of the JetStream log")
    parser.add_argument("--url", help="nats-server to use (default: start a bundled one)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "cpus": usable_cpus(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if args.events > 0:
        result["checker"] = checker_run(args.events, args.chunk, args.seed)
    if args.jetstream_events > 0:
        result["jetstream"] = _with_server(
            args.url,
            lambda url, pid: asyncio.run(
                jetstream_run(url, args.jetstream_events, args.seed, args.window, args.repeats, pid)
            ),
        )
    result["peak_rss_mb"] = _peak_mb()
    print(json.dumps(result, indent=2))
    return 0
