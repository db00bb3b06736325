"""Risk limits per account (docs/semantics.md §3): an action that breaks one is not executed.

`screen(actions, ...)` keeps the actions that pass and returns a `RiskReason` for each one
dropped (the differ service records them as `RiskRejected`). Cancels always pass. Rules:

* ``max_order_notional``: price * quantity * contract size of a place/amend (a market order
  is valued at the last price; unknown last price → the rule cannot pass it);
* ``price_band``: a limit price more than `price_band_bps` away from the last price
  (unknown last price → the rule cannot pass it);
* ``max_open_orders``: live orders - cancels - amends' old orders + places + amends' new
  orders must stay within `max_open_orders_per_key`; places beyond it are dropped in plan
  order (amends replace one order by one and never add).

An amend that fails a rule is dropped whole: the old order keeps working.

Exposure gates (`check_exposure`), for an action that does not *reduce* (`reduces`: filling
it and every order already working on its side leaves the key's position nearer zero,
never across it); a reducing action and a cancel always pass them:

* ``max_position`` / ``max_position_notional``: the key's worst-case position after the
  action (position + every working order on the action's side + the action), in base
  units (quantity * contract size) / valued at the mark, above the limit;
* ``max_gross_exposure`` / ``max_net_exposure``: the account's sum of |position * mark|
  / |sum of position * mark| over its keys, with the key's worst case after the action,
  above the limit and above what it is without the action;
* ``margin_health``: on a derivative key, the account's margin ratio (maintenance margin /
  margin balance) above `max_margin_ratio`, or its available margin below the action's
  initial margin (notional at the mark / leverage; leverage 1 when unknown).

Account gates: ``max_order_rate`` (`check_rate`: places, amends and cancels sent in the last
second / minute; only places and amends are refused, a cancel always goes) and ``max_loss``
(`loss_breached`: the account's loss over its window, or since its reset, at or above
`max_loss` puts the account in liquidate-only).

Every gate reads only its arguments: the account's facts come in an `AccountRiskView`.
Each refusal's detail names the value and the threshold ("... V above T").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import repeat
from operator import mul
from typing import NamedTuple

from setpoint.core.events import Action, ActionKind, RiskReason
from setpoint.core.model import MarketInfo, Side

__all__ = [
    "AccountRiskView",
    "KeyBook",
    "RiskLimits",
    "check_action",
    "check_exposure",
    "check_rate",
    "loss_breached",
    "loss_reached",
    "reduces",
    "screen",
    "screen_each",
]

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The account's limits; None = no limit."""

    max_order_notional: Decimal | None = None
    max_open_orders_per_key: int | None = None
    price_band_bps: int | None = None
    max_position: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_gross_exposure: Decimal | None = None
    max_net_exposure: Decimal | None = None
    max_margin_ratio: Decimal | None = None
    max_orders_per_s: int | None = None
    max_orders_per_min: int | None = None
    max_loss: Decimal | None = None
    loss_window: timedelta | None = None
    """None: the loss counts since `loss_reset_at` (or since the log began)."""
    loss_reset_at: datetime | None = None

    @property
    def none(self) -> bool:
        return self is NO_LIMITS or self == NO_LIMITS

    exposure: bool = field(init=False, compare=False, repr=False)
    """Some exposure gate is on (`check_exposure` has work to do): worked out once, when
    the limits are built (it is asked on every plan)."""

    def __post_init__(self) -> None:
        exposure = (
            self.max_position is not None
            or self.max_position_notional is not None
            or self.max_gross_exposure is not None
            or self.max_net_exposure is not None
            or self.max_margin_ratio is not None
        )
        object.__setattr__(self, "exposure", exposure)

    @property
    def rate(self) -> bool:
        """An order-rate gate is on (`check_rate` has work to do)."""
        return self.max_orders_per_s is not None or self.max_orders_per_min is not None


