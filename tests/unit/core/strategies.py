"""Builders, a perfect in-memory venue and hypothesis strategies for the kernel tests (the
venue's own view of orders and trades, for reconciliation: `venue_views`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from setpoint.core import events as ev
from setpoint.core import projections as proj
from setpoint.core.diff import Plan, diff
from setpoint.core.effective import EffectiveTarget, effective_target
from setpoint.core.model import (
    Key,
    MarketInfo,
    MarketKind,
    Producer,
    Side,
    TargetOrder,
    TargetState,
    TimeInForce,
)
from setpoint.core.risk import NO_LIMITS, RiskLimits
from setpoint.testing.synthetic import fill_data, market, observed_data, submitted_data

D = Decimal
KEY = Key("demo", "BTC/USDT")
PERP = Key("demo", "BTC/USDT:USDT")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LAST = D("100")
ONE = D(1)
MARKET = market("BTC/USDT", step=D("0.001"))
PERP_MARKET = market("BTC/USDT:USDT", MarketKind.SWAP, step=D("0.001"))


def order(
    intent: str,
    side: str = "buy",
    price: str | None = "100.00",
    qty: str = "1.000",
    **extra: Any,
) -> TargetOrder:
    return TargetOrder(
        id=intent,
        side=Side(side),
        price=D(price) if price is not None else None,
        quantity=D(qty),
        **extra,
    )


@dataclass
class Rec:
    position: int
    event: ev.Event


@dataclass
class Log:
    """An in-memory log with both projections folded as events are appended."""

    records: list[Rec] = field(default_factory=list)
    intent: proj.IntentState = field(default_factory=proj.IntentState.empty)
    actual: proj.ActualState = field(default_factory=proj.ActualState.empty)
    generations: dict[Key, int] = field(default_factory=dict)
    last_plan: dict[Key, Plan] = field(default_factory=dict)
    now: datetime = T0

    def append(self, *events: ev.Event) -> None:
        for event in events:
            position = len(self.records) + 1
            self.records.append(Rec(position, event))
            self.intent = proj.apply_intent(self.intent, position, event)
            self.actual = proj.apply_actual(self.actual, position, event)

    def ka(self, key: Key = KEY) -> proj.KeyActual:
        return self.actual.key(key)

    def publish(
        self,
        orders: tuple[TargetOrder, ...] | list[TargetOrder] = (),
        *,
        key: Key = KEY,
        position: Decimal | None = None,
        expires_at: datetime | None = None,
    ) -> ev.TargetPublished:
        gen = self.generations.get(key, 0) + 1
        self.generations[key] = gen
        event = ev_target(orders, gen, self.now, key, position=position, expires_at=expires_at)
        self.append(event)
        return event

    def submit_first(self, key: Key = KEY) -> tuple[ev.Action, proj.OrderRecord]:
        """Submit the first action of the key's plan at `now`, left unanswered: the action
        and the order record it opens (in flight)."""
        action = self.plan(key).actions[0]
        self.append(ev_submit(action, key, self.now))
        rec = self.actual.order(key, action.client_order_id)
        assert rec is not None
        return action, rec

    def effective(self, key: Key = KEY) -> EffectiveTarget:
        return effective_target(
            self.intent.target(key), self.ka(key), self.actual.account(key.account), self.now, key
        )

    def plan(
        self,
        key: Key = KEY,
        *,
        market: MarketInfo | None = None,
        last_price: Decimal | None = LAST,
        limits: RiskLimits = NO_LIMITS,
        incremental: bool = True,
    ) -> Plan:
        mk = market or (PERP_MARKET if key == PERP else MARKET)
        previous = self.last_plan.get(key) if incremental else None
        plan = diff(
            self.effective(key), self.ka(key), mk, last_price=last_price, limits=limits,
            previous=previous,
        )  # fmt: skip
        self.last_plan[key] = plan
        return plan


# --------------------------------------------------------------------------- event makers


def ev_target(
    orders: tuple[TargetOrder, ...] | list[TargetOrder], generation: int, at: datetime = T0,
    key: Key = KEY, *, position: Decimal | None = None, expires_at: datetime | None = None,
) -> ev.TargetPublished:  # fmt: skip
    """The intake's acceptance of generation `generation` of strategy "test" for `key`."""
    assert key.symbol is not None
    target = TargetState(
        account=key.account, symbol=key.symbol, generation=generation, strategy="test",
        position=position, expires_at=expires_at, orders=tuple(orders),
    )  # fmt: skip
    return ev.TargetPublished.create(
        key, Producer.INTAKE, ev.TargetPublishedData(target=target), occurred_at=at
    )


