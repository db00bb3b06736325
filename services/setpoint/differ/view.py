"""The differ's view of the log: a fold of every event, kept live by the service.

`DifferView.apply(record)` must be called with every record of the log in order (the
rebuild from position 1, then the live subscription); it returns the keys the record makes
worth reconciling again. The view holds:

* the core's intent and actual projections (`setpoint.core.projections`), which also
  hold the accepted target per key and each account's markets and mode, and the
  portfolio fold (PnL, equity, drawdown per key and account; the futures wallet);
* per key: the last decision (`DiffComputed`), the client order ids acted on since (see
  `decide.should_append`) and, per producer, the position of its last
  event for the key (the `expected` of that producer's next append);
* `position`: the last position applied; `wait_for(position)` resolves once the view has
  reached it (the differ decides only on a prefix of the log that includes its own
  decisions). `apply_own` folds an event this process appended as soon as its position is
  known, if the view is at the position just before it; the subscription's copy is then
  skipped, so each position is applied once, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from immutables import Map

from setpoint.core import projections
from setpoint.core.events import (
    ORDER_LIFE,
    AccountMode,
    AccountModeChanged,
    AmendSubmitted,
    CancelSubmitted,
    DiffComputed,
    DiffComputedData,
    Event,
    OrderSubmitted,
    TargetPublished,
)
from setpoint.core.model import Key, MarketInfo, Producer, symbol_token
from setpoint.core.projections.snapshot import expect
from setpoint.eventlog.port import Recorded

TRIGGERS = ORDER_LIFE | {"TargetPublished", "PositionObserved", "ReconciliationCompleted"}
"""Event types about one key that may change what the differ decides for it."""

ACCOUNT_TRIGGERS = frozenset({"MarketsLoaded", "AccountModeChanged"})
"""Account-wide event types after which every key of the account is decided again."""


@dataclass(slots=True)
class KeyFacts:
    """What the differ keeps of one key besides the core projections."""

    decision: DiffComputedData | None = None
    decision_event_id: str | None = None
    acted: set[str] = field(default_factory=set)
    """Client order ids submitted or cancelled since the last decision, of those its
    actions name (all `decide.should_append` asks about: so the set never outgrows one
    decision, however many orders a key sees between two decisions)."""
    traceparent: str | None = None
    """Trace context of the accepted target (its decisions continue that trace)."""
    positions: dict[Producer, int] = field(default_factory=dict)


def _named(decision: DiffComputedData | None, coid: str) -> bool:
    """Whether an action of `decision` places or replaces the order `coid`."""
    if decision is None:
        return False
    return any(coid in (a.client_order_id, a.replaces) for a in decision.actions)


EMPTY_PURGE: Map[str, timedelta] = Map()
EMPTY_CLOCKS: Map[str, projections.LossClock] = Map()


class DifferView:
    """See the module docstring. Not thread-safe; one event loop."""

    def __init__(
        self,
        purge_after: Map[str, timedelta] = EMPTY_PURGE,
        clocks: Map[str, projections.LossClock] = EMPTY_CLOCKS,
    ) -> None:
        """`purge_after`: per account, when closed orders leave `actual` (`projections.purge`)
        and old trade ids and closed orders' counts leave `portfolio`;
        `clocks`: per account, how the portfolio counts its loss (`PortfolioState.clocks`)."""
        self.intent = projections.IntentState.empty()
        self.actual = projections.ActualState.empty(purge_after)
        self.portfolio = projections.PortfolioState.empty(clocks, purge_after)
        self.position = 0
        self.keys: dict[Key, KeyFacts] = {}
        self.mode_events: dict[str, str] = {}
        """Per account: the event id of its last `AccountModeChanged`."""
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def capture(self) -> tuple[Any, ...]:
        """The view's state as values a snapshot holds (`restore` puts it back): the three
        projections as they are (immutable), the per-key facts and the accounts' mode
        events copied."""
        keys = {
            key: (f.decision, f.decision_event_id, tuple(sorted(f.acted)), f.traceparent,
                  dict(f.positions))
            for key, f in self.keys.items()
        }  # fmt: skip
        return (self.intent, self.actual, self.portfolio, self.position, keys,
                dict(self.mode_events))  # fmt: skip

    def restore(self, state: tuple[Any, ...]) -> None:
        """Put back what `capture` returned (the view must be empty: nothing folded yet)."""
        intent, actual, portfolio, position, keys, mode_events = expect(
            state, projections.IntentState, projections.ActualState,
            projections.PortfolioState, int, dict, dict,
        )  # fmt: skip
        facts = {
            key: KeyFacts(decision, event_id, set(acted), traceparent, dict(positions))
            for key, (decision, event_id, acted, traceparent, positions) in keys.items()
        }
        self.intent, self.actual, self.portfolio = intent, actual, portfolio
        self.position, self.keys, self.mode_events = position, facts, dict(mode_events)

    def facts(self, key: Key) -> KeyFacts:
        found = self.keys.get(key)
        if found is None:
            found = self.keys[key] = KeyFacts()
        return found

    def apply(self, record: Recorded) -> list[Key]:
        """Fold one record (the next in log order); returns the keys to enqueue. A record
        at or below `position` was applied already (see `apply_own`): nothing happens."""
        if record.position <= self.position:
            return []
        event = record.event
        self.intent = projections.apply_intent(self.intent, record.position, event)
        self.actual = projections.apply_actual(self.actual, record.position, event)
        self.portfolio = projections.apply_portfolio(self.portfolio, record.position, event)
        self.position = max(self.position, record.position)
        triggered = self._apply_own(record.position, event)
        self._wake()
        return triggered

    def apply_own(self, position: int, event: Event) -> list[Key] | None:
        """Apply an event this process has just appended at `position`, before the live
        subscription brings it, when the view holds everything before it (so the fold
        stays in log order). Returns None when it cannot (the subscription will)."""
        if position != self.position + 1:
            return None
        return self.apply(Recorded(position, event))

    def _apply_own(self, position: int, event: Event) -> list[Key]:
        if event.symbol is None:
            return self._apply_account(position, event)
        facts = self.facts(event.key)
        facts.positions[event.producer] = max(facts.positions.get(event.producer, 0), position)
        if isinstance(event, DiffComputed):
            facts.decision = event.data
            facts.decision_event_id = event.event_id
            facts.acted = set()
        elif isinstance(event, TargetPublished):
            if event.data.target.generation == self.intent.generation(event.key):
                facts.traceparent = event.traceparent
        elif isinstance(event, OrderSubmitted | CancelSubmitted | AmendSubmitted):
            coid = event.data.client_order_id  # an amend's: the order it amends
            if _named(facts.decision, coid):
                facts.acted.add(coid)
        return [event.key] if event.type in TRIGGERS else []

    def _apply_account(self, position: int, event: Event) -> list[Key]:
        facts = self.facts(event.key)
        facts.positions[event.producer] = max(facts.positions.get(event.producer, 0), position)
        if isinstance(event, AccountModeChanged):
            self.mode_events[event.account] = event.event_id
        if event.type not in ACCOUNT_TRIGGERS:
            return []
        return self.account_keys(event.account)

    def account_keys(self, account: str) -> list[Key]:
        """Every key of the account to decide: those with an accepted target, and while
        the account is flattening every key its facts name too (a position to close)."""
        keys = [k for k in self.intent.targets if k.account == account]
        if self.actual.mode(account).flattening:
            targeted = set(keys)
            keys += [
                k for k in self.actual.keys
                if k.account == account and k.symbol is not None and k not in targeted
            ]  # fmt: skip
        return keys

    def targeted_keys(self) -> list[Key]:
        return list(self.intent.targets)

    def keys_to_decide(self) -> list[Key]:
        """Every key with a target, and every key of a flattening account (`account_keys`)."""
        keys = self.targeted_keys()
        flattening = {a for a, state in self.actual.accounts.items() if state.mode.flattening}
        for account in sorted(flattening):
            keys += [k for k in self.account_keys(account) if k not in self.intent.targets]
        return keys

    def decides(self, key: Key) -> bool:
        """The differ decides `key`: it has a target, or its account is flattening."""
        return key in self.intent.targets or self.actual.mode(key.account).flattening

    def target(self, key: Key) -> projections.AcceptedTarget | None:
        return self.intent.target(key)

    def expected(self, key: Key, producer: Producer) -> int:
        """The `expected` for the producer's next append for the key, as far as seen."""
        found = self.keys.get(key)
        return found.positions.get(producer, 0) if found else 0

    def mode(self, account: str) -> AccountMode:
        return self.actual.mode(account)

    def market(self, key: Key) -> MarketInfo | None:
        return self.actual.market(key)

    def markets(self, account: str) -> Mapping[str, MarketInfo] | None:
        """The account's markets by symbol; None until its first MarketsLoaded."""
        found = self.actual.markets(account)
        return found if len(found) else None

    async def wait_for(self, position: int) -> None:
        """Return once the view has applied `position` (at once if it already has)."""
        if self.position >= position:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((position, future))
        await future

    def _wake(self) -> None:
        if not self._waiters:
            return
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for position, future in self._waiters:
            if position <= self.position:
                if not future.done():
                    future.set_result(None)
            elif not future.cancelled():
                keep.append((position, future))
        self._waiters = keep


def symbol_for_token(view: DifferView, account: str, token: str) -> str | None:
    """The unified symbol of the account's market whose subject token is `token`."""
    for symbol in view.markets(account) or ():
        if symbol_token(symbol) == token:
            return symbol
    return None
