"""One configured strategy, without I/O: its keys' facts in, the targets to publish out.

The host feeds a `Runner` with log events (`apply`), tickers (`ticker`) and markets
(`markets_loaded`); `step(now)` calls the strategy and returns the `TargetState`s that
must be published: one per key whose desired world differs from the last one published
(or found in the log), each with a generation above every generation known for the key.
`published(target, accepted, error)` records the differ's answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from setpoint.bus.messages import Ticker
from setpoint.config import StrategyConfig
from setpoint.core.events import (
    Event,
    MarginObserved,
    MarginObservedData,
    MarketsLoaded,
    TargetPublished,
)
from setpoint.core.model import MarketInfo, TargetState

from .actual import ActualProjection
from .sdk import Desired, Strategy, View

log = logging.getLogger(__name__)


class Runner:
    """State of one `[strategies.<name>]` entry inside the host (see module docstring)."""

    def __init__(self, name: str, config: StrategyConfig, strategy: Strategy[Any]) -> None:
        self.name = name
        self.config = config
        self.strategy = strategy
        self.symbols = strategy.symbols(config)
        self.state: Any = strategy.initial(config)
        self.actual = {symbol: ActualProjection(symbol) for symbol in self.symbols}
        self.tickers: dict[str, Ticker] = {}
        self.market_info: dict[str, MarketInfo] = {}
        self.generation: dict[str, int] = {}
        self.sent: dict[str, Desired] = {}
        self.sent_generation: dict[str, int] = {}
        self.margin: MarginObservedData | None = None
        self.note: str | None = None
        """The strategy's last `Decision.note` (why it holds back)."""

    @property
    def account(self) -> str:
        return self.config.account

    def apply(self, event: Event) -> None:
        """Fold one log event of this strategy's account (other keys are ignored)."""
        if isinstance(event, MarketsLoaded):
            self.markets_loaded(event.data.markets)
            return
        if isinstance(event, MarginObserved):
            if event.account == self.account:
                self.margin = event.data
            return
        projection = self.actual.get(event.symbol or "")
        if event.account != self.account or projection is None:
            return
        projection.apply(event)
        if isinstance(event, TargetPublished):
            self._logged_target(event.data.target)

    def _logged_target(self, target: TargetState) -> None:
        """The target in force is the log's newest, unless we sent a newer one since."""
        if target.generation >= self.sent_generation.get(target.symbol, 0):
            self.sent[target.symbol] = Desired.of(target)
            self.sent_generation[target.symbol] = target.generation
        self._seen_generation(target.symbol, target.generation)

    def markets_loaded(self, markets: tuple[MarketInfo, ...]) -> None:
        self.market_info = {m.symbol: m for m in markets}

    def ticker(self, ticker: Ticker) -> None:
        if ticker.symbol in self.actual:
            self.tickers[ticker.symbol] = ticker

    def _seen_generation(self, symbol: str, generation: int) -> None:
        self.generation[symbol] = max(self.generation.get(symbol, 0), generation)

    def view(self, now: datetime) -> View:
        previous = {s: p.last_target for s, p in self.actual.items() if p.last_target is not None}
        return View(
            name=self.name,
            account=self.account,
            symbols=self.symbols,
            params=MappingProxyType(dict(self.config.params)),
            now=now,
            market=MappingProxyType(dict(self.tickers)),
            actual=MappingProxyType({s: p.snapshot() for s, p in self.actual.items()}),
            previous=MappingProxyType(previous),
            markets=MappingProxyType(dict(self.market_info)),
            margin=self.margin,
        )

    def step(self, now: datetime) -> list[TargetState]:
        """Run the strategy once; the targets to publish (changed keys only)."""
        decision = self.strategy.decide(self.state, self.view(now))
        self.state = decision.state
        if decision.note != self.note:
            self.note = decision.note
            log.info("%s: %s", self.name, decision.note or "no longer holding back")
        return [
            self._target(symbol, desired)
            for symbol, desired in decision.targets.items()
            if symbol in self.actual and self.sent.get(symbol) != desired
        ]

    def _target(self, symbol: str, desired: Desired) -> TargetState:
        generation = self.generation.get(symbol, 0) + 1
        self.generation[symbol] = generation
        return TargetState(
            account=self.account,
            symbol=symbol,
            generation=generation,
            strategy=self.name,
            position=desired.position,
            expires_at=desired.expires_at,
            orders=desired.orders,
        )

    def unheard(self, target: TargetState) -> None:
        """Nobody received the target (no responders): its generation may be used again."""
        if self.generation.get(target.symbol) == target.generation:
            self.generation[target.symbol] = target.generation - 1

    def published(self, target: TargetState, reply: Mapping[str, Any]) -> None:
        """Record the differ's reply. A stale generation is bumped (to the clock in ms when
        that is higher) and the target sent again at the next step; any other rejection is
        logged and not retried until the strategy wants something else."""
        error = str(reply.get("error", ""))
        if reply.get("accepted") or "generation" not in error:
            self.sent[target.symbol] = Desired.of(target)
            self.sent_generation[target.symbol] = target.generation
        if not reply.get("accepted"):
            log.warning("%s: target %s rejected: %s", self.name, target.symbol, error)
        if "generation" in error:
            clock = int(time.time() * 1000)
            self._seen_generation(target.symbol, max(target.generation, clock))
