"""The venue's dead-man switch, armed per account and renewed while the gateway lives.

What the venue has is its capability (`venues.capabilities.DeadManRule`):

* Binance USD-M, one per symbol (`POST /fapi/v1/countdownCancelAll`, ccxt
  `fapiPrivatePostCountdownCancelAll`): unless renewed within `countdownTime` ms, the
  venue cancels every open order of the symbol. The gateway arms it for each derivative
  symbol it looks at (`scope`); Binance spot has none (nothing is armed there).
* OKX, one for the account (`POST /api/v5/trade/cancel-all-after`, ccxt's unified
  `cancel_all_orders_after`): unless renewed within `timeOut` seconds (10 to 120), the
  venue cancels every open order of the account, spot and swap alike. The gateway arms it
  once the account has a key in scope.

With `dead_man_switch = true` the gateway renews the switch every third of
`dead_man_countdown_s` (brought within the venue's bounds), so if every process of ours
dies the venue cancels the orders on its own within the countdown. A target's
`expires_at` covers a strategy that stops, not a gateway that dies.

A renewal that fails is logged once (a warning naming the timer and the venue's answer),
not on every attempt, and its recovery once; the next renewal tries again. Stopping the
gateway leaves the timers armed: a restart within the countdown renews them, otherwise
the venue cancels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from setpoint.core.model import MarketInfo
from setpoint.gateway.venue import Venue, VenueError
from setpoint.venues.capabilities import DeadManRule

log = logging.getLogger(__name__)
ACCOUNT_TIMER = "the account"
"""The name of an account-wide timer in the log lines and in `failing`."""


def supported(rest: object, rule: DeadManRule | None) -> bool:
    """Whether the venue has a dead-man switch and its ccxt client the method for it."""
    return rule is not None and callable(getattr(rest, rule.method, None))


class DeadManSwitch:
    """Arms and renews the venue's switch for `symbols()` (module docstring)."""

    def __init__(
        self,
        venue: Venue,
        symbols: Callable[[], list[str]],
        countdown_s: float,  # float-ok
        account: str,
        rule: DeadManRule,
    ) -> None:
        self.venue, self.symbols, self.account, self.rule = venue, symbols, account, rule
        countdown = rule.countdown_s(countdown_s)
        self.countdown_ms = int(countdown * 1000)
        self.period_s = countdown / 3
        self.failing: dict[str, str] = {}
        """Per timer (a symbol, or `ACCOUNT_TIMER`) whose last renewal failed: the reason
        (logged once)."""

    def armed_symbols(self, markets: Mapping[str, MarketInfo]) -> list[str]:
        return [s for s in self.symbols() if (m := markets.get(s)) and m.is_derivative]

    def timers(self) -> dict[str, Callable[[], Awaitable[Any]]]:
        """The calls that arm or renew each timer now, by timer name."""
        method = getattr(self.venue.rest, self.rule.method)
        if not self.rule.per_symbol:
            return {ACCOUNT_TIMER: partial(method, self.countdown_ms)} if self.symbols() else {}
        markets = self.venue.markets
        return {
            symbol: partial(
                method, {"symbol": markets[symbol].venue_symbol, "countdownTime": self.countdown_ms}
            )
            for symbol in self.armed_symbols(markets)
        }

    async def renew(self) -> None:
        """Arm or renew every timer once (failures logged once per episode)."""
        for timer, call in self.timers().items():
            try:
                await self.venue.call(call())
            except VenueError as exc:
                self._failed(timer, exc.failure.reason)
                continue
            if self.failing.pop(timer, None) is not None:
                log.info("dead-man switch of %s %s renewed again", self.account, timer)

    def _failed(self, timer: str, reason: str) -> None:
        if timer not in self.failing:
            log.warning(
                "dead-man switch of %s %s not renewed (%s); retrying every %.1f s",
                self.account, timer, reason, self.period_s,
            )  # fmt: skip
        self.failing[timer] = reason

    async def run(self) -> None:
        """Renew forever, every third of the countdown."""
        while True:
            await self.renew()
            await asyncio.sleep(self.period_s)
