"""The venue's dead-man switch: Binance USD-M `countdownCancelAll` per symbol, OKX
`cancel-all-after` for the whole account.

`POST /fapi/v1/countdownCancelAll` with `symbol` and `countdownTime` (milliseconds) arms
the symbol's timer: unless it is renewed (posted again) before it runs out, every open
order of the symbol is cancelled. `countdownTime` 0 disarms it. OKX's `POST
/api/v5/trade/cancel-all-after` (`timeOut` in seconds) arms one timer for the account,
kept here under `ACCOUNT_WIDE`: when it runs out, every open order of every symbol is
cancelled. `Countdowns` holds the
deadlines (pure bookkeeping: the caller passes the time); the simulator's background task
asks `due(now)` and cancels.
"""

from __future__ import annotations

from collections.abc import Mapping

ACCOUNT_WIDE = "*"
"""The key of a timer that covers every symbol (OKX's cancel-all-after)."""


class Countdowns:
    """Deadline (epoch ms) per unified symbol (or `ACCOUNT_WIDE`); a due timer fires once
    and is gone."""

    def __init__(self) -> None:
        self._deadlines: dict[str, int] = {}

    def arm(self, symbol: str, countdown_ms: int, now_ms: int) -> None:
        """Arm (or renew) the timer of `symbol` to `now_ms + countdown_ms`; 0 disarms it."""
        if countdown_ms < 0:
            raise ValueError(f"countdownTime must be 0 or more, not {countdown_ms}")
        if countdown_ms == 0:
            self._deadlines.pop(symbol, None)
            return
        self._deadlines[symbol] = now_ms + countdown_ms

    def due(self, now_ms: int) -> list[str]:
        """The symbols whose timer ran out by `now_ms`, disarmed by this call."""
        fired = sorted(s for s, at in self._deadlines.items() if at <= now_ms)
        for symbol in fired:
            del self._deadlines[symbol]
        return fired

    @property
    def deadlines(self) -> Mapping[str, int]:
        return dict(self._deadlines)
