"""Market-data subscriptions, without I/O: who asked for which symbols' tickers, until when.

A subscription (`MarketDataSubscription` on `setpoint.md.<account>.subscribe`) names
symbols and a time to live; `renew` records it, `live` gives the symbols some subscriber
still wants at a moment. Times are the gateway's monotonic clock in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from setpoint.bus.messages import MarketDataSubscription

Subscriptions = Mapping[tuple[str, str], float]
"""(subscriber, symbol) -> the monotonic time its subscription lapses."""

NONE: Subscriptions = MappingProxyType({})


def renew(
    subscriptions: Subscriptions,
    message: MarketDataSubscription,
    now: float,  # float-ok: monotonic seconds
) -> Subscriptions:
    """The subscriptions after `message` arrived at `now`: the subscriber's symbols are
    exactly the message's (a symbol it no longer names is dropped), each lapsing `ttl_s`
    later; lapsed entries of others are forgotten."""
    kept = {
        entry: until
        for entry, until in subscriptions.items()
        if entry[0] != message.subscriber and until > now
    }
    kept.update({(message.subscriber, s): now + message.ttl_s for s in message.symbols})
    return MappingProxyType(kept)


def live(subscriptions: Subscriptions, now: float) -> frozenset[str]:  # float-ok
    """The symbols some subscription still covers at `now`."""
    return frozenset(symbol for (_, symbol), until in subscriptions.items() if until > now)
