"""W3C trace context crosses "processes" through NATS headers and event envelopes.

Each simulated process has its own TracerProvider and in-memory exporter; the only thing
they share is the headers dict (or the event's `traceparent`), as over the wire.
"""

from __future__ import annotations

import gc

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from setpoint.bus import telemetry
from setpoint.config import Settings
from setpoint.core.events import TargetPublished, TargetPublishedData, parse_event
from setpoint.core.model import Key, Producer, TargetState


def _process(name: str) -> tuple[Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer(name), exporter


def _only(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


def _child_of(parent: ReadableSpan, child: ReadableSpan) -> bool:
    """`child` is in `parent`'s trace, with `parent` as its parent span."""
    assert parent.context is not None
    assert child.context is not None
    assert child.parent is not None
    return (child.context.trace_id, child.parent.span_id) == (
        parent.context.trace_id,
        parent.context.span_id,
    )


def test_headers_carry_one_trace_across_processes() -> None:
    strategy, strategy_spans = _process("strategy")
    differ, differ_spans = _process("differ")
    with strategy.start_as_current_span("publish-target"):
        headers = telemetry.inject({"Nats-Msg-Id": "x"})
    assert headers["traceparent"].startswith("00-")
    assert headers["Nats-Msg-Id"] == "x"

    with differ.start_as_current_span("intake", context=telemetry.extract(headers)):
        pass

    sent, received = _only(strategy_spans), _only(differ_spans)
    assert _child_of(sent, received)
    assert received.parent is not None
    assert received.parent.is_remote


def test_event_traceparent_continues_the_trace() -> None:
    differ, differ_spans = _process("differ")
    executor, executor_spans = _process("executor")
    key = Key("demo", "BTC/USDT")
    target = TargetState(account="demo", symbol="BTC/USDT", generation=1, strategy="t")
    with differ.start_as_current_span("intake"):
        event = TargetPublished.create(
            key,
            Producer.INTAKE,
            TargetPublishedData(target=target),
            traceparent=telemetry.current_traceparent(),
        )
    wire = event.to_json()  # what the log stores and replays

    replayed = parse_event(wire)
    with telemetry.continue_trace(executor, "execute", replayed.traceparent):
        pass

    assert _child_of(_only(differ_spans), _only(executor_spans))


def test_no_active_span_means_no_traceparent() -> None:
    assert telemetry.current_traceparent() is None
    assert "traceparent" not in telemetry.inject()


def test_missing_or_junk_headers_start_a_new_trace() -> None:
    tracer, spans = _process("gateway")
    for headers in (None, {}, {"traceparent": "not-a-traceparent"}):
        with tracer.start_as_current_span("x", context=telemetry.extract(headers)):
            pass
    assert all(span.parent is None for span in spans.get_finished_spans())
    assert len(spans.get_finished_spans()) == 3


def test_header_names_are_case_insensitive() -> None:
    sender, sent_spans = _process("a")
    receiver, received_spans = _process("b")
    with sender.start_as_current_span("send"):
        headers = {k.upper(): v for k, v in telemetry.inject().items()}
    with receiver.start_as_current_span("recv", context=telemetry.extract(headers)):
        pass
    received = _only(received_spans)
    assert received.parent is not None
    assert received.parent.span_id == _only(sent_spans).context.span_id  # type: ignore[union-attr]


# The names, types and labels as scraped (docs/operations.md, "Metrics"): the dashboard
# and the alert rules are written against exactly these.
SCRAPED = {
    "setpoint_reconcile_lag_seconds": ("histogram", {"account", "symbol"}),
    "setpoint_key_drift_age_seconds": ("gauge", {"account", "symbol"}),
    "setpoint_key_converged": ("gauge", {"account", "symbol"}),
    "setpoint_key_orders_target": ("gauge", {"account", "symbol"}),
    "setpoint_key_orders_venue": ("gauge", {"account", "symbol"}),
    "setpoint_key_position_target": ("gauge", {"account", "symbol"}),
    "setpoint_key_position_actual": ("gauge", {"account", "symbol"}),
    "setpoint_actions_pending": ("gauge", {"account", "symbol"}),
    "setpoint_orders_inflight": ("gauge", {"account", "symbol"}),
    "setpoint_cancels_pending": ("gauge", {"account", "symbol"}),
    "setpoint_orders_total": ("counter", {"account", "symbol", "outcome"}),
    "setpoint_venue_errors_total": ("counter", {"account", "error_class"}),
    "setpoint_retries_total": ("counter", {"service", "reason"}),
    "setpoint_risk_refusals_total": ("counter", {"account", "limit"}),
    "setpoint_reconcile_runs_total": ("counter", {"account", "trigger"}),
    "setpoint_reconcile_duration_seconds": ("histogram", {"account", "trigger"}),
    "setpoint_reconcile_findings_total": ("counter", {"account", "kind"}),
    "setpoint_reconcile_last_success_timestamp_seconds": ("gauge", {"account"}),
    "setpoint_position_discrepancy": ("gauge", {"account", "symbol"}),
    "setpoint_eventlog_consumer_lag_events": ("gauge", set()),
    "setpoint_events_appended_total": ("counter", {"type"}),
    "setpoint_venue_request_duration_seconds": ("histogram", {"account", "endpoint"}),
    "setpoint_ws_reconnects_total": ("counter", {"account"}),
    "setpoint_account_liquidate_only": ("gauge", {"account"}),
    "setpoint_targets_total": ("counter", {"account", "outcome"}),
}


def scraped(text: str) -> dict[str, tuple[str, set[str]]]:
    """{exported name: (type, label names)} of a Prometheus text exposition."""
    out: dict[str, tuple[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        labels = {name for sample in family.samples for name in sample.labels} - {"le"}
        suffix = "_total" if family.type == "counter" else ""
        out[family.name + suffix] = (family.type, labels)
    return out


class _Sources:
    """Gauge sources (bound methods, as services register them)."""

    def key(self) -> list[telemetry.Reading]:
        return [(2.0, {"account": "demo", "symbol": "BTC/USDT"})]

    def account(self) -> list[telemetry.Reading]:
        return [(1.0, {"account": "demo"})]

    def process(self) -> list[telemetry.Reading]:
        return [(3.0, {})]


def _record_everything(m: telemetry.Metrics, sources: _Sources) -> None:
    key = {"account": "demo", "symbol": "BTC/USDT"}
    for name in telemetry.GAUGES:
        source = {"account_liquidate_only": sources.account, "consumer_lag": sources.process}
        m.gauges.observe(name, source.get(name, sources.key))
    m.reconcile_lag.record(0.2, key)
    m.orders.add(1, {**key, "outcome": "placed"})
    m.venue_errors.add(1, {"account": "demo", "error_class": "rejected"})
    m.retried("rate_limit")
    m.risk_refusals.add(1, {"account": "demo", "limit": "max_notional"})
    m.reconcile_runs.add(1, {"account": "demo", "trigger": "startup"})
    m.reconcile_duration.record(0.1, {"account": "demo", "trigger": "startup"})
    m.reconcile_findings.add(1, {"account": "demo", "kind": "ghost"})
    m.reconcile_last_success.set(1.7e9, {"account": "demo"})
    m.position_discrepancy.set(0.5, key)
    m.events_appended.add(1, {"type": "TargetPublished"})
    m.venue_request_duration.record(0.003, {"account": "demo", "endpoint": "create_order"})
    m.ws_reconnects.add(1, {"account": "demo"})
    m.targets.add(1, {"account": "demo", "outcome": "accepted"})


def test_the_exported_names_types_and_labels_are_the_agreed_ones() -> None:
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[telemetry.prometheus_reader(registry)])
    m = telemetry.metrics(provider.get_meter("setpoint"))
    sources = _Sources()
    _record_everything(m, sources)
    assert scraped(generate_latest(registry).decode()) == SCRAPED


def test_gauge_readings_merge_by_maximum_and_forget_sources_that_are_gone() -> None:
    m = telemetry.metrics(MeterProvider().get_meter("test"))
    first, second = _Sources(), _Sources()
    m.gauges.observe("consumer_lag", first.process)
    m.gauges.observe("consumer_lag", second.key)
    m.gauges.observe("consumer_lag", second.process)
    assert m.gauges.readings("consumer_lag") == {
        frozenset(): 3.0,
        frozenset({("account", "demo"), ("symbol", "BTC/USDT")}): 2.0,
    }
    del second
    gc.collect()
    assert m.gauges.readings("consumer_lag") == {frozenset(): 3.0}


def test_setup_none_installs_nothing() -> None:
    settings = Settings(telemetry={"exporter": "none"})  # type: ignore[arg-type]
    try:
        handle = telemetry.setup_telemetry(settings, "test")
        assert handle.exporter == "none"
        handle.shutdown()
        assert telemetry.setup_telemetry(settings, "again") is handle
    finally:
        telemetry._INSTALLED.clear()


async def test_venue_http_calls_are_client_spans_of_the_current_span() -> None:
    import aiohttp
    from aiohttp import web

    async def order(request: web.Request) -> web.Response:
        return web.json_response({"orderId": 1}, status=200 if request.method == "POST" else 503)

    app = web.Application()
    app.router.add_route("*", "/api/v3/order", order)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    gateway, spans = _process("gateway")
    config = telemetry.http_trace_config(gateway)
    try:
        async with aiohttp.ClientSession(trace_configs=[config]) as session:
            with gateway.start_as_current_span("gateway.place"):
                url = f"http://127.0.0.1:{port}/api/v3/order?signature=secret"
                async with session.post(url) as reply:
                    assert reply.status == 200
                async with session.delete(url) as reply:
                    assert reply.status == 503
    finally:
        await runner.cleanup()
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans.get_finished_spans():
        by_name.setdefault(span.name, []).append(span)
    (parent,) = by_name["gateway.place"]
    (post,) = by_name["HTTP POST"]
    (delete,) = by_name["HTTP DELETE"]
    assert post.parent is not None
    assert parent.context is not None
    assert post.parent.span_id == parent.context.span_id
    assert post.attributes is not None
    assert post.attributes["url.path"] == "/api/v3/order"
    assert "secret" not in str(dict(post.attributes))
    assert post.attributes["http.response.status_code"] == 200
    assert not delete.status.is_ok


async def test_requests_within_untraced_make_no_span() -> None:
    """The gateway's ticker polling runs `untraced`: no root span per poll, while a
    request after the block is traced again."""
    import aiohttp
    from aiohttp import web

    async def ticker(_: web.Request) -> web.Response:
        return web.json_response({"last": "60000"})

    app = web.Application()
    app.router.add_get("/api/v3/ticker/24hr", ticker)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    gateway, spans = _process("gateway")
    url = f"http://127.0.0.1:{port}/api/v3/ticker/24hr"
    try:
        async with aiohttp.ClientSession(
            trace_configs=[telemetry.http_trace_config(gateway)]
        ) as session:
            with telemetry.untraced():
                for _ in range(3):
                    async with session.get(url) as reply:
                        assert reply.status == 200
            assert spans.get_finished_spans() == ()
            async with session.get(url) as reply:
                assert reply.status == 200
    finally:
        await runner.cleanup()
    assert [s.name for s in spans.get_finished_spans()] == ["HTTP GET"]
