"""`setpoint status` against responders that speak the contract on a real nats-server:
the differ's `setpoint.status.request` and each service's `setpoint.health.<service>`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from ops_cli import setpoint
from tests.statuses import key_status

from setpoint.bus.embedded import free_port
from setpoint.bus.messages import Health
from setpoint.bus.subjects import STATUS_REQUEST, health_subject
from setpoint.ops.status import NOTHING_ANSWERED, SERVICES

pytestmark = pytest.mark.nats

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "setpoint.toml"
    path.write_text(f'[nats]\nurl = "{url}"\nembedded = false\n')
    return path


async def _status(config: Path) -> tuple[int, str, str]:
    return await setpoint(config, "status", "--json", "--timeout", "1")


async def _answer(nc: Client, subject: str, body: bytes) -> None:
    async def reply(msg: nats.aio.msg.Msg) -> None:
        await msg.respond(body)

    await nc.subscribe(subject, cb=reply)


@pytest.fixture
async def responder(nats_url: str) -> AsyncIterator[Client]:
    nc = await nats.connect(nats_url)
    try:
        yield nc
    finally:
        await nc.close()


async def test_status_shows_every_service_and_key(
    responder: Client, nats_url: str, tmp_path: Path
) -> None:
    key = key_status(
        open_orders_target=4,
        open_orders_venue=3,
        position_target=Decimal("0.5"),
        position_actual=Decimal("0.25"),
    )
    await _answer(responder, STATUS_REQUEST, b'{"keys":[' + key.model_dump_json().encode() + b"]}")
    for service in SERVICES:
        health = Health(service=service, ready=True, version="0.1.0", started_at=NOW)
        await _answer(responder, health_subject(service), health.model_dump_json().encode())
    await responder.flush()
    code, out, err = await _status(_config(tmp_path, nats_url))
    assert code == 0, err
    body = json.loads(out)
    assert [s["service"] for s in body["services"]] == list(SERVICES)
    assert all(s["answered"] and s["ready"] for s in body["services"])
    [shown] = body["keys"]
    assert (shown["generation"], shown["condition"], shown["position_actual"]) == (
        7,
        "drifting",
        "0.25",
    )
    await responder.close()
    code, _, err = await _status(_config(tmp_path, nats_url))
    assert code == NOTHING_ANSWERED
    assert "no Setpoint service answered" in err


async def test_status_with_a_service_missing_is_not_zero(
    responder: Client, nats_url: str, tmp_path: Path
) -> None:
    await _answer(responder, STATUS_REQUEST, b'{"keys":[]}')
    health = Health(service="differ", ready=True, version="0.1.0", started_at=NOW)
    await _answer(responder, health_subject("differ"), health.model_dump_json().encode())
    await responder.flush()
    code, out, _ = await _status(_config(tmp_path, nats_url))
    body = json.loads(out)
    assert code == 1
    missing = [s["service"] for s in body["services"] if not s["answered"]]
    assert missing == ["executor", "gateway", "strategy"]


async def test_status_without_a_server_says_so(tmp_path: Path) -> None:
    code, _, err = await _status(_config(tmp_path, f"nats://127.0.0.1:{free_port()}"))
    assert code == NOTHING_ANSWERED
    assert "cannot connect to NATS" in err
    assert "start the whole system with `setpoint up`" in err


async def test_status_passes_the_portfolio_through_and_null_without_one(
    responder: Client, nats_url: str, tmp_path: Path
) -> None:
    account = {"account": "demo", "equity": "4.882", "keys": [{"symbol": "BTC/USDT"}]}
    answer = {"keys": [], "portfolio": [account]}
    await _answer(responder, STATUS_REQUEST, json.dumps(answer).encode())
    await responder.flush()
    _, out, _ = await _status(_config(tmp_path, nats_url))
    assert json.loads(out)["portfolio"] == [account]


async def test_status_of_an_older_differ_has_no_portfolio(
    responder: Client, nats_url: str, tmp_path: Path
) -> None:
    await _answer(responder, STATUS_REQUEST, b'{"keys":[]}')
    await responder.flush()
    _, out, _ = await _status(_config(tmp_path, nats_url))
    assert json.loads(out)["portfolio"] is None
