"""The auditor commands against a real nats-server: a log written with the JetStream adapter,
then `setpoint --config ... <command>` run as a subprocess, as an operator would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import nats
import pyarrow.parquet as pq
import pytest
from ops_cli import setpoint

from setpoint.bus.embedded import EmbeddedNats, free_port
from setpoint.core.events import Event
from setpoint.core.model import Key
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.testing.synthetic import (
    ChainBuilder,
    buy,
    market,
    markets_loaded,
    synthetic_log,
    write,
)

pytestmark = pytest.mark.nats

SPOT = Key("alpha", "BTC/USDT")
D = Decimal


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A nats-server of this test alone, so each test has a log of its own."""
    url = f"nats://127.0.0.1:{free_port()}"
    nats_server = EmbeddedNats(url, tmp_path / "store")
    nats_server.start()
    try:
        yield url
    finally:
        nats_server.stop()


@pytest.fixture
def config(server: str, tmp_path: Path) -> Path:
    path = tmp_path / "setpoint.toml"
    path.write_text(
        f'[nats]\nurl = "{server}"\nembedded = false\n\n[eventlog]\nbackend = "jetstream"\n'
    )
    return path


@pytest.fixture
async def log(server: str) -> AsyncIterator[JetStreamEventLog]:
    nc = await nats.connect(server)
    event_log = await JetStreamEventLog.open(nc, owns_connection=True)
    try:
        yield event_log
    finally:
        await event_log.close()


def _with_duplicate_fill(events: list[Event]) -> tuple[list[Event], int]:
    """The log with one fill recorded a second time; the 1-based position of the copy."""
    index = next(i for i, e in enumerate(events) if e.type == "FillObserved")
    copy = events[index].model_copy(update={"event_id": "00000000-0000-4000-8000-00000000d0b1"})
    return [*events[: index + 1], copy, *events[index + 1 :]], index + 2


async def test_audit_passes_a_clean_log(config: Path, log: JetStreamEventLog) -> None:
    events = synthetic_log(600, seed=11)
    await write(log, events)
    code, out, _ = await setpoint(config, "audit", "--json")
    body = json.loads(out)
    assert code == 0, body["violations"]
    assert body["clean"] is True
    assert body["events"] == len(events)
    assert body["counts"]["fills"] == sum(e.type == "FillObserved" for e in events)


async def test_audit_names_each_violation_and_its_position(
    config: Path, log: JetStreamEventLog
) -> None:
    events, duplicate = _with_duplicate_fill(synthetic_log(300, seed=12))
    await write(log, events)
    nc = await nats.connect(log_url(config))
    await nc.jetstream().publish("setpoint.evt.alpha.BTC-USDT.gateway.FillObserved", b"{oops")
    await nc.close()
    code, out, _ = await setpoint(config, "audit", "--json")
    body = json.loads(out)
    assert code == 1
    assert body["clean"] is False
    found = [(v["invariant"], v["position"]) for v in body["violations"]]
    assert found == [("fill_unique", duplicate), ("no_quarantine", len(events) + 1)]
    code, text, _ = await setpoint(config, "audit")
    assert code == 1
    assert "fill_unique" in text
    assert "NOT clean" in text


async def test_replay_json_as_of_a_position(config: Path, log: JetStreamEventLog) -> None:
    b = ChainBuilder()
    target = b.target(SPOT, (buy(),), position=D("0.5"))
    _, placed = b.placed(b.planned(target, buy()))
    b.fill(placed, D("0.004"))
    await write(log, b.events)
    code, out, err = await setpoint(config, "replay", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["position"] == 5
    [key] = body["keys"]
    assert (key["generation"], key["position"], key["target_position"]) == (1, "0.004", "0.5")
    assert key["open_orders"][0]["filled"] == "0.004"
    code, out, _ = await setpoint(config, "replay", "--json", "--until", "3")
    early = json.loads(out)
    assert early["position"] == 3
    assert early["keys"][0]["position"] == "0"


async def test_explain_and_export(config: Path, log: JetStreamEventLog, tmp_path: Path) -> None:
    events = synthetic_log(400, seed=13)
    await write(log, events)
    coid = next(e.data.client_order_id for e in events if e.type == "FillObserved")
    code, out, _ = await setpoint(config, "explain", coid, "--json")
    body = json.loads(out)
    assert code == 0
    assert body["found"]
    assert body["target"] is not None
    assert [e["type"] for e in body["chain"]][:4] == [
        "TargetPublished",
        "DiffComputed",
        "OrderSubmitted",
        "OrderPlaced",
    ]
    assert "FillObserved" in [e["type"] for e in body["chain"]]
    code, _, _ = await setpoint(config, "explain", "sp-nothing-here-1")
    assert code == 1
    target = tmp_path / "log.parquet"
    code, _, err = await setpoint(config, "export", "--format", "parquet", "-o", str(target))
    assert code == 0, err
    assert pq.read_table(target).num_rows == len(events)
    code, out, _ = await setpoint(config, "export", "--format", "jsonl")
    assert code == 0
    assert len(out.splitlines()) == len(events)


async def test_orders_lists_the_ids_explain_takes(config: Path, log: JetStreamEventLog) -> None:
    """`setpoint orders` gives an order's ids; each of them fed to `explain` finds it."""
    b = ChainBuilder()
    b.events.append(markets_loaded("alpha", market("BTC/USDT", step=D("0.0001"))))
    _, placed = b.placed(b.submitted(SPOT, buy("bid-1", price="60000", qty="0.01")))
    b.fill(placed, D("0.004"))
    await write(log, b.events)
    code, out, err = await setpoint(config, "orders", "--account", "alpha", "--json")
    assert code == 0, err
    [key] = json.loads(out)["keys"]
    [order] = key["orders"]
    assert (order["intent_id"], order["status"], order["filled"]) == ("bid-1", "NEW", "0.004")
    code, text, _ = await setpoint(config, "orders")
    assert placed.client_order_id in text
    assert "60000.00" in text
    assert "0.0100" in text  # the quantity at the market's step
    for ident in (order["client_order_id"], order["order_id"], "bid-1"):
        code, out, _ = await setpoint(
            config, "explain", ident, "--account", "alpha", "--symbol", "BTC/USDT", "--json"
        )
        body = json.loads(out)
        assert code == 0
        chain = body["orders"][0] if "orders" in body else body
        assert chain["client_order_id"] == placed.client_order_id
    code, _, err = await setpoint(config, "orders", "--limit", "-1")
    assert code == 2
    assert "--limit -1 is negative" in err


def log_url(config: Path) -> str:
    line = next(x for x in config.read_text().splitlines() if x.startswith("url"))
    return line.split('"')[1]


async def test_a_log_that_cannot_be_reached_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    path.write_text(f'[nats]\nurl = "nats://127.0.0.1:{free_port()}"\nembedded = false\n')
    for command in (("audit", "--json"), ("export",)):
        code, out, err = await setpoint(path, *command)
        assert code == 2
        assert out == ""
        assert "cannot read the event log" in err
        assert "Traceback" not in err
