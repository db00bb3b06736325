"""The plan-level risk check (core.risk.screen): it decides exactly what the walk over the
actions one by one (`screen_each`) decides, and a plan far within its limits is kept
without building the key's book or the account's view."""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from setpoint.core.events import Action, ActionKind
from setpoint.core.model import MarketKind, Side
from setpoint.core.risk import AccountRiskView, KeyBook, RiskLimits, screen, screen_each
from setpoint.testing.synthetic import market

D = Decimal
T = TypeVar("T")
SYMBOLS = ("BTC/USDT", "BTC/USDT:USDT")
MARKETS = {
    "BTC/USDT": market("BTC/USDT", step=D("0.001")),
    "BTC/USDT:USDT": market("BTC/USDT:USDT", MarketKind.SWAP, step=D("0.001")),
    "BTC/USDT:USDT-x10": market("BTC/USDT:USDT", MarketKind.SWAP, contract_size=D(10)),
}

amounts = st.integers(1, 3_000).map(lambda n: D(n) / 1000)
signed = st.integers(-3_000, 3_000).map(lambda n: D(n) / 1000)
prices = st.integers(80, 120).map(D)
caps = st.integers(1, 400).map(lambda n: D(n) / 10)


def maybe(values: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.one_of(st.none(), values)


@st.composite
def actions(draw: st.DrawFn) -> list[Action]:
    out = []
    for n in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from([ActionKind.PLACE, ActionKind.AMEND, ActionKind.CANCEL]))
        if kind is ActionKind.CANCEL:
            out.append(Action(kind=kind, client_order_id=f"c{n}", intent_id=f"i{n}"))
            continue
        out.append(
            Action(
                kind=kind,
                intent_id=f"i{n}",
                client_order_id=f"sp-{n}",
                replaces=f"old-{n}" if kind is ActionKind.AMEND else None,
                side=draw(maybe(st.sampled_from([Side.BUY, Side.SELL]))),
                price=draw(maybe(prices)),
                quantity=draw(st.one_of(amounts, amounts, st.none())),
                attempt=1,
            )
        )
    return out


limits = st.builds(
    RiskLimits,
    max_order_notional=maybe(st.integers(1, 400).map(D)),
    max_open_orders_per_key=maybe(st.integers(0, 12)),
    price_band_bps=maybe(st.integers(1, 3_000)),
    max_position=maybe(caps),
    max_position_notional=maybe(st.integers(1, 4_000).map(D)),
    max_gross_exposure=maybe(st.integers(1, 6_000).map(D)),
    max_net_exposure=maybe(st.integers(1, 6_000).map(D)),
    max_margin_ratio=maybe(st.integers(1, 100).map(lambda n: D(n) / 100)),
)
views = st.builds(
    AccountRiskView,
    positions=st.dictionaries(st.sampled_from(["ETH/USDT", *SYMBOLS]), signed, max_size=2),
    marks=st.dictionaries(st.sampled_from(["ETH/USDT", *SYMBOLS]), prices, max_size=3),
    margin_ratio=maybe(st.integers(0, 100).map(lambda n: D(n) / 100)),
    available_margin=maybe(st.integers(0, 500).map(D)),
    leverage=st.dictionaries(st.sampled_from(SYMBOLS), st.integers(1, 20).map(D), max_size=1),
)
books = st.builds(KeyBook, signed, st.integers(0, 3_000).map(lambda n: D(n) / 1000),
                  st.integers(0, 3_000).map(lambda n: D(n) / 1000))  # fmt: skip


@settings(max_examples=1000)
@given(
    actions(),
    limits,
    views,
    books,
    st.tuples(amounts, amounts) | st.just((D(0), D(0))),
    maybe(prices),
    st.integers(0, 12),
    st.sampled_from(sorted(MARKETS)) | st.none(),
    st.booleans(),
)
def test_the_plan_level_check_decides_what_the_walk_decides(
    plan: list[Action],
    limits_: RiskLimits,
    view: AccountRiskView,
    book: KeyBook,
    extra: tuple[Decimal, Decimal],
    last_price: Decimal | None,
    live_count: int,
    market_name: str | None,
    gated: bool,
) -> None:
    mkt = None if market_name is None else MARKETS[market_name]
    # the ceiling: the book before the plan's cancels (as much working as the book, or more)
    ceiling = KeyBook(book.position, book.buying + extra[0], book.selling + extra[1])
    walked = screen_each(
        plan, limits_, live_count=live_count, last_price=last_price, market=mkt,
        book=book if gated else None, view=view,
    )  # fmt: skip
    plain = screen(
        plan, limits_, live_count=live_count, last_price=last_price, market=mkt,
        book=book if gated else None, view=view,
    )  # fmt: skip
    lazy = screen(
        plan, limits_, live_count=live_count, last_price=last_price, market=mkt,
        book=(lambda: book) if gated else None, view=lambda: view,
        ceiling=ceiling if gated else None,
    )  # fmt: skip
    assert plain == walked
    assert lazy == walked


def buy(intent: str, quantity: Decimal) -> Action:
    return Action(
        kind=ActionKind.PLACE,
        intent_id=intent,
        client_order_id=f"sp-{intent}",
        side=Side.BUY,
        price=D(100),
        quantity=quantity,
        attempt=1,
    )


def _never() -> KeyBook:
    raise AssertionError("the book should not be built")


def test_a_plan_within_its_limits_is_kept_without_building_the_book_or_the_view() -> None:
    plan = [
        Action(kind=ActionKind.CANCEL, client_order_id="c1", intent_id="i1"),
        buy("i2", D("0.5")),
    ]
    limits_ = RiskLimits(max_open_orders_per_key=5, max_position=D(3))
    ceiling = KeyBook(D(1), D(1), D(0))
    kept, refused = screen(
        plan, limits_, live_count=3, last_price=D(100), market=MARKETS["BTC/USDT"],
        book=_never, view=lambda: AccountRiskView(), ceiling=ceiling,
    )  # fmt: skip
    assert (kept, refused) == (tuple(plan), ())


def test_a_plan_that_breaks_a_limit_is_walked_with_the_exact_book() -> None:
    plan = [buy(f"i{n}", D(1)) for n in range(3)]
    built = []

    def book() -> KeyBook:
        built.append(1)
        return KeyBook(D(0), D("0.5"), D(0))

    kept, refused = screen(
        plan, RiskLimits(max_position=D("2.5")), live_count=0, last_price=D(100),
        market=MARKETS["BTC/USDT"], book=book, ceiling=KeyBook(D(0), D(5), D(0)),
    )  # fmt: skip
    assert [a.intent_id for a in kept] == ["i0", "i1"]
    assert [(r.intent_id, r.detail) for r in refused] == [("i2", "position 3.5 above 2.5")]
    assert built == [1]
