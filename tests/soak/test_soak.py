"""The fault soak: a seeded random walk of targets on three keys (spot BTC/USDT and
ETH/USDT, the perpetual BTC/USDT:USDT) with venue faults, stream drops, forced fills,
venue cancels, foreign and zombie orders, SIGKILLs of the services and restarts of the
nats-server in between; then the venue must converge to the final targets and the log,
the venue and the services must agree (`soak_run`, `soak_checks`).

    python -m pytest tests/soak                # the short soak (also in `python -m pytest`)
    python -m pytest -m long tests/soak        # the long soak (500 faults; marker `long`)
    python -m bench soak --faults 500 --seed 7 # any length and seed, one JSON summary

On failure the message names the seed and the journal (JSONL, every injected step with
its wall-clock time, to read against the services' output next to it); the same seed
draws the same steps again.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from soak_run import soak, summary_line

pytestmark = [pytest.mark.e2e]

SHORT_FAULTS = 30
SHORT_MUST = ("nats_sigterm", "nats_sigkill", "kill")
"""The short soak draws these at random places besides the faults drawn by weight."""


async def _soak(root: Path, seed: int, faults: int, must: tuple[str, ...]) -> None:
    summary = await soak(root, seed, faults, must)
    print(summary_line(summary))
    problems = summary.get("problems", [])
    assert not problems, f"soak seed={seed} failed; journal {summary['journal']}\n" + "\n".join(
        p[:2000] for p in problems[:20]
    )


@pytest.mark.timeout(300)
async def test_short_soak(tmp_path: Path) -> None:
    seed = int(os.environ.get("SETPOINT_SOAK_SEED", "20261206"))
    await _soak(tmp_path, seed, SHORT_FAULTS, SHORT_MUST)


@pytest.mark.long
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_long_soak(tmp_path: Path, seed: int) -> None:
    await _soak(tmp_path, seed, 500, ("nats_sigkill", "nats_sigterm", "kill"))
