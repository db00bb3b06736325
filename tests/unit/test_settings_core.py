"""`settings_core.risk_limits`: one value per account configuration, whichever object of
equal settings asks, and a changed configuration is never answered from the last one."""

from __future__ import annotations

from decimal import Decimal

from setpoint.config import AccountConfig
from setpoint.settings_core import risk_limits


def test_equal_configurations_share_their_limits_and_a_changed_one_gets_its_own() -> None:
    first = AccountConfig(max_position=Decimal("1"))
    equal = AccountConfig(max_position=Decimal("1"))
    assert risk_limits(first) is risk_limits(first)
    assert risk_limits(equal) is risk_limits(first)
    changed = first.model_copy(update={"max_position": Decimal("2")})
    assert risk_limits(changed).max_position == Decimal("2")
    assert risk_limits(first).max_position == Decimal("1")


def test_many_configurations_are_each_answered_with_their_own_limits() -> None:
    configs = [AccountConfig(max_open_orders_per_key=n) for n in range(1, 200)]
    for _ in range(2):
        assert [risk_limits(c).max_open_orders_per_key for c in configs] == list(range(1, 200))
