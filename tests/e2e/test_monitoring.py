"""The dashboard and the alert rules against a real Prometheus scraping the running system.

Every service is its own process with its own metrics port, listed in the targets file
`setpoint up` writes (`setpoint.ops.scrape_targets`); Debian's Prometheus runs
deploy/prometheus/prometheus.yml (the targets file and a 1 s interval replaced) with
deploy/prometheus/rules.yml. The test
drives a target, a bad target, an order the venue rejects and one a risk limit refuses, a
fill the websocket misses, a foreign trade that moves a perpetual's position (a
discrepancy), the kill switch and a service that stops; after each step it asks
Prometheus' HTTP API, and every query of the dashboard and every alert expression must
come back with the expected values. The long variant keeps a service down until its alert
fires.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from system import ACCOUNT, System, eventually, order, running
from tests.monitoring import (
    DEADMAN,
    NO_PROMETHEUS,
    PROMETHEUS,
    PrometheusServer,
    alert_rules,
    dashboard_queries,
    metric_names,
    prometheus_config,
)

from setpoint.bus import subjects
from setpoint.bus.embedded import free_port
from setpoint.ops.scrape_targets import write_targets

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(420),
    pytest.mark.skipif(PROMETHEUS is None, reason=NO_PROMETHEUS),
]
BTC, ETH, PERP = "BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"
METERED = ("gateway", "executor", "differ")
Series = list[dict[str, Any]]
Check = Callable[[Series], bool]


def _values(series: Series, **labels: str) -> list[Decimal]:
    """The values of the samples whose labels include `labels` (NaN left out)."""
    values = [
        Decimal(s["value"][1])
        for s in series
        if all(s["metric"].get(k) == v for k, v in labels.items())
    ]
    return [v for v in values if not v.is_nan()]


def has(**labels: str) -> Check:
    """Some sample with these labels (any value but NaN)."""
    return lambda series: bool(_values(series, **labels))


def equals(value: str, **labels: str) -> Check:
    return lambda series: Decimal(value) in _values(series, **labels)


def above(value: str, **labels: str) -> Check:
    return lambda series: any(v > Decimal(value) for v in _values(series, **labels))


def below(value: str, **labels: str) -> Check:
    values = lambda series: _values(series, **labels)  # noqa: E731
    return lambda series: bool(values(series)) and all(v < Decimal(value) for v in values(series))


def empty(series: Series) -> bool:
    return not series


def both(*checks: Check) -> Check:
    return lambda series: all(check(series) for check in checks)


class Monitored:
    """The system, its targets file and the Prometheus that scrapes it."""

    def __init__(self, root: Path) -> None:
        self.system = System(
            root,
            account={"max_order_notional": "200000", "reconcile_interval_s": 3},
        )
        self.ports = {service: free_port() for service in METERED}
        self.prometheus: PrometheusServer | None = None

    async def up(self) -> None:
        system = self.system
        system.nats_server.start()
        await system.start("sim")
        for service in METERED:
            port = {"SETPOINT_TELEMETRY__METRICS_PORT": str(self.ports[service])}
            system.spawn(service, env=port)
        for service in METERED:
            await system.wait_ready(service)
        targets = write_targets(system.root, "127.0.0.1", self.ports)
        self.prometheus = PrometheusServer(
            system.root / "prom", prometheus_config(targets), free_port()
        )
        await eventually(self._prometheus_ready, 60, "prometheus ready")
        # every service scraped once before anything happens: a counter's first increment
        # is then a rise Prometheus sees, not the value a series was born with
        await self.expect("every service scraped", "count(up == 1)", equals(str(len(METERED))))
        await system_clients(system)

    async def _prometheus_ready(self) -> bool:
        assert self.prometheus is not None
        return await asyncio.to_thread(self.prometheus.ready)

    async def query(self, expr: str) -> Series:
        assert self.prometheus is not None
        return await asyncio.to_thread(self.prometheus.query, expr)

    async def expect(self, name: str, expr: str, check: Check, within: float = 60) -> None:
        """Poll Prometheus until `expr` satisfies `check`; fail with the last answer."""
        last: list[Series] = []

        async def satisfied() -> bool:
            last[:] = [await self.query(expr)]
            return check(last[0])

        try:
            await eventually(satisfied, within, name)
        except AssertionError:
            raise AssertionError(f"{name}: {expr}\nlast answer: {last}") from None

    async def down(self) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
        await self.system.down()


async def system_clients(system: System) -> None:
    """The NATS and HTTP clients `System.up` opens, for a system started step by step."""
    import aiohttp
    import nats

    from setpoint.eventlog.jetstream import JetStreamEventLog

    system.nc = await nats.connect(system.nats_url)
    system.log = await JetStreamEventLog.open(system.nc)
    system.http = aiohttp.ClientSession()


@pytest.fixture
async def monitored(tmp_path: Path) -> Any:
    async with running(Monitored(tmp_path)) as watched:
        yield watched


# What each dashboard query answers once the scenario's first four steps are done.
DASHBOARD: dict[str, Check] = {
    "Keys converged / A": above("0"),
    "Keys drifting / A": has(),
    "Drift age by key / A": has(account=ACCOUNT, symbol=BTC),
    "Reconciliation lag / A": above("0"),
    "Reconciliation lag / B": above("0"),
    "Targets by outcome / A": both(has(outcome="accepted"), has(outcome="rejected")),
    "Liquidate-only accounts / A": equals("1", account=ACCOUNT),
    "Keys: target vs venue / A": equals("1", symbol=BTC),
    "Keys: target vs venue / B": equals("0", symbol=BTC),
    # the orders the target still wants, as `setpoint status` counts them: not the filled one
    "Keys: target vs venue / C": equals("0", symbol=BTC),
    "Keys: target vs venue / D": equals("0", symbol=BTC),
    "Keys: target vs venue / E": equals("0", symbol=ETH),
    "Keys: target vs venue / F": equals("0.01", symbol=BTC),
    "Keys: target vs venue / G": equals("0", symbol=BTC),
    "Orders by outcome / A": both(*(has(outcome=o) for o in ("placed", "rejected", "filled"))),
    "Pending work / A": equals("0", symbol=BTC),
    "Pending work / B": equals("0", symbol=BTC),
    "Pending work / C": equals("0", symbol=BTC),
    "Venue latency (p99) / A": above("0"),
    "Reconciliation runs / A": both(above("0", trigger="startup"), above("0", trigger="periodic")),
    "Reconciliation duration (p99) / A": above("0"),
    "Findings / A": has(account=ACCOUNT),
    "Since last successful reconciliation / A": below("30", account=ACCOUNT),
    "Position discrepancy / A": has(account=ACCOUNT, symbol=PERP),
    "Websocket reconnects / A": above("0", account=ACCOUNT),
    "Consumer lag / A": both(*(has(service=s) for s in METERED)),
    "Appends by event type / A": both(
        *(has(type=t) for t in ("TargetPublished", "OrderSubmitted", "FillObserved"))
    ),
    "Venue errors by class / A": above("0", error_class="rejected"),
    "Rejected orders / A": above("0", account=ACCOUNT, symbol=ETH),
    "Retries by reason / A": has(reason="rate_limit"),
    "Risk refusals by limit / A": above("0", account=ACCOUNT),
    "Services up / A": both(*(equals("1", service=s) for s in METERED)),
}

# What each alert expression answers at the same moment: the kill switch fires one alert,
# a healthy system nothing else (the discrepancy is checked while it is there).
RULES: dict[str, Check] = {
    "SetpointPositionDiscrepancy": lambda series: True,
    "SetpointKeyDrifting": empty,
    "SetpointReconciliationStale": empty,
    "SetpointVenueFatalError": empty,
    "SetpointOrderRejections": empty,
    "SetpointServiceDown": empty,
    "SetpointConsumerLagGrowing": empty,
    "SetpointAccountLiquidateOnly": equals("1", account=ACCOUNT),
    "SetpointDeadmanNotRenewed": empty,
}


def test_the_expectations_cover_every_query_and_alert() -> None:
    assert set(DASHBOARD) == set(dashboard_queries())
    assert set(RULES) == set(alert_rules())


async def drive_target_and_faults(monitored: Monitored) -> None:
    """A target (its first placement answered 429) and the same again, a bad target, a
    venue rejection and a risk refusal, a fill the websocket misses."""
    system = monitored.system
    spot_order = {"method": "POST", "path": "/api/v3/order"}
    rate_limit = {"kind": "rate_limit_429", "count": 1, **spot_order}
    await system.control("POST", "/_sim/faults", {"rules": [rate_limit]})
    await system.target(BTC, [order("m-bid", "buy", "59000.00", "0.01000")])
    await monitored.expect("BTC converged", "setpoint_key_converged", equals("1", symbol=BTC))
    # the same again: a second reconciliation lag on a series Prometheus has seen, so that
    # its rate (the dashboard's quantiles) is not 0
    await system.target(BTC, [order("m-bid", "buy", "59000.00", "0.01000")])
    await bad_target(system)
    # 40 ETH (116,000 USDT) is more than the account holds; 100 ETH passes the risk limit
    await system.target(
        ETH,
        [
            order("m-broke", "buy", "2900.00", "40.0000"),
            order("m-big", "buy", "2900.00", "100.0000"),
        ],
    )
    rejected = 'setpoint_orders_total{outcome="rejected"}'
    await monitored.expect("venue rejection", rejected, above("0", symbol=ETH))
    await monitored.expect("risk refusal", "setpoint_risk_refusals_total", above("0"))
    await system.target(ETH, [], position="0")
    await system.control("DELETE", "/_sim/faults")
    (resting,) = await system.open_orders(BTC)
    await system.control("POST", "/_sim/faults", {"rules": [{"kind": "ws_drop", "count": 1}]})
    await system.control("POST", "/_sim/fill", {"client_order_id": resting["client_order_id"]})
    position = "setpoint_key_position_actual"
    await monitored.expect("missed fill recorded", position, equals("0.01", symbol=BTC))
    await system.control("DELETE", "/_sim/faults")


async def bad_target(system: System) -> None:
    """A target the intake refuses: a price off the tick."""
    assert system.nc is not None
    system.generation += 1
    body = {
        "account": ACCOUNT, "symbol": ETH, "generation": system.generation, "strategy": "e2e",
        "position": None, "expires_at": None,
        "orders": [{**order("m-tick", "buy", "2900.005", "0.0100"), "type": "limit",
                    "time_in_force": "GTC", "post_only": False, "reduce_only": False,
                    "oco_group": None}],
    }  # fmt: skip
    reply = await system.nc.request(
        subjects.target_subject(ACCOUNT, ETH), json.dumps(body).encode(), timeout=10
    )
    assert not json.loads(reply.data).get("accepted"), reply.data


async def drive_discrepancy(monitored: Monitored) -> None:
    """A trade outside Setpoint on the perpetual: the venue's position moves, the log's fold
    does not; both the dashboard and the alert's expression see 0.01."""
    system = monitored.system
    await system.target(PERP, [])
    foreign = await system.control(
        "POST",
        "/_sim/orders",
        {"symbol": PERP, "side": "buy", "type": "limit", "price": "59000.00", "quantity": "0.01"},
    )
    await system.control("POST", "/_sim/fill", {"order_id": foreign["order_id"]})
    queries = dashboard_queries()
    await monitored.expect(
        "discrepancy panel", queries["Position discrepancy / A"], equals("0.01", symbol=PERP)
    )
    expr = alert_rules()["SetpointPositionDiscrepancy"]["expr"]
    await monitored.expect("discrepancy alert", expr, equals("0.01", symbol=PERP))


