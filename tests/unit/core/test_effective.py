"""The effective target: oco groups, expiry, liquidate-only (semantics §3)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.unit.core.strategies import (
    KEY,
    Log,
    PerfectVenue,
    at,
    ev_fill,
    order,
)

from setpoint.core.effective import effective_target
from setpoint.core.events import AccountMode
from setpoint.core.projections import AccountActual

D = Decimal
LIQUIDATE = AccountActual(mode=AccountMode.LIQUIDATE_ONLY)


def test_no_target_means_no_orders() -> None:
    log = Log()
    eff = effective_target(None, log.ka(), AccountActual(), at(0), KEY)
    assert list(eff.orders()) == []
    assert eff.position is None
    with pytest.raises(ValueError, match="key"):
        effective_target(None, log.ka(), AccountActual(), at(0))


def test_oco_fill_drops_unfilled_siblings_at_once() -> None:
    log, venue = Log(), PerfectVenue()
    log.publish(
        [
            order("tp", side="sell", price="101.50", oco_group="exit"),
            order("sl", side="sell", price="99.00", oco_group="exit"),
            order("other"),
        ]
    )
    venue.execute(log, log.plan())
    assert log.effective().excluded == frozenset()
    log.append(ev_fill(log.ka().intent_orders("tp")[0], "0.100", "t1"))
    eff = log.effective()
    assert eff.excluded == {"sl"}
    assert [r.rule for r in eff.reasons] == ["oco"]
    assert eff.order("tp") is not None
    assert eff.order("sl") is None
    assert eff.order("other") is not None


def test_expiry_keeps_position_but_no_orders() -> None:
    log = Log()
    log.publish([order("a")], position=D("0.500"), expires_at=at(60))
    log.now = at(59)
    assert log.effective().order("a") is not None
    log.now = at(60)
    eff = log.effective()
    assert eff.order("a") is None
    assert not eff.hold_orders
    assert eff.position == D("0.500")
    assert [r.rule for r in eff.reasons] == ["expired"]


@pytest.mark.parametrize(
    ("position", "kept", "target", "clamped"),
    [
        ("1.000", {"s"}, "2.000", "1.000"),  # long: sells stay, no growth
        # never flips; the position order to 0 takes the whole position, so no resting sell
        ("1.000", set(), "-1.000", "0"),
        # short: buys stay (reduced to what the position order to -0.5 leaves)
        ("-1.000", {"b"}, "-0.500", "-0.500"),
        ("0", set(), "1.000", "0"),  # flat: nothing reduces
    ],
)
def test_liquidate_only(position: str, kept: set[str], target: str, clamped: str) -> None:
    log, venue = Log(), PerfectVenue()
    log.publish([order("b"), order("s", side="sell", price="101.50")], position=D(target))
    ka = log.ka()._replace(position=D(position))
    eff = effective_target(log.intent.target(KEY), ka, LIQUIDATE, at(0))
    assert {o.id for o in eff.orders()} == kept
    assert eff.position == D(clamped)
    assert all(r.rule == "liquidate_only" for r in eff.reasons)
    del venue
