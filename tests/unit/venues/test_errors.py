"""Classification of venue errors: what 'maybe happened' means and what is terminal."""

from __future__ import annotations

import sys

import ccxt.base.errors  # noqa: F401  (`ccxt.base` is shadowed by a list in ccxt/__init__)
import pytest

from setpoint.venues.errors import Outcome, classify, redact, venue_code

cx = sys.modules["ccxt.base.errors"]


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (cx.RequestTimeout("binance GET timed out"), Outcome.TRANSIENT),
        (cx.NetworkError("connection reset"), Outcome.TRANSIENT),
        (cx.ExchangeNotAvailable("binance 503"), Outcome.TRANSIENT),
        (cx.BadResponse('binance {"code":-1007,"msg":"Timeout waiting"}'), Outcome.TRANSIENT),
        (cx.ExchangeError('binance {"code":-1007,"msg":"status unknown"}'), Outcome.TRANSIENT),
        (cx.ExchangeError("something new"), Outcome.TRANSIENT),
        (OSError("broken pipe"), Outcome.TRANSIENT),
        (cx.RateLimitExceeded("429"), Outcome.RATE_LIMITED),
        (cx.DDoSProtection("418"), Outcome.RATE_LIMITED),
        (
            cx.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'),
            Outcome.DUPLICATE,
        ),
        (cx.DuplicateOrderId("dup"), Outcome.DUPLICATE),
        (
            cx.OrderNotFound('binance {"code":-2013,"msg":"Order does not exist."}'),
            Outcome.NOT_FOUND,
        ),
        (
            cx.InvalidOrder('binance {"code":-1013,"msg":"Filter failure: PRICE_FILTER"}'),
            Outcome.REJECTED,
        ),
        (cx.InsufficientFunds("balance"), Outcome.REJECTED),
        (cx.BadSymbol("no such market"), Outcome.REJECTED),
        (cx.AuthenticationError("bad key"), Outcome.FATAL),
    ],
)
def test_classify(exc: BaseException, outcome: Outcome) -> None:
    assert classify(exc).outcome is outcome


def test_transient_and_duplicate_mean_maybe_happened() -> None:
    assert Outcome.TRANSIENT.maybe_happened
    assert Outcome.DUPLICATE.maybe_happened
    assert not any(o.maybe_happened for o in (Outcome.REJECTED, Outcome.NOT_FOUND))


def test_invalid_order_consumes_the_intent_but_insufficient_funds_does_not() -> None:
    assert classify(cx.InvalidOrder("bad price")).terminal
    assert not classify(cx.InsufficientFunds("no money")).terminal
    assert not classify(cx.RequestTimeout("slow")).terminal


def test_venue_code() -> None:
    assert venue_code(cx.ExchangeError('binance {"code":-2010,"msg":"x"}')) == "-2010"
    assert venue_code(cx.ExchangeError("no code")) is None


def test_reasons_never_carry_secrets() -> None:
    exc = cx.AuthenticationError(
        "binance GET http://x/api/v3/order?symbol=BTC&signature=abcdef0123 apiKey=KEY123 s3cr3t"
    )
    failure = classify(exc, secrets=("s3cr3t", "KEY123"))
    assert "abcdef0123" not in failure.reason
    assert "s3cr3t" not in failure.reason
    assert "KEY123" not in failure.reason
    assert len(redact("x" * 1000)) == 300
