"""The gateway's user-data streams recover within its life, against the simulator.

After the venue expires the listen key (or refuses a dial with a dead one), or ends the
spot subscription, the stream is subscribed again at once (not at ccxt.pro's 20-minute
refresh), fills come by websocket again, a reconnect reconciliation runs, and no listen key
appears in the log. Connecting a derivatives stream makes no positions request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from gateway_rig import Rig, account_config

from setpoint.core.events import Action, ActionKind, DiffComputed, DiffComputedData, FillSource
from setpoint.core.ids import client_order_id
from setpoint.core.model import Key, OrderType, Producer, Side
from setpoint.eventlog import ANY
from setpoint.sim.testing import SimControl, running_simulator
from setpoint.venues.exchange import create_stream, credentials

pytestmark = [pytest.mark.nats, pytest.mark.sim]
SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"


async def eventually(check: Callable[[], Any], what: str, within: float = 10.0) -> Any:
    """Poll `check()` (awaited when it returns an awaitable) until it is truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def perp_key(rig: Rig) -> str | None:
    """The listen key of the simulator's one open USD-M stream, if it is open and valid."""
    hub = rig.sim.simulator.hub
    keys = [k for k in hub.perp.values() if hub.valid(k, rig.sim.simulator.clock.now_ms())]
    return keys[0] if keys else None


async def fill_by_websocket(rig: Rig, symbol: str, intent: str) -> None:
    """Place a resting buy through the executor, fill it at the venue, and wait for its
    fill to be recorded from the websocket (the periodic reconciliation is a minute away)."""
    key = Key(rig.account, symbol)
    coid = client_order_id(rig.account, symbol, intent, 1)
    action = Action(
        kind=ActionKind.PLACE, intent_id=intent, attempt=1, client_order_id=coid,
        side=Side.BUY, type=OrderType.LIMIT, price=Decimal("59000"), quantity=Decimal("0.010"),
    )  # fmt: skip
    data = DiffComputedData(generation=1, target_event_id=None, actions=(action,))
    event = DiffComputed.create(key, Producer.DIFFER, data)
    await rig.log.append(key, Producer.DIFFER, [event], ANY)

    async def placed() -> bool:
        return any(r.event.type == "OrderPlaced" for r in await rig.log.read(key))

    await eventually(placed, "the order placed")
    await rig.control.fill(client_order_id=coid, quantity="0.004")

    async def fills() -> list[Any]:
        return [r.event for r in await rig.log.read(key) if r.event.type == "FillObserved"]

    recorded = await eventually(fills, "the fill recorded")
    assert [f.data.source for f in recorded] == [FillSource.WS]


def no_secret_in(caplog: pytest.LogCaptureFixture, secrets: set[str]) -> None:
    """No listen key in the captured log (messages, exception texts and tracebacks)."""
    assert secrets
    assert all(secrets)
    assert not [s for s in secrets if s in caplog.text]


async def test_perp_stream_gets_a_new_listen_key_after_expiry(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    old = await eventually(lambda: perp_key(rig), "the USD-M stream")
    await rig.control.faults({"kind": "listen_key_expire"})
    await eventually(lambda: (perp_key(rig) or old) != old, "a new listen key")
    new = perp_key(rig)
    assert new is not None
    await fill_by_websocket(rig, PERP, "lk1")
    messages = [r.getMessage() for r in caplog.records]
    assert any("(future) stream broke" in m for m in messages)
    assert any(m.startswith("reconciliation (reconnect)") for m in messages)
    no_secret_in(caplog, {old, str(new)})


async def test_a_dial_refused_for_a_dead_listen_key_gets_a_new_one(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The key lapsed without `listenKeyExpired` reaching the gateway (it was disconnected
    then): the venue refuses the dial with the cached key (400), and the next one has a
    new key."""
    caplog.set_level(logging.INFO)
    hub = rig.sim.simulator.hub
    old = await eventually(lambda: perp_key(rig), "the USD-M stream")
    await hub.drop_all()
    hub.keys[old].expires_ms = 0  # before the gateway dials again (after its backoff)

    def refused() -> bool:
        return any("(future) stream broke: NetworkError: 400" in r.getMessage()
                   for r in caplog.records)  # fmt: skip

    await eventually(refused, "the refused dial logged")
    no_secret_in(caplog, {old})
    await eventually(lambda: (perp_key(rig) or old) != old, "a new listen key")
    await fill_by_websocket(rig, PERP, "lk2")
    no_secret_in(caplog, set(hub.keys))


async def test_spot_stream_subscribes_again_when_the_venue_ends_it(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    hub = rig.sim.simulator.hub
    await eventually(lambda: hub.spot, "the spot subscription")
    await rig.control.faults({"kind": "listen_key_expire"})  # spot: eventStreamTerminated
    await eventually(lambda: hub.spot, "the spot subscription again")
    await fill_by_websocket(rig, SPOT, "st1")
    messages = [r.getMessage() for r in caplog.records]
    assert any("(spot) stream broke" in m and "ended by the venue" in m for m in messages)


async def test_connecting_a_derivatives_stream_reads_no_positions() -> None:
    """ccxt.pro's positions snapshot is off: a 429 on every positions read is never hit."""
    async with running_simulator() as sim:
        control = SimControl(sim.base_url)
        cfg = account_config(sim.base_url)
        stream = create_stream(cfg, credentials(cfg), timeout_ms=1000)
        watching: asyncio.Task[Any] | None = None
        try:
            paths = ("/fapi/v2/positionRisk", "/fapi/v3/positionRisk")
            await control.faults(
                *[{"kind": "rate_limit_429", "path": p, "count": 100} for p in paths]
            )
            await stream.load_markets()
            watching = asyncio.create_task(
                stream.watch_orders(None, None, None, {"type": "future"})
            )
            await eventually(lambda: sim.simulator.hub.perp, "the USD-M stream")
            await asyncio.sleep(0.3)
            assert [rule.count for rule in sim.simulator.faults.rules] == [100, 100]
        finally:
            if watching is not None:
                watching.cancel()
            await stream.close()
            await control.close()
