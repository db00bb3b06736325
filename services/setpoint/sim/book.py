"""Price-time priority for one side of one market's book of resting orders.

Prices are kept sorted (bisect); each price holds its order ids in arrival order. Iteration
yields (price, order id) best first: highest price for bids, lowest for asks.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from decimal import Decimal

from setpoint.core.model import Side


class SideBook:
    """Resting order ids on one side, by price then time."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self._prices: list[Decimal] = []
        self._levels: dict[Decimal, list[int]] = {}

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._levels.values())

    def add(self, price: Decimal, order_id: int) -> None:
        level = self._levels.get(price)
        if level is None:
            bisect.insort(self._prices, price)
            level = self._levels[price] = []
        level.append(order_id)

    def remove(self, price: Decimal, order_id: int) -> None:
        level = self._levels.get(price)
        if level is None or order_id not in level:
            return
        level.remove(order_id)
        if not level:
            del self._levels[price]
            index = bisect.bisect_left(self._prices, price)
            del self._prices[index]

    def best_first(self) -> Iterator[tuple[Decimal, int]]:
        """(price, order id) in priority order. Do not mutate the book while iterating."""
        prices = reversed(self._prices) if self.side is Side.BUY else iter(self._prices)
        for price in prices:
            for order_id in self._levels[price]:
                yield price, order_id

    def crossing(self, price: Decimal) -> list[int]:
        """Order ids that a market price of `price` crosses (bid >= price, ask <= price)."""
        if self.side is Side.BUY:
            start = bisect.bisect_left(self._prices, price)
            chosen = reversed(self._prices[start:])
        else:
            end = bisect.bisect_right(self._prices, price)
            chosen = iter(self._prices[:end])
        return [order_id for level in chosen for order_id in self._levels[level]]
