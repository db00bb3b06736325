"""The portfolio: realised and unrealised PnL, equity, peak equity and drawdown per key and
per account, as a pure fold of the log (`apply_portfolio(state, position, event)`).

What is counted, per key:

* **fills** (`FillObserved`) of our orders and of adopted ones (ours by client order id,
  adopted by an `OrderObserved` with `adopted`), as the actual projection counts them: a
  fill is folded once per (venue, trade id); an order counts `max(sum of its real trades,
  the filled quantity its inferred fills name)`, so a real trade that stands for an
  inferred one adds only what goes beyond it (at its own price). The position is the net
  of these fills, valued by **average cost**: a fill that adds to the position (or opens
  it) moves the average entry price; one that reduces it realises `closed quantity x
  (price - entry) x contract size` (sign of the position), and one that goes through zero
  opens the rest at its price. A position the venue reports without fills behind it (from
  before Setpoint, or foreign) is not valued here.
* **fees** are taken off the realised PnL: in the quote asset as they are, in the base
  asset at the fill's price; a fee in any other asset (BNB) is not valued: it is kept by
  currency in `other_fees`.
* **mark**: the last price the log shows for the symbol, in log order: a fill's price, or
  a `MarginObserved` mark (its positions' mark prices, then its `marks`). Unrealised PnL =
  position x (mark - entry) x contract size (0 without a mark).
* **equity** = realised + unrealised (the key's PnL since the log began); **peak equity**
  is the highest equity after any event, starting at 0; **drawdown** = peak - equity.

Per account the same figures are the sums over its keys, kept as running totals (equal to
the keys' figures to Decimal's 28 significant digits: the average entry price is a
division), one quote asset per account assumed (amounts in different quotes are added as
they are); the peak is that of the
account's equity, and `margin` is the last `MarginObserved` (the venue's futures wallet).
`AccountPortfolio` is the small frozen value risk gates read (`PortfolioState.account`).

**Loss over a window or since a reset** (the ``max_loss`` limit reads it: `loss_since`),
per account, by event time only (`occurred_at`, never the wall clock), as configured per
account in `PortfolioState.clocks` (`LossClock`):

* with a `window`, `marks` holds the account's equity after the last event of each slot
  of `window / 120` (at least one second), for the events within the window of the newest
  one, plus the last mark before it (at most ~122 marks). A mark's time is the event's
  `occurred_at`, or the previous mark's when the log brings an earlier one (the marks stay
  in time order). The equity at a moment is that of the last mark at or before it (0
  before the first event); the window's start is known to within one slot;
* with a `reset_at`, `reset_equity` is the equity just before the first event that
  occurred after it (None until then: nothing has changed since the reset).

**What is remembered, and for how long**: with a buffer for the account
(`PortfolioState.forget_after`, the actual store's purge buffer), a trade id is kept while
its fill time is within the buffer of the key's newest fill (`trades`, `trade_times`), an
order's `counted` entry while its last fill is (`counted_times`), and an adopted order's
venue id until the buffer after an observation shows it closed (`closed`, checked at each
later fill or order event of the key): the rule of the actual store's purge
(`projections.purge`), so a restart's snapshot holds what is open plus a bounded horizon.
An inferred fill of an order without a `counted` entry counts from what the actual store
had counted when it was made (`order_filled - quantity`: reconciliation infers the
difference), so a forgotten entry changes nothing. Without a buffer every id is kept.

An event at or below `state.position` changes nothing; the same records always give equal
states. Every amount is a Decimal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from immutables import Map

from setpoint.core.events import (
    Event,
    FillObserved,
    FillObservedData,
    FillSource,
    MarginObserved,
    MarginObservedData,
    MarketsLoaded,
    OrderCancelled,
    OrderObserved,
    OrderPlaced,
    OrderStatus,
)
from setpoint.core.ids import is_ours
from setpoint.core.model import Key, MarketInfo, Side
from setpoint.core.numeric import ZERO
from setpoint.core.projections._values import EMPTY
from setpoint.core.projections.purge import NO_CLOSED, ClosedQueue, due, fill_time, remember_fill

__all__ = [
    "AccountPortfolio",
    "KeyPortfolio",
    "LossClock",
    "PortfolioState",
    "apply_portfolio",
]

ONE = Decimal(1)
SLOTS = 120
"""A loss window is kept as (at most) this many equity marks, plus the one before it."""
_MIN_SLOT = timedelta(seconds=1)


class LossClock(NamedTuple):
    """How an account's loss is counted (module docstring): over the last `window`, or
    since `reset_at`; neither: since the log began."""

    window: timedelta | None = None
    reset_at: datetime | None = None

    @property
    def slot(self) -> timedelta:
        """The resolution of the window's marks."""
        return max(self.window / SLOTS, _MIN_SLOT) if self.window else _MIN_SLOT


