"""The gateway records the futures wallet (MarginObserved) and arms the venue's dead-man
switch, against the simulator through the real ccxt (in-process, real JetStream log)."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from gateway_rig import Rig
from test_execution import eventually

from setpoint.core.events import MarginObserved, TargetPublished, TargetPublishedData
from setpoint.core.model import Key, Producer, TargetState
from setpoint.eventlog import ANY
from setpoint.gateway.deadman import DeadManSwitch

pytestmark = [pytest.mark.nats, pytest.mark.sim]
PERP = "BTC/USDT:USDT"


async def margin_events(rig: Rig) -> list[MarginObserved]:
    records = await rig.log.read(Key(rig.account, None))
    return [r.event for r in records if isinstance(r.event, MarginObserved)]


async def test_futures_wallet_and_positions_are_recorded_on_change(rig: Rig) -> None:
    await rig.control.order(PERP, "sell", "limit", "1", "60000")  # short 1 at 60000
    await rig.control.price(PERP, "60010")
    await rig.gateway.record_account_state()
    fact = (await margin_events(rig))[-1].data
    wallet = Decimal("99988")  # 100000 less the maker fee of 60000 x 0.0002
    assert (fact.asset, fact.wallet_balance, fact.unrealized_pnl) == ("USDT", wallet, -10)
    assert fact.margin_balance == wallet - 10
    assert fact.maintenance_margin == Decimal("60010") * Decimal("0.005") - 50
    assert fact.initial_margin == Decimal("60010") / 20
    assert fact.available_margin == wallet - 10 - Decimal("60010") / 20
    [position] = fact.positions
    assert (position.symbol, position.quantity, position.entry_price) == (PERP, -1, 60000)
    assert (position.mark_price, position.unrealized_pnl, position.leverage) == (60010, -10, 20)
    liquidation = ((wallet + 50 + 60000) / Decimal("1.005")).quantize(Decimal("0.01"))
    assert position.liquidation_price == liquidation
    count = len(await margin_events(rig))
    await rig.gateway.record_account_state()  # nothing changed: nothing appended
    assert len(await margin_events(rig)) == count


async def test_a_flat_account_has_no_positions(rig: Rig) -> None:
    await rig.gateway.record_account_state()
    fact = (await margin_events(rig))[-1].data
    assert fact.positions == ()
    assert fact.wallet_balance == fact.margin_balance == fact.available_margin == 100000


@pytest.mark.parametrize(
    "rig", [{"dead_man_switch": True, "dead_man_countdown_s": 1.5}], indirect=True
)
async def test_the_dead_man_switch_is_armed_for_the_derivatives_in_scope(rig: Rig) -> None:
    key = Key(rig.account, PERP)
    target = TargetState(account=rig.account, symbol=PERP, generation=1, strategy="it")
    event = TargetPublished.create(key, Producer.INTAKE, TargetPublishedData(target=target))
    await rig.log.append(key, Producer.INTAKE, [event], ANY)

    async def armed() -> int | None:
        deadline: int | None = (await rig.control.state())["countdowns"].get(PERP)
        return deadline

    first = await eventually(armed)
    renewed = await eventually(lambda: _later(armed, first))
    assert renewed > first
    assert "BTC/USDT" not in (await rig.control.state())["countdowns"]  # spot: none


async def _later(armed: object, than: int) -> int | None:
    now = await armed()  # type: ignore[operator]
    return now if now is not None and now > than else None


async def test_a_failing_renewal_is_logged_once_and_its_recovery_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rule = rig.gateway.venue.capabilities.rules.dead_man
    assert rule is not None
    switch = DeadManSwitch(rig.gateway.venue, lambda: [PERP], 5, rig.account, rule)
    rule = {"kind": "http_503", "method": "POST", "path": "/fapi/v1/countdownCancelAll"}
    await rig.control.faults(rule)
    with caplog.at_level(logging.INFO, logger="setpoint.gateway.deadman"):
        for _ in range(3):
            await switch.renew()
        assert PERP in switch.failing
        await rig.control.clear_faults()
        await switch.renew()
        await switch.renew()
    messages = [r.getMessage() for r in caplog.records if r.name == "setpoint.gateway.deadman"]
    assert len([m for m in messages if "not renewed" in m]) == 1
    assert len([m for m in messages if "renewed again" in m]) == 1
    assert switch.failing == {}
    assert PERP in (await rig.control.state())["countdowns"]
