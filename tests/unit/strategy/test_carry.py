"""The funding carry: IOC spot entry step by step behind the margin gate, perp hedge =
minus the executed spot position, exit by positions of 0 on both legs at once, restart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from logfacts import (
    ACCOUNT,
    BUY,
    IOC,
    SELL,
    expired,
    fill,
    filled,
    placed,
    submitted,
    ticker,
    view,
    wallet,
)

from setpoint.config import StrategyConfig
from setpoint.core.events import Event, FillObserved, MarginObservedData, MarginPosition
from setpoint.core.model import MarketKind, TargetOrder, TargetState
from setpoint.strategy.carry import Carry, CarryState
from setpoint.strategy.sdk import Decision, Desired
from setpoint.testing.synthetic import market

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
CONFIG = StrategyConfig(
    kind="carry",
    account=ACCOUNT,
    symbol=SPOT,
    params={
        "quantity": "1.0",
        "entry_funding": "0.0003",
        "exit_funding": "0.0001",
        "cooldown_s": 0,
    },
)
CARRY = Carry()
WALLET = wallet()


def _decide(
    state: CarryState, *args: Any, margin: MarginObservedData | None = WALLET, **fields: Any
) -> tuple[CarryState, Desired, Desired]:
    """`_decision` (the margin a full wallet unless `margin` says otherwise): its state and
    its spot and perpetual targets."""
    decision = _decision(state, *args, margin=margin, **fields)
    return decision.state, decision.targets[SPOT], decision.targets[PERP]


def _decision(
    state: CarryState,
    funding: str,
    spot_log: list[Event] | None = None,
    previous: dict[str, TargetState] | None = None,
    perp_log: list[Event] | None = None,
    margin: MarginObservedData | None = None,
    params: dict[str, Any] | None = None,
    contract_size: str = "1",
) -> Decision[CarryState]:
    v = view(
        "carry-1",
        CARRY.symbols(CONFIG),
        {**CONFIG.params, **(params or {})},
        tickers=(ticker(SPOT, "60000"), ticker(PERP, "60010", funding=funding)),
        logs={SPOT: spot_log or [], PERP: perp_log or []},
        previous=previous,
        markets=(
            market(SPOT),
            market(PERP, MarketKind.SWAP, contract_size=Decimal(contract_size)),
        ),
        margin=margin,
    )
    return CARRY.decide(state, v)


def test_keys_are_spot_and_its_perpetual() -> None:
    assert CARRY.symbols(CONFIG) == (SPOT, PERP)


def test_no_entry_below_the_threshold() -> None:
    state, spot, perp = _decide(CARRY.initial(CONFIG), "0.0002")
    assert spot.orders == ()
    assert perp.position == Decimal(0)
    assert state.phase == "flat"


def test_entry_is_one_ioc_buy_on_spot() -> None:
    state, spot, perp = _decide(CARRY.initial(CONFIG), "0.0005")
    (order,) = spot.orders
    assert order.side is BUY
    assert order.time_in_force is IOC
    assert order.quantity == Decimal("1.0")
    assert order.price == Decimal("60300.51")  # ask 60000.5 + 50 bps, rounded up to the tick
    assert perp.position == Decimal(0)  # nothing executed yet: nothing to hedge
    assert state.phase == "entering"


def _entered() -> tuple[CarryState, TargetOrder]:
    """Funding above the threshold: the state and the spot entry it decides."""
    state, spot, _ = _decide(CARRY.initial(CONFIG), "0.0005")
    (entry,) = spot.orders
    return state, entry


def test_a_perp_in_contracts_of_another_size_is_hedged_in_its_contracts() -> None:
    state, entry = _entered()
    log = [*filled(SPOT, entry, "0.42", "60001.00"), expired(SPOT, entry, "0.42")]
    _, _, perp = _decide(state, "0.0005", log, contract_size="0.01")  # OKX: 0.01 BTC each
    assert perp.position == Decimal("-42")


def test_a_42_percent_spot_fill_is_hedged_by_exactly_42_percent() -> None:
    state, entry = _entered()
    log = filled(SPOT, entry, "0.42", "60001.00")
    state, spot, perp = _decide(state, "0.0005", log)
    assert perp.position == Decimal("-0.42")  # follows the fill even before the IOC ends
    log.append(expired(SPOT, entry, "0.42"))
    state, spot, perp = _decide(state, "0.0005", log)
    assert perp.position == Decimal("-0.42")
    assert spot.orders == ()  # the IOC is consumed: no retry of the missing 58%
    assert state.phase == "holding"


def test_exit_flattens_both_legs_at_once() -> None:
    state, entry = _entered()
    log = [*filled(SPOT, entry, "0.42"), expired(SPOT, entry, "0.42")]
    hedge = perp_fill("-0.42")
    state, _, _ = _decide(state, "0.0005", log, perp_log=hedge)
    state, spot, perp = _decide(state, "0.00005", log, perp_log=hedge)
    assert (spot, perp) == (Desired(position=Decimal(0)), Desired(position=Decimal(0)))
    assert state.phase == "exiting"

    log += [*filled(SPOT, sell("x1", "0.42"), "0.42")]  # the spot leg is flat, the perp not
    state, spot, perp = _decide(state, "0.0005", log, perp_log=hedge)
    assert (spot.position, perp.position) == (0, 0)  # high funding again: the exit goes on
    assert state.phase == "exiting"

    hedge += perp_fill("0.42", trade="hedge-back")
    state, spot, perp = _decide(state, "0.00005", log, perp_log=hedge)
    assert state.phase == "flat"
    assert (spot.orders, perp.position) == ((), Decimal(0))


def sell(intent: str, quantity: str) -> TargetOrder:
    return TargetOrder(id=intent, side=SELL, price=Decimal("59000"), quantity=Decimal(quantity))


def perp_fill(signed: str, trade: str = "hedge") -> list[Event]:
    """The perpetual's position order filled to `signed` (a sell when negative)."""
    quantity = Decimal(signed)
    order = TargetOrder(
        id=trade, side=SELL if quantity < 0 else BUY, price=Decimal("60000"),
        quantity=abs(quantity), time_in_force=IOC,
    )  # fmt: skip
    return filled(PERP, order, str(abs(quantity)))