def ev_submit(action: ev.Action, key: Key = KEY, at: datetime = T0) -> ev.OrderSubmitted:
    return ev.OrderSubmitted.create(key, Producer.EXECUTOR, submitted_data(action), occurred_at=at)


def ev_placed(
    coid: str, order_id: str, key: Key = KEY, status: ev.OrderStatus = ev.OrderStatus.NEW,
    filled: str = "0",
) -> ev.OrderPlaced:  # fmt: skip
    return ev.OrderPlaced.create(
        key,
        Producer.EXECUTOR,
        ev.OrderPlacedData(
            client_order_id=coid, order_id=order_id, status=status, filled=D(filled)
        ),
    )


def ev_rejected(
    coid: str, when: datetime = T0, *, terminal: bool = False, key: Key = KEY,
    reason: str = "insufficient funds", code: str | None = "-2010",
) -> ev.OrderRejected:  # fmt: skip
    """The venue's refusal of an attempt (by default not terminal: a balance too low)."""
    data = ev.OrderRejectedData(client_order_id=coid, reason=reason, code=code, terminal=terminal)
    return ev.OrderRejected.create(key, Producer.EXECUTOR, data, occurred_at=when)


def ev_cancel_submitted(coid: str, key: Key = KEY) -> ev.CancelSubmitted:
    return ev.CancelSubmitted.create(
        key, Producer.EXECUTOR, ev.CancelSubmittedData(client_order_id=coid)
    )


def ev_cancelled(
    coid: str | None, key: Key = KEY, reason: str = "requested", filled: str = "0",
    order_id: str | None = None,
) -> ev.OrderCancelled:  # fmt: skip
    return ev.OrderCancelled.create(
        key,
        Producer.GATEWAY,
        ev.OrderCancelledData(
            client_order_id=coid,
            order_id=order_id,
            reason=reason,  # type: ignore[arg-type]
            filled=D(filled),
        ),
    )


def ev_fill(
    rec: proj.OrderRecord, qty: str | Decimal, trade_id: str, price: Decimal | None = None,
    source: ev.FillSource = ev.FillSource.WS,
) -> ev.FillObserved:  # fmt: skip
    data = fill_data(
        rec.client_order_id, rec.order_id or "?", rec.side, price or rec.price or D("100"),
        D(qty), trade_id=trade_id, source=source,
    )  # fmt: skip
    return ev.FillObserved.create(rec.key, Producer.GATEWAY, data)


def ev_observed(
    rec: proj.OrderRecord, status: ev.OrderStatus, filled: str | Decimal,
    source: ev.ObservationSource = ev.ObservationSource.QUERY, at: datetime | None = None,
) -> ev.OrderObserved:  # fmt: skip
    """The gateway's observation of `rec` (by a query unless `source` says otherwise)."""
    data = observed_data(
        rec.client_order_id, rec.order_id or "?", rec.side, rec.price, rec.quantity,
        source=source, type=rec.type, time_in_force=rec.time_in_force, filled=D(filled),
        status=status,
    )  # fmt: skip
    return ev.OrderObserved.create(rec.key, Producer.GATEWAY, data, occurred_at=at)


def ev_not_found(coid: str, n: int, key: Key = KEY, at: datetime = T0) -> ev.OrderNotFound:
    return ev.OrderNotFound.create(
        key, Producer.GATEWAY, ev.OrderNotFoundData(client_order_id=coid, consecutive=n),
        occurred_at=at,
    )  # fmt: skip


