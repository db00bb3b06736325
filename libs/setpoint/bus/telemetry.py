"""OpenTelemetry for every Setpoint service: setup, W3C propagation over NATS, metrics.

One trace follows one target through intake → differ → executor → gateway → venue. The
context travels in NATS headers (W3C `traceparent`) for request/reply and publishes, and in
each event's envelope (`traceparent` field) for anything that reads the log.

Usage, in a service::

    from setpoint.bus import telemetry

    telemetry.setup_telemetry(settings, "differ")          # once, at startup
    tracer = telemetry.tracer("setpoint.differ")

    # receiving a NATS message: continue the sender's trace
    with tracer.start_as_current_span("intake", context=telemetry.extract(msg.headers)):
        ...
        # sending one: carry the current context along
        await nc.request(subject, body, headers=telemetry.inject())
        # appending an event: store the current context in its envelope
        event = TargetPublished.create(key, producer, data,
                                       traceparent=telemetry.current_traceparent())

    # reading an event from the log: continue the trace it belongs to
    with telemetry.continue_trace(tracer, "diff", event.traceparent):
        ...

    m = telemetry.metrics()
    m.reconcile_duration.record(0.012, {"account": "demo", "symbol": "BTC/USDT"})
    m.actions.add(1, {"kind": "place"})

Contract:
- `setup_telemetry` installs the global tracer and meter providers at most once per process
  (later calls return the first handle). Exporter by `settings.telemetry.exporter`:
  `"console"` writes spans and metrics to stderr, `"otlp"` sends OTLP/HTTP to
  `telemetry.otlp_endpoint`, `"none"` installs nothing (the API's no-op providers stay).
- `inject` / `extract` / `current_traceparent` / `continue_trace` work whatever the setup,
  with any tracer provider, and never raise on missing or malformed headers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Counter, Histogram, Meter
from opentelemetry.metrics import _Gauge as Gauge
from opentelemetry.trace import Span, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from setpoint.config import Settings

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "Metrics",
    "Telemetry",
    "context_from_traceparent",
    "continue_trace",
    "current_traceparent",
    "extract",
    "http_trace_config",
    "inject",
    "metrics",
    "setup_telemetry",
    "tracer",
    "untraced",
]

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()


def _version() -> str:
    try:
        return version("setpoint")
    except PackageNotFoundError:  # pragma: no cover - only outside an install
        return "0+unknown"


@dataclass(frozen=True)
class Telemetry:
    """Handle on what `setup_telemetry` installed; `shutdown()` flushes the exporters."""

    service_name: str
    exporter: str
    _providers: tuple[object, ...] = ()

    def shutdown(self) -> None:
        """Flush and stop the exporters (safe to call more than once)."""
        for provider in self._providers:
            stop = getattr(provider, "shutdown", None)
            if stop is not None:
                stop()


_INSTALLED: dict[str, Telemetry] = {}


def setup_telemetry(settings: Settings, service_name: str) -> Telemetry:
    """Install tracing and metrics for this process (once; see module docstring)."""
    if "handle" in _INSTALLED:
        return _INSTALLED["handle"]
    config = settings.telemetry
    if config.exporter == "none":
        handle = Telemetry(service_name, "none")
    else:
        handle = _install(
            service_name, config.exporter, config.otlp_endpoint, config.service_namespace
        )
    _INSTALLED["handle"] = handle
    return handle


def _install(service_name: str, exporter: str, endpoint: str, namespace: str) -> Telemetry:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    resource = Resource.create(
        {
            "service.name": service_name,
            "service.namespace": namespace,
            "service.version": _version(),
        }
    )
    span_exporter: SpanExporter
    metric_exporter: MetricExporter
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = endpoint.rstrip("/")
        span_exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces")
        metric_exporter = OTLPMetricExporter(endpoint=f"{base}/v1/metrics")
    else:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        span_exporter = ConsoleSpanExporter(out=sys.stderr)
        metric_exporter = ConsoleMetricExporter(out=sys.stderr)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=30_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    otel_metrics.set_meter_provider(meter_provider)
    return Telemetry(service_name, exporter, (tracer_provider, meter_provider))


def tracer(name: str) -> Tracer:
    """A tracer from the global provider (a no-op one when telemetry is off)."""
    return trace.get_tracer(name, _version())


# --------------------------------------------------------------------------- propagation


def inject(headers: dict[str, str] | None = None, context: Context | None = None) -> dict[str, str]:
    """Write the current (or given) trace context into NATS headers; returns the headers.

    With no active span the headers come back unchanged (no `traceparent`)."""
    carrier = headers if headers is not None else {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def extract(headers: Mapping[str, str] | None) -> Context:
    """The context carried by NATS headers, to pass as `context=` when starting a span.

    Missing or malformed headers give an empty context (the span starts a new trace)."""
    carrier = {k.lower(): v for k, v in (headers or {}).items()}
    return _PROPAGATOR.extract(carrier)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the active span, for an event envelope; None if none."""
    return inject({}).get(TRACEPARENT)


