"""One reconciliation decision for one key (pure): the kernel, plus when to record it.

`decide` runs the core kernel on the differ's projections: the effective target
(`core.effective`: OCO, expiry, liquidate-only), then the plan (`core.diff`: place, amend,
cancel, position orders, with in-flight expectations and risk limits). The result is the
`data` of a `DiffComputed`, plus a CamelCase `problem` when the key cannot be decided
properly (e.g. `MarketsNotLoaded`).

`should_append` says whether that decision is new. A plan is level-triggered: each
`DiffComputed` holds every action the key needs now, and the executor skips client order
ids it has already submitted. So a decision is recorded when

* it has actions and they differ from the last decision's actions (the same actions again
  mean the last decision is still being carried out), or
* it has no action and the generation, the converged flag or the risk reasons changed
  (so that "nothing to do for generation 8" and "converged" are on record once, and an
  idle key never writes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from setpoint.config import AccountConfig
from setpoint.core.events import DiffComputedData
from setpoint.core.model import Key
from setpoint.core.projections import ActualState, IntentState


@dataclass(frozen=True, slots=True)
class Outcome:
    data: DiffComputedData
    problem: str | None = None


def should_append(new: DiffComputedData, last: DiffComputedData | None) -> bool:
    """True when `new` must be recorded (module docstring)."""
    if last is None:
        return True
    if new.actions:
        return new.actions != last.actions
    return (new.generation, new.converged, new.risk) != (last.generation, last.converged, last.risk)


def decide(
    intent: IntentState,
    actual: ActualState,
    key: Key,
    account: AccountConfig,
    now: datetime,
) -> Outcome:
    """The decision for `key` now. The key must have an accepted target."""
    raise NotImplementedError
