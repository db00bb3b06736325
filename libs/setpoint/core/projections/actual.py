"""The actual store's values: what is at the venue, as far as the log knows, per key
(`KeyActual`) and per account (`AccountActual`), with the queries the services ask of it.

The folds that make these values are in `actual_folds`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from immutables import Map

from setpoint.core.events import AccountMode, AssetBalance, ReconciliationCompletedData, Wallet
from setpoint.core.model import Key, MarketInfo
from setpoint.core.numeric import ZERO
from setpoint.core.projections._values import EMPTY
from setpoint.core.projections.journal import Journal
from setpoint.core.projections.orders import (
    NO_PROGRESS,
    SUBMIT,
    Backoff,
    IntentProgress,
    OrderRecord,
)
from setpoint.core.projections.purge import NO_CLOSED, ClosedQueue

__all__ = [
    "EMPTY_KEY",
    "AccountActual",
    "ActualState",
    "KeyActual",
    "ReconcileSummary",
]


class KeyActual(NamedTuple):
    """The actual state of one key."""

    position: Decimal = ZERO
    position_observed: bool = False
    orders: Map[str, OrderRecord] = EMPTY
    """Every order of the key (open and closed), by ref."""
    live: Map[str, None] = EMPTY
    """Refs of open or in-flight orders, ours or adopted."""
    venue_ids: Map[str, str] = EMPTY
    """Venue order id → ref."""
    intents: Map[str, IntentProgress] = EMPTY
    pending: Map[str, str] = EMPTY
    """Orders with an action in flight, by ref: "submit" or "cancel"."""
    position_open: Decimal = ZERO
    """Signed quantity position orders will still add: the remaining quantity of live ones
    (in flight included) plus fills the venue reported that are not folded yet."""
    fills: Map[tuple[str, str], None] = EMPTY
    """(venue, trade id) of the fills folded for the key: every one, or with a purge buffer
    those within the buffer of the key's newest fill (`fill_times`, `projections.purge`)."""
    journal: Journal = Journal()
    """Names (intent ids, `orphan_name(ref)`) whose actual state changed."""
    backoff: Map[str, Backoff] = EMPTY
    """Intents (and `POSITION_BACKOFF` for position orders) whose last attempts were
    rejected non-terminally: not placed again before `retry_after` (package docstring)."""
    fill_net: Decimal = ZERO
    """Running signed sum of every quantity fills added to `position`, never reset (a
    `PositionObserved` names the value it includes: later fills go on top of it)."""
    closed: ClosedQueue = NO_CLOSED
    """Orders closed and not yet purged, oldest first; only while the account has a purge
    buffer (`ActualState.purge_after`, see `projections.purge`)."""
    buying: Decimal = ZERO
    """Remaining quantity of the live orders that buy, orders being cancelled left out
    (kept by every order event, so the exposure gates read it in constant time)."""
    selling: Decimal = ZERO
    """The same for the live orders that sell."""
    fill_times: ClosedQueue = NO_CLOSED
    """The fill ids of `fills` by fill time (`traded_at`, else `occurred_at`), oldest
    first; only while the account has a purge buffer (`projections.purge`)."""
    last_fill_at: datetime | None = None
    """The newest fill time of the key (with a purge buffer; None without)."""
    listed: Map[str, None] = EMPTY
    """Intent ids of the key's newest target (`TargetPublished` of the highest generation):
    their progress is kept whatever the purge drops."""
    generation: int = 0
    """The generation of that target (0: none yet)."""

    def progress(self, intent_id: str) -> IntentProgress:
        return self.intents.get(intent_id, NO_PROGRESS)

    def order(self, client_order_id: str) -> OrderRecord | None:
        """Our order by client order id."""
        return self.orders.get(client_order_id)

    def order_by_venue_id(self, order_id: str) -> OrderRecord | None:
        ref = self.venue_ids.get(order_id)
        return None if ref is None else self.orders.get(ref)

    def live_orders(self) -> Iterator[OrderRecord]:
        orders = self.orders
        return (orders[r] for r in self.live)

    def intent_orders(self, intent_id: str) -> tuple[OrderRecord, ...]:
        """Live orders of the intent, oldest attempt first."""
        orders = self.orders
        return tuple(orders[r] for r in self.intents.get(intent_id, NO_PROGRESS).live)

    def has_fill(self, venue: str, trade_id: str) -> bool:
        return (venue, trade_id) in self.fills


