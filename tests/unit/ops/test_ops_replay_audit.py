"""replay and audit on the in-memory log: the JSON shapes of docs/operations.md, --until, filters,
and the quarantine reaching the audit."""

from __future__ import annotations

import io
from decimal import Decimal

from rich.console import Console

from setpoint.core.audit import NO_QUARANTINE
from setpoint.core.model import Key
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.ops import audit as audit_cmd
from setpoint.ops import replay as replay_cmd
from setpoint.ops.replay import Until, replay, snapshot
from setpoint.testing.synthetic import ChainBuilder, buy, synthetic_log, write

SPOT = Key("alpha", "BTC/USDT")
ETH = Key("alpha", "ETH/USDT")
D = Decimal


def _two_keys() -> ChainBuilder:
    """BTC: one buy, partly filled, still open. ETH: one buy, filled."""
    b = ChainBuilder()
    for key, qty in ((SPOT, "0.010"), (ETH, "0.500")):
        wanted = buy(price="100.5", qty=qty)
        _, placed = b.placed(b.planned(b.target(key, (wanted,), position=D("1")), wanted))
        b.fill(placed, D("0.004") if key == SPOT else D(qty))
    return b


async def test_replay_prints_both_projections_in_the_contract_shape() -> None:
    log = InMemoryEventLog()
    b = _two_keys()
    await write(log, b.events)
    body = snapshot(await replay(log, progress=False))
    assert body["position"] == len(b.events)
    btc, eth = body["keys"]
    assert set(btc) == {
        "account",
        "symbol",
        "generation",
        "position",
        "target_position",
        "intents",
        "open_orders",
    }
    assert (btc["symbol"], btc["generation"], btc["position"]) == ("BTC/USDT", 1, "0.004")
    assert btc["target_position"] == "1"
    [order] = btc["open_orders"]
    assert set(order) == {"client_order_id", "order_id", "side", "price", "quantity", "filled"}
    assert (order["side"], order["price"], order["quantity"], order["filled"]) == (
        "buy",
        "100.5",
        "0.010",
        "0.004",
    )
    assert btc["intents"][0]["id"] == "b1"
    assert btc["intents"][0]["filled"] == "0.004"
    assert eth["open_orders"] == []
    assert eth["intents"][0]["consumed"] is True


async def test_replay_until_a_position_or_a_time_and_for_one_key() -> None:
    log = InMemoryEventLog()
    b = _two_keys()
    await write(log, b.events)
    early = snapshot(await replay(log, Until.parse("4"), progress=False))
    assert early["position"] == 4
    assert [k["symbol"] for k in early["keys"]] == ["BTC/USDT"]
    assert early["keys"][0]["position"] == "0"
    cut = b.events[4].occurred_at.isoformat()
    by_time = snapshot(await replay(log, Until.parse(cut), progress=False))
    assert by_time["position"] == 5
    assert by_time["keys"][0]["position"] == "0.004"
    only_eth = snapshot(await replay(log, symbol="ETH/USDT", progress=False), symbol="ETH/USDT")
    assert [k["symbol"] for k in only_eth["keys"]] == ["ETH/USDT"]


def test_until_parses_positions_and_times() -> None:
    assert Until.parse("12").position == 12
    when = Until.parse("2026-01-05T09:00:00Z").time
    assert when is not None
    assert when.utcoffset() is not None
    assert Until.parse(None) == Until()


async def test_the_table_view_renders_every_key() -> None:
    log = InMemoryEventLog()
    await write(log, _two_keys().events)
    out = io.StringIO()
    replay_cmd.render(snapshot(await replay(log, progress=False)), Console(file=out, width=200))
    assert "BTC/USDT" in out.getvalue()
    assert "ETH/USDT" in out.getvalue()


async def test_audit_of_a_clean_log_is_clean_and_counts() -> None:
    log = InMemoryEventLog()
    events = synthetic_log(1_500, seed=5)
    await write(log, events)
    report = await audit_cmd.audit(log, progress=False)
    assert report.clean, report.violations
    assert report.events == len(events)
    assert report.counts.fills == sum(e.type == "FillObserved" for e in events)


async def test_audit_reports_quarantined_entries_with_their_position() -> None:
    log = InMemoryEventLog()
    events = synthetic_log(150, seed=2)
    await write(log, events[:100])
    bad = log.inject_raw("setpoint.evt.alpha.BTC-USDT.gateway.FillObserved", b"{not json")
    await write(log, events[100:])
    report = await audit_cmd.audit(log, progress=False)
    assert [(v.invariant, v.position) for v in report.violations] == [(NO_QUARANTINE, bad)]
    body = report.to_json()
    assert body["clean"] is False
    assert body["violations"][0]["position"] == bad
    out = io.StringIO()
    audit_cmd.render(report, Console(file=out, width=200))
    assert "NOT clean" in out.getvalue()
    assert NO_QUARANTINE in out.getvalue()