def context_from_traceparent(traceparent: str | None) -> Context:
    """The context named by a stored `traceparent` (empty context for None or junk)."""
    return extract({TRACEPARENT: traceparent} if traceparent else None)


@contextmanager
def continue_trace(
    trace_source: Tracer, name: str, traceparent: str | None, start_time: int | None = None
) -> Iterator[Span]:
    """Start (and make current) a span that continues the trace of an event's traceparent.
    `start_time` (ns since the epoch) backdates it, e.g. to when the work it covers began."""
    with trace_source.start_as_current_span(
        name, context=context_from_traceparent(traceparent), start_time=start_time
    ) as span:
        yield span


# --------------------------------------------------------------------------- venue HTTP


_UNTRACED = otel_context.create_key("setpoint-untraced")


@contextmanager
def untraced() -> Iterator[None]:
    """Within this block (this task and the tasks it starts), venue HTTP requests make no
    span: for routine polling (the gateway's tickers, every second per symbol), which
    would otherwise start a new trace with one root span per request."""
    token = otel_context.attach(otel_context.set_value(_UNTRACED, True))
    try:
        yield
    finally:
        otel_context.detach(token)


def http_trace_config(source: Tracer | None = None) -> aiohttp.TraceConfig:
    """An `aiohttp.TraceConfig` that records one CLIENT span per HTTP request, child of
    the current span (e.g. the gateway's `gateway.place`), except within `untraced()`.
    Only the method, host, path and
    status are recorded, and for a failed request the exception's class name: never the
    query string, headers or exception text (they can carry signatures and keys).

    With ccxt: `venues.exchange.create_rest(..., traced=True)` (see `trace_http` there)."""
    import aiohttp

    spans = source or tracer("setpoint.venue")
    config = aiohttp.TraceConfig()

    async def on_start(_: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        ctx.span = None
        if otel_context.get_value(_UNTRACED):
            return
        ctx.span = spans.start_span(
            f"HTTP {params.method}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "http.request.method": params.method,
                "server.address": params.url.host or "",
                "url.path": params.url.path,
            },
        )

    async def on_end(_: Any, ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
        if ctx.span is None:
            return
        ctx.span.set_attribute("http.response.status_code", params.response.status)
        if params.response.status >= 500:
            ctx.span.set_status(trace.StatusCode.ERROR)
        ctx.span.end()

    async def on_error(_: Any, ctx: Any, params: aiohttp.TraceRequestExceptionParams) -> None:
        if ctx.span is None:
            return
        error = type(params.exception).__name__
        ctx.span.set_attribute("error.type", error)
        ctx.span.set_status(trace.StatusCode.ERROR, error)
        ctx.span.end()

    config.on_request_start.append(on_start)
    config.on_request_end.append(on_end)
    config.on_request_exception.append(on_error)
    return config


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Metrics:
    """The instruments every service records into (attributes in brackets).

    - `reconcile_duration` (s) [account, symbol, trigger]: one diff or venue reconciliation;
    - `drift` (actions still needed) [account, symbol]: 0 when the key is converged;
    - `actions` [account, kind = place|cancel|amend, outcome]: venue actions taken;
    - `venue_errors` [account, error_class]: ccxt errors by class;
    - `targets` [account, outcome = accepted|rejected|unknown_account]: target intake.
    """

    reconcile_duration: Histogram
    drift: Gauge
    actions: Counter
    venue_errors: Counter
    targets: Counter


def _make_metrics(meter: Meter) -> Metrics:
    return Metrics(
        reconcile_duration=meter.create_histogram(
            "setpoint.reconcile.duration", unit="s", description="diff or reconciliation time"
        ),
        drift=meter.create_gauge(
            "setpoint.key.drift", unit="{action}", description="actions still needed per key"
        ),
        actions=meter.create_counter(
            "setpoint.actions", unit="{action}", description="venue actions by kind"
        ),
        venue_errors=meter.create_counter(
            "setpoint.venue.errors", unit="{error}", description="venue errors by class"
        ),
        targets=meter.create_counter(
            "setpoint.targets", unit="{target}", description="targets received by outcome"
        ),
    )


_DEFAULT: dict[str, Metrics] = {}


def metrics(meter: Meter | None = None) -> Metrics:
    """The instruments, from the global meter provider unless `meter` is given.

    The global ones are created once per process and follow a provider installed later."""
    if meter is not None:
        return _make_metrics(meter)
    if "m" not in _DEFAULT:
        _DEFAULT["m"] = _make_metrics(otel_metrics.get_meter("setpoint", _version()))
    return _DEFAULT["m"]
