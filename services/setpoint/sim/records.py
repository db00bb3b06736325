"""The venue's records of one account: every order (latest version) and every trade, and
the ids they get.

Contract: ids only go up, from the first ids given, and are never reused (a new store that
continues `next_ids` neither); an order is found by id, or by client id (the newest order
that used it); orders and trades are kept in creation order. The store decides nothing:
the engine tells it what happened.
"""

from __future__ import annotations

from setpoint.sim.orders import Order, Reason, Rejected, Trade


class Records:
    """Orders and trades of one account. See the module docstring."""

    def __init__(self, first_ids: tuple[int, int]) -> None:
        self.orders: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self._by_client: dict[tuple[str, str], list[int]] = {}
        self._next_order, self._next_trade = first_ids

    @property
    def next_ids(self) -> tuple[int, int]:
        """(next order id, next trade id)."""
        return self._next_order, self._next_trade

    def new_order_id(self) -> int:
        """A fresh order id, used up by this call."""
        order_id = self._next_order
        self._next_order += 1
        return order_id

    def new_trade_id(self) -> int:
        """A fresh trade id, used up by this call."""
        trade_id = self._next_trade
        self._next_trade += 1
        return trade_id

    def add(self, order: Order) -> None:
        """Record a new order under its id and its client id."""
        self.orders[order.order_id] = order
        key = (order.symbol, order.client_order_id)
        self._by_client.setdefault(key, []).append(order.order_id)

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

    def open_with_client(self, symbol: str, client_order_id: str) -> bool:
        """Whether an open order on `symbol` uses this client id."""
        ids = self._by_client.get((symbol, client_order_id), [])
        return any(self.orders[i].is_open for i in ids)

    def trades_for(
        self,
        symbol: str,
        start_us: int | None = None,
        end_us: int | None = None,
        from_id: int | None = None,
        limit: int = 500,
    ) -> list[Trade]:
        """The trades on `symbol`, oldest first; the newest `limit` without a start."""
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
