"""The funding carry: IOC spot entry, perp hedge = minus the executed spot position."""

from __future__ import annotations

from decimal import Decimal

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
)

from setpoint.config import StrategyConfig
from setpoint.core.events import Event
from setpoint.core.model import MarketKind, TargetOrder, TargetState
from setpoint.strategy.carry import Carry, CarryState
from setpoint.strategy.sdk import Desired
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


def _decide(
    state: CarryState,
    funding: str,
    spot_log: list[Event] | None = None,
    previous: dict[str, TargetState] | None = None,
    contract_size: str = "1",
) -> tuple[CarryState, Desired, Desired]:
    v = view(
        "carry-1",
        CARRY.symbols(CONFIG),
        CONFIG.params,
        tickers=(ticker(SPOT, "60000"), ticker(PERP, "60010", funding=funding)),
        logs={SPOT: spot_log or []},
        previous=previous,
        markets=(
            market(SPOT),
            market(PERP, MarketKind.SWAP, contract_size=Decimal(contract_size)),
        ),
    )
    decision = CARRY.decide(state, v)
    return decision.state, decision.targets[SPOT], decision.targets[PERP]


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


def test_exit_unwinds_both_legs_by_what_executed() -> None:
    state, entry = _entered()
    log = [*filled(SPOT, entry, "0.42"), expired(SPOT, entry, "0.42")]
    state, _, _ = _decide(state, "0.0005", log)
    state, spot, perp = _decide(state, "0.00005", log)
    (exit_order,) = spot.orders
    assert exit_order.side is SELL
    assert exit_order.time_in_force is IOC
    assert exit_order.quantity == Decimal("0.42")
    assert exit_order.id != entry.id
    assert perp.position == Decimal("-0.42")

    log += filled(SPOT, exit_order, "0.30")
    log.append(expired(SPOT, exit_order, "0.30"))
    state, spot, perp = _decide(state, "0.00005", log)
    assert perp.position == Decimal("-0.12")
    (retry,) = spot.orders  # funding still low: the rest is sold under a new intent id
    assert retry.quantity == Decimal("0.12")
    assert retry.id not in {entry.id, exit_order.id}

    log += filled(SPOT, retry, "0.12")
    state, spot, perp = _decide(state, "0.00005", log)
    assert perp.position == Decimal(0)
    assert spot.orders == ()
    assert state.phase == "flat"


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
