"""What one reconciliation run reports as metrics (pure).

* `findings(outcome)`: counts by kind for `setpoint_reconcile_findings_total`: `ghost`,
  `zombie` (of ours), `foreign` (zombies that are not ours: the venue holds an order
  nobody placed through Setpoint) and `inferred_fill` (fills inferred from an order's
  progress); each finding counts in exactly one kind.
* `discrepancies(snapshot, actual)`: per derivative symbol whose position the venue
  answered, the venue's position minus the log's fold as it stood when the run decided
  (`setpoint_position_discrepancy`). A position the run then records brings the fold in
  line, so a discrepancy that persists over runs is one the log cannot explain.
"""

from __future__ import annotations

from decimal import Decimal

from setpoint.core import reconcile as core
from setpoint.core.model import Key
from setpoint.core.projections import ActualState

KINDS = ("ghost", "zombie", "foreign", "inferred_fill")


def findings(outcome: core.ReconcileOutcome) -> dict[str, int]:
    """Counts by kind (module docstring); every kind is present."""
    counts = dict.fromkeys(KINDS, 0)
    for item in outcome.report.items:
        if item.category == "ghost":
            counts["ghost"] += 1
        elif item.category == "zombie":
            counts["foreign" if item.detail == "foreign" else "zombie"] += 1
    counts["inferred_fill"] = outcome.inferred_fills
    return counts


def discrepancies(snapshot: core.VenueSnapshot, actual: ActualState) -> dict[str, Decimal]:
    """Venue position minus the fold, per symbol whose position read succeeded."""
    out: dict[str, Decimal] = {}
    for symbol, read in snapshot.positions.items():
        if read.ok and read.value is not None:
            out[symbol] = read.value - actual.key(Key(snapshot.account, symbol)).position
    return out
