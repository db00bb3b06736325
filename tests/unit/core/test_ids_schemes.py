"""Client order ids per venue: every venue's format round-trips, never exceeds the venue's
limit or leaves its alphabet, never collides across intents or accounts, and the ids
written before venue capabilities (DASHED) keep decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setpoint.core.ids import (
    IdScheme,
    client_order_id,
    intent_hash,
    is_ours,
    parse_client_order_id,
)
from setpoint.venues.capabilities import capabilities

VENUES = ("binance", "okx", "kraken")  # kraken: a venue with the generic rules
CAPS = {venue: capabilities(venue) for venue in VENUES}  # read once: ccxt's import is slow
names = st.text(min_size=1, max_size=40)
symbols = st.sampled_from(["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "SOL/USDC"])
attempts = st.integers(min_value=1, max_value=36**12 - 1)


@pytest.mark.parametrize("venue", VENUES)
@given(account=names, symbol=symbols, intent=names, attempt=attempts)
def test_every_venue_format_round_trips_within_its_rule(
    venue: str, account: str, symbol: str, intent: str, attempt: int
) -> None:
    caps = CAPS[venue]
    coid = client_order_id(account, symbol, intent, attempt, caps.id_scheme)
    assert caps.rules.client_ids.allows(coid)
    parsed = parse_client_order_id(account, coid)
    assert parsed is not None
    assert parsed.intent_hash == intent_hash(symbol, intent)
    assert parsed.attempt == attempt
    assert parsed.scheme is caps.id_scheme


@pytest.mark.parametrize("scheme", list(IdScheme))
@given(account=names, symbol=symbols, a=names, b=names, n=attempts, m=attempts)
def test_ids_never_collide_across_intents_or_attempts(
    scheme: IdScheme, account: str, symbol: str, a: str, b: str, n: int, m: int
) -> None:
    same = (intent_hash(symbol, a), n) == (intent_hash(symbol, b), m)
    left = client_order_id(account, symbol, a, n, scheme)
    right = client_order_id(account, symbol, b, m, scheme)
    assert (left == right) == same


@pytest.mark.parametrize("scheme", list(IdScheme))
@given(mine=names, other=names, symbol=symbols, intent=names, attempt=attempts)
def test_an_id_is_ours_for_its_account_only(
    scheme: IdScheme, mine: str, other: str, symbol: str, intent: str, attempt: int
) -> None:
    coid = client_order_id(mine, symbol, intent, attempt, scheme)
    assert is_ours(mine, coid)
    if client_order_id(other, symbol, intent, attempt, scheme) != coid:
        assert not is_ours(other, coid)


def test_okx_ids_are_letters_and_digits_at_most_32() -> None:
    coid = client_order_id("demo", "BTC/USDT", "bid-1", 36**12 - 1, IdScheme.COMPACT)
    assert len(coid) == 32
    assert coid.isalnum()
    with pytest.raises(ValueError, match="does not fit a compact client order id"):
        client_order_id("demo", "BTC/USDT", "bid-1", 36**12, IdScheme.COMPACT)


def test_binance_ids_are_written_as_before() -> None:
    """The id of the saved logs (tests/fixtures/logs): unchanged, and it still decodes."""
    assert client_order_id("demo", "BTC/USDT", "bid-1", 2) == "sp-fklvc3-kcwbgb3yi757-2"
    parsed = parse_client_order_id("demo", "sp-fklvc3-kcwbgb3yi757-2")
    assert parsed is not None
    assert (parsed.attempt, parsed.scheme) == (2, IdScheme.DASHED)


@pytest.mark.parametrize(
    "coid",
    [
        None,
        "",
        "sp-hbwt5r-",
        "sp-fklvc3-kcwbgb3yi757",
        "sp-fklvc3-kcwbgb3yi757-",
        "sp-fklvc3-kcwbgb3yi757-0",
        "sp-fklvc3-kcwbgb3yi757-!",
        "spfklvc3kcwbgb3yi757",
        "spfklvc3kcwbgb3yi757AB",
        "spfklvc3kcwbgb3yi7571234567890abc",
        "x-TKT5PX2F22ecb58eb9074fb1be018c",
    ],
)
def test_malformed_or_foreign_ids_are_not_ours(coid: str | None) -> None:
    assert parse_client_order_id("demo", coid) is None
