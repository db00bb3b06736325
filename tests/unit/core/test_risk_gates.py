"""The risk gates (core.risk): reducing actions always pass; each limit refuses exactly what
takes its measure above the threshold and nothing else; the refusal names the limit, the
value and the threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from setpoint.core.events import Action, ActionKind
from setpoint.core.model import MarketKind, Side
from setpoint.core.risk import (
    AccountRiskView,
    KeyBook,
    RiskLimits,
    check_exposure,
    check_rate,
    loss_breached,
    reduces,
    screen,
)
from setpoint.testing.synthetic import market

D = Decimal
SPOT = market("BTC/USDT", step=D("0.001"))
PERP = market("BTC/USDT:USDT", MarketKind.SWAP, step=D("0.001"))
MARK = D("100")
NOW = datetime(2026, 1, 1, tzinfo=UTC)

quantities = st.integers(1, 5_000).map(lambda n: D(n) / 1000)
positions = st.integers(-5_000, 5_000).map(lambda n: D(n) / 1000)
limits_values = st.integers(1, 600).map(lambda n: D(n))


def place(
    side: Side, qty: Decimal, price: str = "100", kind: ActionKind = ActionKind.PLACE
) -> Action:
    return Action(
        kind=kind,
        intent_id="i",
        client_order_id="sp-x-1",
        side=side,
        price=D(price),
        quantity=qty,
        attempt=1,
    )


def every_limit(cap: Decimal) -> RiskLimits:
    return RiskLimits(
        max_position=cap / MARK,
        max_position_notional=cap,
        max_gross_exposure=cap,
        max_net_exposure=cap,
        max_margin_ratio=D("0.5"),
    )


BAD_ACCOUNT = AccountRiskView(
    positions={"ETH/USDT": D("-100")},
    marks={"BTC/USDT": MARK, "BTC/USDT:USDT": MARK, "ETH/USDT": D("3000")},
    margin_ratio=D("0.99"),
    available_margin=D("0"),
)


@settings(max_examples=300, deadline=None)
@given(positions, quantities, quantities, quantities, limits_values, st.booleans())
def test_reducing_actions_always_pass(
    position: Decimal, qty: Decimal, buying: Decimal, selling: Decimal, cap: Decimal, perp: bool
) -> None:
    book = KeyBook(position, buying, selling)
    side = Side.SELL if position > 0 else Side.BUY
    if not reduces(side, qty, book):
        return
    mk = PERP if perp else SPOT
    action = place(side, qty)
    assert check_exposure(action, mk.symbol, book, BAD_ACCOUNT, every_limit(cap), mk) is None


@settings(max_examples=300, deadline=None)
@given(positions, quantities, quantities, st.sampled_from([Side.BUY, Side.SELL]))
def test_reduces_means_never_across_nor_away_from_zero(
    position: Decimal, qty: Decimal, working: Decimal, side: Side
) -> None:
    book = KeyBook(position, working, working)
    worst = book.worst(side, qty)
    expected = position != 0 and abs(worst) <= abs(position) and worst * position >= 0
    assert reduces(side, qty, book) == expected


@settings(max_examples=300, deadline=None)
@given(positions, quantities, quantities, st.sampled_from([Side.BUY, Side.SELL]), limits_values)
def test_max_position_refuses_exactly_a_worst_case_above_it(
    position: Decimal, qty: Decimal, working: Decimal, side: Side, cap: Decimal
) -> None:
    book = KeyBook(position, working, working)
    limit = cap / 100
    reason = check_exposure(
        place(side, qty), "BTC/USDT", book, AccountRiskView(), RiskLimits(max_position=limit), SPOT
    )
    worst = abs(book.worst(side, qty))
    should = not reduces(side, qty, book) and worst > limit
    assert (reason is not None) == should
    if reason is not None:
        assert reason.rule == "max_position"
        assert reason.detail == f"position {worst} above {limit}"


@settings(max_examples=300, deadline=None)
@given(positions, quantities, st.sampled_from([Side.BUY, Side.SELL]), limits_values)
def test_max_position_notional_values_at_the_mark(
    position: Decimal, qty: Decimal, side: Side, cap: Decimal
) -> None:
    book = KeyBook(position)
    view = AccountRiskView(marks={"BTC/USDT": MARK})
    limits = RiskLimits(max_position_notional=cap)
    reason = check_exposure(place(side, qty, "1"), "BTC/USDT", book, view, limits, SPOT)
    notional = abs(book.worst(side, qty)) * MARK  # the mark, not the order's price
    assert (reason is not None) == (not reduces(side, qty, book) and notional > cap)


@settings(max_examples=300, deadline=None)
@given(positions, positions, quantities, st.sampled_from([Side.BUY, Side.SELL]), limits_values)
def test_gross_and_net_refuse_exactly_growth_above_the_limit(
    other: Decimal, position: Decimal, qty: Decimal, side: Side, cap: Decimal
) -> None:
    view = AccountRiskView(
        positions={"ETH/USDT": other, "BTC/USDT": position},
        marks={"ETH/USDT": MARK, "BTC/USDT": MARK},
    )
    book = KeyBook(position)
    after, before = book.worst(side, qty) * MARK, position * MARK
    reducing = reduces(side, qty, book)
    gross = check_exposure(
        place(side, qty), "BTC/USDT", book, view, RiskLimits(max_gross_exposure=cap), SPOT
    )
    g_after, g_before = abs(other * MARK) + abs(after), abs(other * MARK) + abs(before)
    assert (gross is not None) == (not reducing and g_after > cap and g_after > g_before)
    net = check_exposure(
        place(side, qty), "BTC/USDT", book, view, RiskLimits(max_net_exposure=cap), SPOT
    )
    n_after, n_before = abs(other * MARK + after), abs(other * MARK + before)
    assert (net is not None) == (not reducing and n_after > cap and n_after > n_before)


def test_named_refusals_name_the_limit_value_and_threshold() -> None:
    view = AccountRiskView(
        positions={"ETH/USDT": D("2")}, marks={"ETH/USDT": D("3000"), "BTC/USDT": MARK}
    )
    flat = KeyBook()
    cases = [
        (RiskLimits(max_position=D("1")), "max_position", "position 2 above 1"),
        (
            RiskLimits(max_position_notional=D("150")),
            "max_position_notional",
            "notional 200 above 150",
        ),
        (
            RiskLimits(max_gross_exposure=D("6100")),
            "max_gross_exposure",
            "gross exposure 6200 above 6100",
        ),
        (
            RiskLimits(max_net_exposure=D("6000")),
            "max_net_exposure",
            "net exposure 6200 above 6000",
        ),
    ]
    for limits, rule, detail in cases:
        reason = check_exposure(place(Side.BUY, D("2")), "BTC/USDT", flat, view, limits, SPOT)
        assert reason is not None
        assert (reason.rule, reason.detail) == (rule, detail)
    # selling the same is fine for the net limit: it brings the account's net down
    sell = check_exposure(place(Side.SELL, D("2")), "BTC/USDT", flat, view, cases[3][0], SPOT)
    assert sell is None


def test_no_mark_and_no_price_cannot_be_valued() -> None:
    market_order = Action(
        kind=ActionKind.PLACE,
        intent_id="m",
        client_order_id="c",
        side=Side.BUY,
        quantity=D("1"),
        attempt=1,
    )
    reason = check_exposure(
        market_order,
        "BTC/USDT",
        KeyBook(),
        AccountRiskView(),
        RiskLimits(max_position_notional=D("1")),
        SPOT,
    )
    assert reason is not None
    assert reason.detail == "no mark to value the position at"


@pytest.mark.parametrize(
    ("ratio", "available", "refused"),
    [
        (D("0.81"), D("1000000"), "margin ratio 0.81 above 0.8"),
        (D("0.8"), D("1000000"), None),
        (D("0.1"), D("49"), "initial margin 50 above available margin 49"),  # 5 * 100 / 10x
        (D("0.1"), D("50"), None),
        (None, None, None),  # margin facts unknown: the gate lets it pass
    ],
)
def test_margin_gate(ratio: Decimal | None, available: Decimal | None, refused: str | None) -> None:
    view = AccountRiskView(
        marks={"BTC/USDT:USDT": MARK}, margin_ratio=ratio, available_margin=available,
        leverage={"BTC/USDT:USDT": D("10")},
    )  # fmt: skip
    limits = RiskLimits(max_margin_ratio=D("0.8"))
    reason = check_exposure(place(Side.BUY, D("5")), PERP.symbol, KeyBook(), view, limits, PERP)
    assert (None if reason is None else reason.detail) == refused
    # spot keys do not draw on the margin wallet; reducing a perp position always passes
    assert (
        check_exposure(place(Side.BUY, D("5")), SPOT.symbol, KeyBook(), view, limits, SPOT) is None
    )
    short = KeyBook(D("-5"))
    assert check_exposure(place(Side.BUY, D("5")), PERP.symbol, short, view, limits, PERP) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 120_000), max_size=40), st.integers(1, 10), st.integers(1, 30))
def test_the_rate_gate_counts_the_last_second_and_minute(
    ago_ms: list[int], per_s: int, per_min: int
) -> None:
    sent = sorted(NOW - timedelta(milliseconds=ms) for ms in ago_ms)
    limits = RiskLimits(max_orders_per_s=per_s, max_orders_per_min=per_min)
    last_s = sum(1 for at in sent if at > NOW - timedelta(seconds=1))
    last_min = sum(1 for at in sent if at > NOW - timedelta(minutes=1))
    reason = check_rate(place(Side.BUY, D("1")), sent, NOW, limits)
    assert (reason is not None) == (last_s >= per_s or last_min >= per_min)
    cancel = Action(kind=ActionKind.CANCEL, client_order_id="c")
    assert check_rate(cancel, sent, NOW, limits) is None  # a cancel always goes


@pytest.mark.parametrize(
    ("loss", "breached"), [(None, False), (D("99.99"), False), (D("100"), True), (D("250"), True)]
)
def test_the_loss_limit(loss: Decimal | None, breached: bool) -> None:
    reason = loss_breached(AccountRiskView(loss=loss), RiskLimits(max_loss=D("100")))
    assert (reason is not None) == breached
    if reason is not None:
        assert (reason.rule, reason.detail) == ("max_loss", f"loss {loss} at or above 100")
    assert loss_breached(AccountRiskView(loss=loss), RiskLimits()) is None


def test_screen_counts_the_plans_own_places_toward_the_position_limit() -> None:
    actions = [place(Side.BUY, D("0.6")), place(Side.BUY, D("0.6"))]
    actions[1] = actions[1].model_copy(update={"client_order_id": "sp-x-2", "intent_id": "j"})
    kept, reasons = screen(
        actions, RiskLimits(max_position=D("1")), live_count=0, last_price=MARK,
        market=SPOT, book=KeyBook(), view=AccountRiskView(),
    )  # fmt: skip
    assert [a.intent_id for a in kept] == ["i"]
    assert [(r.intent_id, r.rule, r.detail) for r in reasons] == [
        ("j", "max_position", "position 1.2 above 1")
    ]


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"max_position": "0"}, "a limit must be above 0"),
        ({"max_gross_exposure": "-5"}, "a limit must be above 0"),
        ({"max_orders_per_s": 0}, "a limit must be above 0"),
        ({"max_margin_ratio": "1.5"}, "a margin ratio is above 0 and at most 1"),
        ({"max_margin_ratio": "0"}, "a margin ratio is above 0 and at most 1"),
        ({"max_orders_per_s": 10, "max_orders_per_min": 5}, "is below max_orders_per_s"),
        (
            {"max_loss": "100", "loss_window_s": 60, "loss_reset_at": "2026-01-01T00:00:00Z"},
            "not both",
        ),
        ({"loss_window_s": 60}, "need max_loss"),
        ({"max_net_exposure": "lots"}, "max_net_exposure"),
    ],
)
def test_bad_limits_are_a_clear_config_error(settings_: dict[str, object], message: str) -> None:
    from pydantic import ValidationError

    from setpoint.config import Settings

    with pytest.raises(ValidationError, match=message):
        Settings(accounts={"a": settings_})  # type: ignore[dict-item]


def test_the_default_limits_are_off() -> None:
    from setpoint.config import AccountConfig
    from setpoint.core.risk import NO_LIMITS
    from setpoint.settings_core import risk_limits

    assert risk_limits(AccountConfig()) is NO_LIMITS
    on = risk_limits(AccountConfig(max_position=D("1"), max_loss=D("5"), loss_window_s=3600))
    assert on.exposure
    assert on.loss_window == timedelta(hours=1)
