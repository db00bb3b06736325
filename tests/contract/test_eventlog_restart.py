"""The JetStream adapter across a restart of its nats-server: a follower and `head()` answer
again once the server is back, without waiting out a request the old connection took with
it (the log's request timeout is set far past the tests' deadline: no timing is asserted).

Each test starts a nats-server of its own (the session's one must not restart under the
other tests). The bug this pins: a server stopped with SIGTERM ends the follower's pull
requests (409), the follower asks at once for a new consumer, the dying server never
answers, and the follower sat out the request's 5 s timeout although the client was
connected to the new server long before (the soak saw each restart's follower stall 5 s,
and a reconciliation give up on a `head()` asked of the old server).
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from test_eventlog import KEY, placed

from setpoint.bus.embedded import EmbeddedNats, free_port
from setpoint.core.model import Producer
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.port import ANY, Recorded

pytestmark = [pytest.mark.nats, pytest.mark.timeout(120)]

REQUEST_TIMEOUT_S = 60.0
"""The log's request timeout here: a request lost with the old connection and waited out
would hold the reader this long, far past the tests' deadline (no timing is asserted)."""
DEADLINE_S = 30.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    url = f"nats://127.0.0.1:{free_port()}"
    with EmbeddedNats(url, tmp_path / "nats", tmp_path / "nats.log") as own:
        yield own


@pytest.fixture
async def log(server: EmbeddedNats) -> AsyncIterator[JetStreamEventLog]:
    async def quiet(*_: object) -> None:
        return None

    nc: NATS = await nats.connect(
        server.url,
        name="test-eventlog-restart",
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=quiet,
    )
    suffix = uuid.uuid4().hex[:10]
    log = await JetStreamEventLog.open(
        nc, stream=f"RS_{suffix}", subject_root=f"rs{suffix}.evt", timeout=REQUEST_TIMEOUT_S
    )
    yield log
    await log.close()
    await nc.close()


async def stop(server: EmbeddedNats, how: signal.Signals) -> None:
    assert server.process is not None
    server.process.send_signal(how)
    await asyncio.to_thread(server.process.wait, 10)
    server.process = None


async def append_when_answered(log: JetStreamEventLog, n: int) -> int:
    while True:
        try:
            [position] = await log.append(KEY, Producer.GATEWAY, [placed(n=n)], ANY)
            return position
        except Exception:
            await asyncio.sleep(0.05)


async def test_a_follower_resumes_soon_after_a_graceful_restart(
    server: EmbeddedNats, log: JetStreamEventLog
) -> None:
    await log.append(KEY, Producer.GATEWAY, [placed(n=0)], ANY)
    follower = log.follow(1, lambda: 0)
    assert (await anext(follower)).position == 1
    nxt: asyncio.Task[Recorded] = asyncio.create_task(anext(follower))  # type: ignore[arg-type]
    await asyncio.sleep(0.3)  # the follower waits on its pull requests
    await stop(server, signal.SIGTERM)
    await asyncio.to_thread(server.start)
    position = await append_when_answered(log, 1)
    assert (await asyncio.wait_for(nxt, DEADLINE_S)).position == position
    await follower.aclose()  # type: ignore[attr-defined]


async def test_head_asked_of_a_server_that_went_away_is_asked_again_after_reconnect(
    server: EmbeddedNats, log: JetStreamEventLog
) -> None:
    await log.append(KEY, Producer.GATEWAY, [placed(n=0)], ANY)
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)  # takes the request, never answers it
    try:
        head = asyncio.create_task(log.head())
        await asyncio.sleep(0.3)
    finally:
        await stop(server, signal.SIGKILL)
    await asyncio.to_thread(server.start)
    assert await asyncio.wait_for(head, DEADLINE_S) == 1
