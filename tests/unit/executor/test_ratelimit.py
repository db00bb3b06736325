"""The token bucket behind the per-account rate limit (executor and gateway)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setpoint.venues.ratelimit import TokenBucket


def test_burst_then_spaced() -> None:
    bucket = TokenBucket(rate=10, burst=2, updated=0.0)
    assert bucket.reserve(0.0) == 0
    assert bucket.reserve(0.0) == 0
    assert bucket.reserve(0.0) == pytest.approx(0.1)
    assert bucket.reserve(0.0) == pytest.approx(0.2)


def test_refills_over_time_up_to_burst() -> None:
    bucket = TokenBucket(rate=10, burst=2, updated=0.0)
    bucket.reserve(0.0)
    bucket.reserve(0.0)
    assert bucket.reserve(10.0) == 0
    assert bucket.tokens == pytest.approx(1)


def test_penalize_blocks_everyone() -> None:
    bucket = TokenBucket(rate=10, burst=5, updated=0.0)
    bucket.penalize(0.0, 1.0)
    assert bucket.reserve(0.0) == pytest.approx(1.1)


@given(st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=50))
def test_never_faster_than_rate(gaps: list[float]) -> None:
    """Over any sequence of calls, the k-th token is never granted before (k - burst)/rate."""
    rate, burst = 20.0, 3.0
    bucket = TokenBucket(rate=rate, burst=burst, updated=0.0)
    now = 0.0
    for k, gap in enumerate(gaps, start=1):
        now += gap
        granted_at = now + bucket.reserve(now)
        assert granted_at >= (k - burst) / rate - 1e-9


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
