"""Key statuses as the differ publishes them, for the tests of what shows them
(`setpoint status`, the table of `setpoint up`)."""

from __future__ import annotations

from typing import Any

from setpoint.bus.messages import Condition, KeyStatus
from setpoint.testing.synthetic import START


def key_status(condition: Condition = Condition.DRIFTING, **fields: Any) -> KeyStatus:
    """The status of demo BTC/USDT at generation 7, drifting with orders in flight (unless
    `condition` says otherwise), updated at `START`; any other `KeyStatus` field by
    `fields`."""
    reasons = ("OrdersInFlight",) if condition is Condition.DRIFTING else ()
    values: dict[str, Any] = {"generation": 7, "reasons": reasons, "updated_at": START}
    return KeyStatus(account="demo", symbol="BTC/USDT", condition=condition, **values | fields)
