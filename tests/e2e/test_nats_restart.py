"""The services ride through a restart of the nats-server (graceful and SIGKILL) and a few
seconds with no server at all: afterwards every service follows the log again, from where
it was, and says so in its health.

The bugs this pins: after a restart the executor and the gateway stopped reading the log
for good while answering `ready: true` (their follow task died unobserved), so a new
intent got `TargetPublished` and `DiffComputed` but never an `OrderSubmitted`; and the
clients printed a traceback for each reconnect instead of one line.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest
from system import System, eventually
from test_convergence import BTC, order, working

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SERVICES = ("differ", "executor", "gateway")


def restart_server(system: System, how: signal.Signals, pause_s: float) -> None:  # float-ok
    server = system.nats_server
    assert server.process is not None
    server.process.send_signal(how)
    server.process.wait(10)
    server.process = None
    if pause_s:
        import time

        time.sleep(pause_s)  # no server at all meanwhile
    server.start()


async def all_ready(system: System) -> dict[str, Any] | None:
    answers = {}
    for service in SERVICES:
        try:
            answers[service] = await system.health(service)
        except Exception:
            return None
    return answers if all(a["ready"] for a in answers.values()) else None


@pytest.mark.parametrize(
    ("how", "pause_s"),
    [(signal.SIGTERM, 0.0), (signal.SIGKILL, 0.0), (signal.SIGTERM, 3.0)],
    ids=["graceful", "sigkill", "three-seconds-without-server"],
)
async def test_a_new_intent_is_placed_after_the_server_restarts(
    own_system: System, how: signal.Signals, pause_s: float
) -> None:
    system = own_system
    first = [order(f"n-b{n}", "buy", f"5{5 - n}000.00", "0.01000") for n in (1, 2)]
    await system.target(BTC, first)

    async def both_working() -> bool:
        return bool(await working(system, BTC, "n-b1")) and bool(await working(system, BTC, "n-b2"))

    await eventually(both_working, what="the first two orders working")
    restart_server(system, how, pause_s)
    await eventually(lambda: all_ready(system), 30, "every service ready again")

    await system.target(
        BTC,
        [*first, order("n-b3", "buy", "52000.00", "0.01000")],
    )
    await eventually(lambda: working(system, BTC, "n-b3"), 30, "the third intent working")
    health = await all_ready(system)
    assert health is not None
    for service in SERVICES:
        states = health[service]["tasks"]
        assert states, service
        assert all(state == "following" for state in states.values()), states
    for service in SERVICES:  # one line per disconnect and reconnect, no client traceback
        text = system.output(service).read_text(errors="replace")
        assert "Traceback" not in text, service
        assert "disconnected from NATS; reconnecting" in text, service
        assert "reconnected to NATS" in text, service
