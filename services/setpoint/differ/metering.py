"""The differ's metrics: per key convergence, drift age and reconciliation lag.

`KeyMetrics` is fed the key's `KeyStatus` each time it changes (`changed`), which the
differ computes anyway; the gauges are read from those statuses when the metrics are
collected, so a decision costs a few dict operations more and nothing per scrape-less run.

* `key_converged`, `key_orders_target|venue`, `key_position_target|actual` mirror the last
  status (a key with no position target reports no `key_position_target`);
* `key_drift_age`: seconds since the key last stopped being converged (0 when converged);
* `setpoint_reconcile_lag_seconds`: recorded once per accepted generation, when its key
  is first seen converged: the time from the target's acceptance (`published_at`) to then.
  Targets accepted before this process started are not measured (a restart would
  otherwise report the age of every old target).
* `account_liquidate_only`: 1 for each configured account in liquidate-only mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from setpoint.bus import telemetry
from setpoint.bus.messages import Condition, KeyStatus
from setpoint.bus.telemetry import Reading
from setpoint.core.events import AccountMode
from setpoint.core.model import Key

STATUS_GAUGES = (
    "key_drift_age", "key_converged", "key_orders_target", "key_orders_venue",
    "key_position_target", "key_position_actual", "account_liquidate_only",
)  # fmt: skip


class KeyMetrics:
    """See the module docstring. `statuses` is the differ's last status per key (read at
    collection time), `mode` the account's mode, `clock` the differ's clock."""

    def __init__(
        self,
        statuses: Mapping[Key, KeyStatus],
        accounts: Iterable[str],
        mode: Callable[[str], AccountMode],
        clock: Callable[[], datetime],
    ) -> None:
        self._statuses, self._accounts, self._mode, self._clock = statuses, accounts, mode, clock
        self._started = clock()
        self._drifting_since: dict[Key, datetime] = {}
        self._measured: dict[Key, int] = {}
        self._metrics = telemetry.metrics()
        for name in STATUS_GAUGES:
            self._metrics.gauges.observe(name, getattr(self, f"_{name}"))

    def changed(self, key: Key, status: KeyStatus, published_at: datetime | None) -> None:
        """The key's status changed; `published_at`: when its target was accepted."""
        if status.condition is not Condition.CONVERGED:
            self._drifting_since.setdefault(key, status.updated_at)
            return
        self._drifting_since.pop(key, None)
        generation = status.generation
        if generation is None or published_at is None or self._measured.get(key) == generation:
            return
        self._measured[key] = generation
        if published_at >= self._started:
            lag = (status.updated_at - published_at).total_seconds()
            attributes = {"account": key.account, "symbol": status.symbol}
            self._metrics.reconcile_lag.record(max(lag, 0.0), attributes)

    # ------------------------------------------------------------------ gauges

    def _key_drift_age(self) -> list[Reading]:
        now, since = self._clock(), self._drifting_since
        return [
            ((now - since[k]).total_seconds() if k in since else 0.0, _labels(s))
            for k, s in self._statuses.items()
        ]

    def _key_converged(self) -> list[Reading]:
        return [
            (1.0 if s.condition is Condition.CONVERGED else 0.0, _labels(s))
            for s in self._statuses.values()
        ]

    def _key_orders_target(self) -> list[Reading]:
        statuses = self._statuses.values()
        return [(float(s.open_orders_target), _labels(s)) for s in statuses]  # float-ok

    def _key_orders_venue(self) -> list[Reading]:
        statuses = self._statuses.values()
        return [(float(s.open_orders_venue), _labels(s)) for s in statuses]  # float-ok

    def _key_position_target(self) -> list[Reading]:
        return [
            (float(s.position_target), _labels(s))  # float-ok: a gauge's value
            for s in self._statuses.values()
            if s.position_target is not None
        ]

    def _key_position_actual(self) -> list[Reading]:
        return [
            (float(s.position_actual), _labels(s))  # float-ok: a gauge's value
            for s in self._statuses.values()
            if s.position_actual is not None
        ]

    def _account_liquidate_only(self) -> list[Reading]:
        return [
            (1.0 if self._mode(a) is AccountMode.LIQUIDATE_ONLY else 0.0, {"account": a})
            for a in self._accounts
        ]


def _labels(status: KeyStatus) -> dict[str, str]:
    return {"account": status.account, "symbol": status.symbol}
