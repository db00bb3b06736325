"""The `Quote` example of docs/strategies.md, hosted from a program exactly as the page
shows (`serve(settings, {"quote-1": (config, Quote())})`), trades against the running
system: the gateway's configuration names no strategy, so its prices come from the host's
market-data subscription. Only the account is changed (`demo` -> the system's account)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from system import ACCOUNT, System, eventually, terminate

pytestmark = [pytest.mark.nats, pytest.mark.sim, pytest.mark.timeout(180)]
DOC = Path(__file__).resolve().parents[2] / "docs" / "strategies.md"
SYMBOL = "BTC/USDT"


def documented_program() -> str:
    """The page's strategy and its hosting program, as one script."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    strategy = next(b for b in blocks if "class Quote" in b)
    hosting = next(b for b in blocks if "serve(settings" in b)
    return (strategy + "\n" + hosting).replace('account="demo"', f'account="{ACCOUNT}"')


def _placed_intents(events: list[object]) -> list[str]:
    return [e.data.intent_id for e in events]  # type: ignore[attr-defined]


def _host_the_example(system: System) -> subprocess.Popen[bytes]:
    """The documented program, run with the system's `setpoint.toml` in its directory."""
    program = system.root / "quote.py"
    program.write_text(documented_program())
    with open(system.root / "quote.out", "wb") as out:
        return subprocess.Popen(
            [sys.executable, str(program)],
            cwd=system.root,
            env=system.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_the_documented_quote_strategy_trades_when_hosted(own_system: System) -> None:
    system = own_system
    process = _host_the_example(system)
    try:

        async def submitted() -> list[str]:
            return _placed_intents(await system.events(SYMBOL, "OrderSubmitted"))

        first = await eventually(submitted, 60, "the quote's first order")
        assert first[0] == "quote-1.bid.1"
        (order,) = await eventually(lambda: system.open_orders(SYMBOL), 30, "order at venue")
        assert order["side"] == "buy"
        coid = order["client_order_id"]
        await system.control("POST", "/_sim/fill", {"client_order_id": coid})

        async def requoted() -> bool:
            return "quote-1.bid.2" in await submitted()

        await eventually(requoted, 60, "a new bid under a new intent after the fill")
    finally:
        terminate(process, 20)
    text = (system.root / "quote.out").read_text(errors="replace")
    assert "strategy ready" in text, text[-3000:]
