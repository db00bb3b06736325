"""One target, one trace: the whole system under `setpoint up`, exporting OTLP/HTTP to a
small receiver in this test. The test starts the root span itself, publishes a target
with its `traceparent` in the NATS headers, and expects spans of the same trace from the
differ (intake and diff), the executor and the gateway, down to the venue's HTTP call
(`POST /api/v3/order`), each the child of the one before; no span carries a credential."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from tests.processes import start_up, stop_up

from setpoint.bus import subjects, telemetry
from setpoint.bus.credentials import operator_options
from setpoint.bus.embedded import free_port
from setpoint.config import NatsConfig

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@dataclass(frozen=True)
class Span:
    """One received span; ids in hex, `parent` empty for a root; `text` is everything else
    it carries (attribute keys and values, event names and attributes, status message)."""

    trace_id: str
    span_id: str
    parent: str
    service: str
    name: str
    attributes: dict[str, str]
    text: str


def _value(value: Any) -> str:
    """An OTLP AnyValue as text, whatever its kind."""
    kind = value.WhichOneof("value")
    return "" if kind is None else str(getattr(value, kind))


def _span(service: str, span: Any) -> Span:
    attributes = {a.key: _value(a.value) for a in span.attributes}
    events = [(e.name, {a.key: _value(a.value) for a in e.attributes}) for e in span.events]
    text = f"{span.name} {attributes} {events} {span.status.message}"
    return Span(
        span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), service,
        span.name, attributes, text,
    )  # fmt: skip


class Receiver:
    """An OTLP/HTTP trace endpoint: (trace id hex, service name, span name) per span, and
    the whole span in `received`."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        self.received: list[Span] = []

    async def traces(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        for resource_spans in message.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attributes.get("service.name", "?").removeprefix("setpoint-")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append((span.trace_id.hex(), service, span.name))
                    self.received.append(_span(service, span))
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
        process = start_up(tmp_path, env, out)
    return process, log


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
    nats_port, sim_port, okx_port, console_port = (free_port() for _ in range(4))
    api_key, secret = f"key-{uuid.uuid4().hex}", f"secret-{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SETPOINT_", "OTEL_"))}
    env |= {
        "SETPOINT_NATS__URL": f"nats://127.0.0.1:{nats_port}",
        "SETPOINT_SIM__PORT": str(sim_port),
        "SETPOINT_ACCOUNTS__DEMO__BASE_URL": f"http://127.0.0.1:{sim_port}",
        "SETPOINT_SIMS__OKX__PORT": str(okx_port),
        "SETPOINT_ACCOUNTS__DEMO-OKX__BASE_URL": f"http://127.0.0.1:{okx_port}",
        "SETPOINT_CONSOLE__PORT": str(console_port),
        "SETPOINT_TELEMETRY__EXPORTER": "otlp",
        "SETPOINT_TELEMETRY__OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        # credentials no other text can contain by chance, on both sides of the venue
        "SETPOINT_DEMO_KEY": api_key,
        "SETPOINT_DEMO_SECRET": secret,
        "SETPOINT_SIM__API_KEY": api_key,
        "SETPOINT_SIM__API_SECRET": secret,
        "SETPOINT_SIMS__OKX__API_KEY": api_key,
        "SETPOINT_SIMS__OKX__API_SECRET": secret,
    }
    process, log = _start_up(tmp_path, env)
    wanted = {"differ", "executor", "gateway"}
    try:
        await _wait_ready(process, log, 90)
        assert "failed to start" not in _text(log)
        trace_id, root = await _publish_traced_target(nats_port, tmp_path / ".setpoint")
        services = await _services_in_trace(found, trace_id, wanted)
        assert wanted <= services, found.spans
        order = await _venue_order_span(found, trace_id)
    finally:
        stop_up(process)
    chain = _ancestry(found.received, order, root)
    assert [(s.service, s.name) for s in chain] == [
        ("gateway", "HTTP POST"),
        ("gateway", "gateway.place"),
        ("executor", "execute"),
        ("differ", "diff"),
        ("differ", "intake"),
    ], chain
    assert order.attributes["http.response.status_code"] == "200"
    assert found.received, "no span received"
    seeds = [p.read_text().strip() for p in (tmp_path / ".setpoint").glob("security/creds/*.nk")]
    assert seeds  # `setpoint up` is secure by default: every service had its own nkey seed
    for span in found.received:
        for forbidden in (api_key, secret, "signature=", "X-MBX-APIKEY", *seeds):
            assert forbidden not in span.text, (forbidden, span)


async def _publish_traced_target(nats_port: int, data_dir: Path) -> tuple[str, str]:
    """Request a target for demo ETH/USDT under a root span of this test, as the operator
    (the admin credential `setpoint up` made in `data_dir`); the trace id and the root
    span's id (hex)."""
    tracer = TracerProvider().get_tracer("test")
    body: dict[str, Any] = {
        "account": "demo", "symbol": "ETH/USDT", "generation": 1, "strategy": "trace-test",
        "position": None, "expires_at": None,
        "orders": [{"id": "trace-1", "side": "buy", "type": "limit", "price": "2900.00",
                    "quantity": "0.0100", "time_in_force": "GTC", "post_only": False,
                    "reduce_only": False, "oco_group": None}],
    }  # fmt: skip
    options = operator_options(NatsConfig(data_dir=str(data_dir)))
    nc = await nats.connect(f"nats://127.0.0.1:{nats_port}", **options)
    try:
        with tracer.start_as_current_span("test.publish") as span:
            reply = await nc.request(
                subjects.target_subject("demo", "ETH/USDT"),
                json.dumps(body).encode(),
                timeout=10,
                headers=telemetry.inject(),
            )
            trace_id = format(span.get_span_context().trace_id, "032x")
            root = format(span.get_span_context().span_id, "016x")
    finally:
        await nc.drain()
    assert json.loads(reply.data)["accepted"] is True, reply.data
    return trace_id, root


async def _services_in_trace(found: Receiver, trace_id: str, wanted: set[str]) -> set[str]:
    deadline = time.monotonic() + 60
    services: set[str] = set()
    while time.monotonic() < deadline:
        services = {service for tid, service, _ in found.spans if tid == trace_id}
        if wanted <= {s.removeprefix("setpoint-") for s in services}:
            break
        await asyncio.sleep(0.5)
    return {s.removeprefix("setpoint-") for s in services}


async def _venue_order_span(found: Receiver, trace_id: str) -> Span:
    """The gateway's `POST /api/v3/order` span of the trace (waits for its export)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for span in found.received:
            if (
                span.trace_id == trace_id
                and span.name == "HTTP POST"
                and span.attributes.get("url.path") == "/api/v3/order"
            ):
                return span
        await asyncio.sleep(0.5)
    raise AssertionError(f"no venue order span in the trace: {found.spans}")


def _ancestry(spans: list[Span], leaf: Span, root: str) -> list[Span]:
    """`leaf` and its ancestors by parent link, up to (not including) the test's `root`
    span; every link must be to a received span of the same trace."""
    by_id = {s.span_id: s for s in spans if s.trace_id == leaf.trace_id}
    chain = [leaf]
    while chain[-1].parent != root:
        parent = by_id.get(chain[-1].parent)
        assert parent is not None, f"broken parent link after {chain}"
        assert len(chain) < 20, chain
        chain.append(parent)
    return chain