def test_restart_keeps_ids_fresh_and_the_ioc_in_flight() -> None:
    state, spot, _ = _decide(CARRY.initial(CONFIG), "0.0005")
    (entry,) = spot.orders
    previous = {
        SPOT: TargetState(
            account=ACCOUNT, symbol=SPOT, generation=3, strategy="carry-1", orders=spot.orders
        )
    }
    log: list[Event] = [submitted(SPOT, entry), placed(SPOT, entry)]
    state, spot, _ = _decide(CARRY.initial(CONFIG), "0.0005", log, previous)
    assert spot.orders == (entry,)
    assert state.phase == "entering"
    assert state.serial == 2


def test_an_ioc_that_met_no_liquidity_is_not_retried_at_once() -> None:
    config = StrategyConfig(
        kind="carry", account=ACCOUNT, symbol=SPOT, params={**CONFIG.params, "cooldown_s": 3600}
    )
    v = view(
        "carry-1",
        CARRY.symbols(config),
        config.params,
        tickers=(ticker(SPOT, "60000"), ticker(PERP, "60010", funding="0.0005")),
        margin=WALLET,
    )
    first = CARRY.decide(CARRY.initial(config), v)
    (entry,) = first.targets[SPOT].orders
    log: list[Event] = [submitted(SPOT, entry), placed(SPOT, entry), expired(SPOT, entry, "0")]
    v = view(
        "carry-1",
        CARRY.symbols(config),
        config.params,
        logs={SPOT: log},
        tickers=(ticker(SPOT, "60000"), ticker(PERP, "60010", funding="0.0005")),
        margin=WALLET,
    )
    second = CARRY.decide(first.state, v)
    assert second.state.phase == "flat"
    assert second.targets[SPOT].orders == ()  # within the cooldown: no new entry
    assert second.targets[PERP].position == Decimal(0)


def test_fills_reported_after_the_ioc_ended_still_count() -> None:
    state, entry = _entered()
    log: list[Event] = [submitted(SPOT, entry), placed(SPOT, entry), expired(SPOT, entry, "0.42")]
    state, spot, perp = _decide(state, "0.0005", log)
    assert perp.position == Decimal(0)  # the fill itself is not in the log yet
    log.append(fill(SPOT, entry, "0.42"))
    state, spot, perp = _decide(state, "0.0005", log)
    assert perp.position == Decimal("-0.42")
    assert state.phase == "holding"
    assert spot.orders == ()


# --------------------------------------------------------------------------- the margin gate


def test_the_spot_leg_waits_for_a_futures_wallet() -> None:
    decision = _decision(CARRY.initial(CONFIG), "0.0005", margin=None)
    assert decision.targets[SPOT].orders == ()
    assert decision.note == "margin gate: no futures wallet observed yet"


def test_a_wallet_that_cannot_carry_the_hedge_holds_the_spot_leg_and_says_why() -> None:
    short = wallet(available="1000")
    decision = _decision(CARRY.initial(CONFIG), "0.0005", margin=short)
    assert decision.targets[SPOT].orders == ()
    assert decision.targets[PERP].position == 0
    assert (
        decision.note == "margin gate: the hedge needs 60010.00000 initial margin, 1000 available"
    )
    leveraged = _decision(decision.state, "0.0005", margin=short, params={"leverage": "100"})
    (entry,) = leveraged.targets[SPOT].orders  # 600.1 at 100x: the step goes
    assert entry.quantity == Decimal("1.0")
    assert leveraged.note is None