def ev_position(qty: str, key: Key = PERP) -> ev.PositionObserved:
    return ev.PositionObserved.create(
        key, Producer.GATEWAY, ev.PositionObservedData(quantity=D(qty))
    )


# --------------------------------------------------------------------------- perfect venue


@dataclass
class PerfectVenue:
    """Executes plans exactly: every place is booked, every cancel succeeds. IOC orders fill
    `ioc_fill` of their quantity (default all) and then expire."""

    next_id: int = 1
    trade: int = 1
    ioc_fill: Decimal = ONE

    def execute(self, log: Log, plan: Plan) -> None:
        for action in plan.actions:
            if action.kind is ev.ActionKind.CANCEL:
                log.append(ev_cancel_submitted(action.client_order_id, plan.key))
                log.append(ev_cancelled(action.client_order_id, plan.key))
                continue
            log.append(ev_submit(action, plan.key, log.now))
            if action.kind is ev.ActionKind.AMEND and action.replaces is not None:
                log.append(ev_cancelled(action.replaces, plan.key))
            self._book(log, plan.key, action)

    def _book(self, log: Log, key: Key, action: ev.Action) -> None:
        oid = str(self.next_id)
        self.next_id += 1
        log.append(ev_placed(action.client_order_id, oid, key))
        if action.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            rec = log.actual.order(key, action.client_order_id)
            assert rec is not None
            assert action.quantity is not None
            qty = round_qty(action.quantity * self.ioc_fill)
            if qty > 0:
                log.append(ev_fill(rec, qty, self.trade_id()))
            if log.actual.order(key, action.client_order_id).is_open:  # type: ignore[union-attr]
                log.append(ev_cancelled(action.client_order_id, key, reason="expired"))

    def trade_id(self) -> str:
        self.trade += 1
        return f"t{self.trade}"


def round_qty(qty: Decimal) -> Decimal:
    return qty.quantize(D("0.001"))


# --------------------------------------------------------------------------- hypothesis

INTENTS = [f"i{n}" for n in range(6)]
PRICES = ["99.00", "100.00", "101.50"]
QTYS = ["0.100", "0.250", "1.000"]


@st.composite
def target_orders(draw: st.DrawFn, oco: bool = False) -> list[TargetOrder]:
    ids = draw(st.lists(st.sampled_from(INTENTS), unique=True, max_size=len(INTENTS)))
    out = []
    for intent in ids:
        extra: dict[str, Any] = {}
        if oco and draw(st.booleans()):
            extra["oco_group"] = draw(st.sampled_from(["g1", "g2"]))
        if draw(st.integers(0, 5)) == 0:
            extra["time_in_force"] = TimeInForce.IOC
        out.append(
            order(
                intent,
                draw(st.sampled_from(["buy", "sell"])),
                draw(st.sampled_from(PRICES)),
                draw(st.sampled_from(QTYS)),
                **extra,
            )
        )
    return out


positions = st.one_of(st.none(), st.sampled_from([D("0"), D("0.500"), D("-0.250")]))

# One step of a random history: publish, execute the plan (perfectly or partly), or a venue
# fact on a random live order (partial fill, duplicate fill, venue cancel, not found).
steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["publish", "execute", "half", "fill", "dupfill", "vcancel", "notfound", "pos"]
        ),
        st.integers(0, 10_000),
    ),
    max_size=25,
)

# The same, plus attempts left in flight ("inflight": the plan's places submitted, never
# answered), lost ("lost": one of them closed as lost) and inferred fills ("infer").
lossy_steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["publish", "execute", "half", "fill", "dupfill", "vcancel", "notfound", "pos",
             "inflight", "lost", "infer"]
        ),
        st.integers(0, 10_000),
    ),
    max_size=25,
)  # fmt: skip


History = tuple[list[tuple[str, int]], list[Any]]
"""Steps (see `steps`) and the targets their publishes cycle through (orders, position)."""