@dataclass(frozen=True, slots=True)
class AccountRiskView:
    """The account's facts the gates read (immutable; built by the services).

    `positions` and `marks` by symbol: positions in base units (contract size applied),
    marks the price to value them at (the venue's mark where known, else the last price).
    The rest comes from the venue's margin facts and the portfolio fold; None = not known
    yet, and a gate that needs an unknown fact lets the action pass."""

    positions: Mapping[str, Decimal] = field(default_factory=dict)
    marks: Mapping[str, Decimal] = field(default_factory=dict)
    loss: Decimal | None = None
    """Loss over the limit's window or since its reset (positive = money lost)."""
    margin_ratio: Decimal | None = None
    """Maintenance margin / margin balance of the derivatives wallet."""
    available_margin: Decimal | None = None
    leverage: Mapping[str, Decimal] = field(default_factory=dict)
    sent: Sequence[datetime] = ()
    """When the account's recent places, amends and cancels were sent (any order)."""


NO_VIEW = AccountRiskView()


class KeyBook(NamedTuple):
    """One key's position (base units) and the remaining quantity (base units) of the
    orders working on each side. (A named tuple: built for each plan that places or
    amends, and a tuple is built in a third of a frozen dataclass's time.)"""

    position: Decimal = Decimal(0)
    buying: Decimal = Decimal(0)
    selling: Decimal = Decimal(0)

    def working(self, side: Side) -> Decimal:
        return self.buying if side is Side.BUY else self.selling

    def add(self, side: Side, quantity: Decimal) -> KeyBook:
        if side is Side.BUY:
            return KeyBook(self.position, self.buying + quantity, self.selling)
        return KeyBook(self.position, self.buying, self.selling + quantity)

    def worst(self, side: Side, quantity: Decimal) -> Decimal:
        """The position if `quantity` more and everything working on `side` filled."""
        total = self.working(side) + quantity
        return self.position + total if side is Side.BUY else self.position - total


NO_LIMITS = RiskLimits()


def check_action(
    action: Action,
    limits: RiskLimits,
    last_price: Decimal | None,
    market: MarketInfo | None = None,
) -> RiskReason | None:
    """The first per-action rule `action` breaks (notional, price band), or None."""
    if action.kind is ActionKind.CANCEL or action.quantity is None:
        return None
    price = action.price if action.price is not None else last_price
    if limits.max_order_notional is not None:
        size = market.contract_size if market is not None else Decimal(1)
        if price is None:
            return _reason(action, "max_order_notional", "no price to value the order at")
        notional = price * action.quantity * size
        if notional > limits.max_order_notional:
            detail = f"notional {notional} above {limits.max_order_notional}"
            return _reason(action, "max_order_notional", detail)
    if limits.price_band_bps is not None and action.price is not None:
        if last_price is None or last_price <= 0:
            return _reason(action, "price_band", "no last price to check the band against")
        away = abs(action.price - last_price) / last_price * _BPS
        if away > limits.price_band_bps:
            detail = f"price {action.price} is {away:.1f} bps from {last_price}"
            return _reason(action, "price_band", detail)
    return None


def _reason(action: Action, rule: str, detail: str) -> RiskReason:
    return RiskReason(intent_id=action.intent_id, rule=rule, detail=detail)


def _above(action: Action, rule: str, what: str, value: Decimal, limit: Decimal) -> RiskReason:
    return _reason(action, rule, f"{what} {value} above {limit}")


def reduces(side: Side, quantity: Decimal, book: KeyBook) -> bool:
    """Filling `quantity` on `side`, and every order working on that side, leaves the
    position nearer zero and never across it."""
    position = book.position
    if position == 0 or (side is Side.BUY) == (position > 0):
        return False
    return book.working(side) + quantity <= abs(position)


