"""deploy/cluster/docker-compose.yml and deploy/kubernetes/, checked statically (neither
Docker nor Kubernetes runs here): they parse, form a three-node JetStream cluster whose
nodes route to each other, and give the services the whole server list and
eventlog.replicas = 3, in values the configuration accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from setpoint.config import NatsConfig, Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "deploy/cluster/docker-compose.yml").read_text())
VALUES: dict[str, Any] = yaml.safe_load((ROOT / "deploy/kubernetes/nats-values.yaml").read_text())
CONFIG_MAP: dict[str, Any] = yaml.safe_load(
    (ROOT / "deploy/kubernetes/setpoint-config.yaml").read_text()
)
NODES = {name: svc for name, svc in COMPOSE["services"].items() if name.startswith("nats-")}
SERVICES = {n: s for n, s in COMPOSE["services"].items() if s.get("image") == "setpoint:dev"}
CHART_TOP_LEVEL = {
    "global", "nameOverride", "fullnameOverride", "namespaceOverride", "tlsCA", "config",
    "container", "reloader", "promExporter", "service", "statefulSet", "podTemplate",
    "headlessService", "configMap", "podDisruptionBudget", "serviceAccount", "natsBox",
    "extraResources",
}  # fmt: skip
"""The top-level keys of the official chart's values.yaml (1.x)."""


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_three_nodes_each_routed_to_the_other_two_with_a_store_of_its_own() -> None:
    assert sorted(NODES) == ["nats-1", "nats-2", "nats-3"]
    volumes = set()
    for name, node in NODES.items():
        command = node["command"]
        assert "-js" in command
        assert flag(command, "--name") == name  # server names are unique
        assert flag(command, "--cluster_name") == "setpoint"
        routes = {urlparse(r).hostname for r in flag(command, "--routes").split(",")}
        assert routes == set(NODES) - {name}
        assert urlparse(flag(command, "--cluster")).port == 6222
        volumes |= {volume.split(":")[0] for volume in node["volumes"]}
    assert len(volumes) == 3
    assert volumes <= set(COMPOSE["volumes"])


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (service.get("environment") or {}).items()}


@pytest.mark.parametrize("name", ["gateway", "executor", "differ", "strategy", "sim"])
def test_every_service_knows_every_server_and_three_replicas(name: str) -> None:
    env = _env(SERVICES[name])
    nats = NatsConfig(url=env["SETPOINT_NATS__URL"])
    assert {urlparse(url).hostname for url in nats.servers} == set(NODES)
    assert env["SETPOINT_EVENTLOG__REPLICAS"] == "3"
    if name != "sim":  # the simulator needs no NATS to start
        assert set(SERVICES[name]["depends_on"]) == set(NODES)


def test_the_helm_values_make_a_three_node_jetstream_cluster() -> None:
    assert set(VALUES) <= CHART_TOP_LEVEL
    cluster, jetstream = VALUES["config"]["cluster"], VALUES["config"]["jetstream"]
    assert cluster["enabled"] is True
    assert cluster["replicas"] == 3
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    assert "kubernetes.io/hostname" in VALUES["podTemplate"]["topologySpreadConstraints"]


def test_the_services_config_map_names_every_pod_of_the_chart() -> None:
    data = CONFIG_MAP["data"]
    replicas = VALUES["config"]["cluster"]["replicas"]
    settings = Settings.model_validate(
        {"nats": {"url": data["SETPOINT_NATS__URL"], "embedded": data["SETPOINT_NATS__EMBEDDED"]},
         "eventlog": {"replicas": data["SETPOINT_EVENTLOG__REPLICAS"]}}
    )  # fmt: skip
    hosts = [urlparse(url).hostname for url in settings.nats.servers]
    assert hosts == [f"nats-{i}.nats-headless" for i in range(replicas)]
    assert settings.eventlog.replicas == replicas
    assert settings.nats.embedded is False
