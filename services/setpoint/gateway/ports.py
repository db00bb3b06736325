"""What a reconciliation run needs from the rest of the gateway: four narrow ports.

`Reconciler` (reconciler.py) is handed these by `Gateway` and imports nothing of the
gateway's service module:

* `ReconcileVenue`: the REST reads of one account (`VenueReads`) and the one write a run
  makes, a cancel. `gateway.venue.Venue` is one. Every call either answers or raises
  `VenueError` with a classified failure; a failed read is never an empty answer.
* `ProjectionView`: the gateway's projections of the log, read only, and the wait until
  they hold everything the log holds now.
* `Append`: appends facts of one key to the log (idempotent by event id); the gateway's
  own projection sees them when it folds them.
* the account: its name and its `AccountConfig` (the venue, the reconcile policy).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeAlias

from setpoint.core.events import AssetBalance, Event
from setpoint.core.model import Key, MarketInfo
from setpoint.core.projections import ActualState, IntentState
from setpoint.core.reconcile import VenueFill, VenueOrder
from setpoint.gateway.venue import PositionFact, TradesRead
from setpoint.venues.commands import CancelCommand


class VenueReads(Protocol):
    """The REST reads of one account that a reconciliation makes (paced by the account's
    bucket), each answering or raising `VenueError`."""

    @property
    def markets(self) -> Mapping[str, MarketInfo]:
        """The loaded markets by unified symbol."""
        ...

    @property
    def open_orders_account_wide(self) -> bool:
        """The venue lists every spot symbol's open orders in one call (capabilities)."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """Open orders of `symbol`, or of every spot symbol when None."""
        ...

    async def all_fills(
        self, symbol: str, since: datetime | None, *, page: int, pages: int
    ) -> TradesRead:
        """Every trade from `since` up to now, in at most `pages` calls of `page` rows."""
        ...

    async def fills(self, symbol: str, since: datetime | None, *, limit: int) -> list[VenueFill]:
        """One call: the oldest `limit` trades from `since`, or the newest without it."""
        ...

    async def positions(self, symbols: Sequence[str]) -> list[PositionFact]:
        """The positions of `symbols` the venue holds (a flat one may be absent)."""
        ...

    async def query(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """The order with this client id, or None when the venue says it does not exist."""
        ...

    async def balances(self) -> tuple[AssetBalance, ...]:
        """The spot wallet's balances."""
        ...


class ReconcileVenue(VenueReads, Protocol):
    """`VenueReads` and the cancel a reconciliation sends (zombies, lost attempts)."""

    async def cancel(self, cmd: CancelCommand) -> VenueOrder:
        """Cancel by venue id when known, else by client order id; the order as the venue
        answers (raises `VenueError`, `NOT_FOUND` when the venue has no such order)."""
        ...


class ProjectionView(Protocol):
    """The gateway's projections of its account, read only. Each read is the fold as it
    is at that moment (it moves on while the run awaits)."""

    @property
    def actual(self) -> ActualState: ...

    @property
    def intent(self) -> IntentState: ...

    @property
    def last_fill_at(self) -> Mapping[Key, datetime]:
        """Per key: the time of the newest fill folded."""
        ...

    def scope(self) -> list[str]:
        """Symbols looked at: those that have or had a target or an order of ours."""
        ...

    async def caught_up(self) -> None:
        """Return once every event in the log now is folded; TimeoutError when it takes
        too long (a run never judges from a projection it knows is behind)."""
        ...


Append: TypeAlias = Callable[[Key, Sequence[Event]], Awaitable[None]]
"""Append facts of one key to the log (idempotent by event id)."""