async def kill_switch(monitored: Monitored) -> None:
    system = monitored.system
    assert system.nc is not None
    body = {"mode": "liquidate_only", "reason": "monitoring test"}
    subject = subjects.control_subject(ACCOUNT, "kill")
    reply = await system.nc.request(subject, json.dumps(body).encode(), timeout=10)
    assert json.loads(reply.data)["ok"], reply.data


async def check_everything(monitored: Monitored) -> None:
    for name, expr in dashboard_queries().items():
        await monitored.expect(name, expr, DASHBOARD[name])
    rules = alert_rules()
    for alert, rule in rules.items():
        await monitored.expect(alert, rule["expr"], RULES[alert])
        for name in metric_names(rule["expr"]) - {DEADMAN}:
            await monitored.expect(f"{alert} reads {name}", f"count({name})", above("0"))
    assert monitored.prometheus is not None
    groups = monitored.prometheus.get("/api/v1/rules")["groups"]
    health = {
        r["name"]: (r["health"], r.get("lastError") or "") for g in groups for r in g["rules"]
    }
    assert health == {alert: ("ok", "") for alert in rules}


async def stop_a_service(monitored: Monitored, until: str) -> None:
    """Stop the executor; its scrape fails, `up` says 0 and its alert goes `until`."""
    monitored.system.stop("executor")
    expr = alert_rules()["SetpointServiceDown"]["expr"]
    await monitored.expect("service down", expr, equals("0", service="executor"))
    alerts = 'ALERTS{alertname="SetpointServiceDown"}'
    await monitored.expect(f"alert {until}", alerts, has(service="executor", alertstate=until),
                           within=120)  # fmt: skip


async def test_dashboard_and_rules_against_a_real_prometheus(monitored: Monitored) -> None:
    await drive_target_and_faults(monitored)
    await drive_discrepancy(monitored)
    await kill_switch(monitored)
    await check_everything(monitored)
    await stop_a_service(monitored, "pending")


@pytest.mark.long
async def test_alerts_fire_in_a_real_prometheus(monitored: Monitored) -> None:
    await kill_switch(monitored)
    alerts = 'ALERTS{alertname="SetpointAccountLiquidateOnly"}'
    await monitored.expect("liquidate-only fires", alerts, has(alertstate="firing"))
    await stop_a_service(monitored, "firing")
