"""Which orders an id names, for `setpoint explain ID`: a venue order id or an intent id
(a client order id names its order directly and needs no lookup).

`Lookup` is fed every record of one pass over the log and keeps, in log order, each order
the id names within the optional account and symbol: by venue order id (any order event
or fill carrying it) or by intent id (the `OrderSubmitted` of each attempt). A venue order
id wins over an intent id when the same text is both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from setpoint.core.events import ORDER_LIFE
from setpoint.eventlog.port import Recorded

BY_ORDER_ID = "order_id"
BY_INTENT_ID = "intent_id"


class Named(NamedTuple):
    """One order an id names: its key, client order id (None for a foreign order seen
    without one) and venue order id (None until the venue gave one)."""

    account: str
    symbol: str | None
    client_order_id: str | None
    order_id: str | None


@dataclass
class Lookup:
    """The orders `ident` names as a venue order id and as an intent id (module docstring)."""

    ident: str
    account: str | None = None
    symbol: str | None = None
    by_order_id: list[Named] = field(default_factory=list)
    by_intent_id: list[Named] = field(default_factory=list)

    def feed(self, record: Recorded) -> None:
        event: Any = record.event
        if event.type not in ORDER_LIFE or not self._within(event):
            return
        data = event.data
        coid = getattr(data, "client_order_id", None)
        if getattr(data, "order_id", None) == self.ident:
            _add(self.by_order_id, Named(event.account, event.symbol, coid, self.ident))
        if event.type == "OrderSubmitted" and data.intent_id == self.ident:
            _add(self.by_intent_id, Named(event.account, event.symbol, coid, None))

    def _within(self, event: Any) -> bool:
        return self.account in (None, event.account) and self.symbol in (None, event.symbol)

    def found(self) -> tuple[str | None, list[Named]]:
        """How the id matched (`BY_ORDER_ID`, `BY_INTENT_ID`, None) and the orders named."""
        if self.by_order_id:
            return BY_ORDER_ID, _merged(self.by_order_id)
        if self.by_intent_id:
            return BY_INTENT_ID, self.by_intent_id
        return None, []


def _add(named: list[Named], one: Named) -> None:
    if one not in named:
        named.append(one)


def _merged(named: list[Named]) -> list[Named]:
    """One entry per order: an event without the client order id (a fill of a foreign
    order, an observation) adds nothing when another names the order with it."""
    known = {(n.account, n.symbol, n.order_id) for n in named if n.client_order_id}
    return [n for n in named if n.client_order_id or (n.account, n.symbol, n.order_id) not in known]
