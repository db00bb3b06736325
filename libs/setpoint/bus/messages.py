"""Messages on NATS that are not log events: per-key status, service health, market data
and market-data subscriptions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from setpoint.core.model import Frozen
from setpoint.core.numeric import Dec


class Condition(StrEnum):
    CONVERGED = "converged"
    DRIFTING = "drifting"
    DEGRADED = "degraded"
    UNVERIFIED = "unverified"


class KeyStatus(Frozen):
    """What the differ knows of one key; published on `setpoint.status.<acct>.<token>` on
    every change and returned (all keys) in reply to a request on `setpoint.status.request`
    as `{"keys": [KeyStatus, ...]}`. `reasons` are CamelCase (e.g. `OrdersInFlight`,
    `TargetExpired`, `VenueUnreachable`)."""

    account: str
    symbol: str
    generation: int | None = None
    condition: Condition
    reasons: tuple[str, ...] = ()
    open_orders_target: int = 0
    open_orders_venue: int = 0
    position_target: Dec | None = None
    position_actual: Dec | None = None
    last_reconciliation: datetime | None = None
    updated_at: datetime
    tick: Dec | None = None
    """The market's price increment, for showing prices at its precision; null while
    the account's markets are not loaded."""
    step: Dec | None = None
    """The market's quantity increment, for showing quantities (positions) likewise."""


class Health(Frozen):
    """Reply on `setpoint.health.<service>`. `ready` is true only while the service works:
    every task of it running and its log followers caught up. `tasks` names each task's
    state (`following`, `resuming since T (why)`, `failed since T (why)`, `behind the
    log`); `position` is the log position its projection holds."""

    service: str
    ready: bool
    version: str
    started_at: datetime
    tasks: dict[str, str] = Field(default_factory=dict)
    position: int | None = None

    def troubles(self) -> list[str]:
        """`"<task>: <state>"` for each task that is not following."""
        return [f"{name}: {state}" for name, state in self.tasks.items() if state != "following"]

    def summary(self) -> str:
        """`ready`, or `not ready (log: resuming since ...)` for an operator's view."""
        if self.ready:
            return "ready"
        troubles = self.troubles()
        return "not ready" + (f" ({'; '.join(troubles)})" if troubles else "")


class Ticker(Frozen):
    """Market data for one key, published by the gateway on
    `setpoint.md.<account>.<symbol-token>.ticker` (JSON, every number a decimal string).

    `funding_rate` is the current funding rate of a perpetual (per funding interval,
    e.g. "0.0001" = 1 bp), null for spot. Any field the venue does not give is null."""

    account: str
    symbol: str
    last: Dec | None = None
    bid: Dec | None = None
    ask: Dec | None = None
    funding_rate: Dec | None = None
    at: datetime


class MarketDataSubscription(Frozen):
    """Published (no reply) on `setpoint.md.<account>.subscribe` by whoever wants tickers
    of `symbols` before they have a target (the strategy host, for every symbol its
    strategies declare). The gateway of `account` publishes tickers for them until
    `ttl_s` seconds after the last subscription that named them: a subscriber refreshes
    well within `ttl_s` (the host every `ttl_s / 3`), and one that stops refreshing stops
    costing venue calls. Symbols the venue does not list are ignored."""

    account: str
    subscriber: str
    symbols: tuple[str, ...]
    ttl_s: float = Field(default=30.0, gt=0, le=3600)  # float-ok: a duration
