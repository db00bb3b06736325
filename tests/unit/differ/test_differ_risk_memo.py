"""The differ's decisions read the account's view and loss from its `RiskMemo`: random
targets, executions, fills, prices and times give the same outcome with the memo as
built from scratch (pure: the differ's view folds the events, `decide` runs on it)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from immutables import Map
from tests.unit.core.strategies import (
    KEY,
    MARKET,
    at,
    ev_fill,
    ev_placed,
    ev_position,
    ev_submit,
    ev_target,
    order,
)

from setpoint.config import AccountConfig
from setpoint.core.events import ActionKind
from setpoint.core.model import Key
from setpoint.core.projections import LossClock
from setpoint.core.riskview import RiskMemo
from setpoint.differ import decide
from setpoint.differ.view import DifferView
from setpoint.eventlog.port import Recorded
from setpoint.testing.synthetic import markets_loaded

D = Decimal
OTHER = Key(KEY.account, "ETH/USDT")
ACCOUNT = AccountConfig(
    max_gross_exposure=D(600), max_net_exposure=D(500), max_position=D(4),
    max_loss=D(5), loss_window_s=60,
)  # fmt: skip
CLOCKS = Map({KEY.account: LossClock(window=timedelta(seconds=60))})

# ("target", buy price, quantity), ("execute",), ("fill", quantity), ("price", key, price),
# ("position", quantity of the other key), ("time", seconds forward)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("target"), st.integers(95, 105), st.integers(1, 3)),
        st.tuples(st.just("execute")),
        st.tuples(st.just("fill"), st.integers(1, 3)),
        st.tuples(st.just("price"), st.sampled_from([KEY, OTHER]), st.integers(80, 120)),
        st.tuples(st.just("position"), st.integers(-3, 3)),
        st.tuples(st.just("time"), st.integers(0, 40)),
    ),
    max_size=30,
)


class _Differ:
    def __init__(self) -> None:
        self.view = DifferView(clocks=CLOCKS)
        self.prices: Map[Key, Decimal] = Map()
        self.seconds = self.generation = self.trades = 0
        self.plan: Any = None
        self.apply(markets_loaded(KEY.account, MARKET))

    def apply(self, event: Any) -> None:
        self.view.apply(Recorded(self.view.position + 1, event))

    def step(self, step: tuple[Any, ...]) -> None:
        what, now = step[0], at(self.seconds)
        if what == "target":
            self.generation += 1
            orders = [order("a", price=f"{step[1]}.00", qty=f"{step[2]}.000")]
            self.apply(ev_target(orders, self.generation, now))
        elif what == "execute" and self.plan is not None:
            for n, action in enumerate(self.plan.actions):
                if action.kind is ActionKind.CANCEL:  # (left working: the plan asks again)
                    continue
                self.apply(ev_submit(action, at=now))
                self.apply(ev_placed(action.client_order_id, f"v-{self.generation}-{n}"))
        elif what == "fill":
            live = self.view.actual.live_orders(KEY)
            if live:
                self.trades += 1
                rec = min(live, key=lambda r: (r.price or 0, r.client_order_id))  # the lowest
                fill = ev_fill(rec, min(D(step[1]), rec.remaining), f"t{self.trades}")
                self.apply(fill.model_copy(update={"occurred_at": now}))
        elif what == "price":
            self.prices = self.prices.set(step[1], D(step[2]))
        elif what == "position":
            self.apply(ev_position(str(step[1]), OTHER))
        elif what == "time":
            self.seconds += step[1]

    def decide(self, memo: RiskMemo | None) -> decide.Outcome:
        return decide.decide(
            self.view.intent, self.view.actual, KEY, ACCOUNT, at(self.seconds),
            last_price=self.prices.get(KEY), previous=self.plan, prices=self.prices,
            portfolio=self.view.portfolio.account(KEY.account), memo=memo,
        )  # fmt: skip


@settings(max_examples=150)
@given(STEPS)
@example(  # a loss at the limit, then the window passes its marks with nothing folded
    [("target", 105, 3), ("execute",), ("fill", 1), ("time", 5), ("target", 95, 3),
     ("execute",), ("fill", 1), ("time", 40), ("time", 40)]
)  # fmt: skip
@example(  # the other key's position puts the place above the gross limit, then goes
    [("price", OTHER, 100), ("position", 3), ("target", 105, 3), ("position", 0)]
)
def test_decisions_with_the_memo_are_the_decisions_without_it(steps: list[Any]) -> None:
    differ, memo = _Differ(), RiskMemo()
    for step in steps:
        differ.step(step)
        kept, built = differ.decide(memo), differ.decide(None)
        assert (kept.data, kept.refused, kept.liquidate) == (
            built.data,
            built.refused,
            built.liquidate,
        )
        differ.plan = built.plan
