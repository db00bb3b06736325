"""Both stores folded from a run of log records, from empty or from a checkpoint
(`rebuild`). A caller folding a long run pauses the cyclic garbage collector around it
(`setpoint.eventlog.projection.gc_paused`): the pure core holds no process-wide switch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from setpoint.core.events import Event
from setpoint.core.projections.actual import ActualState
from setpoint.core.projections.actual_folds import FOLDS, skip
from setpoint.core.projections.intents import IntentState, apply_intent

__all__ = ["Recorded", "rebuild"]


class Recorded(Protocol):
    """What `rebuild` needs of a log record (`eventlog.port.Recorded` is one)."""

    @property
    def position(self) -> int: ...

    @property
    def event(self) -> Event: ...


_INTENT_TYPES = frozenset({"TargetPublished", "DiffComputed"})


def rebuild(
    records: Iterable[Recorded],
    intent: IntentState | None = None,
    actual: ActualState | None = None,
) -> tuple[IntentState, ActualState]:
    """Fold `records` (in log order) into both stores, from empty or from the given
    checkpoint states; records at or below a state's position are skipped for it."""
    i = IntentState.empty() if intent is None else intent
    a = ActualState.empty() if actual is None else actual
    handlers, intent_types = FOLDS, _INTENT_TYPES
    ipos, apos = i.position, a.position
    last = max(ipos, apos)
    for rec in records:
        position, event = rec.position, rec.event
        kind = event.type
        if position > apos:
            a = handlers.get(kind, skip)(a, position, event)
            apos = position
        if kind in intent_types and position > ipos:
            i = apply_intent(i, position, event)
            ipos = position
        if position > last:
            last = position
    if last > i.position:
        i = i._replace(position=last)
    if last > a.position:
        a = a._replace(position=last)
    return i, a
