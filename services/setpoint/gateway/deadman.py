"""The venue's dead-man switch, armed per account and renewed while the gateway lives.

Binance USD-M has one per symbol (`POST /fapi/v1/countdownCancelAll`, ccxt
`fapiPrivatePostCountdownCancelAll`): unless renewed within `countdownTime` ms, the venue
cancels every open order of the symbol. With `dead_man_switch = true` the gateway arms it
for each derivative symbol it looks at (`scope`) and renews it every third of
`dead_man_countdown_s`, so if every process of ours dies the venue cancels the orders on
its own within the countdown. Binance spot has no such switch (nothing is armed there; a
target's `expires_at` covers a strategy that stops, not a gateway that dies).

A renewal that fails is logged once (a warning naming the symbol and the venue's answer),
not on every attempt, and its recovery once; the next renewal tries again. Stopping the
gateway leaves the timers armed: a restart within the countdown renews them, otherwise
the venue cancels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from setpoint.core.model import MarketInfo
from setpoint.gateway.venue import Venue, VenueError

log = logging.getLogger(__name__)
METHOD = "fapiPrivatePostCountdownCancelAll"


def supported(rest: object) -> bool:
    """Whether the ccxt exchange has Binance USD-M's countdownCancelAll."""
    return callable(getattr(rest, METHOD, None))


class DeadManSwitch:
    """Arms and renews the switch of `symbols()`' derivative markets (module docstring)."""

    def __init__(
        self,
        venue: Venue,
        symbols: Callable[[], list[str]],
        countdown_s: float,  # float-ok
        account: str,
    ) -> None:
        self.venue, self.symbols, self.account = venue, symbols, account
        self.countdown_ms = int(countdown_s * 1000)
        self.period_s = countdown_s / 3
        self.failing: dict[str, str] = {}
        """Per symbol whose last renewal failed: the reason (logged once)."""

    def armed_symbols(self, markets: Mapping[str, MarketInfo]) -> list[str]:
        return [s for s in self.symbols() if (m := markets.get(s)) and m.is_derivative]

    async def renew(self) -> None:
        """Arm or renew every symbol's timer once (failures logged once per episode)."""
        markets = self.venue.markets
        for symbol in self.armed_symbols(markets):
            request = {"symbol": markets[symbol].venue_symbol, "countdownTime": self.countdown_ms}
            try:
                await self.venue.call(getattr(self.venue.rest, METHOD)(request))
            except VenueError as exc:
                self._failed(symbol, exc.failure.reason)
                continue
            if self.failing.pop(symbol, None) is not None:
                log.info("dead-man switch of %s %s renewed again", self.account, symbol)

    def _failed(self, symbol: str, reason: str) -> None:
        if symbol not in self.failing:
            log.warning(
                "dead-man switch of %s %s not renewed (%s); retrying every %.1f s",
                self.account, symbol, reason, self.period_s,
            )  # fmt: skip
        self.failing[symbol] = reason

    async def run(self) -> None:
        """Renew forever, every third of the countdown."""
        while True:
            await self.renew()
            await asyncio.sleep(self.period_s)
