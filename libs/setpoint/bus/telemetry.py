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
    m.reconcile_duration.record(0.012, {"account": "demo", "trigger": "periodic"})
    m.gauges.observe("orders_inflight", self._inflight_readings)  # read at each scrape

Contract:
- `setup_telemetry` installs the global tracer and meter providers at most once per process
  (later calls return the first handle). Exporter by `settings.telemetry.exporter`:
  `"console"` writes spans and metrics to stderr, `"otlp"` sends OTLP/HTTP to
  `telemetry.otlp_endpoint`, `"none"` installs no exporter. With `telemetry.metrics_port`
  (0 = off) the metrics are also served for Prometheus on
  `http://<telemetry.metrics_host>:<port>/metrics`; with neither, nothing is installed (the
  API's no-op providers stay) and recording a metric costs next to nothing.
- `inject` / `extract` / `current_traceparent` / `continue_trace` work whatever the setup,
  with any tracer provider, and never raise on missing or malformed headers.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation
from opentelemetry.metrics import _Gauge as Gauge
from opentelemetry.trace import Span, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from setpoint.bus.supervise import service_version
from setpoint.config import Settings, TelemetryConfig
from setpoint.core.errors import ConfigError

if TYPE_CHECKING:
    import aiohttp
    from opentelemetry.sdk.metrics.export import MetricReader
    from prometheus_client import CollectorRegistry

__all__ = [
    "GAUGES",
    "Gauges",
    "Metrics",
    "Telemetry",
    "context_from_traceparent",
    "continue_trace",
    "current_traceparent",
    "extract",
    "http_trace_config",
    "inject",
    "metering",
    "metrics",
    "prometheus_reader",
    "setup_telemetry",
    "tracer",
    "untraced",
]

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class Telemetry:
    """Handle on what `setup_telemetry` installed; `shutdown()` flushes the exporters.
    `metrics_port`: where the Prometheus endpoint listens (0: none)."""

    service_name: str
    exporter: str
    _providers: tuple[object, ...] = ()
    metrics_port: int = 0

    @property
    def metering(self) -> bool:
        return self.exporter != "none" or self.metrics_port != 0

    def shutdown(self) -> None:
        """Flush and stop the exporters (safe to call more than once)."""
        for provider in self._providers:
            stop = getattr(provider, "shutdown", None)
            if stop is not None:
                stop()


_INSTALLED: dict[str, Telemetry] = {}


def setup_telemetry(settings: Settings, service_name: str) -> Telemetry:
    """Install tracing and metrics for this process (once; see module docstring). Raises
    ConfigError when the metrics port cannot be bound."""
    if "handle" in _INSTALLED:
        return _INSTALLED["handle"]
    config = settings.telemetry
    _SERVICE["name"] = service_name
    if config.exporter == "none" and not config.metrics_port:
        handle = Telemetry(service_name, "none")
    else:
        handle = _install(service_name, config)
    _INSTALLED["handle"] = handle
    return handle


def _install(service_name: str, config: TelemetryConfig) -> Telemetry:
    from opentelemetry.sdk.metrics import (
        AlwaysOffExemplarFilter,
        MeterProvider,
        TraceBasedExemplarFilter,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create(
        {
            "service.name": service_name,
            "service.namespace": config.service_namespace,
            "service.version": service_version(),
        }
    )
    providers: list[object] = []
    readers: list[MetricReader] = []
    if config.exporter != "none":
        tracer_provider = TracerProvider(resource=resource)
        readers.append(_otel_exporters(config, tracer_provider))
        trace.set_tracer_provider(tracer_provider)
        providers.append(tracer_provider)
    port = 0
    if config.metrics_port:
        server, port = _serve_metrics(config.metrics_host, config.metrics_port)
        readers.append(prometheus_reader())
        providers.append(server)
    # Exemplars link measurements to sampled spans: none without tracing, and the
    # Prometheus text format does not carry them; off, a measurement costs ~30 % less.
    tracing = config.exporter != "none"
    exemplars = TraceBasedExemplarFilter() if tracing else AlwaysOffExemplarFilter()
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, exemplar_filter=exemplars
    )
    otel_metrics.set_meter_provider(meter_provider)
    providers.insert(0, meter_provider)
    return Telemetry(service_name, config.exporter, tuple(providers), port)


def _otel_exporters(config: TelemetryConfig, tracer_provider: Any) -> MetricReader:
    """Spans to the configured exporter; returns the reader pushing metrics to it."""
    from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    span_exporter: SpanExporter
    metric_exporter: MetricExporter
    if config.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = config.otlp_endpoint.rstrip("/")
        span_exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces")
        metric_exporter = OTLPMetricExporter(endpoint=f"{base}/v1/metrics")
    else:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        span_exporter = ConsoleSpanExporter(out=sys.stderr)
        metric_exporter = ConsoleMetricExporter(out=sys.stderr)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return PeriodicExportingMetricReader(metric_exporter, export_interval_millis=30_000)


def _serve_metrics(host: str, port: int) -> tuple[Any, int]:
    """Start the /metrics HTTP server (a daemon thread); returns (server, port)."""
    from prometheus_client import start_http_server

    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as exc:
        raise ConfigError(
            f"telemetry.metrics_port {port}: cannot listen on {host}:{port} ({exc.strerror})"
        ) from None
    return server, int(server.server_port)


def tracer(name: str) -> Tracer:
    """A tracer from the global provider (a no-op one when telemetry is off)."""
    return trace.get_tracer(name, service_version())


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
    `start_time` (ns since the epoch) backdates it, e.g. to when the work it covers began.

    With a no-op tracer (no tracer provider installed) the span is the non-recording one
    the no-op tracer would make (the traceparent's, or the invalid span for none), made
    current directly: the same context inside, without the tracer's two context managers
    (they took about half the time of a call the differ and the executor make per plan)."""
    if _no_op(trace_source):
        span = _INVALID if traceparent is None else _stored_span(traceparent)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield span
        finally:
            otel_context.detach(token)
        return
    with trace_source.start_as_current_span(
        name, context=context_from_traceparent(traceparent), start_time=start_time
    ) as span:
        yield span


_INVALID: Span = trace.INVALID_SPAN


def _no_op(trace_source: Tracer) -> bool:
    """True when `trace_source` makes only non-recording spans: a `NoOpTracer`, or the
    global proxy while it delegates to one (no tracer provider installed yet)."""
    if isinstance(trace_source, trace.ProxyTracer):
        trace_source = trace_source._tracer  # what the proxy's spans come from now
    return isinstance(trace_source, trace.NoOpTracer)


def _stored_span(traceparent: str) -> Span:
    """The span a no-op tracer continues for `traceparent` (invalid for junk)."""
    return trace.get_current_span(context_from_traceparent(traceparent))


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

Attributes = Mapping[str, str]
Reading = tuple[float, Attributes]  # float-ok: a gauge's value
Source = Callable[[], Iterable[Reading]]

LAG_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
REQUEST_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

GAUGES: dict[str, tuple[str, str, str]] = {
    # name: (instrument, unit, description); the exported name is the instrument's with
    # dots as underscores and the unit's suffix ("s" → "_seconds"; "{...}" adds none).
    "key_drift_age": ("setpoint.key.drift_age", "s", "age of the key's current drift"),
    "key_converged": ("setpoint.key.converged", "{bool}", "1 converged, 0 drifting"),
    "key_orders_target": ("setpoint.key.orders_target", "{order}", "orders the target wants"),
    "key_orders_venue": ("setpoint.key.orders_venue", "{order}", "our orders open at the venue"),
    "key_position_target": ("setpoint.key.position_target", "{base}", "target position"),
    "key_position_actual": ("setpoint.key.position_actual", "{base}", "position of the log"),
    "account_liquidate_only": ("setpoint.account.liquidate_only", "{bool}", "1 if liquidate-only"),
    "actions_pending": ("setpoint.actions.pending", "{action}", "actions planned, not sent"),
    "orders_inflight": ("setpoint.orders.inflight", "{order}", "orders submitted, unanswered"),
    "cancels_pending": ("setpoint.cancels.pending", "{cancel}", "cancels sent, unanswered"),
    "consumer_lag": ("setpoint.eventlog.consumer_lag_events", "{event}", "log head - applied"),
}


class Gauges:
    """Observable gauges: their values are read from the registered sources when the
    metrics are collected (a scrape), never on the hot path. A source is a bound method
    (held weakly: a service that is gone stops reporting) returning (value, attributes)
    readings; readings of one gauge with equal attributes are merged by their maximum."""

    def __init__(self, meter: Meter) -> None:
        self._sources: dict[str, list[weakref.WeakMethod[Source]]] = {n: [] for n in GAUGES}
        for name, (instrument, unit, description) in GAUGES.items():
            meter.create_observable_gauge(
                instrument, [partial(self._observe, name)], unit=unit, description=description
            )

    def observe(self, name: str, source: Source) -> None:
        """Report `source()` as gauge `name` (a key of `GAUGES`; `source` a bound method)."""
        self._sources[name].append(weakref.WeakMethod(source))

    def readings(self, name: str) -> dict[frozenset[tuple[str, str]], float]:  # float-ok
        """The merged readings of gauge `name` now (what a collection reports)."""
        merged: dict[frozenset[tuple[str, str]], float] = {}  # float-ok
        live = []
        for ref in self._sources[name]:
            source = ref()
            if source is None:
                continue
            live.append(ref)
            for value, attributes in source():
                labels = frozenset(attributes.items())
                known = merged.get(labels)
                merged[labels] = value if known is None else max(known, value)
        self._sources[name][:] = live
        return merged

    def _observe(self, name: str, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, dict(labels)) for labels, v in self.readings(name).items()]


class Tally:
    """A monotonic counter kept by this process and read when the metrics are collected
    (an observable counter of the same name, unit and labels as a synchronous one, so it
    is scraped the same): `add` is one dict update, where the SDK's synchronous counter
    takes 10 to 30 µs per add, a few per cent of a service's CPU on the hot path
    (docs/benchmarks.md, "What the metrics cost"). Labels are bounded (the `Metrics`
    rule), so the table is too."""

    def __init__(self, meter: Meter, name: str, unit: str, description: str) -> None:
        self._counts: dict[frozenset[tuple[str, str]], float] = {}  # float-ok
        meter.create_observable_counter(name, [self._observe], unit=unit, description=description)

    def add(self, amount: float, attributes: Mapping[str, str] | None = None) -> None:  # float-ok
        labels = frozenset(attributes.items()) if attributes else frozenset()
        self._counts[labels] = self._counts.get(labels, 0) + amount

    def _observe(self, _: CallbackOptions) -> Iterable[Observation]:
        # list() copies in one step: a scrape runs in another thread than the adds
        return [Observation(v, dict(labels)) for labels, v in list(self._counts.items())]


@dataclass(frozen=True)
class Metrics:
    """The instruments every service records into; the names as scraped and their labels
    are listed in docs/operations.md ("Metrics"). Labels are bounded: account, symbol,
    and small closed sets (outcome, trigger, kind, error class, event type, endpoint)."""

    reconcile_lag: Histogram
    targets: Tally
    retries: Tally
    risk_refusals: Tally
    orders: Tally
    venue_errors: Tally
    reconcile_runs: Tally
    reconcile_duration: Histogram
    reconcile_findings: Tally
    reconcile_last_success: Gauge
    position_discrepancy: Gauge
    venue_request_duration: Histogram
    ws_reconnects: Tally
    events_appended: Tally
    gauges: Gauges

    def retried(self, reason: str) -> None:
        """Count one retry of this process (`reason`: rate_limit | backoff | maybe_happened)."""
        self.retries.add(1, {"service": _SERVICE.get("name", "unknown"), "reason": reason})


def _make_metrics(meter: Meter) -> Metrics:
    counter, histogram = partial(Tally, meter), meter.create_histogram
    return Metrics(
        reconcile_lag=histogram(
            "setpoint.reconcile.lag", unit="s", description="target accepted to key converged",
            explicit_bucket_boundaries_advisory=LAG_BUCKETS_S,
        ),
        targets=counter("setpoint.targets", unit="{target}", description="targets by outcome"),
        retries=counter("setpoint.retries", unit="{retry}", description="retries by reason"),
        risk_refusals=counter(
            "setpoint.risk_refusals", unit="{refusal}", description="RiskRejected by limit"
        ),
        orders=counter("setpoint.orders", unit="{order}", description="orders by outcome"),
        venue_errors=counter(
            "setpoint.venue.errors", unit="{error}", description="venue errors by class"
        ),
        reconcile_runs=counter(
            "setpoint.reconcile.runs", unit="{run}", description="reconciliations by trigger"
        ),
        reconcile_duration=histogram(
            "setpoint.reconcile.duration", unit="s", description="one reconciliation's time",
            explicit_bucket_boundaries_advisory=LAG_BUCKETS_S,
        ),
        reconcile_findings=counter(
            "setpoint.reconcile.findings", unit="{finding}", description="findings by kind"
        ),
        reconcile_last_success=meter.create_gauge(
            "setpoint.reconcile.last_success_timestamp", unit="s",
            description="unix time of the last successful reconciliation",
        ),
        position_discrepancy=meter.create_gauge(
            "setpoint.position_discrepancy", unit="{base}",
            description="venue position minus the log's fold",
        ),
        venue_request_duration=histogram(
            "setpoint.venue.request.duration", unit="s", description="venue REST call time",
            explicit_bucket_boundaries_advisory=REQUEST_BUCKETS_S,
        ),
        ws_reconnects=counter(
            "setpoint.ws.reconnects", unit="{reconnect}", description="websocket reconnects"
        ),
        events_appended=counter(
            "setpoint.events.appended", unit="{event}", description="events appended by type"
        ),
        gauges=Gauges(meter),
    )  # fmt: skip


_DEFAULT: dict[str, Metrics] = {}
_SERVICE: dict[str, str] = {}


def metrics(meter: Meter | None = None) -> Metrics:
    """The instruments, from the global meter provider unless `meter` is given.

    The global ones are created once per process and follow a provider installed later."""
    if meter is not None:
        return _make_metrics(meter)
    if "m" not in _DEFAULT:
        _DEFAULT["m"] = _make_metrics(otel_metrics.get_meter("setpoint", service_version()))
    return _DEFAULT["m"]


def metering() -> bool:
    """True when this process exports metrics (a collector or a scrape reads them): work
    done only to feed a metric (e.g. asking the log for its head) is skipped otherwise."""
    handle = _INSTALLED.get("handle")
    return handle is not None and handle.metering


def prometheus_reader(registry: CollectorRegistry | None = None) -> MetricReader:
    """A reader that exposes the instruments in `registry` (the process's default one
    when None) under their Prometheus names, without scope labels or `target_info`."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import REGISTRY

    return PrometheusMetricReader(
        disable_target_info=True, scope_info_enabled=False, registry=registry or REGISTRY
    )