def test_a_margin_ratio_above_the_limit_holds_the_spot_leg() -> None:
    stressed = wallet(maintenance="60000", balance="100000")
    decision = _decision(CARRY.initial(CONFIG), "0.0005", margin=stressed)
    assert decision.targets[SPOT].orders == ()
    assert decision.note == "margin gate: margin ratio 60000/100000 above 0.5"


def test_entry_goes_step_by_step_and_stops_when_the_wallet_is_short() -> None:
    steps = {"step": "0.4"}
    state = CARRY.initial(CONFIG)
    first = _decision(state, "0.0005", margin=WALLET, params=steps)
    (e1,) = first.targets[SPOT].orders
    assert e1.quantity == Decimal("0.4")
    log = [*filled(SPOT, e1, "0.4"), expired(SPOT, e1, "0.4")]
    # the hedge of the first step is not in the wallet yet: the gate counts it
    short = wallet(available="40000")
    second = _decision(first.state, "0.0005", log, margin=short, params=steps)
    assert second.targets[SPOT].orders == ()
    assert second.targets[PERP].position == Decimal("-0.4")
    assert second.state.phase == "entering"
    assert second.note is not None
    assert second.note.startswith("margin gate: the hedge needs 48008.0000")
    held = (MarginPosition(symbol=PERP, quantity=Decimal("-0.4"), leverage=1),)
    third = _decision(second.state, "0.0005", log, margin=wallet("30000", positions=held),
                      params=steps)  # fmt: skip
    (e2,) = third.targets[SPOT].orders  # 0.4 more to hedge at 60010: 24004 fits
    assert (e2.quantity, third.note) == (Decimal("0.4"), None)
    assert e2.id != e1.id
    log += [*filled(SPOT, e2, "0.4"), expired(SPOT, e2, "0.4")]
    fourth = _decision(third.state, "0.0005", log, margin=WALLET, params=steps)
    (e3,) = fourth.targets[SPOT].orders
    assert e3.quantity == Decimal("0.2")  # what is left of 1.0
    log += [*filled(SPOT, e3, "0.2"), expired(SPOT, e3, "0.2")]
    done = _decision(fourth.state, "0.0005", log, margin=WALLET, params=steps)
    assert (done.state.phase, done.targets[SPOT].orders) == ("holding", ())
    assert done.targets[PERP].position == Decimal("-1.0")


@given(st.lists(st.integers(0, 40), min_size=1, max_size=6))
def test_the_hedge_is_always_minus_what_spot_executed(fills: list[int]) -> None:
    """Whatever each entry step fills (0 to 100 % of 0.4), the perp target is minus the
    executed spot position and the entry never buys past `quantity`."""
    steps = {"step": "0.4", "cooldown_s": 0}
    state, log = CARRY.initial(CONFIG), list[Event]()
    for pct in fills:
        decision = _decision(state, "0.0005", log, margin=WALLET, params=steps)
        position = sum((f.data.quantity for f in log if isinstance(f, FillObserved)), Decimal(0))
        assert decision.targets[PERP].position == -position
        state = decision.state
        for order in decision.targets[SPOT].orders:
            done = (order.quantity * pct / 40).quantize(Decimal("0.00001"))
            assert position + order.quantity <= Decimal("1.0")
            log += [submitted(SPOT, order), placed(SPOT, order)]
            if done:
                log.append(fill(SPOT, order, str(done)))
            log.append(expired(SPOT, order, str(done)))


# --------------------------------------------------------------------------- restart


def test_a_restart_during_the_exit_goes_on_exiting() -> None:
    state, entry = _entered()
    log = [*filled(SPOT, entry, "0.42"), expired(SPOT, entry, "0.42")]
    previous = {
        s: TargetState(account=ACCOUNT, symbol=s, generation=5, strategy="carry-1",
                       position=Decimal(0))
        for s in (SPOT, PERP)
    }  # fmt: skip
    state, spot, perp = _decide(CARRY.initial(CONFIG), "0.0005", log, previous,
                                perp_log=perp_fill("-0.42"))  # fmt: skip
    assert state.phase == "exiting"
    assert (spot.position, perp.position) == (0, 0)


def test_a_restart_between_entry_steps_goes_on_entering() -> None:
    steps = {"step": "0.4"}
    first = _decision(CARRY.initial(CONFIG), "0.0005", margin=WALLET, params=steps)
    (e1,) = first.targets[SPOT].orders
    log = [*filled(SPOT, e1, "0.4"), expired(SPOT, e1, "0.4")]
    previous = {SPOT: TargetState(account=ACCOUNT, symbol=SPOT, generation=2, strategy="carry-1")}
    again = _decision(CARRY.initial(CONFIG), "0.0005", log, previous, margin=WALLET, params=steps)
    (e2,) = again.targets[SPOT].orders
    assert e2.quantity == Decimal("0.4")
    assert e2.id == "carry-1.e2"
