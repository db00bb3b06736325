"""A late duplicate from a former active gateway is harmless (standby gateways).

The former holder of an account's lease may not have noticed that it lost it, and answer
one more place it received before the new holder did. Both send the venue the command's
client order id (core/ids.py), so the venue holds one order: the second place is answered
"duplicate" with the existing order, never a second one. Here both gateways answer the same
request at once (the worst case: the old one has not even unsubscribed).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from gateway_rig import Rig

from setpoint.bus import subjects
from setpoint.core.ids import client_order_id
from setpoint.core.model import OrderType, Side
from setpoint.gateway.handlers import CommandHandlers
from setpoint.gateway.venue import Venue
from setpoint.venues.commands import PlaceCommand
from setpoint.venues.exchange import create_rest, credentials
from setpoint.venues.ratelimit import RateLimiter

pytestmark = pytest.mark.nats


async def test_the_same_place_from_two_gateways_makes_one_order(rig: Rig) -> None:
    config = rig.settings.accounts[rig.account]
    creds = credentials(config)
    rest = create_rest(config, creds, timeout_ms=1000)
    await rest.load_markets()
    former = CommandHandlers(rig.nc, rig.account, Venue(rest, creds.redactions, RateLimiter(1000)))
    await former.start()  # the former holder, still subscribed
    coid = client_order_id(rig.account, "BTC/USDT", "late-1", 1)
    command = PlaceCommand(
        symbol="BTC/USDT", client_order_id=coid, intent_id="late-1", side=Side.BUY,
        type=OrderType.LIMIT, price=Decimal("50000.00"), quantity=Decimal("0.001"),
    )  # fmt: skip
    inbox = rig.nc.new_inbox()
    answers: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def on_answer(msg: object) -> None:
        await answers.put(json.loads(msg.data))  # type: ignore[attr-defined]

    await rig.nc.subscribe(inbox, cb=on_answer)
    subject = subjects.gateway_subject(rig.account, "place")
    await rig.nc.publish(subject, command.model_dump_json().encode(), reply=inbox)
    first = await asyncio.wait_for(answers.get(), 10)
    second = await asyncio.wait_for(answers.get(), 10)
    try:
        assert first["ok"] is True
        assert second["ok"] is True
        assert sorted([first["duplicate"], second["duplicate"]]) == [False, True]
        assert first["order"]["order_id"] == second["order"]["order_id"]  # type: ignore[index]
        state = await rig.control.state()
        assert [o["client_order_id"] for o in state["orders"]].count(coid) == 1
    finally:
        await former.stop()
        await rest.close()