def check_exposure(
    action: Action,
    symbol: str,
    book: KeyBook,
    view: AccountRiskView,
    limits: RiskLimits,
    market: MarketInfo | None = None,
) -> RiskReason | None:
    """The first exposure gate `action` breaks (module docstring), or None. `book` is the
    key's without `action` (for an amend: without the order it replaces)."""
    if action.kind is ActionKind.CANCEL or action.side is None or action.quantity is None:
        return None
    size = market.contract_size if market is not None else Decimal(1)
    quantity = action.quantity * size
    if reduces(action.side, quantity, book):
        return None
    worst = book.worst(action.side, quantity)
    mark = view.marks.get(symbol)
    if mark is None:
        mark = action.price
    reason = _position_gate(action, worst, mark, limits)
    if reason is None:
        reason = _account_gate(action, symbol, book, worst, mark, view, limits)
    if reason is None and market is not None and market.is_derivative:
        reason = _margin_gate(action, symbol, quantity, mark, view, limits)
    return reason


def _position_gate(
    action: Action, worst: Decimal, mark: Decimal | None, limits: RiskLimits
) -> RiskReason | None:
    if limits.max_position is not None and abs(worst) > limits.max_position:
        return _above(action, "max_position", "position", abs(worst), limits.max_position)
    cap = limits.max_position_notional
    if cap is None:
        return None
    if mark is None:
        return _reason(action, "max_position_notional", "no mark to value the position at")
    if abs(worst) * mark > cap:
        return _above(action, "max_position_notional", "notional", abs(worst) * mark, cap)
    return None


def _account_gate(
    action: Action,
    symbol: str,
    book: KeyBook,
    worst: Decimal,
    mark: Decimal | None,
    view: AccountRiskView,
    limits: RiskLimits,
) -> RiskReason | None:
    gross_cap, net_cap = limits.max_gross_exposure, limits.max_net_exposure
    if gross_cap is None and net_cap is None:
        return None
    if mark is None:
        return _reason(action, "max_gross_exposure", "no mark to value the position at")
    gross, net = _exposure(view, symbol)
    before = book.worst(action.side or Side.BUY, Decimal(0)) * mark
    after = worst * mark
    if gross_cap is not None:
        g_before, g_after = gross + abs(before), gross + abs(after)
        if g_after > gross_cap and g_after > g_before:
            return _above(action, "max_gross_exposure", "gross exposure", g_after, gross_cap)
    if net_cap is not None:
        n_before, n_after = abs(net + before), abs(net + after)
        if n_after > net_cap and n_after > n_before:
            return _above(action, "max_net_exposure", "net exposure", n_after, net_cap)
    return None


def _exposure(view: AccountRiskView, skip: str) -> tuple[Decimal, Decimal]:
    """Gross and signed net notional of the account's other keys (unknown mark: 0)."""
    gross = net = Decimal(0)
    for symbol, position in view.positions.items():
        mark = view.marks.get(symbol)
        if symbol == skip or mark is None or not position:
            continue
        gross += abs(position) * mark
        net += position * mark
    return gross, net


def _margin_gate(
    action: Action,
    symbol: str,
    quantity: Decimal,
    mark: Decimal | None,
    view: AccountRiskView,
    limits: RiskLimits,
) -> RiskReason | None:
    cap = limits.max_margin_ratio
    if cap is None:
        return None
    ratio = view.margin_ratio
    if ratio is not None and ratio > cap:
        return _above(action, "margin_health", "margin ratio", ratio, cap)
    available = view.available_margin
    if available is None or mark is None:
        return None
    initial = quantity * mark / view.leverage.get(symbol, Decimal(1))
    if available < initial:
        detail = f"initial margin {initial} above available margin {available}"
        return _reason(action, "margin_health", detail)
    return None


_SECOND, _MINUTE = timedelta(seconds=1), timedelta(minutes=1)


