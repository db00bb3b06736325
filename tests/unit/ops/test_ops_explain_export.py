"""explain (the chain of one order), export (jsonl and parquet) and the AsyncAPI document."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console

from setpoint.core.events import parse_event
from setpoint.core.model import Key, Side, TargetOrder
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.ops import explain as explain_cmd
from setpoint.ops.asyncapi import DEFAULT_PATH, build_spec, render
from setpoint.ops.explain import explain, trace_id
from setpoint.ops.export import export_jsonl, export_parquet
from setpoint.ops.progress import LogProgress
from setpoint.testing.synthetic import (
    ChainBuilder,
    cancel_action,
    synthetic_log,
    write,
)

SPOT = Key("alpha", "BTC/USDT")
D = Decimal
ROOT = Path(__file__).resolve().parents[3]


def _order_life() -> tuple[ChainBuilder, str]:
    """An order placed, filled twice, then cancelled by a later target; noise around it."""
    b = ChainBuilder()
    b.events.extend(synthetic_log(60, seed=9))
    wanted = TargetOrder(id="x1", side=Side.SELL, price=D("61000"), quantity=D("0.010"))
    _, placed = b.placed(b.submitted(SPOT, wanted))
    b.fill(placed, D("0.002"))
    b.events.extend(synthetic_log(30, seed=10))
    b.fill(placed, D("0.003"))
    later = b.target(SPOT, ())
    b.cancel(b.diff(later, (cancel_action(placed),)), placed)
    return b, placed.client_order_id


async def test_explain_walks_from_the_target_to_every_fill() -> None:
    b, coid = _order_life()
    log = InMemoryEventLog()
    await write(log, b.events)
    body = await explain(log, coid, progress=False)
    assert body["found"]
    assert body["intent_id"] == "x1"
    assert body["attempt"] == 1
    types = [e["type"] for e in body["chain"]]
    assert types == [
        "TargetPublished",
        "DiffComputed",
        "OrderSubmitted",
        "OrderPlaced",
        "FillObserved",
        "FillObserved",
        "DiffComputed",
        "CancelSubmitted",
        "OrderCancelled",
    ]
    assert body["target"]["generation"] >= 1
    assert body["target"]["strategy"] == "grid-1"
    assert body["filled"] == "0.005"
    assert body["average_price"] == "61000"
    positions = [e["position"] for e in body["chain"]]
    assert positions == sorted(positions)
    assert all(e["trace_id"] and len(e["trace_id"]) == 32 for e in body["chain"])
    out = io.StringIO()
    explain_cmd.render(body, Console(file=out, width=250))
    assert "FillObserved" in out.getvalue()
    assert coid in out.getvalue()


async def test_explain_of_an_unknown_order_says_so() -> None:
    log = InMemoryEventLog()
    await write(log, synthetic_log(50))
    body = await explain(log, "sp-nothere-000000000000-1", progress=False)
    assert body["found"] is False
    assert body["chain"] == []


def test_trace_ids_come_from_the_traceparent() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_id(tp) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id(None) is None
    assert trace_id("garbage") is None


async def test_jsonl_export_round_trips_every_event_with_its_position() -> None:
    events = synthetic_log(300, seed=4)
    log = InMemoryEventLog()
    await write(log, events)
    out = io.BytesIO()
    assert await export_jsonl(log, out, progress=False) == len(events)
    lines = out.getvalue().splitlines()
    first = json.loads(lines[0])
    assert first["position"] == 1
    assert first["type"] == events[0].type
    again = [
        parse_event(json.dumps({k: v for k, v in json.loads(line).items() if k != "position"}))
        for line in lines
    ]
    assert again == events


async def test_parquet_export_has_envelope_columns_and_data_as_json(tmp_path: Path) -> None:
    events = synthetic_log(500, seed=6)
    log = InMemoryEventLog()
    await write(log, events)
    path = tmp_path / "log.parquet"
    assert await export_parquet(log, path, progress=False) == len(events)
    table = pq.read_table(path)
    assert table.num_rows == len(events)
    assert table.column_names == [
        "position",
        "event_id",
        "type",
        "schema_version",
        "account",
        "symbol",
        "occurred_at",
        "correlation_id",
        "causation_id",
        "producer",
        "traceparent",
        "data",
    ]
    rows = table.slice(0, 20).to_pylist()
    assert [r["position"] for r in rows] == list(range(1, 21))
    fill = next(r for r in table.to_pylist() if r["type"] == "FillObserved")
    assert isinstance(json.loads(fill["data"])["price"], str)
    assert rows[0]["occurred_at"] == events[0].occurred_at


async def test_parquet_export_of_an_empty_log_is_a_valid_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    assert await export_parquet(InMemoryEventLog(), path, progress=False) == 0
    assert pq.read_table(path).num_rows == 0


def test_the_committed_asyncapi_document_is_the_generators_output() -> None:
    committed = (ROOT / DEFAULT_PATH).read_text()
    assert committed == render(build_spec()), (
        "docs/asyncapi.json is out of date: run `python -m setpoint.ops.asyncapi`"
    )


def test_the_asyncapi_document_covers_every_subject_family() -> None:
    channels = build_spec()["channels"]
    addresses = {c["address"] for c in channels.values()}
    for needed in (
        "setpoint.target.*.*",
        "setpoint.status.request",
        "setpoint.health.*",
        "setpoint.gw.*.place",
        "setpoint.evt.*.*.*.FillObserved",
        "setpoint.md.*.*.ticker",
        "setpoint.control.*.kill",
    ):
        assert needed in addresses


def test_progress_is_silent_when_not_a_terminal() -> None:
    with LogProgress("audit", 10) as bar:  # pytest's stderr is not a terminal
        bar.at(5)
        assert bar.enabled is False