def lossy_histories(
    targets: st.SearchStrategy[list[TargetOrder]] | None = None,
    position: st.SearchStrategy[Decimal | None] = positions,
    *,
    min_targets: int = 1,
    max_targets: int | None = None,
    history_steps: st.SearchStrategy[list[tuple[str, int]]] = lossy_steps,
) -> st.SearchStrategy[History]:
    """Random `History`s for `played`: `lossy_steps` (or `history_steps`) and from
    `min_targets` to `max_targets` targets drawn from `targets` (default `target_orders()`)
    with a position from `position`."""
    orders = target_orders() if targets is None else targets
    return st.tuples(
        history_steps,
        st.lists(st.tuples(orders, position), min_size=min_targets, max_size=max_targets),
    )


def played(history: History) -> Log:
    """A fresh `Log` driven through `history` by a `PerfectVenue` (see `run_history`)."""
    log = Log()
    run_history(log, PerfectVenue(), *history)
    return log


def live_records(log: Log, key: Key = KEY) -> list[proj.OrderRecord]:
    ka = log.ka(key)
    return sorted(ka.live_orders(), key=lambda o: o.ref)


def run_history(
    log: Log, venue: PerfectVenue, history: list[tuple[str, int]], targets: list[Any]
) -> None:
    """Drive `log` through a random but valid history (see `steps`)."""
    for n, (what, seed) in enumerate(history):
        if what == "publish":
            orders, pos = targets[n % len(targets)]
            log.publish(orders, position=pos)
        elif what in ("execute", "half"):
            plan = log.plan()
            if what == "half":
                plan = _first_half(plan)
            venue.execute(log, plan)
        elif what == "inflight":
            for action in log.plan().actions:
                if action.kind is ev.ActionKind.PLACE:
                    log.append(ev_submit(action, at=log.now))
        elif what == "lost":
            waiting = [o for o in live_records(log) if o.status is None]
            if waiting:
                coid = waiting[seed % len(waiting)].client_order_id
                log.append(ev_cancelled(coid, reason="lost"))
        else:
            _venue_fact(log, venue, what, seed)


def _first_half(plan: Plan) -> Plan:
    keep = plan.actions[: (len(plan.actions) + 1) // 2]
    return Plan(plan.key, plan.generation, plan.target_event_id, keep)


def _venue_fact(log: Log, venue: PerfectVenue, what: str, seed: int) -> None:
    live = [o for o in live_records(log) if o.status is not None]
    if what == "pos":
        log.append(ev_position(str(D(seed % 7) / 4), KEY))
        return
    if not live:
        return
    rec = live[seed % len(live)]
    if what == "fill":
        qty = round_qty(rec.remaining * D(seed % 3 + 1) / 3)
        if qty > 0:
            log.append(ev_fill(rec, qty, venue.trade_id()))
    elif what == "dupfill":
        log.append(ev_fill(rec, round_qty(rec.remaining / 2) or D("0.001"), "dup-1"))
    elif what == "vcancel":
        log.append(ev_cancelled(rec.client_order_id, reason="venue", filled=str(rec.done)))
    elif what == "notfound" and rec.client_order_id:
        log.append(ev_not_found(rec.client_order_id, rec.not_found + 1, at=log.now))
    elif what == "infer":
        reported = rec.done + round_qty(rec.remaining * D(seed % 3 + 1) / 3)
        if reported > rec.done:
            log.append(ev_inferred(rec, reported))


def ev_inferred(rec: proj.OrderRecord, order_filled: Decimal) -> ev.FillObserved:
    """The inferred fill reconciliation makes when the venue reports `order_filled`."""
    data = fill_data(
        rec.client_order_id, rec.order_id or "?", rec.side, rec.price or D("100"),
        order_filled - rec.filled, trade_id=f"inferred-{rec.ref}-{order_filled}",
        source=ev.FillSource.INFERRED,
    ).model_copy(update={"order_filled": order_filled})  # fmt: skip
    return ev.FillObserved.create(rec.key, Producer.GATEWAY, data)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