NO_CLOCK = LossClock()


class KeyPortfolio(NamedTuple):
    """The PnL of one key (module docstring)."""

    position: Decimal = ZERO
    entry_price: Decimal = ZERO
    """Average cost of the open position (0 when flat)."""
    realized_pnl: Decimal = ZERO
    """Closed PnL less the valued fees."""
    fees: Decimal = ZERO
    """Fees valued in the quote asset (already in `realized_pnl`)."""
    other_fees: Map[str, Decimal] = EMPTY
    mark: Decimal | None = None
    contract_size: Decimal = ONE
    peak_equity: Decimal = ZERO
    counted: Map[str, tuple[Decimal, Decimal, datetime]] = EMPTY
    """Per venue order id: (sum of its real trades, filled named by its inferred fills,
    fill time of its last fill)."""
    trades: Map[tuple[str, str], None] = EMPTY
    """(venue, trade id) of the fills folded: every one, or with a buffer those within it
    of the key's newest fill (module docstring)."""
    adopted: Map[str, None] = EMPTY
    """Venue ids of adopted orders (their fills count)."""
    trade_times: ClosedQueue = NO_CLOSED
    """The ids of `trades` by fill time, oldest first (with a buffer only)."""
    last_fill_at: datetime | None = None
    """The newest fill time of the key (with a buffer only)."""
    counted_times: ClosedQueue = NO_CLOSED
    """Venue order ids by the time of each of their fills, oldest first (with a buffer
    only): an entry of `counted` goes once its last fill is older than the buffer."""
    closed: ClosedQueue = NO_CLOSED
    """Venue ids of adopted orders by the time they were observed closed, oldest first
    (with a buffer only): their `adopted` entries go the buffer after."""

    @property
    def unrealized_pnl(self) -> Decimal:
        if self.mark is None or self.position == 0:
            return ZERO
        return self.position * (self.mark - self.entry_price) * self.contract_size

    @property
    def equity(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl

    @property
    def drawdown(self) -> Decimal:
        return self.peak_equity - self.equity


EMPTY_KEY = KeyPortfolio()


class AccountPortfolio(NamedTuple):
    """What risk gates read of one account: its PnL figures (sums over its keys), the
    peak of its equity and the drawdown from it, and the venue's futures wallet."""

    account: str
    realized_pnl: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    peak_equity: Decimal = ZERO
    margin: MarginObservedData | None = None
    """The last `MarginObserved` of the account (None: never observed)."""
    updated_at: datetime | None = None
    """`occurred_at` of the last event that changed the account's figures."""
    marks: tuple[tuple[datetime, Decimal], ...] = ()
    """(time, equity) per slot of the loss window (module docstring); () without one."""
    reset_equity: Decimal | None = None
    """The equity when the loss was last reset (module docstring)."""

    def loss_since(self, clock: LossClock, now: datetime) -> Decimal:
        """The account's loss (positive = money lost) over `clock.window` before `now`, or
        since `clock.reset_at`, or since the log began: equity then - equity now."""
        equity = self.equity
        if clock.window is not None:
            return _equity_at(self.marks, now - clock.window) - equity
        if clock.reset_at is not None:
            return (equity if self.reset_equity is None else self.reset_equity) - equity
        return -equity

    def loss_holds(
        self, clock: LossClock, now: datetime
    ) -> tuple[datetime | None, datetime | None]:
        """The times `[start, end)` around `now` (None: unbounded) over which `loss_since(
        clock, t)` gives what it gives at `now`: with a window, until the window's start
        crosses the next kept mark; otherwise the loss does not depend on the time."""
        window = clock.window
        if window is None:
            return None, None
        cutoff, start = now - window, None
        for mark_at, _ in self.marks:
            if mark_at > cutoff:
                return start, mark_at + window
            start = mark_at + window
        return start, None

    @property
    def equity(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl

    @property
    def drawdown(self) -> Decimal:
        """Peak equity - equity (never negative)."""
        return self.peak_equity - self.equity

    @property
    def margin_ratio(self) -> Decimal | None:
        """Maintenance margin / margin balance of the futures wallet; None without one,
        `Decimal("Infinity")` when the margin balance is 0 or less with margin required."""
        margin = self.margin
        if margin is None:
            return None
        if margin.margin_balance <= 0:
            return Decimal("Infinity") if margin.maintenance_margin > 0 else ZERO
        return margin.maintenance_margin / margin.margin_balance

    @property
    def available_margin(self) -> Decimal | None:
        return None if self.margin is None else self.margin.available_margin


@lru_cache(maxsize=256)
def _no_figures(account: str) -> AccountPortfolio:
    return AccountPortfolio(account)


class PortfolioState(NamedTuple):
    """Every key's and account's portfolio, and the log position folded up to."""

    position: int = 0
    keys: Map[Key, KeyPortfolio] = EMPTY
    accounts: Map[str, AccountPortfolio] = EMPTY
    markets: Map[Key, MarketInfo] = EMPTY
    clocks: Map[str, LossClock] = EMPTY
    """Per account, how its loss is counted (configuration; absent: since the log began)."""
    forget_after: Map[str, timedelta] = EMPTY
    """Per account, how long trade ids and closed orders' counts are kept (module
    docstring; the actual store's `purge_after`); absent: for ever."""

    @classmethod
    def empty(
        cls, clocks: Map[str, LossClock] = EMPTY, forget_after: Map[str, timedelta] = EMPTY
    ) -> PortfolioState:
        return cls(clocks=clocks, forget_after=forget_after)

    def key(self, key: Key) -> KeyPortfolio:
        return self.keys.get(key, EMPTY_KEY)

    def account(self, account: str) -> AccountPortfolio:
        """The account's figures (an account not yet folded: its empty figures, the same
        object each time)."""
        found = self.accounts.get(account)
        return _no_figures(account) if found is None else found

    def account_keys(self, account: str) -> list[Key]:
        return sorted((k for k in self.keys if k.account == account), key=str)


# --------------------------------------------------------------------------- folds


def apply_portfolio(state: PortfolioState, position: int, event: Event) -> PortfolioState:
    """Fold one event (module docstring)."""
    if position <= state.position:
        return state
    if isinstance(event, FillObserved):
        return _fill(state, event)._replace(position=position)
    if isinstance(event, MarginObserved):
        return _margin(state, event)._replace(position=position)
    if isinstance(event, MarketsLoaded):
        markets = state.markets.mutate()
        for market in event.data.markets:
            markets[Key(event.account, market.symbol)] = market
        return state._replace(position=position, markets=markets.finish())
    if isinstance(event, OrderObserved) and event.data.adopted:
        before = state.key(event.key)
        adopted = before.adopted.set(event.data.order_id, None)
        changed = {event.key: before._replace(adopted=adopted)}
        state = _put(state, event, changed)
    if state.forget_after and isinstance(event, _ORDER_EVENTS):
        state = _order_closed(state, event)
    return state._replace(position=position)


_ORDER_EVENTS = (OrderPlaced, OrderObserved, OrderCancelled)
_OPEN = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


def _order_closed(
    state: PortfolioState, event: OrderPlaced | OrderObserved | OrderCancelled
) -> PortfolioState:
    """With a buffer for the account, a closed adopted order's venue id queued (module
    docstring) and what is due forgotten; a key never seen yet is left alone."""
    buffer = state.forget_after.get(event.account)
    key = state.keys.get(event.key)
    if buffer is None or key is None:
        return state
    order_id = event.data.order_id
    status = None if isinstance(event, OrderCancelled) else event.data.status
    if order_id in key.adopted and status not in _OPEN:
        key = key._replace(closed=key.closed.push(event.occurred_at, order_id))
    elif not key.closed:
        return state
    key = _forget(key, event.occurred_at, buffer)
    return state._replace(keys=state.keys.set(event.key, key))


def _forget(key: KeyPortfolio, now: datetime, buffer: timedelta) -> KeyPortfolio:
    """`key` without the venue ids of the adopted orders closed at or before `now - buffer`."""
    closed, gone = due(key.closed, now, buffer)
    if not gone:
        return key
    adopted = key.adopted
    for order_id in gone:
        if order_id in adopted:
            adopted = adopted.delete(order_id)
    return key._replace(closed=closed, adopted=adopted)


def _forget_counts(key: KeyPortfolio, buffer: timedelta) -> KeyPortfolio:
    """`key` without the `counted` entries of orders whose last fill is at or before the
    key's newest fill - `buffer`."""
    assert key.last_fill_at is not None
    horizon = key.last_fill_at - buffer
    times, gone = due(key.counted_times, key.last_fill_at, buffer)
    if not gone:
        return key
    counted = key.counted
    for order_id in gone:
        entry = counted.get(order_id)
        if entry is not None and entry[2] <= horizon:
            counted = counted.delete(order_id)
    return key._replace(counted=counted, counted_times=times)


def _counts(key: KeyPortfolio, account: str, event: FillObserved) -> bool:
    data = event.data
    return is_ours(account, data.client_order_id) or data.order_id in key.adopted


def _fill(state: PortfolioState, event: FillObserved) -> PortfolioState:
    data = event.data
    before = state.key(event.key)
    trade = (data.venue, data.trade_id)
    if trade in before.trades:
        return state
    buffer = state.forget_after.get(event.account) if state.forget_after else None
    trades, times, last_at = remember_fill(
        before.trades, before.trade_times, before.last_fill_at, (trade, fill_time(event)), buffer
    )
    market = state.markets.get(event.key)
    counts, queued = _counts(before, event.account, event), before.counted_times
    at = fill_time(event) if last_at is None else last_at
    if counts and buffer is not None:
        queued = queued.push(at, data.order_id)
    after = before._replace(
        trades=trades, trade_times=times, last_fill_at=last_at, counted_times=queued,
        mark=data.price, contract_size=before.contract_size if market is None
        else market.contract_size,
    )  # fmt: skip
    if counts:
        after = _count_fill(after, data, market, at)
    if buffer is not None:
        after = _forget_counts(after, buffer)
        if after.closed:
            after = _forget(after, event.occurred_at, buffer)
    return _put(state, event, {event.key: after})


def _count_fill(
    key: KeyPortfolio, data: FillObservedData, market: MarketInfo | None, at: datetime
) -> KeyPortfolio:
    """Count what the fill adds to its order (inferred fills: module docstring), at its
    price, and charge its fee; `at`: the time of the order's `counted` entry (with a
    buffer the key's newest fill time, so the entries' times never go back)."""
    entry = key.counted.get(data.order_id)
    inferring = data.source is FillSource.INFERRED
    if entry is not None:
        real, inferred = entry[0], entry[1]
    elif inferring and data.order_filled is not None:
        real, inferred = max(data.order_filled - data.quantity, ZERO), ZERO
    else:
        real, inferred = ZERO, ZERO
    before = max(real, inferred)
    if inferring:
        inferred = max(inferred, data.order_filled or inferred + data.quantity)
    else:
        real += data.quantity
    added = max(real, inferred) - before
    key = key._replace(counted=key.counted.set(data.order_id, (real, inferred, at)))
    if added > 0:
        signed = added if data.side is Side.BUY else -added
        key = _trade(key, signed, data.price)
    return _charge(key, data.fee, data.fee_currency, data.price, market)


def _trade(key: KeyPortfolio, signed: Decimal, price: Decimal) -> KeyPortfolio:
    """Average cost: add to (or open) the position, or close part of it and realise."""
    held = key.position
    if held == 0 or (held > 0) == (signed > 0):
        size = abs(held) + abs(signed)
        entry = (abs(held) * key.entry_price + abs(signed) * price) / size
        return key._replace(position=held + signed, entry_price=entry)
    closed = min(abs(held), abs(signed))
    direction = ONE if held > 0 else -ONE
    realized = closed * (price - key.entry_price) * direction * key.contract_size
    after = held + signed
    entry = ZERO if after == 0 else (key.entry_price if (after > 0) == (held > 0) else price)
    return key._replace(position=after, entry_price=entry, realized_pnl=key.realized_pnl + realized)


def _charge(
    key: KeyPortfolio, fee: Decimal, currency: str, price: Decimal, market: MarketInfo | None
) -> KeyPortfolio:
    if fee == 0:
        return key
    if market is not None and currency == market.quote:
        valued = fee
    elif market is not None and currency == market.base:
        valued = fee * price
    else:
        other = key.other_fees.set(currency, key.other_fees.get(currency, ZERO) + fee)
        return key._replace(other_fees=other)
    return key._replace(fees=key.fees + valued, realized_pnl=key.realized_pnl - valued)


def _margin(state: PortfolioState, event: MarginObserved) -> PortfolioState:
    marks = {m.symbol: m.price for m in event.data.marks}
    marks |= {p.symbol: p.mark_price for p in event.data.positions if p.mark_price}
    changed = {}
    for symbol, price in marks.items():
        key = Key(event.account, symbol)
        before = state.keys.get(key)
        if before is not None and before.mark != price:
            changed[key] = before._replace(mark=price)
    account = state.account(event.account)._replace(margin=event.data)
    state = state._replace(accounts=state.accounts.set(event.account, account))
    return _put(state, event, changed)


def _put(state: PortfolioState, event: Event, changed: dict[Key, KeyPortfolio]) -> PortfolioState:
    """Store changed keys (their peaks moved on) and the account's sums and peak."""
    account = state.account(event.account)
    realized, unrealized, fees = account.realized_pnl, account.unrealized_pnl, account.fees
    keys = state.keys.mutate()
    for key, after in changed.items():
        before = state.key(key)
        realized += after.realized_pnl - before.realized_pnl
        unrealized += after.unrealized_pnl - before.unrealized_pnl
        fees += after.fees - before.fees
        keys[key] = after._replace(peak_equity=max(after.peak_equity, after.equity))
    equity = realized + unrealized
    clock = state.clocks.get(event.account, NO_CLOCK)
    reset = account.reset_equity
    if reset is None and clock.reset_at is not None and event.occurred_at > clock.reset_at:
        reset = account.equity
    account = account._replace(
        realized_pnl=realized, unrealized_pnl=unrealized, fees=fees,
        peak_equity=max(account.peak_equity, equity), updated_at=event.occurred_at,
        reset_equity=reset,
    )  # fmt: skip
    if clock.window is not None:
        marks = _mark(account.marks, event.occurred_at, equity, clock.window, clock.slot)
        account = account._replace(marks=marks)
    return state._replace(keys=keys.finish(), accounts=state.accounts.set(event.account, account))


def _mark(
    marks: tuple[tuple[datetime, Decimal], ...],
    at: datetime,
    equity: Decimal,
    window: timedelta,
    slot: timedelta,
) -> tuple[tuple[datetime, Decimal], ...]:
    """`marks` with the equity after an event at `at` (module docstring): the slot's mark
    replaced or a new one added, and the marks the window no longer needs dropped."""
    if marks:
        last_at = marks[-1][0]
        at = max(at, last_at)
        if _slot(at, slot) == _slot(last_at, slot):
            marks = marks[:-1]
    marks = (*marks, (at, equity))
    cutoff = at - window
    drop = 0
    while drop + 1 < len(marks) and marks[drop + 1][0] <= cutoff:
        drop += 1
    return marks[drop:]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _slot(at: datetime, slot: timedelta) -> int:
    return (at - _EPOCH) // slot


def _equity_at(marks: tuple[tuple[datetime, Decimal], ...], at: datetime) -> Decimal:
    """The equity of the last mark at or before `at` (0 before the first)."""
    found = ZERO
    for mark_at, equity in marks:
        if mark_at > at:
            break
        found = equity
    return found
