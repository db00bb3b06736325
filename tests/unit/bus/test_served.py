"""`bus.replies.Served`: requests taken raw from the parser, against a real nats-server."""

from __future__ import annotations

import asyncio
import json

import nats

from setpoint.bus.replies import Request, Served, header_map


async def test_ordered_requests_are_handled_one_at_a_time_in_arrival_order(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    seen: list[int] = []
    running = 0

    async def handle(request: Request) -> None:
        nonlocal running
        running += 1
        assert running == 1, "two requests at once"
        await asyncio.sleep(0.01)
        seen.append(json.loads(request.data)["n"])
        await request.respond(json.dumps({"n": seen[-1], "subject": request.subject}).encode())
        running -= 1

    served = await Served(nc, "served.ordered.*", handle, "group", ordered=True).start()
    try:
        replies = await asyncio.gather(
            *(nc.request(f"served.ordered.{n}", json.dumps({"n": n}).encode(), timeout=5)
              for n in range(5))
        )  # fmt: skip
        assert seen == [0, 1, 2, 3, 4]
        assert [json.loads(r.data)["subject"] for r in replies] == [
            f"served.ordered.{n}" for n in range(5)
        ]
    finally:
        await served.stop()
        await served.stop()  # idempotent
        await nc.close()


async def test_unordered_requests_run_side_by_side_and_a_failing_one_does_not_stop_the_rest(
    nats_url: str,
) -> None:
    nc = await nats.connect(nats_url)
    release = asyncio.Event()
    started: list[bytes] = []

    async def handle(request: Request) -> None:
        started.append(request.data)
        if request.data == b"boom":
            raise RuntimeError("a broken handler")
        if request.data == b"slow":
            await release.wait()
        await request.respond(request.data + b"!")

    served = await Served(nc, "served.free", handle).start()
    try:
        slow = asyncio.ensure_future(nc.request("served.free", b"slow", timeout=5))
        await nc.publish("served.free", b"boom")
        quick = await nc.request("served.free", b"quick", timeout=5)  # not held by "slow"
        assert quick.data == b"quick!"
        release.set()
        assert (await slow).data == b"slow!"
        assert sorted(started) == [b"boom", b"quick", b"slow"]
    finally:
        await served.stop()
        await nc.close()


async def test_headers_reach_the_handler_by_name(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    got: list[dict[str, str] | None] = []

    async def handle(request: Request) -> None:
        got.append(request.headers)
        await request.respond(b"ok")

    served = await Served(nc, "served.headers", handle).start()
    try:
        await nc.request("served.headers", b"", timeout=5, headers={"traceparent": "00-ab-cd-01"})
        await nc.request("served.headers", b"", timeout=5)
        assert got == [{"traceparent": "00-ab-cd-01"}, None]
    finally:
        await served.stop()
        await nc.close()


def test_header_map_reads_the_raw_block() -> None:
    raw = b"NATS/1.0\r\nNats-Msg-Id: x1\r\ntraceparent:  00-a-b-01 \r\n\r\n"
    assert header_map(raw) == {"Nats-Msg-Id": "x1", "traceparent": "00-a-b-01"}
    assert header_map(None) is None
    assert header_map(b"NATS/1.0\r\n\r\n") is None
