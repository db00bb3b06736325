"""The size a native amend sends (`AmendCommand.venue_quantity`): whatever fills race the
amend, what the venue leaves open plus everything filled never exceeds the intent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setpoint.core.model import Side
from setpoint.venues.capabilities import AmendStyle
from setpoint.venues.commands import AmendCommand

units = st.integers(min_value=0, max_value=10_000).map(lambda n: Decimal(n) / 1000)


def command(remaining: Decimal, filled: Decimal) -> AmendCommand:
    return AmendCommand(
        symbol="BTC/USDT", order_id="1", client_order_id="sp-a", new_client_order_id="sp-b",
        side=Side.BUY, price=Decimal("100"), remaining=remaining, filled=filled,
    )  # fmt: skip


@given(intent=units, others=units, decided=units, racing=units)
def test_an_in_place_amend_never_over_fills(
    intent: Decimal, others: Decimal, decided: Decimal, racing: Decimal
) -> None:
    """Other attempts filled `others`, this order `decided` when the amend was decided and
    `racing` more before the venue applied it."""
    remaining = intent - others - decided
    if remaining <= 0:
        return
    total = command(remaining, decided).venue_quantity(AmendStyle.IN_PLACE)
    racing = min(racing, total - decided)  # the venue never fills an order past its size
    filled_here = decided + racing
    open_after = total - filled_here  # the venue leaves the total less the fills open
    assert open_after >= 0
    assert others + filled_here + open_after == intent  # never more, never less


def test_a_replace_is_a_new_order_for_what_is_left() -> None:
    amend = command(Decimal("0.001"), Decimal("0.001"))
    assert amend.venue_quantity(AmendStyle.REPLACE) == Decimal("0.001")
    assert amend.venue_quantity(AmendStyle.IN_PLACE) == Decimal("0.002")


@pytest.mark.parametrize(("remaining", "filled"), [("0", "0"), ("-1", "0"), ("1", "-1")])
def test_malformed_sizes_are_refused(remaining: str, filled: str) -> None:
    with pytest.raises(ValueError, match=r"greater than"):
        command(Decimal(remaining), Decimal(filled))
