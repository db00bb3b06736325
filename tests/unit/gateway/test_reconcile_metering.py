"""What a reconciliation run reports as metrics (`gateway.metering`), as named scenarios."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from setpoint.core import reconcile as core
from setpoint.core.events import (
    Event,
    PositionObserved,
    PositionObservedData,
    ReconciliationItem,
    ReconciliationReport,
)
from setpoint.core.model import Key, Producer
from setpoint.core.projections import ActualState, apply_actual
from setpoint.gateway.metering import discrepancies, findings

PERP = "BTC/USDT:USDT"


def _item(category: str, detail: str = "") -> ReconciliationItem:
    return ReconciliationItem(category=category, resolution="x", detail=detail)  # type: ignore[arg-type]


def test_each_finding_counts_in_one_kind() -> None:
    items = (_item("ghost"), _item("zombie"), _item("zombie", "foreign"), _item("matched"),
             _item("in_flight"), _item("zombie", "foreign"))  # fmt: skip
    outcome = core.ReconcileOutcome(ReconciliationReport(items=items), inferred_fills=2)
    assert findings(outcome) == {"ghost": 1, "zombie": 1, "foreign": 2, "inferred_fill": 2}


def test_a_clean_run_reports_every_kind_as_zero() -> None:
    outcome = core.ReconcileOutcome(ReconciliationReport(matched=3))
    assert findings(outcome) == dict.fromkeys(("ghost", "zombie", "foreign", "inferred_fill"), 0)


def _fold_position(quantity: str) -> ActualState:
    key = Key("demo", PERP)
    data = PositionObservedData(quantity=Decimal(quantity))
    event: Event = PositionObserved.create(key, Producer.GATEWAY, data)
    return apply_actual(ActualState.empty(), 1, event)


def test_discrepancy_is_the_venue_minus_the_fold_for_positions_read() -> None:
    snapshot = core.VenueSnapshot(
        account="demo", venue="binance", taken_at=datetime.now(UTC),
        positions={PERP: core.Fetched.of(Decimal("0.5")), "ETH/USDT:USDT":
                   core.Fetched.failed("timeout")},
    )  # fmt: skip
    assert discrepancies(snapshot, _fold_position("0.2")) == {PERP: Decimal("0.3")}
    assert discrepancies(snapshot, _fold_position("0.5")) == {PERP: Decimal("0")}
