"""deploy/grafana checked without Grafana (it cannot run here): the provisioning files agree
with the dashboard and docker-compose.yml, the dashboard has one row per concern and the
per-key table, and every panel's query parses (promtool, Prometheus 2.42) and reads only
names the services export."""

from __future__ import annotations

from typing import Any

import pytest
from tests.monitoring import (
    EXPORTED,
    GRAFANA_DIR,
    PROMETHEUS_OWN,
    dashboard,
    dashboard_queries,
    metric_names,
    needs_promtool,
    parse_errors,
    unknown_names,
    yaml_file,
)

PROVISIONING = GRAFANA_DIR / "provisioning"
ROWS = ["Convergence", "Execution", "Reconciliation", "The log", "Errors"]


def _provisioned(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml_file(PROVISIONING / path)
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_one_row_per_concern_each_with_panels() -> None:
    panels = dashboard()["panels"]
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == ROWS
    counts = dict.fromkeys(ROWS, 0)
    row = None
    for panel in panels:
        row = panel["title"] if panel["type"] == "row" else row
        if panel["type"] != "row":
            assert row is not None, f"{panel['title']}: above the first row"
            counts[row] += 1
    assert all(counts.values()), counts


def test_panels_are_described_and_laid_out() -> None:
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in _panels():
        assert panel["description"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["targets"], panel["title"]


def test_the_key_table_shows_target_against_venue() -> None:
    (table,) = [p for p in _panels() if p["type"] == "table"]
    read = set().union(*(metric_names(t["expr"]) for t in table["targets"]))
    assert {
        "setpoint_key_converged",
        "setpoint_key_orders_target",
        "setpoint_key_orders_venue",
        "setpoint_key_position_target",
        "setpoint_key_position_actual",
    } <= read
    for target in table["targets"]:
        assert target["instant"], target["refId"]
        assert target["format"] == "table", target["refId"]
        assert target["expr"].startswith("max by (account, symbol) ("), target["refId"]


def test_every_query_uses_the_provisioned_datasource() -> None:
    (source,) = _provisioned("datasources/prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    for panel in _panels():
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]
    for variable in dashboard()["templating"]["list"]:
        assert variable["datasource"]["uid"] == source["uid"]


def test_the_dashboard_provider_reads_where_compose_mounts_the_dashboards() -> None:
    (provider,) = _provisioned("dashboards/setpoint.yml")["providers"]
    compose = yaml_file(GRAFANA_DIR.parents[1] / "docker-compose.yml")
    volumes = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in volumes
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes


@pytest.mark.parametrize("name", sorted(dashboard_queries()))
def test_queries_read_only_exported_names(name: str) -> None:
    query = dashboard_queries()[name]
    assert metric_names(query), f"{name}: reads no metric"
    unknown = unknown_names(query, EXPORTED | PROMETHEUS_OWN)
    assert not unknown, f"{name}: {sorted(unknown)} are not exported: {query}"


@needs_promtool
def test_every_query_parses() -> None:
    errors = parse_errors(dashboard_queries())
    assert errors is None, errors


@needs_promtool
def test_a_query_that_does_not_parse_is_reported_by_name() -> None:
    errors = parse_errors({"ok": "sum(up)", "Broken / A": "sum by (le (rate(up[5m]))"})
    assert errors is not None
    assert "query_1 = Broken / A" in errors
    assert "parse error" in errors


def test_a_name_nobody_exports_is_reported() -> None:
    query = "sum(rate(setpoint_order_total[5m])) + setpoint_key_converged"
    assert unknown_names(query, EXPORTED) == {"setpoint_order_total"}
