"""Market-data subscriptions of the gateway: renewal, replacement, expiry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from setpoint.bus.messages import MarketDataSubscription
from setpoint.gateway.subscriptions import NONE, live, renew


def _sub(subscriber: str, *symbols: str, ttl: float = 30.0) -> MarketDataSubscription:  # float-ok
    return MarketDataSubscription(account="a", subscriber=subscriber, symbols=symbols, ttl_s=ttl)


def test_symbols_are_live_until_the_ttl() -> None:
    subs = renew(NONE, _sub("host", "BTC/USDT", "ETH/USDT", ttl=10), now=100)
    assert live(subs, 109.9) == {"BTC/USDT", "ETH/USDT"}
    assert live(subs, 110) == frozenset()


def test_a_refresh_replaces_the_subscribers_symbols() -> None:
    subs = renew(NONE, _sub("host", "BTC/USDT", "ETH/USDT"), now=0)
    subs = renew(subs, _sub("host", "ETH/USDT"), now=5)
    assert live(subs, 6) == {"ETH/USDT"}


def test_subscribers_are_independent() -> None:
    subs = renew(NONE, _sub("one", "BTC/USDT", ttl=10), now=0)
    subs = renew(subs, _sub("two", "ETH/USDT", ttl=100), now=5)
    assert live(subs, 6) == {"BTC/USDT", "ETH/USDT"}
    assert live(subs, 20) == {"ETH/USDT"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"account": "a", "subscriber": "s", "symbols": ["X/Y"], "ttl_s": 0}, "ttl_s"),
        ({"account": "a", "subscriber": "s", "symbols": "X/Y"}, "symbols"),
        ({"account": "a", "symbols": ["X/Y"]}, "subscriber"),
    ],
)
def test_malformed_subscriptions_are_refused(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        MarketDataSubscription.model_validate(body)


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.sets(st.sampled_from(["X/Y", "Z/Y", "W/Y"]))),
        max_size=8,
    )
)
def test_live_is_the_union_of_each_subscribers_last_message(
    messages: list[tuple[str, set[str]]],
) -> None:
    subs = NONE
    last: dict[str, set[str]] = {}
    for now, (who, symbols) in enumerate(messages):
        subs = renew(subs, _sub(who, *sorted(symbols), ttl=1000), now=now)
        last[who] = symbols
    assert live(subs, len(messages)) == set().union(*last.values())
