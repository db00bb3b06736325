"""The control API (`/_sim`) and `setpoint run sim`'s configuration."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from setpoint.config import SimConfig
from setpoint.core.errors import ConfigError
from setpoint.sim.app import SimServer
from setpoint.sim.main import parse_args, sim_config
from setpoint.sim.testing import ControlError, SimControl

pytestmark = pytest.mark.sim


async def test_defaults_and_state_shape(control: SimControl) -> None:
    state = await control.state()
    assert state["orders"] == []
    assert state["trades"] == []
    assert state["positions"] == {"BTC/USDT:USDT": {"quantity": "0", "entry_price": "0"}}
    assert state["balances"] == {
        "BTC": {"free": "10", "locked": "0"},
        "ETH": {"free": "100", "locked": "0"},
        "USDT": {"free": "100000", "locked": "0"},
    }
    assert state["futures_balances"]["USDT"] == {"free": "100000", "locked": "0"}


async def test_foreign_order_is_visible_to_ccxt(binance: Any, control: SimControl) -> None:
    placed = await control.order("BTC/USDT", "sell", "limit", "0.02", "61000", "by-hand")
    assert (placed["status"], placed["client_order_id"], placed["side"]) == (
        "NEW",
        "by-hand",
        "sell",
    )
    open_orders = await binance.fetch_open_orders("BTC/USDT")
    assert [o["clientOrderId"] for o in open_orders] == ["by-hand"]


async def test_venue_cancel_expires_by_default(binance: Any, control: SimControl) -> None:
    order = await binance.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "v1"}
    )
    expired = await control.cancel(client_order_id="v1")
    assert expired["status"] == "EXPIRED"
    assert (await binance.fetch_order(order["id"], "BTC/USDT"))["status"] == "expired"
    second = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000)
    canceled = await control.cancel(order_id=second["id"], status="CANCELED")
    assert canceled["status"] == "CANCELED"


async def test_fill_price_and_state_record_trades(binance: Any, control: SimControl) -> None:
    order = await binance.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 59000, {"clientOrderId": "f1"}
    )
    partial = await control.fill(client_order_id="f1", quantity="0.0025")
    assert (partial["status"], partial["filled"]) == ("PARTIALLY_FILLED", "0.0025")
    await control.price("BTC/USDT", "58999.99")
    state = await control.state()
    assert [t["quantity"] for t in state["trades"]] == ["0.0025", "0.0075"]
    trade = state["trades"][0]
    assert (trade["order_id"], trade["maker"], trade["fee"], trade["fee_asset"]) == (
        order["id"],
        True,
        "0.0295",
        "USDT",
    )
    assert isinstance(trade["time_us"], int)
    assert trade["side"] == "buy"
    assert state["orders"][0]["status"] == "FILLED"
    assert state["balances"]["BTC"] == {"free": "10.01", "locked": "0"}


async def test_positions_in_state(binance: Any, control: SimControl) -> None:
    await control.liquidity("BTC/USDT:USDT", "sell", [["60000", "1"]])
    await binance.create_order("BTC/USDT:USDT", "market", "buy", 0.02)
    state = await control.state()
    assert state["positions"] == {"BTC/USDT:USDT": {"quantity": "0.02", "entry_price": "60000"}}


async def test_reset_restores_the_start(binance: Any, control: SimControl) -> None:
    await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000)
    await control.faults({"kind": "http_500", "path": "/nowhere"})
    await control.reset()
    state = await control.state()
    assert state["orders"] == []
    assert state["balances"]["USDT"]["locked"] == "0"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"symbol": "DOGE/USDT", "price": "1"}, "symbol"),
        ({"symbol": "BTC/USDT", "price": 60000.5}, "price"),
        ({"symbol": "BTC/USDT"}, "price"),
    ],
)
async def test_bad_price_bodies(control: SimControl, call: dict[str, Any], field: str) -> None:
    with pytest.raises(ControlError, match=field):
        await control._call("POST", "/_sim/price", call)


async def test_fill_of_unknown_order(control: SimControl) -> None:
    with pytest.raises(ControlError, match="no such order"):
        await control.fill(client_order_id="ghost")


async def test_control_paths_ignore_faults(sim: SimServer, control: SimControl) -> None:
    await control.faults({"kind": "http_500"})
    assert (await control.state())["orders"] == []


def test_run_sim_options_override_the_config(tmp_path: Any) -> None:
    path = tmp_path / "setpoint.toml"
    path.write_text('[sim]\nport = 9999\nbalances = { USDT = "5" }\n')
    settings = sim_config(str(path), parse_args(["--random-walk", "7"]))
    assert (settings.port, settings.random_walk_seed) == (9999, 7)
    assert str(settings.balances["USDT"]) == "5"
    assert sim_config(str(path), parse_args(["--port", "0"])).port == 0


async def test_reset_never_reuses_ids(binance: Any, control: SimControl) -> None:
    first = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000)
    await control.fill(order_id=first["id"])
    await control.reset()
    second = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, 59000)
    await control.fill(order_id=second["id"])
    assert int(second["id"]) > int(first["id"])
    state = await control.state()
    assert [t["trade_id"] for t in state["trades"]] != ["1"]


async def test_a_state_file_keeps_the_book_across_a_restart(tmp_path: Path) -> None:
    """With `sim.state_file` an order resting before a restart is still there after it;
    without one the simulator starts empty (docs/simulator.md)."""
    state = tmp_path / "sim-state"
    config = SimConfig(port=0, state_file=state)
    first = SimServer(config)
    await first.start()
    try:
        async with aiohttp.ClientSession() as http:
            body = {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "price": "59000",
                    "quantity": "0.001", "client_order_id": "kept-1"}  # fmt: skip
            async with http.post(f"{first.base_url}/_sim/orders", json=body) as reply:
                assert reply.status == 200, await reply.text()
    finally:
        await first.stop()
    assert state.is_file()

    for kept, config in ((True, SimConfig(port=0, state_file=state)), (False, SimConfig(port=0))):
        again = SimServer(config)
        await again.start()
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{again.base_url}/_sim/state") as reply,
            ):
                orders = (await reply.json())["orders"]
        finally:
            await again.stop()
        assert [o["client_order_id"] for o in orders] == (["kept-1"] if kept else [])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a pickle", "not a simulator state file"),
        (pickle.dumps({"format": 99}), "another version"),
    ],
)
def test_an_unreadable_state_file_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    state = tmp_path / "sim-state"
    state.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        SimServer(SimConfig(port=0, state_file=state))