def check_rate(
    action: Action, sent: Sequence[datetime], now: datetime, limits: RiskLimits
) -> RiskReason | None:
    """``max_order_rate``: a place or amend when `sent` (send times, oldest first) already
    holds `max_orders_per_s` in the last second or `max_orders_per_min` in the last
    minute. Cancels always pass (they are counted in `sent` all the same)."""
    if action.kind is ActionKind.CANCEL:
        return None
    for cap, span, unit in (
        (limits.max_orders_per_s, _SECOND, "second"),
        (limits.max_orders_per_min, _MINUTE, "minute"),
    ):
        if cap is None:
            continue
        since, count = now - span, 0
        for at in reversed(sent):  # newest first: stop at the first one out of the span
            if at <= since:
                break
            count += 1
        if count >= cap:
            detail = f"{count} orders and cancels in the last {unit}, limit {cap}"
            return _reason(action, "max_order_rate", detail)
    return None


def loss_breached(view: AccountRiskView, limits: RiskLimits) -> RiskReason | None:
    """``max_loss``: the account's loss is at or above `max_loss` (the account is to go
    liquidate-only); None while the loss is unknown or below it."""
    return loss_reached(view.loss, limits)


def loss_reached(loss: Decimal | None, limits: RiskLimits) -> RiskReason | None:
    """`loss_breached` for the account's `loss` alone (`riskview.account_loss`)."""
    cap = limits.max_loss
    if cap is None or loss is None or loss < cap:
        return None
    return RiskReason(rule="max_loss", detail=f"loss {loss} at or above {cap}")


def screen(
    actions: Iterable[Action],
    limits: RiskLimits,
    *,
    live_count: int,
    last_price: Decimal | None,
    market: MarketInfo | None = None,
    book: KeyBook | Callable[[], KeyBook] | None = None,
    view: AccountRiskView | Callable[[], AccountRiskView] = NO_VIEW,
    ceiling: KeyBook | None = None,
) -> tuple[tuple[Action, ...], tuple[RiskReason, ...]]:
    """Split `actions` (in plan order) into those to execute and reasons for the others:
    exactly what `screen_each` decides, faster. `book`, `view`: as for `screen_each`, or a
    function that builds them, called only when needed. `ceiling`: the key's book before
    the plan's cancels, whose working quantities are at least `book`'s (and `book`'s are
    at least 0); the plan-level check tries it first, so that `book` is built only when
    that check fails with it.

    First the plan-level check (`_plan_passes`): the whole plan's worst case against each
    limit at once; when it passes, no action can break a limit and every one is kept. Only
    when it fails are the actions walked one by one (`screen_each`)."""
    ordered = tuple(actions)
    if not ordered or limits is NO_LIMITS:  # (limits equal to it pass the check below)
        return ordered, ()
    grow = _Growth.of(ordered)
    if grow is None:
        return ordered, ()
    views = _once(view)
    if _actions_pass(grow, limits, live_count, last_price, market):
        if not limits.exposure or market is None or book is None:
            return ordered, ()
        if ceiling is not None and _exposure_passes(grow, ceiling, True, views, limits, market):
            return ordered, ()
        book = book() if callable(book) else book
        if _exposure_passes(grow, book, False, views, limits, market):
            return ordered, ()
    book = book() if callable(book) else book
    return screen_each(
        ordered, limits, live_count=live_count, last_price=last_price, market=market,
        book=book, view=views(),
    )  # fmt: skip


