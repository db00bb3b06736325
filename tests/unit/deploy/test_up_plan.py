"""What `setpoint up` decides to start, and how it shows a key, without starting anything."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tests.statuses import key_status

from setpoint.bus.embedded import free_port
from setpoint.bus.messages import Condition, KeyStatus
from setpoint.config import Settings, demo_settings_data
from setpoint.ops.run import SERVICES
from setpoint.ops.scrape_targets import targets_document, write_targets
from setpoint.ops.up import key_row, make_plan


def _settings(tmp_path: Path, **extra: object) -> Settings:
    data = demo_settings_data()
    data["nats"] = {"url": f"nats://127.0.0.1:{free_port()}", "data_dir": str(tmp_path / "d")}
    sim_port = free_port()
    data["sim"] = {"port": sim_port}
    data["accounts"]["demo"]["base_url"] = f"http://127.0.0.1:{sim_port}"
    okx_port = free_port()
    data["sims"]["okx"]["port"] = okx_port
    data["accounts"]["demo-okx"]["base_url"] = f"http://127.0.0.1:{okx_port}"
    data.update(extra)
    return Settings(**data)


def test_demo_plan_starts_everything_with_demo_credentials(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    plan = make_plan(settings, None, {"PATH": "/bin"})
    assert plan.nats is not None
    assert plan.nats.argv[1:3] == ("-js", "-a")
    assert str(tmp_path / "d" / "nats") in plan.nats.argv
    sim, okx = plan.sims
    assert sim.argv[-4:] == ("run", "sim", "--port", str(settings.sim.port))
    assert (okx.name, okx.argv[-4:]) == ("sim-okx", ("run", "sim", "--sim", "okx"))
    assert plan.sim_urls["sim-okx"] == settings.accounts["demo-okx"].base_url
    assert [s.argv[-1] for s in plan.services] == [
        "gateway",
        "executor",
        "differ",
        "strategy",
        "console",
    ]
    assert {s.argv[-1] for s in plan.services} | {"sim"} == set(SERVICES)
    for spec in (*plan.sims, *plan.services):
        assert spec.env is not None
        assert spec.env["SETPOINT_DEMO_KEY"] == "demo-key"
        assert spec.env["SETPOINT_DEMO_SECRET"] == "demo-secret"
        assert spec.env["SETPOINT_DEMO_PASSPHRASE"] == "demo-passphrase"
        assert spec.log_file.parent == tmp_path / "d" / "logs"


def test_own_credentials_and_config_file_are_passed_on(tmp_path: Path) -> None:
    config = tmp_path / "setpoint.toml"
    config.write_text("")
    plan = make_plan(_settings(tmp_path, demo=False), config, {"SETPOINT_DEMO_KEY": "mine"})
    env = plan.services[0].env
    assert env is not None
    assert env["SETPOINT_CONFIG"] == str(config.resolve())
    assert env["SETPOINT_DEMO_KEY"] == "mine"
    assert "SETPOINT_DEMO_SECRET" not in env  # only the demo gets the simulator's secret


def test_remote_venues_get_no_simulator(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    data = settings.model_dump()
    data["accounts"]["demo"]["base_url"] = None
    data["accounts"]["demo-okx"]["base_url"] = None
    data["accounts"]["live"] = {"exchange": "binance", "base_url": "https://api.binance.com"}
    plan = make_plan(Settings(**data), None, {})
    assert plan.sims == ()


def test_remote_nats_without_a_server_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path, nats={"url": "nats://nats.invalid:4222", "embedded": True})
    with pytest.raises(SystemExit, match="no server may be started here"):
        make_plan(settings, None, {})


def test_an_account_on_another_dialect_without_sims_entry_gets_its_dialect(
    tmp_path: Path,
) -> None:
    data = _settings(tmp_path).model_dump()
    data["sims"] = {}
    port = free_port()
    data["accounts"]["demo-okx"]["base_url"] = f"http://127.0.0.1:{port}"
    plan = make_plan(Settings(**data), None, {})
    okx = next(s for s in plan.sims if s.name == f"sim-{port}")
    assert okx.argv[-5:] == ("sim", "--port", str(port), "--dialect", "okx")


def test_two_simulators_on_one_port_are_refused(tmp_path: Path) -> None:
    data = _settings(tmp_path).model_dump()
    data["sims"]["okx"]["port"] = data["sim"]["port"]
    with pytest.raises(ValueError, match=r"sims.okx.port \d+ is already sim's port"):
        Settings(**data)


def test_a_simulator_name_must_be_a_word(tmp_path: Path) -> None:
    data = _settings(tmp_path).model_dump()
    data["sims"] = {"o k x": data["sims"]["okx"]}
    with pytest.raises(ValueError, match="a simulator's name is letters, digits"):
        Settings(**data)


def test_key_row() -> None:
    status = key_status(
        open_orders_target=6,
        open_orders_venue=5,
        position_target=None,
        position_actual=Decimal("0.002"),
        last_reconciliation=datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, 12, 0, 6, tzinfo=UTC),
    )
    assert key_row(status) == (
        "demo BTC/USDT",
        "7",
        "drifting (OrdersInFlight)",
        "6 / 5",
        "- / 0.002",
        "12:00:05",
    )


def test_a_secure_plan_gives_each_service_only_its_own_credential(tmp_path: Path) -> None:
    from setpoint.ops.security import prepare_server

    settings = _settings(tmp_path)
    security = prepare_server(settings, tls=True)
    plan = make_plan(settings, None, {"PATH": "/bin"}, security)
    assert plan.nats is not None
    assert plan.nats.argv[1:] == ("-c", str(security.config))
    for spec in plan.services:
        assert spec.env is not None
        name = spec.argv[-1]
        assert spec.env["SETPOINT_NATS__CREDENTIALS"] == f"file:{security.creds[name]}"
        assert spec.env["SETPOINT_NATS__TLS_CA"] == str(security.ca)
    sim, _ = plan.sims
    assert sim.env is not None
    assert "SETPOINT_NATS__CREDENTIALS" not in sim.env
    for path in (security.config, *security.creds.values()):
        assert path.stat().st_mode & 0o777 == 0o600, path
    again = prepare_server(settings, tls=True)  # a second start keeps every identity's key
    assert all(again.creds[n].read_text() == p.read_text() for n, p in security.creds.items())


def test_each_service_gets_its_own_metrics_port_and_the_targets_file_names_them(
    tmp_path: Path,
) -> None:
    base = free_port()
    settings = _settings(tmp_path, telemetry={"metrics_port": base})
    with socket.socket() as busy:  # the second port of the range is taken: another is used
        busy.bind(("127.0.0.1", base + 1))
        plan = make_plan(settings, None, {})
    ports = plan.metrics_ports
    assert list(ports) == ["gateway", "executor", "differ", "strategy"]
    assert ports["gateway"] == base
    assert ports["executor"] != base + 1
    assert len(set(ports.values())) == 4
    for spec in plan.services:
        assert spec.env is not None
        wanted = str(ports[spec.name]) if spec.name in ports else None  # the console: none
        assert spec.env.get("SETPOINT_TELEMETRY__METRICS_PORT") == wanted
    path = write_targets(plan.data_dir, settings.telemetry.metrics_host, ports)
    assert path == tmp_path / "d" / "prometheus" / "targets.json"
    assert json.loads(path.read_text()) == [
        {"targets": [f"127.0.0.1:{port}"], "labels": {"service": service}}
        for service, port in ports.items()
    ]


def test_targets_of_services_listening_on_every_interface_are_scraped_on_localhost() -> None:
    assert targets_document("0.0.0.0", {"differ": 9466}) == [
        {"targets": ["127.0.0.1:9466"], "labels": {"service": "differ"}}
    ]


def test_a_metrics_port_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="metrics_port"):
        Settings(telemetry={"metrics_port": 70000})  # type: ignore[arg-type]


def test_key_row_styled_and_at_the_markets_step() -> None:
    status = KeyStatus(
        account="demo",
        symbol="BTC/USDT",
        condition=Condition.CONVERGED,
        position_target=Decimal("0.01"),
        position_actual=Decimal("0"),
        updated_at=datetime(2026, 1, 1, 12, 0, 6, tzinfo=UTC),
        tick=Decimal("0.01"),
        step=Decimal("0.00001"),
    )
    plain = key_row(status)
    assert plain[2] == "converged"
    assert plain[4] == "0.01000 / 0.00000"
    assert plain[5] == "-"  # no reconciliation yet
    assert key_row(status, styled=True)[2] == "[green]converged[/green]"
