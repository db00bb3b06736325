"""`python -m bench soak --faults N --seed S`: the fault soak of `tests/soak` at any length.

A seeded random walk of targets on spot BTC/USDT, ETH/USDT and the perpetual BTC/USDT:USDT
(new intents, amends, cancels, positions, expiry, OCO groups) with N faults drawn by the
seed in between (every simulator fault kind on order entry, cancel and queries, stream
drops and expired listen keys, forced fills racing amends and cancels, venue cancels,
foreign and zombie orders, SIGKILL of the differ, executor or gateway, SIGTERM and SIGKILL
of the nats-server), then the checks from outside: one venue order per client id, never
two live orders for one intent, every venue trade of ours in the log exactly once, a clean
`setpoint audit`, `setpoint replay` equal to the venue, every service ready, no traceback,
and convergence to the final targets within two reconcile intervals once quiet.

Prints one summary line (stderr) and one JSON object (stdout); exit status 1 when a check
failed, with the seed and the journal's path. The run's files stay in `--dir` (default: a
new temporary directory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "soak"))

from soak_run import soak, summary_line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench soak")
    parser.add_argument("--faults", type=int, default=500, help="faults to inject")
    parser.add_argument("--seed", type=int, default=7, help="seed of every random choice")
    parser.add_argument("--dir", type=Path, default=None, help="where the run's files go")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    # the soak's own NATS client reconnects across the restarts the soak makes: quiet
    logging.getLogger("nats").setLevel(logging.CRITICAL)
    root = args.dir or Path(tempfile.mkdtemp(prefix=f"soak-{args.seed}-"))
    root.mkdir(parents=True, exist_ok=True)
    summary = asyncio.run(soak(root, args.seed, args.faults))
    print(summary_line(summary), file=sys.stderr)
    print(json.dumps(summary, indent=2))
    if summary.get("problems"):
        print(f"soak failed: seed {args.seed}, journal {summary['journal']}", file=sys.stderr)
        return 1
    return 0
