"""The matching engine: pure, synchronous, Decimal only, no I/O and no clock.

Contract (CONTRACTS.md, "Venue simulator"):
- Incoming orders take, in price-time priority, from the configured liquidity of the
  opposite book side (`set_liquidity`, used up by fills) and from resting orders; at one
  price the liquidity goes first. A taker fills at the maker's price. Nothing else gives
  fills: an empty opposite side gives none, whatever the last price.
- GTC remainders rest; IOC and market remainders expire; FOK fills completely or expires
  without a fill; post-only (LIMIT_MAKER, GTX) is rejected when it would take.
- `move_price` sets the last price and fills every resting order it crosses (bid >= price,
  ask <= price) completely, at the order's own price, as maker, exactly once.
- Fees: maker / taker rate of the notional, in the quote asset. Spot buys lock
  price x quantity x (1 + taker rate) of the quote, sells lock the base quantity; the
  USD-M wallet (net mode) takes realized PnL and fees.
- Every command returns the events it caused (executions and wallet changes), in order.
  A command that raises `Rejected` changed nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from setpoint.core.model import Side
from setpoint.core.numeric import ZERO, round_to
from setpoint.sim.accounts import MarginWallet, SpotWallet
from setpoint.sim.book import SideBook
from setpoint.sim.markets import Kind, MarketIndex, SimMarket
from setpoint.sim.orders import (
    Event,
    ExecType,
    Execution,
    Order,
    OrderKind,
    OrderRequest,
    Reason,
    Rejected,
    Status,
    Tif,
    Trade,
    WalletTouched,
)


@dataclass(frozen=True, slots=True)
class Fees:
    maker: Decimal = Decimal("0.0002")
    taker: Decimal = Decimal("0.0005")


@dataclass(frozen=True, slots=True)
class Match:
    """One planned fill of an incoming order: against a resting order or a liquidity level."""

    price: Decimal
    quantity: Decimal
    maker_order_id: int | None
    level: int = -1


@dataclass(slots=True)
class _MarketState:
    books: dict[Side, SideBook]
    liquidity: dict[Side, list[list[Decimal]]] = field(
        default_factory=lambda: {Side.BUY: [], Side.SELL: []}
    )


class Engine:
    """One simulated account on a set of markets. See the module docstring."""

    def __init__(
        self,
        markets: Iterable[SimMarket],
        balances: Mapping[str, Decimal],
        futures_balances: Mapping[str, Decimal],
        prices: Mapping[str, Decimal],
        fees: Fees = Fees(),
        leverage: int = 20,
        first_ids: tuple[int, int] = (1, 1),
    ) -> None:
        self.markets = MarketIndex(tuple(markets))
        self.fees = fees
        self.spot = SpotWallet(balances)
        self.margin = MarginWallet(futures_balances, leverage)
        self.prices: dict[str, Decimal] = dict(prices)
        self.orders: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self._by_client: dict[tuple[str, str], list[int]] = {}
        self._state = {
            m.symbol: _MarketState({Side.BUY: SideBook(Side.BUY), Side.SELL: SideBook(Side.SELL)})
            for m in self.markets.all
        }
        self._resting: set[int] = set()
        self._next_order, self._next_trade = first_ids
        self._events: list[Event] = []

    # ----------------------------------------------------------------- commands

    def place(self, request: OrderRequest, now_us: int) -> tuple[Order, list[Event]]:
        """Accept, fill and rest (or expire) a new order; raises Rejected changing nothing."""
        market = self.market(request.symbol)
        self._validate(market, request)
        plan = self._plan(market, request)
        self._check_plan(market, request, plan)
        quantity = request.quantity
        if quantity is None:  # quote-quantity market order: the plan decides the size
            quantity = sum((m.quantity for m in plan), ZERO)
        self._check_funds(market, request, quantity, plan)
        self._events = []
        order = self._open(market, request, quantity, now_us)
        if request.tif is Tif.FOK and sum((m.quantity for m in plan), ZERO) < quantity:
            plan = []
        self._execute(market, order.order_id, plan, now_us)
        final = self._finish_taker(market, order.order_id, now_us)
        return final, self._drain()

    def cancel(
        self,
        symbol: str,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
        now_us: int,
        status: Status = Status.CANCELED,
    ) -> tuple[Order, list[Event]]:
        """Cancel (or, with status EXPIRED, expire) an open order; Rejected UNKNOWN_ORDER else."""
        try:
            order = self.find(symbol, order_id=order_id, client_order_id=client_order_id)
        except Rejected:
            raise Rejected(Reason.UNKNOWN_ORDER, "no such order") from None
        if not order.is_open:
            raise Rejected(Reason.UNKNOWN_ORDER, f"order {order.order_id} is {order.status}")
        self._events = []
        final = self._close(order.order_id, status, now_us)
        return final, self._drain()

    def amend(
        self,
        symbol: str,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
        quantity: Decimal,
        price: Decimal,
        now_us: int,
    ) -> tuple[Order, list[Event]]:
        """Change price and quantity of an open perpetual limit order in place (USD-M
        modify): same ids, queue priority lost, then it matches like a new order."""
        order = self.find(symbol, order_id=order_id, client_order_id=client_order_id)
        market = self.market(order.symbol)
        if not order.is_open or order.price is None or not market.is_perp:
            raise Rejected(Reason.NO_SUCH_ORDER, "only open perpetual limit orders are modified")
        failure = market.filter_failure(price, quantity)
        if failure is not None:
            raise Rejected(Reason.FILTER, failure)
        if quantity <= order.filled:
            raise Rejected(Reason.BAD_PARAMETER, "quantity must exceed the filled quantity")
        remaining = OrderRequest(
            symbol, order.side, order.kind, quantity - order.filled, price, order.tif
        )
        plan = self._plan(market, remaining)
        self._check_plan(market, remaining, plan)
        self._events = []
        self._unrest(order)
        amended = replace(order, price=price, quantity=quantity, updated_us=now_us)
        self.orders[order.order_id] = amended
        self._events.append(Execution(amended, ExecType.AMENDMENT))
        self._execute(market, order.order_id, plan, now_us)
        final = self._finish_taker(market, order.order_id, now_us)
        return final, self._drain()

    def force_fill(self, order: Order, quantity: Decimal | None, now_us: int) -> list[Event]:
        """Fill a resting order by `quantity` (default: all that remains) at its price, as maker."""
        current = self.orders[order.order_id]
        if not current.is_open or current.price is None:
            raise Rejected(Reason.UNKNOWN_ORDER, f"order {order.order_id} is not resting")
        take = current.remaining if quantity is None else quantity
        if take <= 0 or take > current.remaining:
            detail = f"quantity {take} outside (0, {current.remaining}]"
            raise Rejected(Reason.BAD_PARAMETER, detail)
        self._events = []
        self._fill(current.order_id, current.price, take, maker=True, now_us=now_us)
        return self._drain()

    def move_price(self, symbol: str, price: Decimal, now_us: int) -> list[Event]:
        """Set the last price; every resting order it crosses fills completely as maker."""
        self.market(symbol)
        if price <= 0:
            raise Rejected(Reason.BAD_PARAMETER, "price must be positive")
        self.prices[symbol] = price
        self._events = []
        state = self._state[symbol]
        for side in (Side.BUY, Side.SELL):
            for order_id in state.books[side].crossing(price):
                order = self.orders[order_id]
                if order.is_open and order.price is not None:
                    self._fill(order_id, order.price, order.remaining, maker=True, now_us=now_us)
        return self._drain()

    def set_liquidity(
        self, symbol: str, side: Side, levels: Iterable[tuple[Decimal, Decimal]]
    ) -> None:
        """Replace one book side's depth (`side` SELL = asks, which buy orders take)."""
        self.market(symbol)
        clean = [[p, q] for p, q in levels if p > 0 and q > 0]
        clean.sort(key=lambda level: -level[0] if side is Side.BUY else level[0])
        self._state[symbol].liquidity[side] = clean

    def set_leverage(self, symbol: str, leverage: int) -> None:
        if not self.market(symbol).is_perp or not 1 <= leverage <= 125:
            raise Rejected(Reason.BAD_PARAMETER, "leverage must be 1..125 on a perpetual")
        self.margin.leverage[symbol] = leverage

    # ------------------------------------------------------------------ queries

    @property
    def next_ids(self) -> tuple[int, int]:
        """(next order id, next trade id): a new engine that continues them never reuses an
        id, as a venue never does."""
        return self._next_order, self._next_trade

    def market(self, symbol: str) -> SimMarket:
        market = self.markets.get(symbol)
        if market is None:
            raise Rejected(Reason.UNKNOWN_SYMBOL, symbol)
        return market

    def find(
        self, symbol: str | None, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> Order:
        """The order by id, else the newest with that client id; Rejected NO_SUCH_ORDER."""
        order: Order | None = None
        if order_id is not None:
            order = self.orders.get(order_id)
        elif client_order_id is not None:
            order = self._newest_by_client(symbol, client_order_id)
        if order is None or (symbol is not None and order.symbol != symbol):
            raise Rejected(Reason.NO_SUCH_ORDER, "order does not exist")
        return order

    def open_orders(self, kind: Kind | None = None, symbol: str | None = None) -> list[Order]:
        result = [self.orders[i] for i in sorted(self._resting)]
        return [
            o
            for o in result
            if (symbol is None or o.symbol == symbol)
            and (kind is None or self.market(o.symbol).kind is kind)
        ]

    def trades_for(
        self,
        symbol: str,
        start_us: int | None = None,
        end_us: int | None = None,
        from_id: int | None = None,
        limit: int = 500,
    ) -> list[Trade]:
        """The account's trades on `symbol`, oldest first; the newest `limit` without a start."""
        chosen = [
            t
            for t in self.trades
            if t.symbol == symbol
            and (start_us is None or t.time_us >= start_us)
            and (end_us is None or t.time_us <= end_us)
            and (from_id is None or t.trade_id >= from_id)
        ]
        if start_us is None and from_id is None:
            return chosen[-limit:]
        return chosen[:limit]

    def best_bid_ask(self, symbol: str) -> tuple[tuple[Decimal, Decimal] | None, ...]:
        """(best bid, best ask) as (price, quantity) over liquidity and resting orders."""
        state = self._state[symbol]
        result: list[tuple[Decimal, Decimal] | None] = []
        for side in (Side.BUY, Side.SELL):
            best = next(self._sources(state, side), None)
            result.append((best[1], best[2]) if best else None)
        return tuple(result)

    def last_price(self, symbol: str) -> Decimal:
        return self.prices.get(symbol, ZERO)

    def depth(self, symbol: str, side: Side, limit: int = 100) -> list[tuple[Decimal, Decimal]]:
        """Aggregated depth of one book side (liquidity and resting orders), best first."""
        levels: dict[Decimal, Decimal] = {}
        for _key, price, quantity, _maker, _level in self._sources(self._state[symbol], side):
            levels[price] = levels.get(price, ZERO) + quantity
            if len(levels) > limit:
                del levels[price]
                break
        return list(levels.items())

    def margin_available(self, asset: str) -> Decimal:
        """Wallet + unrealized PnL - position margin - open order margin (USD-M, cross)."""
        total = self.margin.wallet.get(asset, ZERO) + self.unrealized(asset)
        return total - self.position_margin(asset) - self.order_margin(asset)

    def unrealized(self, asset: str) -> Decimal:
        return sum(
            (
                pos.unrealized(self.last_price(s))
                for s, pos in self.margin.positions.items()
                if self.market(s).quote == asset
            ),
            ZERO,
        )

    def position_margin(self, asset: str) -> Decimal:
        return sum(
            (
                abs(pos.quantity) * self.last_price(s) / self.margin.leverage_of(s)
                for s, pos in self.margin.positions.items()
                if self.market(s).quote == asset
            ),
            ZERO,
        )

    def order_margin(self, asset: str) -> Decimal:
        return sum(
            (
                o.remaining * (o.price or ZERO) / self.margin.leverage_of(o.symbol)
                for o in self.open_orders(Kind.PERP)
                if self.market(o.symbol).quote == asset and not o.reduce_only
            ),
            ZERO,
        )

    # ------------------------------------------------------------ validation

    def _validate(self, market: SimMarket, request: OrderRequest) -> None:
        limit_kind = request.kind is not OrderKind.MARKET
        if limit_kind and request.price is None:
            raise Rejected(Reason.BAD_PARAMETER, "price is required for a limit order")
        if request.quantity is None and (
            request.quote_quantity is None or limit_kind or market.is_perp
        ):
            raise Rejected(Reason.BAD_PARAMETER, "quantity is required")
        if request.quantity is not None:
            reference = request.price if limit_kind else self.last_price(market.symbol)
            failure = market.filter_failure(reference, request.quantity)
            if failure is not None:
                raise Rejected(Reason.FILTER, failure)
        elif request.quote_quantity is not None and request.quote_quantity < market.min_notional:
            raise Rejected(Reason.FILTER, "NOTIONAL")
        client_id = request.client_order_id
        if client_id and self._open_with_client(market.symbol, client_id):
            raise Rejected(Reason.DUPLICATE, client_id)
        if request.reduce_only:
            self._check_reduce_only(market, request)

    def _check_reduce_only(self, market: SimMarket, request: OrderRequest) -> None:
        position = self.margin.position(market.symbol).quantity
        reduces = position != 0 and (position > 0) != (request.side is Side.BUY)
        if not market.is_perp or not reduces or (request.quantity or ZERO) > abs(position):
            raise Rejected(Reason.REDUCE_ONLY, "the order would not reduce the position")

    def _check_plan(self, market: SimMarket, request: OrderRequest, plan: list[Match]) -> None:
        post_only = request.kind is OrderKind.LIMIT_MAKER or request.tif is Tif.GTX
        if post_only and plan:
            raise Rejected(Reason.WOULD_TAKE, "the order would immediately match and take")

    def _check_funds(
        self, market: SimMarket, request: OrderRequest, quantity: Decimal, plan: list[Match]
    ) -> None:
        if market.is_perp:
            self._check_margin(market, request, quantity, plan)
            return
        rate = Decimal(1) + self.fees.taker
        if request.side is Side.BUY:
            if request.price is not None:
                need = request.price * quantity * rate
            else:
                need = sum((m.price * m.quantity * rate for m in plan), ZERO)
            asset = market.quote
        else:
            need, asset = quantity, market.base
        if not self.spot.can_lock(asset, need):
            raise Rejected(Reason.INSUFFICIENT_BALANCE, f"{asset} free below {need}")

    def _check_margin(
        self, market: SimMarket, request: OrderRequest, quantity: Decimal, plan: list[Match]
    ) -> None:
        if request.reduce_only:
            return
        price = request.price if request.price is not None else self._plan_average(market, plan)
        notional = price * quantity
        need = notional / self.margin.leverage_of(market.symbol) + notional * self.fees.taker
        if need > self.margin_available(market.quote):
            raise Rejected(Reason.INSUFFICIENT_MARGIN, f"needs {need} {market.quote}")

    def _plan_average(self, market: SimMarket, plan: list[Match]) -> Decimal:
        size = sum((m.quantity for m in plan), ZERO)
        if size == 0:
            return self.last_price(market.symbol)
        return sum((m.price * m.quantity for m in plan), ZERO) / size

    # -------------------------------------------------------------- matching

    def _plan(self, market: SimMarket, request: OrderRequest) -> list[Match]:
        """The fills an incoming order would get now, best price first. Changes nothing."""
        state = self._state[market.symbol]
        left = request.quantity
        budget = request.quote_quantity
        plan: list[Match] = []
        for _key, price, available, maker, level in self._sources(state, request.side.opposite):
            if request.price is not None and not _crosses(request.side, request.price, price):
                break
            if left is not None:
                take = min(available, left)
            else:
                assert budget is not None
                take = min(available, round_to(budget / price, market.step))
            if take <= 0:
                break
            plan.append(Match(price, take, maker, level))
            if left is not None:
                left -= take
                if left == 0:
                    break
            else:
                assert budget is not None
                budget -= price * take
        return plan

    def _sources(
        self, state: _MarketState, book_side: Side
    ) -> Iterator[tuple[tuple[Decimal, int], Decimal, Decimal, int | None, int]]:
        """Liquidity levels and resting orders of one book side, merged in priority order."""
        sign = Decimal(-1) if book_side is Side.BUY else Decimal(1)
        levels = (
            ((price * sign, 0), price, qty, None, index)
            for index, (price, qty) in enumerate(state.liquidity[book_side])
        )
        resting = (
            ((price * sign, 1), price, self.orders[oid].remaining, oid, -1)
            for price, oid in state.books[book_side].best_first()
        )
        return heapq.merge(levels, resting, key=lambda item: item[0])

    def _execute(self, market: SimMarket, taker_id: int, plan: list[Match], now_us: int) -> None:
        liquidity = self._state[market.symbol].liquidity[self.orders[taker_id].side.opposite]
        for match in plan:
            if match.maker_order_id is not None:
                self._fill(match.maker_order_id, match.price, match.quantity, True, now_us)
            else:
                liquidity[match.level][1] -= match.quantity
            self._fill(taker_id, match.price, match.quantity, False, now_us)
        liquidity[:] = [level for level in liquidity if level[1] > 0]

    def _finish_taker(self, market: SimMarket, order_id: int, now_us: int) -> Order:
        order = self.orders[order_id]
        if not order.is_open:
            return order
        if order.kind is OrderKind.MARKET or order.tif in (Tif.IOC, Tif.FOK):
            return self._close(order_id, Status.EXPIRED, now_us)
        assert order.price is not None
        self._state[market.symbol].books[order.side].add(order.price, order_id)
        self._resting.add(order_id)
        return order

    # ------------------------------------------------------------- ledger

    def _open(
        self, market: SimMarket, request: OrderRequest, quantity: Decimal, now_us: int
    ) -> Order:
        order_id = self._next_order
        self._next_order += 1
        order = Order(
            order_id=order_id,
            client_order_id=request.client_order_id or f"sim-{order_id}",
            symbol=market.symbol,
            side=request.side,
            kind=request.kind,
            tif=request.tif,
            price=request.price,
            quantity=quantity,
            filled=ZERO,
            cum_quote=ZERO,
            status=Status.NEW,
            created_us=now_us,
            updated_us=now_us,
            reduce_only=request.reduce_only,
        )
        order = self._lock_for(market, order)
        self.orders[order_id] = order
        self._by_client.setdefault((market.symbol, order.client_order_id), []).append(order_id)
        self._events.append(Execution(order, ExecType.NEW))
        return order

    def _lock_for(self, market: SimMarket, order: Order) -> Order:
        if market.is_perp or order.price is None:
            return order
        if order.side is Side.BUY:
            amount = order.price * order.quantity * (Decimal(1) + self.fees.taker)
            asset = market.quote
        else:
            amount, asset = order.quantity, market.base
        self.spot.lock(asset, amount)
        self._events.append(WalletTouched(False, (asset,), None, order.created_us))
        return replace(order, locked=amount, lock_asset=asset)

    def _fill(
        self, order_id: int, price: Decimal, quantity: Decimal, maker: bool, now_us: int
    ) -> None:
        order = self.orders[order_id]
        market = self.market(order.symbol)
        fee = price * quantity * (self.fees.maker if maker else self.fees.taker)
        pnl = ZERO
        if market.is_perp:
            signed = quantity if order.side is Side.BUY else -quantity
            pnl = self.margin.settle(market.quote, market.symbol, signed, price, fee, now_us)
            touched = WalletTouched(True, (market.quote,), market.symbol, now_us)
        else:
            order = self._settle_spot(market, order, price, quantity, fee)
            touched = WalletTouched(False, (market.base, market.quote), None, now_us)
        trade = Trade(
            trade_id=self._next_trade,
            order_id=order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            quantity=quantity,
            fee=fee,
            fee_asset=market.quote,
            maker=maker,
            time_us=now_us,
            realized_pnl=pnl,
        )
        self._next_trade += 1
        self.trades.append(trade)
        order = order.with_fill(price, quantity, now_us)
        self.orders[order_id] = order
        self._events.append(Execution(order, ExecType.TRADE, trade))
        self._events.append(touched)
        if order.status is Status.FILLED:
            self._close(order_id, Status.FILLED, now_us)

    def _settle_spot(
        self, market: SimMarket, order: Order, price: Decimal, quantity: Decimal, fee: Decimal
    ) -> Order:
        """Move the money of one spot fill; returns the order with its lock reduced."""
        locked = order.locked
        if order.side is Side.BUY:
            if order.lock_asset and order.price is not None:
                release = min(order.price * quantity * (Decimal(1) + self.fees.taker), locked)
                self.spot.unlock(market.quote, release)
                locked -= release
            self.spot.spend_free(market.quote, price * quantity + fee)
            self.spot.credit(market.base, quantity)
        else:
            if order.lock_asset:
                self.spot.spend_locked(market.base, quantity)
                locked -= quantity
            else:
                self.spot.spend_free(market.base, quantity)
            self.spot.credit(market.quote, price * quantity - fee)
        return replace(order, locked=locked)

    def _close(self, order_id: int, status: Status, now_us: int) -> Order:
        """End an order: out of the book, lock released; emits CANCELED/EXPIRED executions."""
        order = self.orders[order_id]
        self._unrest(order)
        if order.locked > 0:
            self.spot.unlock(order.lock_asset, order.locked)
            self._events.append(WalletTouched(False, (order.lock_asset,), None, now_us))
        final = (
            order.closed(status, now_us)
            if status is not Status.FILLED
            else replace(order, locked=ZERO)
        )
        self.orders[order_id] = final
        if status in (Status.CANCELED, Status.EXPIRED):
            self._events.append(Execution(final, ExecType(status.value)))
        return final

    def _unrest(self, order: Order) -> None:
        """Take the order out of its book, if it rests there."""
        if order.order_id in self._resting:
            assert order.price is not None
            self._state[order.symbol].books[order.side].remove(order.price, order.order_id)
            self._resting.discard(order.order_id)

    def _open_with_client(self, symbol: str, client_order_id: str) -> bool:
        ids = self._by_client.get((symbol, client_order_id), [])
        return any(self.orders[i].is_open for i in ids)

    def _newest_by_client(self, symbol: str | None, client_order_id: str) -> Order | None:
        if symbol is not None:
            ids = self._by_client.get((symbol, client_order_id), [])
        else:
            ids = sorted(
                i
                for (_, cid), found in self._by_client.items()
                if cid == client_order_id
                for i in found
            )
        return self.orders[ids[-1]] if ids else None

    def _drain(self) -> list[Event]:
        events, self._events = self._events, []
        return events


def _crosses(side: Side, limit: Decimal, price: Decimal) -> bool:
    return price <= limit if side is Side.BUY else price >= limit
