"""The gateway's ccxt client against the simulator: every REST call is a CLIENT span of
the current span, no credential reaches a span, and the traced session is closed with
the client (`venues.exchange.trace_http`)."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from gateway_rig import account_config
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from setpoint.core.model import OrderType, Side, TimeInForce
from setpoint.gateway.venue import Venue
from setpoint.sim.testing import running_simulator
from setpoint.venues.commands import PlaceCommand
from setpoint.venues.exchange import create_rest, credentials, trace_http

pytestmark = [pytest.mark.sim]


def _everything(span: ReadableSpan) -> str:
    """Every text a span carries besides its ids: name, attributes, status, events."""
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    return f"{span.name} {dict(span.attributes or {})} {span.status.description} {events}"


async def test_rest_calls_are_spans_without_secrets_and_the_session_closes() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    async with running_simulator() as sim:
        config = account_config(sim.base_url)
        creds = credentials(config)
        assert creds.api_key == os.environ["SETPOINT_IT_KEY"]
        rest = trace_http(create_rest(config, creds, timeout_ms=2000), tracer)
        session = rest.session
        venue = Venue(rest, creds.redactions)
        try:
            await venue.load_markets()
            command = PlaceCommand(
                symbol="BTC/USDT", side=Side.BUY, type=OrderType.LIMIT,
                time_in_force=TimeInForce.GTC, price=Decimal("50000"),
                quantity=Decimal("0.001"), client_order_id="sp-test-http-span-1",
            )  # fmt: skip
            with tracer.start_as_current_span("gateway.place") as parent:
                await venue.place(command)
        finally:
            await rest.close()
        assert session.closed
    spans = exporter.get_finished_spans()
    (post,) = [s for s in spans if s.name == "HTTP POST"]
    assert post.parent is not None
    assert post.parent.span_id == parent.get_span_context().span_id
    assert post.attributes is not None
    assert post.attributes["url.path"] == "/api/v3/order"
    assert post.attributes["http.response.status_code"] == 200
    assert any(s.name == "HTTP GET" for s in spans)  # exchangeInfo, outside any parent
    for span in spans:
        text = _everything(span)
        for secret in (*creds.redactions, "signature", "X-MBX-APIKEY", "?"):
            assert secret not in text, (secret, text)
