"""deploy/prometheus checked by Debian's promtool (Prometheus 2.42): the configurations and
the rules load, every alert's unit tests in rules_test.yml pass, every alert has a test
that makes it fire and one that keeps it quiet (and breaking an alert fails them), every
alert carries a runbook, and the rules read only the names the services export."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.monitoring import (
    DEADMAN,
    EXPORTED,
    PROMETHEUS_DIR,
    PROMETHEUS_OWN,
    RULES,
    alert_rules,
    needs_promtool,
    promtool,
    unknown_names,
    yaml_file,
)

from setpoint.config import Settings
from setpoint.ops.scrape_targets import TARGETS_FILE

UNIT_TESTS = PROMETHEUS_DIR / "rules_test.yml"
ALERTS = sorted(alert_rules())


def _scrape_config(name: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml_file(PROMETHEUS_DIR / name)
    (job,) = config["scrape_configs"]
    assert config["rule_files"] == ["rules.yml"]
    return dict(job)


@needs_promtool
@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-compose.yml"])
def test_configurations_load(name: str) -> None:
    run = promtool("check", "config", name)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 9 rules found" in run.stdout + run.stderr


def test_the_host_config_discovers_what_setpoint_up_writes() -> None:
    job = _scrape_config("prometheus.yml")
    (discovery,) = job["file_sd_configs"]
    (path,) = discovery["files"]
    # relative to the config file: the default data dir at the repository's root
    data_dir = PROMETHEUS_DIR.parents[1] / Settings().nats.data_dir
    assert (PROMETHEUS_DIR / path).resolve() == data_dir / TARGETS_FILE


def test_the_compose_config_labels_every_target_with_its_service() -> None:
    job = _scrape_config("prometheus-compose.yml")
    for group in job["static_configs"]:
        (target,) = group["targets"]
        assert target.split(":")[0] == group["labels"]["service"]
    services = [group["labels"]["service"] for group in job["static_configs"]]
    assert sorted(services) == ["differ", "executor", "gateway", "strategy"]


@needs_promtool
def test_rules_load() -> None:
    run = promtool("check", "rules", "rules.yml")
    assert run.returncode == 0, run.stdout + run.stderr


@needs_promtool
def test_rules_unit_tests_pass() -> None:
    run = promtool("test", "rules", "rules_test.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def _cases() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml_file(UNIT_TESTS)["tests"]
    return [case for test in tests for case in test["alert_rule_test"]]


@pytest.mark.parametrize("alert", ALERTS)
def test_every_alert_has_a_firing_and_a_quiet_case(alert: str) -> None:
    cases = [case for case in _cases() if case["alertname"] == alert]
    assert any(case["exp_alerts"] for case in cases), f"{alert}: no case where it fires"
    assert any(not case["exp_alerts"] for case in cases), f"{alert}: no case where it is quiet"


def _mutated(tmp_path: Path, expr: str) -> Path:
    """A copy of rules.yml and rules_test.yml where every alert has the expression `expr`."""
    rules = yaml_file(RULES)
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["expr"] = expr
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    shutil.copy(UNIT_TESTS, tmp_path / "rules_test.yml")
    return tmp_path


@needs_promtool
@pytest.mark.parametrize(
    ("broken", "expr"), [("never fires", "vector(1) == 0"), ("always fires", "vector(1)")]
)
def test_broken_alerts_fail_their_unit_tests(tmp_path: Path, broken: str, expr: str) -> None:
    run = promtool("test", "rules", "rules_test.yml", cwd=_mutated(tmp_path, expr))
    assert run.returncode != 0
    for alert in ALERTS:
        assert f"alertname: {alert}," in run.stdout + run.stderr, f"{alert} {broken}: tests pass"


@pytest.mark.parametrize("alert", ALERTS)
def test_every_alert_has_a_runbook(alert: str) -> None:
    rule = alert_rules()[alert]
    assert rule["labels"]["severity"] in {"page", "warning"}
    for annotation in ("summary", "description", "runbook"):
        assert rule["annotations"].get(annotation, "").strip(), f"{alert}: no {annotation}"


@pytest.mark.parametrize("alert", ALERTS)
def test_rules_read_only_exported_names(alert: str) -> None:
    allowed = EXPORTED | PROMETHEUS_OWN | {DEADMAN}
    assert not unknown_names(alert_rules()[alert]["expr"], allowed)


def test_only_the_dead_man_alert_reads_the_dead_man_gauge() -> None:
    readers = [a for a in ALERTS if DEADMAN in alert_rules()[a]["expr"]]
    assert readers == ["SetpointDeadmanNotRenewed"]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x="y", z=~"$account"}[5m]))', {"a_bucket"}),
        ("time() - max by (account) (b) > 90", {"b"}),
        ("c and on (x) d offset 10m unless e", {"c", "d", "e"}),
        ('histogram_quantile(0.99, f{le="1e3"}) * 60 > 3', {"f"}),
        ("sum(g) by (le) or vector(0)", {"g"}),
    ],
)
def test_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert unknown_names(expr, set()) == names