def screen_each(
    actions: Iterable[Action],
    limits: RiskLimits,
    *,
    live_count: int,
    last_price: Decimal | None,
    market: MarketInfo | None = None,
    book: KeyBook | None = None,
    view: AccountRiskView = NO_VIEW,
) -> tuple[tuple[Action, ...], tuple[RiskReason, ...]]:
    """`screen` one action at a time, in plan order (the rules of the module docstring).
    `book`: the key's position and working orders once the plan's cancels (and amends'
    old orders) are gone, for the exposure gates (None: those gates are not checked);
    each kept place or amend is added to it."""
    if limits.none:
        return tuple(actions), ()
    kept: list[Action] = []
    reasons: list[RiskReason] = []
    ordered = list(actions)
    open_count = live_count - sum(1 for a in ordered if a.kind is ActionKind.CANCEL)
    cap = limits.max_open_orders_per_key
    gated = book if limits.exposure and market is not None else None
    for action in ordered:
        reason = check_action(action, limits, last_price, market)
        if reason is None and gated is not None and market is not None:
            reason = check_exposure(action, market.symbol, gated, view, limits, market)
            if reason is None and action.side is not None and action.quantity is not None:
                gated = gated.add(action.side, action.quantity * market.contract_size)
        if reason is None and action.kind is ActionKind.PLACE and cap is not None:
            if open_count >= cap:
                reason = _reason(action, "max_open_orders", f"{cap} open orders already")
            else:
                open_count += 1
        if reason is None:
            kept.append(action)
        else:
            reasons.append(reason)
    return tuple(kept), tuple(reasons)


# ------------------------------------------------------------------ the plan-level check
#
# Every per-action rule compares a value that only grows with the action's price distance,
# its notional, or the side's working total (all quantities are positive, and Decimal
# rounding keeps order), or whose absolute value is largest at one end of the range the
# side's total runs through (|a + t| is convex in t). So checking the extremes of the whole
# plan decides "nothing is refused" exactly; anything else is left to `screen_each`.

_CANCEL, _PLACE, _BUY, _SELL = ActionKind.CANCEL, ActionKind.PLACE, Side.BUY, Side.SELL
_ZERO, _ONE = Decimal(0), Decimal(1)


class _Growth(NamedTuple):
    """A plan's places and amends, gathered in one pass (plan order)."""

    actions: Sequence[Action]
    cancels: int
    places: int
    quantities: list[Decimal]
    banded: list[Decimal]
    """The prices of the limit orders."""
    unpriced: bool
    """Some order has no price (valued at the last price)."""
    buys: list[Decimal]
    sells: list[Decimal]

    @staticmethod
    def of(actions: Sequence[Action]) -> _Growth | None:
        """None when the plan only cancels."""
        cancels = places = 0
        quantities: list[Decimal] = []
        banded: list[Decimal] = []
        buys: list[Decimal] = []
        sells: list[Decimal] = []
        unpriced = False
        for action in actions:
            kind = action.kind
            if kind is _CANCEL:
                cancels += 1
                continue
            places += kind is _PLACE
            quantity = action.quantity
            if quantity is None:
                continue
            quantities.append(quantity)
            price = action.price
            if price is None:
                unpriced = True
            else:
                banded.append(price)
            side = action.side
            if side is _BUY:
                buys.append(quantity)
            elif side is _SELL:
                sells.append(quantity)
        if cancels == len(actions):
            return None
        return _Growth(actions, cancels, places, quantities, banded, unpriced, buys, sells)

    def max_notional(self, last_price: Decimal) -> Decimal:
        """The largest price * quantity of the plan's places and amends (`check_action`'s
        order of operations; no price: the last price)."""
        return max(
            (last_price if a.price is None else a.price) * a.quantity
            for a in self.actions
            if a.kind is not _CANCEL and a.quantity is not None
        )


def _actions_pass(
    grow: _Growth,
    limits: RiskLimits,
    live_count: int,
    last_price: Decimal | None,
    market: MarketInfo | None,
) -> bool:
    """No place exceeds the open-order limit and no place/amend breaks `check_action`."""
    cap = limits.max_open_orders_per_key
    if cap is not None and grow.places and live_count - grow.cancels + grow.places > cap:
        return False
    banded = grow.banded
    low, high = (min(banded), max(banded)) if banded else (None, None)
    top = limits.max_order_notional
    if top is not None and grow.quantities:
        if grow.unpriced and last_price is None:
            return False
        size = market.contract_size if market is not None else _ONE
        dearest = high
        if grow.unpriced and (dearest is None or (last_price or _ZERO) > dearest):
            dearest = last_price
        bound = (dearest or _ZERO) * max(grow.quantities) * size  # above: the exact largest
        if bound > top and grow.max_notional(last_price or _ZERO) * size > top:
            return False
    band = limits.price_band_bps
    if band is not None and low is not None and high is not None:
        if last_price is None or last_price <= 0:
            return False
        for price in (low,) if low == high else (low, high):
            if abs(price - last_price) / last_price * _BPS > band:
                return False
    return True