EMPTY_KEY = KeyActual()


class AccountActual(NamedTuple):
    mode: AccountMode = AccountMode.NORMAL
    balances: Map[tuple[Wallet, str], AssetBalance] = EMPTY
    markets: Map[str, MarketInfo] = EMPTY
    exchange: str | None = None


NO_ACCOUNT = AccountActual()


class ReconcileSummary(NamedTuple):
    position: int
    occurred_at: datetime
    data: ReconciliationCompletedData


class ActualState(NamedTuple):
    """What is at the venue, as far as the log knows, for every key and account."""

    position: int
    keys: Map[Key, KeyActual]
    accounts: Map[str, AccountActual]
    reconciliations: Map[Key, ReconcileSummary]
    purge_after: Map[str, timedelta] = EMPTY
    """Per account: how long after an order closes (in log time) it leaves the store
    (`projections.purge`); an account absent keeps every order."""

    @classmethod
    def empty(cls, purge_after: Map[str, timedelta] = EMPTY) -> ActualState:
        return cls(0, EMPTY, EMPTY, EMPTY, purge_after)

    def key(self, key: Key) -> KeyActual:
        return self.keys.get(key, EMPTY_KEY)

    def order(self, key: Key, client_order_id: str) -> OrderRecord | None:
        """Our order by client order id (foreign orders: `order_by_venue_id`)."""
        return self.key(key).orders.get(client_order_id)

    def order_by_venue_id(self, key: Key, order_id: str) -> OrderRecord | None:
        return self.key(key).order_by_venue_id(order_id)

    def live_orders(self, key: Key) -> list[OrderRecord]:
        return list(self.key(key).live_orders())

    def progress(self, key: Key, intent_id: str) -> IntentProgress:
        return self.key(key).progress(intent_id)

    def consumed(self, key: Key, intent_id: str) -> bool:
        return self.key(key).progress(intent_id).consumed

    def last_attempt(self, key: Key, intent_id: str) -> int:
        return self.key(key).progress(intent_id).attempt

    def position_of(self, key: Key) -> Decimal:
        return self.key(key).position

    def in_flight(self, now: datetime, older_than_s: float) -> list[OrderRecord]:  # float-ok
        """Orders submitted with no venue answer, at or before `now - older_than_s`."""
        cutoff = now - timedelta(seconds=older_than_s)
        out = []
        for ka in self.keys.values():
            for ref, what in ka.pending.items():
                order = ka.orders[ref]
                at = order.submitted_at
                if what == SUBMIT and order.status is None and at is not None and at <= cutoff:
                    out.append(order)
        return out

    def account(self, account: str) -> AccountActual:
        return self.accounts.get(account, NO_ACCOUNT)

    def mode(self, account: str) -> AccountMode:
        return self.account(account).mode

    def balances(self, account: str) -> Map[tuple[Wallet, str], AssetBalance]:
        return self.account(account).balances

    def markets(self, account: str) -> Map[str, MarketInfo]:
        return self.account(account).markets

    def market(self, key: Key) -> MarketInfo | None:
        return None if key.symbol is None else self.markets(key.account).get(key.symbol)

    def fills_seen(self, key: Key) -> Map[tuple[str, str], None]:
        return self.key(key).fills

    def last_reconciliation(self, key: Key) -> ReconcileSummary | None:
        return self.reconciliations.get(key)
