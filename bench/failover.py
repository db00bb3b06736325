"""`python -m bench failover`: what several instances cost and give (leases enabled).

* **takeover** (`--kills` times each): two lease holders on a real nats-server, in this
  process (`bus.leases.Leases`, the code the services run): the differ/executor case, 16
  partitions shared fairly, and the gateway case, one account active/standby. One holder
  "dies" (its rounds stop, nothing given back: what SIGKILL leaves) and the time until
  the other holds everything is taken; p50/p99 over the kills, with `ttl_s`. It is the
  lease part of a failover; a standby gateway then runs its startup reconciliation
  (`python -m bench e2e`, "startup") before it answers.
* **throughput** with one and with two instances of the differ and the executor (one
  gateway, as an account has one active), every service a process against the simulator
  (`bench.e2e`'s system and load): targets/s offered and placed, the placement lag, and
  the CPU time of every service process per target (user + system, /proc).

On a 2-core machine the second instance of each service shares the same two cores: it
proves that the work is shared correctly more than it adds speed. The CPU per target
says what a core buys: with c cores free per instance, the throughput of n instances is
bounded by about n x c / (CPU per target of differ + executor), and by the one gateway
of an account.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import nats

from bench.e2e import bench_symbols, cpu_seconds, percentiles, sim_extra, throughput
from setpoint.bus.embedded import EmbeddedNats, free_port
from setpoint.bus.leases import Leases
from setpoint.core.partitions import Policy, fair_share, first_come, partition_name

LEASES = {"SETPOINT_LEASES__ENABLED": "true"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench failover")
    parser.add_argument("--kills", type=int, default=20, help="deaths per takeover case")
    parser.add_argument("--ttl", type=float, default=3.0, help="leases.ttl_s")
    parser.add_argument("--keys", type=int, default=20, help="keys for the throughput runs")
    parser.add_argument("--rate", type=float, default=50.0, help="targets/s offered")
    parser.add_argument("--seconds", type=float, default=15.0, help="each throughput run")
    parser.add_argument("--skip", action="append", default=[], help="takeover | throughput")
    return parser


# --------------------------------------------------------------------------- takeover


async def _nothing(name: str) -> None:
    return None


async def _one_takeover(
    nc: Any, bucket: str, names: list[str], policy: Policy, ttl: float, n: int
) -> float:  # float-ok
    """Seconds from the death of the holder until the survivor holds every name."""

    def holder(who: str) -> Leases:
        return Leases(
            nc, group=f"b{n}", names=names, instance=who, policy=policy, ttl_s=ttl,
            on_gained=_nothing, on_lost=_nothing, bucket=bucket,
        )  # fmt: skip

    dying, survivor = holder("dying"), holder("survivor")
    await dying.start()
    await survivor.start()
    running = [asyncio.create_task(x.run()) for x in (dying, survivor)]
    while survivor.held() | dying.held() != frozenset(names):  # noqa: ASYNC110 (polled state)
        await asyncio.sleep(0.01)
    running[0].cancel()  # the holder dies: its rounds stop, nothing given back
    died = time.monotonic()
    while survivor.held() != frozenset(names):  # noqa: ASYNC110 (polled state)
        await asyncio.sleep(0.005)
    took = time.monotonic() - died
    running[1].cancel()
    await asyncio.gather(*running, return_exceptions=True)
    await survivor.stop()
    return took


async def takeover(kills: int, ttl: float) -> dict[str, Any]:  # float-ok
    store = Path(tempfile.mkdtemp(prefix="setpoint-bench-failover-"))
    server = EmbeddedNats(f"nats://127.0.0.1:{free_port()}", store)
    server.start()
    try:
        nc = await nats.connect(server.url)
        cases = {
            "partition": ([partition_name(p) for p in range(16)], fair_share),
            "gateway": (["demo"], first_come),
        }
        out: dict[str, Any] = {"ttl_s": ttl, "kills": kills}
        for case, (names, policy) in cases.items():
            times = [
                await _one_takeover(nc, f"B{case}{n}", names, policy, ttl, n) for n in range(kills)
            ]
            out[f"{case}_takeover_s"] = percentiles(times)
        await nc.close()
        return out
    finally:
        server.stop()


# --------------------------------------------------------------------------- throughput


def _cpu_seconds(system: Any) -> float:  # float-ok
    """User + system CPU time of every service process (not the simulator's, not the
    server's)."""
    return sum(t for n, t in cpu_seconds(system).items() if n not in ("sim", "nats-server"))


async def _instances(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from system import System  # tests/e2e, put on the path by bench.e2e

    root = Path(tempfile.mkdtemp(prefix=f"setpoint-bench-failover-{n}-"))
    system = System(root, sim_extra(args.keys), {"ticker_interval_s": 5})
    system.env.update(LEASES)
    try:
        system.nats_server.start()
        await system.start("sim")
        await system.start("gateway")
        for service in ("differ", "executor"):
            for i in range(n):
                system.spawn(service, name=service if i == 0 else f"{service}-{i}")
        for name in [k for k in system.processes if k not in ("sim", "gateway")]:
            await system.wait_ready(name)
        await system.up_clients()
        await asyncio.sleep(2 * args.ttl)  # the partitions settle between the instances
        before = _cpu_seconds(system)
        result = await throughput(system, args.keys, args.rate, args.seconds)
        spent = _cpu_seconds(system) - before
        result["cpu_ms_per_target"] = round(spent * 1000 / max(1, result["targets_sent"]), 3)
        return result
    finally:
        await system.down()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"bench": "failover", "cores": os.cpu_count(),
                              "load_average": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    if "takeover" not in args.skip:
        result["takeover"] = await takeover(args.kills, args.ttl)
    if "throughput" not in args.skip:
        result["keys"] = len(bench_symbols(args.keys))
        result["one_instance_each"] = await _instances(1, args)
        result["two_instances_each"] = await _instances(2, args)
    return result


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2))
    return 0
