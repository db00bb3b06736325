"""Matching: the books of every market and what an incoming order would take from them.

A market's book has, per side, the resting orders in price-time priority (`SideBook`) and
the configured liquidity levels (`set_liquidity`). Contract:
- `plan` lists the fills an incoming order would get now, best price first, taking the
  opposite side's liquidity before resting orders at one price, each at the maker's price,
  and stopping at the order's limit; it changes nothing.
- `take_liquidity` uses up the liquidity part of a plan; resting orders are never changed
  here: the matcher knows them only by id, reads their remaining quantity from the order
  store it was given (read only) and is told when one rests (`rest`) or leaves (`unrest`).
- Money, fills and order statuses are not the matcher's business (see `ledger`, `engine`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from setpoint.core.model import Side
from setpoint.core.numeric import ZERO, round_to
from setpoint.sim.book import SideBook
from setpoint.sim.markets import SimMarket
from setpoint.sim.orders import Match, Order, OrderRequest

Source = tuple[tuple[Decimal, int], Decimal, Decimal, int | None, int]
"""(priority key, price, quantity, resting order id or None, liquidity level or -1)."""


@dataclass(slots=True)
class _MarketBook:
    books: dict[Side, SideBook]
    liquidity: dict[Side, list[list[Decimal]]] = field(
        default_factory=lambda: {Side.BUY: [], Side.SELL: []}
    )


class Matcher:
    """The books of a set of markets. See the module docstring."""

    def __init__(self, symbols: Iterable[str], orders: Mapping[int, Order]) -> None:
        """`orders`: the engine's order store, current versions by id (read only here)."""
        self._orders = orders
        self._markets = {
            symbol: _MarketBook({Side.BUY: SideBook(Side.BUY), Side.SELL: SideBook(Side.SELL)})
            for symbol in symbols
        }
        self._resting: set[int] = set()

    # ------------------------------------------------------------- book changes

    def set_liquidity(
        self, symbol: str, side: Side, levels: Iterable[tuple[Decimal, Decimal]]
    ) -> None:
        """Replace one book side's depth (`side` SELL = asks, which buy orders take); levels
        without a positive price and quantity are dropped."""
        clean = [[p, q] for p, q in levels if p > 0 and q > 0]
        clean.sort(key=lambda level: -level[0] if side is Side.BUY else level[0])
        self._markets[symbol].liquidity[side] = clean

    def take_liquidity(self, symbol: str, book_side: Side, plan: Iterable[Match]) -> None:
        """Use up the liquidity levels of `book_side` that `plan` (made by `plan` on this
        side, nothing changed since) takes; emptied levels go."""
        liquidity = self._markets[symbol].liquidity[book_side]
        for match in plan:
            if match.maker_order_id is None:
                liquidity[match.level][1] -= match.quantity
        liquidity[:] = [level for level in liquidity if level[1] > 0]

    def rest(self, order: Order) -> None:
        """Put an open limit order (price set) at the back of its price level."""
        assert order.price is not None
        self._markets[order.symbol].books[order.side].add(order.price, order.order_id)
        self._resting.add(order.order_id)

    def unrest(self, order: Order) -> None:
        """Take the order out of its book, if it rests there."""
        if order.order_id in self._resting:
            assert order.price is not None
            self._markets[order.symbol].books[order.side].remove(order.price, order.order_id)
            self._resting.discard(order.order_id)

    # ------------------------------------------------------------------ queries

    def resting_ids(self) -> list[int]:
        """Ids of the resting orders, oldest first."""
        return sorted(self._resting)

    def crossing(self, symbol: str, side: Side, price: Decimal) -> list[int]:
        """Ids of the `side` orders a market price of `price` crosses, best first."""
        return self._markets[symbol].books[side].crossing(price)

    def plan(self, market: SimMarket, request: OrderRequest) -> list[Match]:
        """The fills `request` would get now, best price first. Changes nothing."""
        left, budget = request.quantity, request.quote_quantity
        plan: list[Match] = []
        for _key, price, available, maker, level in self._sources(
            market.symbol, request.side.opposite
        ):
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

    def best_bid_ask(self, symbol: str) -> tuple[tuple[Decimal, Decimal] | None, ...]:
        """(best bid, best ask) as (price, quantity) over liquidity and resting orders."""
        result: list[tuple[Decimal, Decimal] | None] = []
        for side in (Side.BUY, Side.SELL):
            best = next(self._sources(symbol, side), None)
            result.append((best[1], best[2]) if best else None)
        return tuple(result)

    def depth(self, symbol: str, side: Side, limit: int) -> list[tuple[Decimal, Decimal]]:
        """Aggregated depth of one book side (liquidity and resting orders), best first."""
        levels: dict[Decimal, Decimal] = {}
        for _key, price, quantity, _maker, _level in self._sources(symbol, side):
            levels[price] = levels.get(price, ZERO) + quantity
            if len(levels) > limit:
                del levels[price]
                break
        return list(levels.items())

    def _sources(self, symbol: str, book_side: Side) -> Iterator[Source]:
        """Liquidity levels and resting orders of one book side, merged in priority order."""
        book = self._markets[symbol]
        sign = Decimal(-1) if book_side is Side.BUY else Decimal(1)
        levels = (
            ((price * sign, 0), price, qty, None, index)
            for index, (price, qty) in enumerate(book.liquidity[book_side])
        )
        resting = (
            ((price * sign, 1), price, self._orders[oid].remaining, oid, -1)
            for price, oid in book.books[book_side].best_first()
        )
        return heapq.merge(levels, resting, key=lambda item: item[0])


def _crosses(side: Side, limit: Decimal, price: Decimal) -> bool:
    return price <= limit if side is Side.BUY else price >= limit
