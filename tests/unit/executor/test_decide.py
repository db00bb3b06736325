"""The executor's last line of defence: skip what was done, refuse what breaks a rule."""

from __future__ import annotations

from decimal import Decimal

from setpoint.config import AccountConfig
from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    AccountModeChangedData,
    Action,
    ActionKind,
    Event,
    FillObserved,
    FillObservedData,
    FillSource,
    Liquidity,
    OrderCancelled,
    OrderCancelledData,
    OrderObserved,
    OrderSubmitted,
    OrderSubmittedData,
    Origin,
    TargetPublished,
    TargetPublishedData,
)
from setpoint.core.model import Key, OrderType, Producer, Side, TargetOrder, TargetState
from setpoint.core.projections import ActualState, rebuild
from setpoint.executor.decide import Seen, Verdict, decide, reduces_position
from setpoint.testing.synthetic import observed_data

D = Decimal
ACCOUNT = AccountConfig()
KEY = Key("demo", "BTC/USDT")


def state(*events: Event) -> ActualState:
    return rebuild(_Rec(i + 1, e) for i, e in enumerate(events))[1]


class _Rec:
    def __init__(self, position: int, event: Event) -> None:
        self.position, self.event = position, event


def submitted(coid: str = "sp-x-c1", side: Side = Side.BUY, qty: str = "1") -> OrderSubmitted:
    data = OrderSubmittedData(
        client_order_id=coid,
        intent_id="i",
        attempt=1,
        side=side,
        type=OrderType.LIMIT,
        price=D("100"),
        quantity=D(qty),
    )
    return OrderSubmitted.create(KEY, Producer.EXECUTOR, data)


def fill(side: Side, qty: str) -> FillObserved:
    data = FillObservedData(
        venue="binance",
        trade_id=f"t{side}{qty}",
        order_id="1",
        client_order_id="sp-x-f",
        side=side,
        price=D("100"),
        quantity=D(qty),
        fee=D("0"),
        fee_currency="USDT",
        liquidity=Liquidity.TAKER,
        source=FillSource.REST,
    )
    return FillObserved.create(KEY, Producer.GATEWAY, data)


def place(side: Side = Side.BUY, qty: str = "0.1", price: str = "60000") -> Action:
    return Action(
        kind=ActionKind.PLACE,
        client_order_id="sp-x-c1",
        intent_id="i",
        side=side,
        price=D(price),
        quantity=D(qty),
    )


def liquidate_only() -> AccountModeChanged:
    data = AccountModeChangedData(mode=AccountMode.LIQUIDATE_ONLY)
    return AccountModeChanged.create(Key("demo", None), Producer.DIFFER, data)


def test_place_already_submitted_is_skipped() -> None:
    assert decide(place(), KEY, state(submitted()), ACCOUNT).verdict is Verdict.SKIP
    seen = Seen(submitted=frozenset({"sp-x-c1"}))
    assert decide(place(), KEY, state(), ACCOUNT, seen).verdict is Verdict.SKIP
    assert decide(place(), KEY, state(), ACCOUNT).verdict is Verdict.EXECUTE


def _target(generation: int, *intents: str) -> TargetPublished:
    orders = tuple(
        TargetOrder(id=i, side=Side.BUY, price=D("60000"), quantity=D("0.1")) for i in intents
    )
    target = TargetState(
        account=KEY.account, symbol=KEY.symbol or "", generation=generation, strategy="t",
        orders=orders,
    )  # fmt: skip
    return TargetPublished.create(KEY, Producer.INTAKE, TargetPublishedData(target=target))


def test_a_place_of_an_intent_the_newest_target_no_longer_lists_is_skipped() -> None:
    """A plan older than the key's newest target, for an intent the projection holds no
    progress of (it may have been forgotten by the purge): never placed (again)."""
    action = place().model_copy(update={"attempt": 1})
    assert decide(action, KEY, state(_target(1, "i")), ACCOUNT).verdict is Verdict.EXECUTE
    stale = state(_target(1, "i"), _target(2, "j"))
    assert decide(action, KEY, stale, ACCOUNT).verdict is Verdict.SKIP
    old_position = action.model_copy(update={"intent_id": "@pos-1-1"})
    assert decide(old_position, KEY, stale, ACCOUNT).verdict is Verdict.SKIP
    new_position = action.model_copy(update={"intent_id": "@pos-2-1"})
    assert decide(new_position, KEY, stale, ACCOUNT).verdict is Verdict.EXECUTE


def test_cancel_of_closed_order_is_skipped_open_is_executed() -> None:
    cancel = Action(kind=ActionKind.CANCEL, client_order_id="sp-x-c1")
    cancelled = OrderCancelled.create(
        KEY, Producer.EXECUTOR, OrderCancelledData(client_order_id="sp-x-c1")
    )
    assert decide(cancel, KEY, state(submitted(), cancelled), ACCOUNT).verdict is Verdict.SKIP
    assert decide(cancel, KEY, state(submitted()), ACCOUNT).verdict is Verdict.EXECUTE


def test_liquidate_only_keeps_only_reducing_orders() -> None:
    actual = state(fill(Side.BUY, "0.5"), liquidate_only())
    assert decide(place(Side.BUY), KEY, actual, ACCOUNT).rule == "liquidate_only"
    assert decide(place(Side.SELL), KEY, actual, ACCOUNT).verdict is Verdict.EXECUTE
    assert decide(place(Side.SELL, "0.6"), KEY, actual, ACCOUNT).verdict is Verdict.REFUSE


def test_reduces_position() -> None:
    assert reduces_position(place(Side.BUY, "1"), D("-1"))
    assert not reduces_position(place(Side.BUY, "1"), D("0"))
    assert not reduces_position(place(Side.SELL, "1"), D("-1"))


def test_risk_limits() -> None:
    limits = AccountConfig(
        max_order_notional=D("1000"), max_open_orders_per_key=1, price_band_bps=100
    )
    empty = state()
    assert decide(place(qty="1"), KEY, empty, limits).rule == "max_order_notional"
    off = decide(place(qty="0.001", price="70000"), KEY, empty, limits, last_price=D("60000"))
    assert off.rule == "price_band"
    full = decide(
        place(qty="0.001"), KEY, state(submitted("sp-x-other")), limits, last_price=D("60000")
    )
    assert full.rule == "max_open_orders"


def test_liquidate_only_counts_every_working_order_but_the_replaced_one() -> None:
    """The working sells come from the projection's totals: an adopted order without a
    client id counts, the order an amend replaces does not."""
    foreign = observed_data(
        None, "x1", Side.SELL, D("100"), D("0.4"), origin=Origin.FOREIGN, adopted=True
    )
    adopted = OrderObserved.create(KEY, Producer.GATEWAY, foreign)
    actual = state(fill(Side.BUY, "0.5"), adopted, liquidate_only())
    assert decide(place(Side.SELL, "0.1"), KEY, actual, ACCOUNT).verdict is Verdict.EXECUTE
    refused = decide(place(Side.SELL, "0.2"), KEY, actual, ACCOUNT)
    assert refused.rule == "liquidate_only"
    assert "working buys 0, sells 0.4" in refused.detail
    ours = state(fill(Side.BUY, "0.5"), submitted("sp-x-old", Side.SELL, "0.4"), liquidate_only())
    amend = place(Side.SELL, "0.5").model_copy(
        update={"kind": ActionKind.AMEND, "replaces": "sp-x-old"}
    )
    assert decide(amend, KEY, ours, ACCOUNT).verdict is Verdict.EXECUTE
    assert decide(place(Side.SELL, "0.2"), KEY, ours, ACCOUNT).rule == "liquidate_only"