def _exposure_passes(
    grow: _Growth,
    book: KeyBook,
    floor: bool,
    views: Callable[[], AccountRiskView],
    limits: RiskLimits,
    market: MarketInfo,
) -> bool:
    """No place/amend breaks `check_exposure` with every one of them kept: each side's
    worst case from its working total (0 with `floor`: `book` is then a ceiling) to that
    total plus the side's places and amends. Each gate holds at both ends of that range
    when it holds everywhere between (`_ends_pass`)."""
    view, symbol, size = views(), market.symbol, market.contract_size
    mark = view.marks.get(symbol)
    margin = limits.max_margin_ratio if market.is_derivative else None
    gross_cap, net_cap = limits.max_gross_exposure, limits.max_net_exposure
    valued = limits.max_position_notional is not None or gross_cap is not None
    if mark is None and (valued or net_cap is not None or margin is not None):
        return False
    mark = mark or _ZERO
    gross = net = _ZERO
    if gross_cap is not None or net_cap is not None:
        gross, net = _exposure(view, symbol)
    position = book.position
    for quantities, working, sign in ((grow.buys, book.buying, 1), (grow.sells, book.selling, -1)):
        if not quantities:
            continue
        top = sum(map(mul, quantities, repeat(size)), working)
        low = _ZERO if floor else working
        ends = (position + low, position + top) if sign > 0 else (position - low, position - top)
        if not _ends_pass(ends, mark, gross, net, limits):
            return False
    if margin is None or not (grow.buys or grow.sells):
        return True
    largest = max(max(grow.buys, default=_ZERO), max(grow.sells, default=_ZERO)) * size
    return _margin_passes(largest, mark, view, symbol, margin)


def _ends_pass(
    ends: tuple[Decimal, Decimal], mark: Decimal, gross: Decimal, net: Decimal, limits: RiskLimits
) -> bool:
    """The position, position notional, gross and net gates pass at both ends of a side's
    worst case (so everywhere between)."""
    first, last = abs(ends[0]), abs(ends[1])
    big = first if first > last else last
    cap = limits.max_position
    if cap is not None and big > cap:
        return False
    cap = limits.max_position_notional
    if cap is not None and big * mark > cap:
        return False
    gross_cap, net_cap = limits.max_gross_exposure, limits.max_net_exposure
    if gross_cap is not None:
        for worst in ends:
            if gross + abs(worst * mark) > gross_cap:
                return False
    if net_cap is not None:
        for worst in ends:
            if abs(net + worst * mark) > net_cap:
                return False
    return True


def _margin_passes(
    quantity: Decimal, mark: Decimal, view: AccountRiskView, symbol: str, cap: Decimal
) -> bool:
    """The margin gate passes the plan's largest place/amend (`quantity`, base units)."""
    ratio, available = view.margin_ratio, view.available_margin
    if ratio is not None and ratio > cap:
        return False
    return available is None or quantity * mark / view.leverage.get(symbol, _ONE) <= available


def _once(view: AccountRiskView | Callable[[], AccountRiskView]) -> Callable[[], AccountRiskView]:
    """`view`, or what the function `view` returns, built at most once."""
    if not callable(view):
        return lambda: view
    built: list[AccountRiskView] = []

    def once() -> AccountRiskView:
        if not built:
            built.append(view())
        return built[0]

    return once
