"""The matching engine: pure, synchronous, Decimal only, no I/O and no clock.

Contract (docs/simulator.md, "Control API" and "Matching"):
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

The engine coordinates two parts that do not know each other: the `Matcher` (the books:
what an order would take, what a price crosses) and the `Ledger` (balances, locks, fees,
positions, margin). It owns the orders, the trades and the ids, and decides each order's
life: open, fill, rest, close; the orders, trades and ids are kept in `Records`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal

from setpoint.core.events import OrderStatus
from setpoint.core.model import Side
from setpoint.core.numeric import ZERO
from setpoint.sim.accounts import MarginWallet, SpotWallet
from setpoint.sim.ledger import DEFAULT_FEES, Fees, Ledger
from setpoint.sim.markets import Kind, MarketIndex, SimMarket
from setpoint.sim.matching import Matcher
from setpoint.sim.orders import (
    Event,
    ExecType,
    Execution,
    Match,
    Order,
    OrderKind,
    OrderRequest,
    Reason,
    Rejected,
    Tif,
    Trade,
)
from setpoint.sim.records import Records

__all__ = ["Engine", "Fees", "Match"]


class Engine:
    """One simulated account on a set of markets. See the module docstring."""

    def __init__(
        self,
        markets: Iterable[SimMarket],
        balances: Mapping[str, Decimal],
        futures_balances: Mapping[str, Decimal],
        prices: Mapping[str, Decimal],
        fees: Fees = DEFAULT_FEES,
        leverage: int = 20,
        first_ids: tuple[int, int] = (1, 1),
    ) -> None:
        self.markets = MarketIndex(tuple(markets))
        self.prices: dict[str, Decimal] = dict(prices)
        self.records = Records(first_ids)
        self.orders = self.records.orders  # the store itself: latest version of every order
        self.trades = self.records.trades
        self.matcher = Matcher((m.symbol for m in self.markets.all), self.orders)
        self.ledger = Ledger(
            self.markets, balances, futures_balances, fees, leverage, self.prices, self.open_orders
        )
        self._events: list[Event] = []

    @property
    def fees(self) -> Fees:
        return self.ledger.fees

    @property
    def spot(self) -> SpotWallet:
        return self.ledger.spot

    @property
    def margin(self) -> MarginWallet:
        return self.ledger.margin

    # ----------------------------------------------------------------- commands

    def place(
        self, request: OrderRequest, now_us: int, *, post_only_cancels: bool = False
    ) -> tuple[Order, list[Event]]:
        """Accept, fill and rest (or expire) a new order; raises Rejected changing nothing.

        A post-only order that would take is refused (WOULD_TAKE), or, with
        `post_only_cancels` (OKX), accepted and at once CANCELED without a fill."""
        market = self.market(request.symbol)
        self._validate(market, request)
        plan = self.matcher.plan(market, request)
        taking = _takes_post_only(request, plan)
        if taking and not post_only_cancels:
            _check_post_only(request, plan)
        quantity = request.quantity
        if quantity is None:  # quote-quantity market order: the plan decides the size
            quantity = sum((m.quantity for m in plan), ZERO)
        self.ledger.check_funds(market, request, quantity, plan)
        self._events = []
        order = self._open(market, request, quantity, now_us)
        if taking:
            return self._close(order.order_id, OrderStatus.CANCELED, now_us), self._drain()
        if request.tif is Tif.FOK and sum((m.quantity for m in plan), ZERO) < quantity:
            plan = []
        self._execute(order.order_id, plan, now_us)
        final = self._finish_taker(order.order_id, now_us)
        return final, self._drain()

    def cancel(
        self,
        symbol: str,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
        now_us: int,
        status: OrderStatus = OrderStatus.CANCELED,
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
        """Change price and quantity (the new total, fills included) of an open limit order
        in place (USD-M modify, OKX amend-order): same ids, queue priority lost, then it
        matches like a new order. A spot order's lock follows its new remaining size
        (Rejected INSUFFICIENT_BALANCE when the free balance cannot cover the increase)."""
        order = self.find(symbol, order_id=order_id, client_order_id=client_order_id)
        market = self.market(order.symbol)
        if not order.is_open or order.price is None:
            raise Rejected(Reason.NO_SUCH_ORDER, "only open limit orders are modified")
        failure = market.filter_failure(price, quantity)
        if failure is not None:
            raise Rejected(Reason.FILTER, failure)
        if quantity <= order.filled:
            raise Rejected(Reason.BAD_PARAMETER, "quantity must exceed the filled quantity")
        remaining = OrderRequest(
            symbol, order.side, order.kind, quantity - order.filled, price, order.tif
        )
        plan = self.matcher.plan(market, remaining)
        _check_post_only(remaining, plan)
        amended = replace(order, price=price, quantity=quantity, updated_us=now_us)
        amended, touched = self.ledger.relock(market, amended)
        self._events = [] if touched is None else [touched]
        self.matcher.unrest(order)
        self.orders[order.order_id] = amended
        self._events.append(Execution(amended, ExecType.AMENDMENT))
        self._execute(order.order_id, plan, now_us)
        final = self._finish_taker(order.order_id, now_us)
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
        for side in (Side.BUY, Side.SELL):
            for order_id in self.matcher.crossing(symbol, side, price):
                order = self.orders[order_id]
                if order.is_open and order.price is not None:
                    self._fill(order_id, order.price, order.remaining, maker=True, now_us=now_us)
        return self._drain()

    def set_liquidity(
        self, symbol: str, side: Side, levels: Iterable[tuple[Decimal, Decimal]]
    ) -> None:
        """Replace one book side's depth (`side` SELL = asks, which buy orders take)."""
        self.market(symbol)
        self.matcher.set_liquidity(symbol, side, levels)

    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set a perpetual's leverage; Rejected BAD_PARAMETER off a perpetual or off 1..125."""
        self.ledger.set_leverage(self.market(symbol), leverage)

    # ------------------------------------------------------------------ queries

    @property
    def next_ids(self) -> tuple[int, int]:
        """(next order id, next trade id): a new engine that continues them never reuses an
        id, as a venue never does."""
        return self.records.next_ids

    def market(self, symbol: str) -> SimMarket:
        market = self.markets.get(symbol)
        if market is None:
            raise Rejected(Reason.UNKNOWN_SYMBOL, symbol)
        return market

    def find(
        self, symbol: str | None, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> Order:
        """The order by id, else the newest with that client id; Rejected NO_SUCH_ORDER."""
        return self.records.find(symbol, order_id=order_id, client_order_id=client_order_id)

    def open_orders(self, kind: Kind | None = None, symbol: str | None = None) -> list[Order]:
        """The resting orders, oldest first, of one kind of market and one symbol if given."""
        result = [self.orders[i] for i in self.matcher.resting_ids()]
        return [
            o
            for o in result
            if (symbol is None or o.symbol == symbol)
            and (kind is None or self.market(o.symbol).kind is kind)
        ]

    def best_bid_ask(self, symbol: str) -> tuple[tuple[Decimal, Decimal] | None, ...]:
        """(best bid, best ask) as (price, quantity) over liquidity and resting orders."""
        return self.matcher.best_bid_ask(symbol)

    def last_price(self, symbol: str) -> Decimal:
        return self.prices.get(symbol, ZERO)

    def depth(self, symbol: str, side: Side, limit: int = 100) -> list[tuple[Decimal, Decimal]]:
        """Aggregated depth of one book side (liquidity and resting orders), best first."""
        return self.matcher.depth(symbol, side, limit)

    def margin_available(self, asset: str) -> Decimal:
        """Wallet + unrealized PnL - position margin - open order margin (USD-M, cross)."""
        return self.ledger.margin_available(asset)

    def unrealized(self, asset: str) -> Decimal:
        return self.ledger.unrealized(asset)

    def position_margin(self, asset: str) -> Decimal:
        return self.ledger.position_margin(asset)

    def order_margin(self, asset: str) -> Decimal:
        return self.ledger.order_margin(asset)

    # ------------------------------------------------------------ validation

    def _validate(self, market: SimMarket, request: OrderRequest) -> None:
        """Rejected unless the request is well formed, passes the market's filters, reuses
        no open client id and, if reduce-only, reduces the position."""
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
        if client_id and self.records.open_with_client(market.symbol, client_id):
            raise Rejected(Reason.DUPLICATE, client_id)
        if request.reduce_only:
            self.ledger.check_reduce_only(market, request)

    # ------------------------------------------------------------ order life

    def _open(
        self, market: SimMarket, request: OrderRequest, quantity: Decimal, now_us: int
    ) -> Order:
        """Record a new order (status NEW) with the ledger's lock; emits the lock's wallet
        event, then the NEW execution."""
        order_id = self.records.new_order_id()
        order, touched = self.ledger.lock(market, _new_order(order_id, request, quantity, now_us))
        if touched is not None:
            self._events.append(touched)
        self.records.add(order)
        self._events.append(Execution(order, ExecType.NEW))
        return order

    def _execute(self, taker_id: int, plan: list[Match], now_us: int) -> None:
        """Carry out `plan` for the taker: liquidity used up, each maker then the taker filled."""
        taker = self.orders[taker_id]
        self.matcher.take_liquidity(taker.symbol, taker.side.opposite, plan)
        for match in plan:
            if match.maker_order_id is not None:
                self._fill(match.maker_order_id, match.price, match.quantity, True, now_us)
            self._fill(taker_id, match.price, match.quantity, False, now_us)

    def _finish_taker(self, order_id: int, now_us: int) -> Order:
        """After matching: a market, IOC or FOK remainder expires, a GTC remainder rests."""
        order = self.orders[order_id]
        if not order.is_open:
            return order
        if order.kind is OrderKind.MARKET or order.tif in (Tif.IOC, Tif.FOK):
            return self._close(order_id, OrderStatus.EXPIRED, now_us)
        self.matcher.rest(order)
        return order

    def _fill(
        self, order_id: int, price: Decimal, quantity: Decimal, maker: bool, now_us: int
    ) -> None:
        """One fill of one order: money through the ledger, a trade, the TRADE execution and
        the wallet event; a completed order is closed FILLED."""
        order = self.orders[order_id]
        market = self.market(order.symbol)
        settled = self.ledger.settle(market, order, price, quantity, maker, now_us)
        trade = Trade(
            trade_id=self.records.new_trade_id(),
            order_id=order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            quantity=quantity,
            fee=settled.fee,
            fee_asset=market.quote,
            maker=maker,
            time_us=now_us,
            realized_pnl=settled.realized_pnl,
        )
        self.trades.append(trade)
        order = settled.order.with_fill(price, quantity, now_us)
        self.orders[order_id] = order
        self._events.append(Execution(order, ExecType.TRADE, trade))
        self._events.append(settled.touched)
        if order.status is OrderStatus.FILLED:
            self._close(order_id, OrderStatus.FILLED, now_us)

    def _close(self, order_id: int, status: OrderStatus, now_us: int) -> Order:
        """End an order: out of the book, lock released; emits CANCELED/EXPIRED executions."""
        order = self.orders[order_id]
        self.matcher.unrest(order)
        touched = self.ledger.release(order, now_us)
        if touched is not None:
            self._events.append(touched)
        final = (
            order.closed(status, now_us)
            if status is not OrderStatus.FILLED
            else replace(order, locked=ZERO)
        )
        self.orders[order_id] = final
        if status in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
            self._events.append(Execution(final, ExecType(status.value)))
        return final

    def _drain(self) -> list[Event]:
        events, self._events = self._events, []
        return events


def _new_order(order_id: int, request: OrderRequest, quantity: Decimal, now_us: int) -> Order:
    """A NEW order of `quantity` from the request, nothing filled or locked yet."""
    return Order(
        order_id=order_id,
        client_order_id=request.client_order_id or f"sim-{order_id}",
        symbol=request.symbol,
        side=request.side,
        kind=request.kind,
        tif=request.tif,
        price=request.price,
        quantity=quantity,
        filled=ZERO,
        cum_quote=ZERO,
        status=OrderStatus.NEW,
        created_us=now_us,
        updated_us=now_us,
        reduce_only=request.reduce_only,
    )


def _takes_post_only(request: OrderRequest, plan: list[Match]) -> bool:
    """Whether a post-only order (LIMIT_MAKER, GTX) would take."""
    return (request.kind is OrderKind.LIMIT_MAKER or request.tif is Tif.GTX) and bool(plan)


def _check_post_only(request: OrderRequest, plan: list[Match]) -> None:
    """Rejected WOULD_TAKE when a post-only order (LIMIT_MAKER, GTX) would take."""
    if _takes_post_only(request, plan):
        raise Rejected(Reason.WOULD_TAKE, "the order would immediately match and take")
