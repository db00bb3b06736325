"""The differ's key gauges (`differ.metering.KeyMetrics`) from its statuses, with a clock
of the test's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from setpoint.bus.messages import Condition, KeyStatus
from setpoint.core.events import AccountMode
from setpoint.core.model import Key
from setpoint.differ.metering import KeyMetrics

KEY = Key("demo", "BTC/USDT")
LABELS = frozenset({("account", "demo"), ("symbol", "BTC/USDT")})
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _status(condition: Condition, at: datetime) -> KeyStatus:
    return KeyStatus(account="demo", symbol="BTC/USDT", generation=1, condition=condition,
                     open_orders_target=2, open_orders_venue=1, updated_at=at)  # fmt: skip


def _mode(account: str) -> AccountMode:
    return AccountMode.LIQUIDATE_ONLY


def test_drift_age_grows_while_drifting_and_is_zero_once_converged() -> None:
    clock, statuses = Clock(), {}
    metrics = KeyMetrics(statuses, ["demo"], _mode, clock)
    gauges = metrics._metrics.gauges
    statuses[KEY] = _status(Condition.DRIFTING, T0)
    metrics.changed(KEY, statuses[KEY], T0)
    clock.now = T0 + timedelta(seconds=7)
    assert gauges.readings("key_drift_age")[LABELS] == 7.0
    assert gauges.readings("key_converged")[LABELS] == 0.0
    assert gauges.readings("key_orders_target")[LABELS] == 2.0
    assert gauges.readings("key_orders_venue")[LABELS] == 1.0
    assert LABELS not in gauges.readings("key_position_target")  # no position target
    statuses[KEY] = _status(Condition.CONVERGED, clock.now)
    metrics.changed(KEY, statuses[KEY], T0)
    assert gauges.readings("key_drift_age")[LABELS] == 0.0
    assert gauges.readings("key_converged")[LABELS] == 1.0
    account = frozenset({("account", "demo")})
    assert gauges.readings("account_liquidate_only")[account] == 1.0
