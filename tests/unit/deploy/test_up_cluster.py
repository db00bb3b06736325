"""`setpoint up --cluster N` without starting anything: the server list and replica count
in the settings (and their malformed forms refused), the nodes' configurations, the plan."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import ValidationError

from setpoint.bus.cluster import local_nodes, node_lines, standalone_config
from setpoint.bus.embedded import answers, host_port
from setpoint.config import EventLogConfig, NatsConfig, Settings, demo_settings_data
from setpoint.ops.up import cluster_settings, cluster_size, make_plan

URLS = ("nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "nats://10.0.0.3:4222")


def test_one_url_is_one_server() -> None:
    assert NatsConfig().servers == ("nats://127.0.0.1:4222",)


def test_servers_as_a_comma_separated_url_or_a_list() -> None:
    assert NatsConfig(url=" , ".join(URLS)).servers == URLS
    listed = NatsConfig(urls=URLS)
    assert listed.servers == URLS
    assert listed.url == ",".join(URLS)  # every reader of `url` sees them all
    assert NatsConfig(url=",".join(URLS), urls=URLS).servers == URLS  # the same twice: fine


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "nats://a:1,,nats://b:1"}, "empty entry"),
        ({"url": "nats://a:1,nats://a:1"}, "names a server twice"),
        ({"url": "nats://a:1", "urls": ["nats://b:1"]}, "not both"),
        ({"urls": ["nats://a:1", ""]}, "empty entry"),
    ],
)
def test_a_malformed_server_list_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NatsConfig.model_validate(fields)


@pytest.mark.parametrize("replicas", [0, 6, -1])
def test_the_replica_count_is_one_to_five(replicas: int) -> None:
    with pytest.raises(ValidationError, match="must be 1 to 5"):
        EventLogConfig(replicas=replicas)
    assert EventLogConfig().replicas == 1


def test_a_list_answers_when_any_server_does() -> None:
    assert host_port(",".join(URLS)) == ("10.0.0.1", 4222)
    assert not answers("nats://127.0.0.1:1,nats://127.0.0.1:2", 0.1)


def test_nodes_take_the_next_ports_and_route_to_each_other(tmp_path: Path) -> None:
    nodes = local_nodes("nats://127.0.0.1:4222", 3, tmp_path)
    assert [(n.name, n.port, n.route_port, n.monitor_port) for n in nodes] == [
        ("n1", 4222, 6222, 8222), ("n2", 4223, 6223, 8223), ("n3", 4224, 6224, 8224)
    ]  # fmt: skip
    assert len({n.store_dir for n in nodes}) == 3
    text = standalone_config(nodes[1], nodes)
    assert 'server_name: "n2"' in text
    assert 'routes: ["nats://127.0.0.1:6222", "nats://127.0.0.1:6224"]' in text
    assert "authorization" not in text


def test_a_secured_node_logs_in_to_the_routes_and_uses_tls(tmp_path: Path) -> None:
    from setpoint.bus.cluster import RouteTls

    nodes = local_nodes("nats://127.0.0.1:4222", 3, tmp_path)
    lines = "\n".join(node_lines(nodes[0], nodes, route_password="pw", tls=RouteTls("c", "k", "a")))
    assert '"nats://route:pw@127.0.0.1:6223"' in lines
    assert 'authorization { user: "route", password: "pw" }' in lines
    assert "verify: true" in lines


def test_a_cluster_size_is_one_to_seven() -> None:
    assert cluster_size("3") == 3
    for bad in ("0", "8", "three"):
        with pytest.raises(argparse.ArgumentTypeError):
            cluster_size(bad)


def _settings(tmp_path: Path, **nats: object) -> Settings:
    data = demo_settings_data()
    data["nats"] = {"url": "nats://127.0.0.1:1", "data_dir": str(tmp_path / "d"), **nats}
    return Settings(**data)


def test_cluster_settings_list_every_node_and_three_replicas(tmp_path: Path) -> None:
    settings = cluster_settings(_settings(tmp_path), 3)
    assert settings.nats.servers == tuple(f"nats://127.0.0.1:{p}" for p in (1, 2, 3))
    assert settings.eventlog.replicas == 3
    assert cluster_settings(_settings(tmp_path), 1) == _settings(tmp_path)
    assert cluster_settings(_settings(tmp_path), 5).eventlog.replicas == 3


def test_cluster_settings_refuse_other_servers(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="runs its servers at"):
        cluster_settings(_settings(tmp_path, url=",".join(URLS)), 3)


def test_the_plan_starts_every_node_and_tells_the_services(tmp_path: Path) -> None:
    from setpoint.ops.security import prepare_server

    settings = cluster_settings(_settings(tmp_path), 3)
    security = prepare_server(settings, tls=True, cluster=3)
    plan = make_plan(settings, None, {"PATH": "/bin"}, security, cluster=3)
    assert plan.nats is None
    assert [spec.name for spec, _ in plan.nodes] == ["nats-n1", "nats-n2", "nats-n3"]
    assert [spec.argv[-1] for spec, _ in plan.nodes] == [str(p) for p in security.nodes]
    for service in plan.services:
        assert service.env is not None
        assert service.env["SETPOINT_NATS__URL"] == settings.nats.url
        assert service.env["SETPOINT_EVENTLOG__REPLICAS"] == "3"
    second = security.nodes[1].read_text()
    assert 'server_name: "n2"' in second
    assert "cluster {" in second
    assert "verify: true" in second  # --tls: the routes too
    assert (security.nodes[0].stat().st_mode & 0o777) == 0o600
