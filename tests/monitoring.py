"""The monitoring files in deploy/ as tests read them: the names the services export, the
PromQL of the dashboard and of the alert rules, the metric names an expression reads, and
a parse of expressions by Debian's `promtool` (Prometheus 2.42)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from setpoint.bus.embedded import terminate

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "setpoint.json"
RULES = PROMETHEUS_DIR / "rules.yml"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
NO_PROMTOOL = "promtool not found: install Debian's `prometheus` package (.ci/run does)"
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
NO_PROMETHEUS = "prometheus not found: install Debian's `prometheus` package (.ci/run does)"

# The names as scraped from a service's /metrics (histograms add _bucket, _sum, _count).
HISTOGRAMS = frozenset(
    {
        "setpoint_reconcile_lag_seconds",
        "setpoint_reconcile_duration_seconds",
        "setpoint_venue_request_duration_seconds",
    }
)
EXPORTED = HISTOGRAMS | {
    "setpoint_key_drift_age_seconds",
    "setpoint_key_converged",
    "setpoint_key_orders_target",
    "setpoint_key_orders_venue",
    "setpoint_key_position_target",
    "setpoint_key_position_actual",
    "setpoint_actions_pending",
    "setpoint_orders_inflight",
    "setpoint_cancels_pending",
    "setpoint_orders_total",
    "setpoint_venue_errors_total",
    "setpoint_retries_total",
    "setpoint_risk_refusals_total",
    "setpoint_reconcile_runs_total",
    "setpoint_reconcile_findings_total",
    "setpoint_reconcile_last_success_timestamp_seconds",
    "setpoint_position_discrepancy",
    "setpoint_eventlog_consumer_lag_events",
    "setpoint_events_appended_total",
    "setpoint_ws_reconnects_total",
    "setpoint_account_liquidate_only",
    "setpoint_targets_total",
}
# Prometheus' own series: `up` per scraped target.
PROMETHEUS_OWN = frozenset({"up"})
# Exported once the venue dead-man switch exists; only its alert reads it.
DEADMAN = "setpoint_deadman_last_renewal_timestamp_seconds"

# What the dashboard's template variables stand for when a query is run outside Grafana.
VARIABLES = {"$account": ".*"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan"}
)


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects (identifiers that are neither functions, keywords,
    label names, strings nor durations)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _GROUPING.sub("", text)
    text = _RANGE.sub("", text)
    names = set()
    for match in _IDENT.finditer(text):
        name, call = match.groups()
        if call is None and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def unknown_names(expr: str, allowed: Iterable[str]) -> set[str]:
    """Names `expr` reads that are not in `allowed` (a histogram's series count as it)."""
    known = set(allowed)
    suffixes = ("_bucket", "_sum", "_count")

    def is_known(name: str) -> bool:
        base = next((name.removesuffix(s) for s in suffixes if name.endswith(s)), None)
        return name in known or (base in HISTOGRAMS and base in known)

    return {name for name in metric_names(expr) if not is_known(name)}


def substitute(expr: str) -> str:
    """`expr` with the dashboard's template variables replaced by what selects everything."""
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def yaml_file(path: Path) -> Any:
    """The YAML document at `path`."""
    return yaml.safe_load(path.read_text())


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_queries() -> dict[str, str]:
    """`"<panel title> / <refId>"` → its PromQL, variables substituted."""
    queries = {}
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            queries[f"{panel['title']} / {target['refId']}"] = substitute(target["expr"])
    return queries


def alert_rules() -> dict[str, dict[str, Any]]:
    """Alert name → its rule, from rules.yml."""
    groups = yaml_file(RULES)["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def parse_errors(exprs: dict[str, str]) -> str | None:
    """None when `promtool check rules` parses every expression (each as a recording rule);
    else promtool's message, with the names of the expressions."""
    assert PROMTOOL is not None, NO_PROMTOOL
    names = list(exprs)
    rules = [{"record": f"query_{i}", "expr": exprs[n]} for i, n in enumerate(names)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "queries.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
        run = subprocess.run(
            [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
        )
    if run.returncode == 0:
        return None
    legend = "\n".join(f"query_{i} = {name}: {exprs[name]}" for i, name in enumerate(names))
    return f"{run.stdout}{run.stderr}\n{legend}"


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    """`promtool <args>` in `cwd`, output captured."""
    assert PROMTOOL is not None, NO_PROMTOOL
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def prometheus_config(targets_file: Path, interval: str = "1s") -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml as a test runs it: the same job and rules, reading
    `targets_file` (absolute), scraping and evaluating every `interval`."""
    config: dict[str, Any] = yaml_file(PROMETHEUS_DIR / "prometheus.yml")
    config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    (job,) = config["scrape_configs"]
    (discovery,) = job["file_sd_configs"]
    discovery["files"] = [str(targets_file)]
    discovery["refresh_interval"] = interval
    return config


class PrometheusServer:
    """A real Prometheus (Debian's /usr/bin/prometheus) on a free port, with its storage in
    `folder`, running `config`; queried through its HTTP API."""

    def __init__(self, folder: Path, config: dict[str, Any], port: int) -> None:
        assert PROMETHEUS is not None, NO_PROMETHEUS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{port}"
        self.output = folder / "prometheus.out"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={path}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def get(self, path: str, **params: str) -> Any:
        """GET `path` of the HTTP API; its `data` (raises AssertionError on an error)."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as reply:
                body = json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` evaluates to now (a scalar becomes one sample)."""
        data = self.get("/api/v1/query", query=expr)
        if data["resultType"] == "vector":
            return list(data["result"])
        return [{"metric": {}, "value": data["result"]}]

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.output.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        terminate(self.process, 20)
