"""docker-compose.yml, deploy/Dockerfile, deploy/otel-collector.yaml and the Prometheus it
runs, checked statically (Docker does not run here): they parse, run real commands, and
agree with the config schema, with each other and with the README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from pydantic import BaseModel

from setpoint.config import Settings, demo_settings_data
from setpoint.ops.run import SERVICES

ROOT = Path(__file__).resolve().parents[3]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COLLECTOR: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
SETPOINT_SERVICES = {
    name: svc for name, svc in COMPOSE["services"].items() if svc.get("image") == "setpoint:dev"
}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _secret_env_names() -> set[str]:
    """Variables the configuration reads as secrets (`env:NAME` references)."""
    settings = Settings(**demo_settings_data())
    refs = [ref for a in settings.accounts.values() for ref in (a.api_key, a.secret)]
    return {ref.removeprefix("env:") for ref in refs if ref.startswith("env:")}


def _names_a_setting(variable: str) -> bool:
    """True when SETPOINT_<A>__<B>[__<C>...] is a path through the Settings schema (dict
    sections such as `accounts` take any key at their level)."""
    parts = variable.removeprefix("SETPOINT_").lower().split("__")
    model: type[BaseModel] | None = Settings
    expect_key = False
    for part in parts:
        if expect_key:
            expect_key = False
            continue
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        origin = getattr(annotation, "__origin__", None)
        if origin is dict:
            expect_key, model = True, annotation.__args__[1]  # type: ignore[union-attr]
            model = model if isinstance(model, type) and issubclass(model, BaseModel) else None
        else:
            is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
            model = annotation if is_model else None  # type: ignore[assignment]
    return True


def _container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[-1].split("/")[0]) for p in service.get("ports", [])}


def test_every_setpoint_process_is_a_real_run_command() -> None:
    commands = {name: svc["command"] for name, svc in SETPOINT_SERVICES.items()}
    for name, command in commands.items():
        assert command[:2] == ["setpoint", "run"], name
        assert command[2] in SERVICES, name
    assert sorted(c[2] for c in commands.values()) == sorted(SERVICES)


def test_infrastructure_is_there() -> None:
    services = COMPOSE["services"]
    assert "-js" in services["nats"]["command"]
    assert {"otel-collector", "jaeger", "prometheus", "grafana"} <= set(services)
    # no EventStoreDB: no adapter for it exists (eventlog.backend = "eventstoredb" refuses)
    assert not any("eventstore" in str(svc.get("image")) for svc in services.values())
    assert all("profiles" not in svc for svc in services.values())


def test_environment_names_real_settings() -> None:
    allowed_secrets = _secret_env_names()
    for name, service in COMPOSE["services"].items():
        environment = _environment(service)
        referenced = {  # secrets the service's own settings name (e.g. console.token)
            str(v).removeprefix("env:") for v in environment.values() if str(v).startswith("env:")
        }
        for variable in environment:
            if not variable.startswith("SETPOINT_") or variable in allowed_secrets | referenced:
                continue
            assert _names_a_setting(variable), f"{name}: {variable} is not a setting"


@pytest.mark.parametrize("variable", ["SETPOINT_NATS__ULR", "SETPOINT_ACCOUNTS__DEMO__BASEURL"])
def test_the_schema_check_catches_typos(variable: str) -> None:
    assert not _names_a_setting(variable)


def test_the_environment_builds_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, service in SETPOINT_SERVICES.items():
        for variable, value in _environment(service).items():
            monkeypatch.setenv(variable, value)
        settings = Settings(**demo_settings_data())
        assert settings.telemetry.exporter == "otlp", name
        assert not settings.nats.embedded, name


def test_ports_agree() -> None:
    services = COMPOSE["services"]
    sim_env = _environment(services["sim"])
    sim_port = int(sim_env.get("SETPOINT_SIM__PORT", Settings().sim.port))
    assert sim_port in _container_ports(services["sim"])
    assert services["sim"]["command"][-1] == str(sim_port)
    assert sim_env["SETPOINT_SIM__HOST"] == "0.0.0.0"  # reachable from other containers
    for name, service in SETPOINT_SERVICES.items():
        env = _environment(service)
        nats_url = urlparse(env["SETPOINT_NATS__URL"])
        assert nats_url.hostname == "nats"
        assert nats_url.port in _container_ports(services["nats"]), name
        base = urlparse(env["SETPOINT_ACCOUNTS__DEMO__BASE_URL"])
        assert (base.hostname, base.port) == ("sim", sim_port), name
        otlp = urlparse(env["SETPOINT_TELEMETRY__OTLP_ENDPOINT"])
        assert otlp.hostname in services
        assert otlp.port in _container_ports(services[otlp.hostname]), name
        http = COLLECTOR["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
        assert http.endswith(f":{otlp.port}")


def test_collector_pipelines_are_wired() -> None:
    for name, pipeline in COLLECTOR["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in COLLECTOR[kind], f"{name}: {kind} {component}"
    jaeger = COLLECTOR["exporters"]["otlp/jaeger"]["endpoint"]
    assert jaeger.split(":")[0] in COMPOSE["services"]
    assert "traces" in COLLECTOR["service"]["pipelines"]
    assert "metrics" in COLLECTOR["service"]["pipelines"]


def test_dockerfile_installs_what_the_readme_installs() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "pip install . && setpoint init demo && cd demo && setpoint up" in readme
    runs = [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    assert "RUN pip install ." in runs
    assert re.search(r"^COPY pyproject.toml README.md ", dockerfile, re.M)
    for folder in ("libs", "services"):
        assert re.search(rf"^COPY {folder} ", dockerfile, re.M), folder
    python = re.search(r"^FROM python:(\d+)\.(\d+)", dockerfile, re.M)
    assert python is not None
    assert (int(python.group(1)), int(python.group(2))) >= (3, 11)
    build = COMPOSE["x-setpoint"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def _mounted(service: dict[str, Any], container_path: str) -> Path:
    """The host path (relative to the repository) mounted at `container_path`."""
    for volume in service["volumes"]:
        host, path, *_ = volume.split(":")
        if container_path == path or container_path.startswith(path + "/"):
            return ROOT / host / container_path.removeprefix(path).lstrip("/")
    raise AssertionError(f"nothing mounted at {container_path}")


def test_prometheus_scrapes_every_setpoint_service_on_its_metrics_port() -> None:
    prometheus = COMPOSE["services"]["prometheus"]
    (flag,) = [a for a in prometheus["command"] if a.startswith("--config.file=")]
    config = yaml.safe_load(_mounted(prometheus, flag.split("=", 1)[1]).read_text())
    assert (_mounted(prometheus, flag.split("=", 1)[1]).parent / config["rule_files"][0]).is_file()
    (job,) = config["scrape_configs"]
    scraped = {}
    for group in job["static_configs"]:
        (target,) = group["targets"]
        host, port = target.split(":")
        assert group["labels"]["service"] == host
        scraped[host] = int(port)
    services = {name for name in SETPOINT_SERVICES if name not in ("sim", "console")}  # no metrics
    assert set(scraped) == services
    for name in services:
        env = _environment(SETPOINT_SERVICES[name])
        assert int(env["SETPOINT_TELEMETRY__METRICS_PORT"]) == scraped[name], name
        assert env["SETPOINT_TELEMETRY__METRICS_HOST"] == "0.0.0.0", name


def test_grafana_is_provisioned_from_deploy() -> None:
    grafana = COMPOSE["services"]["grafana"]
    provisioning = _mounted(grafana, "/etc/grafana/provisioning")
    assert (provisioning / "datasources").is_dir()
    assert (provisioning / "dashboards").is_dir()
    home = _environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert _mounted(grafana, home).is_file()
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    url = urlparse(source["url"])
    assert url.hostname == "prometheus"
    assert url.port in _container_ports(COMPOSE["services"]["prometheus"])
