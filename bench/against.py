"""`python -m bench against --tree A --tree B [--rounds N] [--count N] [--warmup N]`:
target → order booked, and the CPU per target of every process, for two or more source
trees (git worktrees of other commits) alternating in one run.

Each run is one tree's own `bench/e2e.py` latency measurement (its own code end to end:
services, simulator, harness), driven by this module in a child process whose path holds
only that tree. The CPU of each process the system started is read from `/proc` when the
first timed target is sent and after the last one is booked, so start-up and warm-up are
left out; this works on trees whose bench does not report CPU per service. One JSON
object: every run (tree, round, load average, p50/p99, CPU ms per target per process and
of the three services together) and, per tree, the medians; with two trees, the median
of the pairs' ratios (second / first), the figure to read on a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

OWN = ("differ", "executor", "gateway")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench against", description=__doc__)
    parser.add_argument("--tree", action="append", required=True, help="a source tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=600, help="timed targets per run")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def _cpu_ms(processes: dict[str, Any]) -> dict[str, float]:  # float-ok
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}  # float-ok
    for name, process in processes.items():
        stat = Path(f"/proc/{process.pid}/stat")
        if stat.exists():
            fields = stat.read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) * 1000 / tick
    return out


async def _child(count: int, warmup: int) -> dict[str, Any]:
    """In the child: the tree's own latency run, CPU read around the timed targets."""
    import bench.e2e as e2e  # the tree's, by the child's path

    args = e2e._parser().parse_args([])
    account: dict[str, object] = {"reconcile_interval_s": args.reconcile_interval,
                                  "ticker_interval_s": 5, "rate_limit_per_s": 100_000}  # fmt: skip
    if hasattr(e2e, "UNPACED"):
        account["venue_rate_limits"] = e2e.UNPACED
    root = Path(tempfile.mkdtemp(prefix="setpoint-bench-against-"))
    system = e2e.System(root, e2e.sim_extra(args.keys), account)
    before: dict[str, float] = {}  # float-ok
    publish, sent = e2e._publish, [0]

    async def counted(*a: Any, **kw: Any) -> None:
        sent[0] += 1
        if sent[0] == warmup + 1:
            before.update(_cpu_ms(system.processes))
        await publish(*a, **kw)

    e2e._publish = counted
    try:
        await system.up()
        result = await e2e.latency(system, count, warmup)
        after = _cpu_ms(system.processes)
    finally:
        await system.down()
    cpu = {n: round((after[n] - before.get(n, 0)) / count, 3) for n in after}
    wire = result["target_to_wire_ms"]
    own = round(sum(v for n, v in cpu.items() if n in OWN), 3)
    return {"p50_ms": wire["p50"], "p99_ms": wire["p99"], "cpu_ms": cpu, "own_cpu_ms": own}


def _run(tree: Path, count: int, warmup: int) -> dict[str, Any]:
    path = os.pathsep.join(str(tree / p) for p in ("libs", "services", "."))
    done = subprocess.run(
        [sys.executable, __file__, "--child", "--tree", str(tree),
         "--count", str(count), "--warmup", str(warmup)],
        cwd=tree, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _summary(runs: list[dict[str, Any]], trees: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tree in trees:
        mine = [r for r in runs if r["tree"] == tree]
        out[tree] = {f: statistics.median(r[f] for r in mine)
                     for f in ("p50_ms", "p99_ms", "own_cpu_ms")}  # fmt: skip
    if len(trees) == 2:
        pairs = [(a, b) for a, b in zip(runs[::2], runs[1::2], strict=True)]
        out["ratio_second_to_first"] = {
            f: round(statistics.median(b[f] / a[f] for a, b in pairs), 3)
            for f in ("p50_ms", "own_cpu_ms")
        }
    return out


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_child(args.count, args.warmup))))
        return 0
    trees = [str(Path(t).resolve()) for t in args.tree]
    runs = []
    for round_ in range(1, args.rounds + 1):
        for tree in trees:
            result = _run(Path(tree), args.count, args.warmup)
            load = os.getloadavg()[0]
            runs.append({"tree": tree, "round": round_, "load_average_1m": load, **result})
            print(f"round {round_} {tree}: p50 {result['p50_ms']} ms, "
                  f"CPU {result['own_cpu_ms']} ms per target", file=sys.stderr)  # fmt: skip
    print(json.dumps({"bench": "against", "runs": runs, "medians": _summary(runs, trees)},
                     indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
