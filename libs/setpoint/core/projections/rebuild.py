"""Both stores folded from a run of log records, from empty or from a checkpoint
(`rebuild`), and the switch that pauses the cyclic garbage collector for such a fold
(`gc_paused`)."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from setpoint.core.events import Event
from setpoint.core.projections.actual import ActualState
from setpoint.core.projections.actual_folds import FOLDS, skip
from setpoint.core.projections.intents import IntentState, apply_intent

__all__ = ["Recorded", "gc_paused", "rebuild"]


class Recorded(Protocol):
    """What `rebuild` needs of a log record (`eventlog.port.Recorded` is one)."""

    @property
    def position(self) -> int: ...

    @property
    def event(self) -> Event: ...


_INTENT_TYPES = frozenset({"TargetPublished", "DiffComputed"})


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a long fold (a replay or a catch-up), and
    restore it after (a nested use leaves it to the outermost).

    The folds make only acyclic immutable values, which reference counting frees; but the
    state they build is large and long-lived, so with the collector on every full
    collection walks all of it again (about a third of a replay's time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def rebuild(
    records: Iterable[Recorded],
    intent: IntentState | None = None,
    actual: ActualState | None = None,
) -> tuple[IntentState, ActualState]:
    """Fold `records` (in log order) into both stores, from empty or from the given
    checkpoint states; records at or below a state's position are skipped for it.

    The cyclic garbage collector is paused while folding (and while `records` yields): the
    fold allocates only acyclic immutable values, and a collection pass over a large state
    would cost more than the fold itself."""
    i = IntentState.empty() if intent is None else intent
    a = ActualState.empty() if actual is None else actual
    handlers, intent_types = FOLDS, _INTENT_TYPES
    ipos, apos = i.position, a.position
    last = max(ipos, apos)
    with gc_paused():
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
