"""Each service process serves its metrics for Prometheus (`telemetry.metrics_port`): a
target converges on the real system, then every service's /metrics is scraped and read
as Prometheus reads it. The names are the ones the dashboard and the alert rules use
(tests/unit/bus/test_telemetry.py holds the full list with its labels)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from system import ACCOUNT, System, eventually, running

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
SYMBOL = "BTC/USDT"
KEY = {"account": ACCOUNT, "symbol": SYMBOL}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
async def metered(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    async with running(System(tmp_path_factory.mktemp("metrics"), metrics=True)) as serving:
        yield serving


def samples(text: str) -> Samples:
    """{(sample name, labels): value} of a scrape."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def converged(system: System) -> Samples | None:
    found = samples(await system.scrape("differ"))
    done = value(found, "setpoint_key_converged", **KEY) == 1
    measured = (value(found, "setpoint_reconcile_lag_seconds_count", **KEY) or 0) >= 1
    return found if done and measured else None


async def test_a_converged_target_shows_in_every_service_scrape(metered: System) -> None:
    await metered.target(SYMBOL, [{"id": "m-bid", "side": "buy", "price": "50000.00",
                                   "quantity": "0.00100"}])  # fmt: skip
    differ = await eventually(lambda: converged(metered), 60, "converged in the scrape")
    assert value(differ, "setpoint_key_drift_age_seconds", **KEY) == 0
    assert value(differ, "setpoint_key_orders_target", **KEY) == 1
    assert value(differ, "setpoint_key_orders_venue", **KEY) == 1
    assert value(differ, "setpoint_key_position_actual", **KEY) == 0
    assert value(differ, "setpoint_account_liquidate_only", account=ACCOUNT) == 0
    assert value(differ, "setpoint_targets_total", account=ACCOUNT, outcome="accepted") == 1
    for event_type in ("TargetPublished", "DiffComputed"):
        assert (value(differ, "setpoint_events_appended_total", type=event_type) or 0) >= 1
    assert value(differ, "setpoint_eventlog_consumer_lag_events") is not None

    executor = samples(await metered.scrape("executor"))
    for name in (
        "setpoint_actions_pending",
        "setpoint_orders_inflight",
        "setpoint_cancels_pending",
    ):
        assert value(executor, name, **KEY) == 0, name
    assert (value(executor, "setpoint_events_appended_total", type="OrderSubmitted") or 0) >= 1

    gateway = samples(await metered.scrape("gateway"))
    placed = value(gateway, "setpoint_orders_total", **KEY, outcome="placed")
    assert placed == 1
    startup = {"account": ACCOUNT, "trigger": "startup"}
    assert value(gateway, "setpoint_reconcile_runs_total", **startup) == 1
    assert value(gateway, "setpoint_reconcile_duration_seconds_count", **startup) == 1
    assert (value(gateway, "setpoint_reconcile_last_success_timestamp_seconds",
                  account=ACCOUNT) or 0) > 0  # fmt: skip
    requests = value(gateway, "setpoint_venue_request_duration_seconds_count",
                     account=ACCOUNT, endpoint="create_order")  # fmt: skip
    assert requests == 1


async def test_only_bounded_labels_are_exported(metered: System) -> None:
    allowed = {"account", "symbol", "outcome", "error_class", "service", "reason", "limit",
               "trigger", "kind", "type", "endpoint", "le"}  # fmt: skip
    for service in metered.metrics_ports:
        for family in text_string_to_metric_families(await metered.scrape(service)):
            if family.name.startswith("setpoint_"):
                for sample in family.samples:
                    assert set(sample.labels) <= allowed, (service, sample)
