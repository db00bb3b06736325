"""One target, one trace: the whole system under `setpoint up`, exporting OTLP/HTTP to a
small receiver in this test. The test starts the root span itself, publishes a target
with its `traceparent` in the NATS headers, and expects spans of the same trace from the
differ (intake and diff), the executor and the gateway (the venue call)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider

from setpoint.bus import subjects, telemetry
from setpoint.bus.embedded import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


class Receiver:
    """An OTLP/HTTP trace endpoint: (trace id hex, service name, span name) per span."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []

    async def traces(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        for resource_spans in message.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attributes.get("service.name", "?")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append((span.trace_id.hex(), service, span.name))
        return web.Response(status=200)

    async def ok(self, request: web.Request) -> web.Response:
        return web.Response(status=200)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", found.traces)
    app.router.add_post("/v1/metrics", found.ok)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield found, port
    await runner.cleanup()


def _text(log: Path) -> str:
    return log.read_text()


def _start_up(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], Path]:
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "setpoint", "up", "--no-status", "--grace", "8"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
    return process, log


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def _wait_ready(process: subprocess.Popen[str], log: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if "all started" in _text(log):
            return
        assert process.poll() is None, _text(log)
        await asyncio.sleep(0.5)
    raise AssertionError(_text(log))


async def test_one_target_is_one_trace(receiver: tuple[Receiver, int], tmp_path: Path) -> None:
    found, otlp_port = receiver
    nats_port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SETPOINT_", "OTEL_"))}
    env |= {
        "SETPOINT_NATS__URL": f"nats://127.0.0.1:{nats_port}",
        "SETPOINT_SIM__PORT": str(sim_port),
        "SETPOINT_ACCOUNTS__DEMO__BASE_URL": f"http://127.0.0.1:{sim_port}",
        "SETPOINT_TELEMETRY__EXPORTER": "otlp",
        "SETPOINT_TELEMETRY__OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    process, log = _start_up(tmp_path, env)
    wanted = {"differ", "executor", "gateway"}
    try:
        await _wait_ready(process, log, 90)
        assert "failed to start" not in _text(log)
        trace_id = await _publish_traced_target(nats_port)
        services = await _services_in_trace(found, trace_id, wanted)
        assert wanted <= services, found.spans
    finally:
        _stop(process)


async def _publish_traced_target(nats_port: int) -> str:
    """Request a target for demo ETH/USDT under a root span of this test; its trace id."""
    tracer = TracerProvider().get_tracer("test")
    body: dict[str, Any] = {
        "account": "demo", "symbol": "ETH/USDT", "generation": 1, "strategy": "trace-test",
        "position": None, "expires_at": None,
        "orders": [{"id": "trace-1", "side": "buy", "type": "limit", "price": "2900.00",
                    "quantity": "0.0100", "time_in_force": "GTC", "post_only": False,
                    "reduce_only": False, "oco_group": None}],
    }  # fmt: skip
    nc = await nats.connect(f"nats://127.0.0.1:{nats_port}")
    try:
        with tracer.start_as_current_span("test.publish") as span:
            reply = await nc.request(
                subjects.target_subject("demo", "ETH/USDT"),
                json.dumps(body).encode(),
                timeout=10,
                headers=telemetry.inject(),
            )
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        await nc.drain()
    assert json.loads(reply.data)["accepted"] is True, reply.data
    return trace_id


async def _services_in_trace(found: Receiver, trace_id: str, wanted: set[str]) -> set[str]:
    deadline = time.monotonic() + 60
    services: set[str] = set()
    while time.monotonic() < deadline:
        services = {service for tid, service, _ in found.spans if tid == trace_id}
        if wanted <= {s.removeprefix("setpoint-") for s in services}:
            break
        await asyncio.sleep(0.5)
    return {s.removeprefix("setpoint-") for s in services}
