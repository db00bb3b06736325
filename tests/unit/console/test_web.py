"""The console's HTTP side over a real aiohttp server and a real (in-memory) event log:
the JSON views, read-only, the token, malformed queries, the server-sent event stream,
and where it refuses to start."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from setpoint.bus.supervise import Supervisor
from setpoint.config import Settings
from setpoint.console.live import LiveState
from setpoint.console.main import is_loopback, listen_on
from setpoint.console.web import COOKIE, STATIC, make_app
from setpoint.core.errors import UsageError
from setpoint.core.model import Key
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.eventlog.port import ANY
from setpoint.testing.synthetic import ChainBuilder, buy

KEY = Key("alpha", "BTC/USDT")
Client = TestClient[web.Request, web.Application]
TOKEN = "s3cret-console-token"


async def _state(with_fill: bool = True) -> tuple[LiveState, str]:
    """A console state over a log with one order (filled when asked); the order's coid."""
    b = ChainBuilder()
    submitted = b.submitted(KEY, buy("b1", "59990"))
    _, order = b.placed(submitted)
    if with_fill:
        b.fill(order, Decimal("0.004"))
    log = InMemoryEventLog()
    for event in b.events:
        await log.append(event.key, event.producer, [event], ANY)
    state = LiveState(Settings(), None, log, Supervisor("console"))  # type: ignore[arg-type]
    await state.runner.rebuild()
    return state, order.client_order_id


@pytest.fixture
async def served() -> AsyncIterator[tuple[Client, LiveState, str]]:
    state, coid = await _state()
    async with TestClient(TestServer(make_app(state, None))) as client:
        yield client, state, coid


async def test_overview_key_events_and_explain(
    served: tuple[Client, LiveState, str],
) -> None:
    client, _, coid = served
    overview = await (await client.get("/api/overview")).json()
    assert [(k["account"], k["symbol"]) for k in overview["keys"]] == [("alpha", "BTC/USDT")]
    key = await (
        await client.get("/api/key", params={"account": "alpha", "symbol": "BTC/USDT"})
    ).json()
    assert key["ladder"][0]["ours"][0]["client_order_id"] == coid
    assert key["fills"][0]["client_order_id"] == coid
    assert {m["lane"] for m in key["timeline"]} == {"target", "decision", "order", "fill"}
    events = await (await client.get("/api/events", params={"type": "FillObserved"})).json()
    assert [e["type"] for e in events["events"]] == ["FillObserved"]
    explained = await (await client.get("/api/explain", params={"client_order_id": coid})).json()
    assert explained["found"] is True
    assert [e["type"] for e in explained["chain"]] == [
        "TargetPublished",
        "DiffComputed",
        "OrderSubmitted",
        "OrderPlaced",
        "FillObserved",
    ]


async def test_the_page_and_its_modules_are_served_with_a_strict_policy(
    served: tuple[Client, LiveState, str],
) -> None:
    client, _, _ = served
    page = await client.get("/")
    assert page.status == 200
    assert "/static/app.js" in await page.text()
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    for module in sorted(p.name for p in STATIC.iterdir()):
        reply = await client.get(f"/static/{module}")
        assert reply.status == 200, module
        assert "http://" not in await reply.text() or module == "dom.js"  # no CDN


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        ("/api/key", {"account": "alpha"}, "account and symbol are both required"),
        ("/api/events", {"limit": "many"}, "limit must be a whole number, not 'many'"),
        ("/api/events", {"limit": "0"}, "limit must be between 1 and 2000"),
        ("/api/explain", {}, "client_order_id is required"),
    ],
)
async def test_malformed_queries_are_refused_with_the_reason(
    served: tuple[Client, LiveState, str],
    path: str,
    params: dict[str, str],
    error: str,
) -> None:
    client, _, _ = served
    reply = await client.get(path, params=params)
    assert reply.status == 400
    assert error in (await reply.json())["error"]


async def test_read_only_and_unknown_paths(
    served: tuple[Client, LiveState, str],
) -> None:
    client, _, _ = served
    for path in ("/api/overview", "/api/key", "/"):
        assert (await client.post(path)).status == 405
    assert (await client.delete("/api/events")).status == 405
    assert (await client.get("/api/nothing")).status == 404
    assert (await client.get("/static/../web.py")).status in (403, 404)


async def test_the_stream_sends_the_overview_then_each_new_record_and_ends_on_close(
    served: tuple[Client, LiveState, str],
) -> None:
    client, state, _ = served
    reply = await client.get("/api/stream")
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    first = await _next_event(reply)
    assert first.startswith("event: overview\n")
    state._live = True  # as after `start`: records are passed on
    b = ChainBuilder(seed=2)
    b.target(Key("alpha", "ETH/USDT"), (buy("e1", "2990"),))
    await state.log.append(b.events[0].key, b.events[0].producer, b.events, ANY)
    async for record in state.log.read_all(state.applied + 1):
        state._apply(record)
    assert (await _next_event(reply)).startswith("event: event\n")
    state.close()
    assert await asyncio.wait_for(reply.content.read(), 5) is not None  # the stream ended


async def _next_event(reply: object) -> str:
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(reply.content.readline(), 5)).decode()  # type: ignore[attr-defined]
        if line == "\n" and lines and not lines[0].startswith("retry"):
            return "".join(lines)
        if line == "\n":
            lines = []
            continue
        lines.append(line)


async def test_a_token_is_asked_for_and_never_shown() -> None:
    state, _ = await _state()
    async with TestClient(TestServer(make_app(state, TOKEN))) as client:
        refused = await client.get("/api/overview")
        assert refused.status == 401
        assert "token" in await refused.text()
        assert (
            await client.get("/api/overview", headers={"Authorization": "Bearer no"})
        ).status == 401
        assert (await client.get("/?token=wrong", allow_redirects=False)).status == 401
        bearer = await client.get("/api/overview", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status == 200
        assert TOKEN not in await bearer.text()
        opened = await client.get(f"/?token={TOKEN}", allow_redirects=False)
        assert opened.status == 302
        assert "token" not in opened.headers["Location"]
        cookie = opened.cookies[COOKIE]
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        page = await client.get("/")  # the cookie jar carries it now
        assert page.status == 200
        assert TOKEN not in await page.text()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.1.2.3", True),
     ("0.0.0.0", False), ("10.0.0.5", False), ("console.example", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_where_it_listens_and_when_it_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert listen_on(Settings()).url() == "http://127.0.0.1:8780/"
    with pytest.raises(UsageError, match=r"console.host is 0.0.0.0, not a loopback .*token"):
        listen_on(Settings(), host="0.0.0.0")
    missing = Settings(console={"token": "env:SETPOINT_TEST_NO_SUCH_TOKEN"})
    with pytest.raises(UsageError, match="SETPOINT_TEST_NO_SUCH_TOKEN is not set"):
        listen_on(missing, host="0.0.0.0")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(UsageError, match="empty"):
        listen_on(Settings(console={"token": f"file:{empty}"}), host="0.0.0.0")
    monkeypatch.setenv("SETPOINT_TEST_TOKEN", TOKEN)
    given = Settings(console={"token": "env:SETPOINT_TEST_TOKEN"})
    assert listen_on(given, host="0.0.0.0").token == TOKEN


def test_a_token_must_be_a_reference() -> None:
    with pytest.raises(ValueError, match="must be a reference"):
        Settings(console={"token": TOKEN})


def test_run_console_beyond_loopback_without_a_token_exits_with_the_reason(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "setpoint", "run", "console", "--host", "0.0.0.0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
    )  # fmt: skip
    assert done.returncode == 2
    assert "needs console.token" in done.stderr
