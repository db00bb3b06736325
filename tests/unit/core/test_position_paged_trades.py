"""A position read after a burst of trades longer than one venue page (the gateway pages
its trades read up to now): a complete read settles however many rows it holds; a read
the reader names incomplete (`fills_incomplete`, its cap on calls) does not."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from tests.unit.core.test_position_snapshots import (
    SYMBOL,
    decide,
    observed,
    pos,
    snap,
    trade,
    ws,
)

D = Decimal


def test_a_complete_read_after_a_burst_settles_a_position_that_moved_without_a_fill() -> None:
    log = observed("0")
    burst = [trade(i, "0.100") for i in range(1, 1201)]
    for t in burst:
        log.append(ws(t))
    assert pos(log) == D("120.000")
    out = decide(log, snap(log, "119.800", burst, burst[-1:]))  # e.g. ADL took 0.2
    assert out.unsettled == ()
    log.append(*out.events)
    assert pos(log) == D("119.800")


def test_a_read_named_incomplete_does_not_settle() -> None:
    log = observed("0")
    burst = [trade(i, "0.100") for i in range(1, 4)]
    for t in burst:
        log.append(ws(t))
    incomplete = replace(snap(log, "0.100", burst, burst), fills_incomplete=frozenset({SYMBOL}))
    out = decide(log, incomplete)
    assert out.unsettled != ()
    log.append(*out.events)
    assert pos(log) == D("0.300")
