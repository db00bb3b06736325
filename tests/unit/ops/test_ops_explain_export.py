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
from setpoint.ops.explain import explain, explain_any, trace_id
from setpoint.ops.export import export_jsonl, export_parquet
from setpoint.ops.progress import LogProgress
from setpoint.testing.synthetic import (
    ChainBuilder,
    cancel_action,
    market,
    markets_loaded,
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


def _two_attempts() -> tuple[ChainBuilder, list[str], str]:
    """Intent x1 on SPOT placed twice (attempt 1 then 2); the same intent id on another
    symbol; a foreign order 7777 observed and filled. (builder, x1's client order ids on
    SPOT, attempt 2's venue order id)."""
    b = ChainBuilder()
    wanted = TargetOrder(id="x1", side=Side.BUY, price=D("59000"), quantity=D("0.010"))
    target = b.target(SPOT, (wanted,))
    _, first = b.placed(b.planned(target, wanted, attempt=1))
    _, second = b.placed(b.planned(target, wanted, attempt=2))
    b.fill(second, D("0.010"))
    b.submitted(Key("alpha", "ETH/USDT"), wanted)
    foreign = b.foreign(SPOT, "7777", Side.SELL, D("61000"), D("0.5"))
    b.fill(foreign, D("0.1"))
    return b, [first.client_order_id, second.client_order_id], second.order_id


async def test_explain_by_intent_id_gives_every_attempt_within_the_key() -> None:
    b, coids, _ = _two_attempts()
    log = InMemoryEventLog()
    await write(log, b.events)
    body = await explain_any(log, "x1", account="alpha", symbol="BTC/USDT", progress=False)
    assert (body["found"], body["matched"], body["id"]) == (True, "intent_id", "x1")
    assert [o["client_order_id"] for o in body["orders"]] == coids
    assert [o["attempt"] for o in body["orders"]] == [1, 2]
    assert body["orders"][1]["filled"] == "0.010"
    assert body["orders"][0]["chain"][0]["type"] == "TargetPublished"
    everywhere = await explain_any(log, "x1", progress=False)
    assert {o["symbol"] for o in everywhere["orders"]} == {"BTC/USDT", "ETH/USDT"}
    out = io.StringIO()
    explain_cmd.render(body, Console(file=out, width=250))
    assert "x1 (intent_id): 2 order(s)" in out.getvalue()
    assert all(c in out.getvalue() for c in coids)


async def test_explain_by_venue_order_id_ours_and_foreign() -> None:
    b, coids, order_id = _two_attempts()
    log = InMemoryEventLog()
    await write(log, b.events)
    ours = await explain_any(log, order_id, progress=False)
    assert ours["matched"] == "order_id"
    [chain] = ours["orders"]
    assert (chain["client_order_id"], chain["order_id"]) == (coids[1], order_id)
    assert chain["intent_id"] == "x1"
    foreign = await explain_any(log, "7777", progress=False)
    [chain] = foreign["orders"]
    assert (chain["client_order_id"], chain["order_id"]) == (None, "7777")
    assert [e["type"] for e in chain["chain"]] == ["OrderObserved", "FillObserved"]
    assert chain["filled"] == "0.1"


async def test_explain_by_client_order_id_keeps_its_shape_and_filters() -> None:
    b, coids, _ = _two_attempts()
    log = InMemoryEventLog()
    await write(log, b.events)
    body = await explain_any(log, coids[0], progress=False)
    assert body == await explain(log, coids[0], progress=False)
    assert "orders" not in body
    assert body["found"]
    elsewhere = await explain_any(log, coids[0], symbol="ETH/USDT", progress=False)
    assert elsewhere["found"] is False
    nothing = await explain_any(log, "no-such-thing", progress=False)
    assert (nothing["found"], nothing["chain"]) == (False, [])
    out = io.StringIO()
    explain_cmd.render(nothing, Console(file=out, width=250))
    assert "no-such-thing: no order in the log" in out.getvalue()


async def test_explain_shows_prices_and_quantities_at_the_markets_precision() -> None:
    b = ChainBuilder()
    b.events.append(markets_loaded("alpha", market("BTC/USDT", step=D("0.0001"))))
    wanted = TargetOrder(id="x1", side=Side.BUY, price=D("59000"), quantity=D("0.01"))
    _, placed = b.placed(b.submitted(SPOT, wanted))
    b.fill(placed, D("0.01"))
    log = InMemoryEventLog()
    await write(log, b.events)
    body = await explain(log, placed.client_order_id, progress=False)
    assert (body["tick"], body["step"], body["filled"]) == ("0.01", "0.0001", "0.01")
    summaries = {e["type"]: e["summary"] for e in body["chain"]}
    assert "buy 0.0100 @ 59000.00 limit GTC" in summaries["OrderSubmitted"]
    assert "buy 0.0100 @ 59000.00, fee" in summaries["FillObserved"]
    out = io.StringIO()
    explain_cmd.render(body, Console(file=out, width=250))
    assert "filled 0.0100 avg 59000.00" in out.getvalue()
