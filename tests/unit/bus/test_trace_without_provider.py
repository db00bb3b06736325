"""`telemetry.continue_trace` without a tracer provider (the global proxy before any is
installed, or a `NoOpTracer`): the event's traceparent is current inside the block, so
what is appended there carries it on, as the no-op tracer itself would do it."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, Tracer

from setpoint.bus import telemetry

STORED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _no_op_sources() -> list[Tracer]:
    sources: list[Tracer] = [NoOpTracer()]
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):  # none installed
        sources.append(telemetry.tracer("setpoint.test"))
    return sources


@pytest.mark.parametrize(
    ("traceparent", "inside"), [(STORED, STORED), (None, None), ("junk", None)]
)
def test_the_stored_traceparent_is_current_inside_and_nothing_after(
    traceparent: str | None, inside: str | None
) -> None:
    for source in _no_op_sources():
        with telemetry.continue_trace(source, "execute", traceparent) as span:
            assert not span.is_recording()
            assert telemetry.current_traceparent() == inside
        assert telemetry.current_traceparent() is None


def test_a_failure_inside_reaches_the_caller_and_the_context_is_restored() -> None:
    for source in _no_op_sources():
        with pytest.raises(KeyError), telemetry.continue_trace(source, "execute", STORED):
            raise KeyError("a failure inside the block")
        assert telemetry.current_traceparent() is None
