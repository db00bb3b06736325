"""The intent store: what the strategies asked for, the accepted target per key, folded
from `TargetPublished` and `DiffComputed` (the table in the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from immutables import Map

from setpoint.core.events import DiffComputed, Event, TargetPublished
from setpoint.core.model import Key, TargetOrder, TargetState
from setpoint.core.projections._values import EMPTY, new_tuple
from setpoint.core.projections.journal import Journal

__all__ = ["AcceptedTarget", "DiffSummary", "IntentState", "apply_intent"]


@dataclass(frozen=True, slots=True)
class AcceptedTarget:
    """The target in force for a key, with what the differ needs to act on it."""

    target: TargetState
    event_id: str
    generation: int
    position: int
    """Log position of the TargetPublished."""
    published_at: datetime
    orders: Map[str, TargetOrder]
    """Intent id → target order."""
    oco: Map[str, tuple[str, ...]]
    """OCO group → intent ids of the group, in target order."""
    journal: Journal
    """Intent ids changed, added or removed, across every accepted target of the key."""


class DiffSummary(NamedTuple):
    position: int
    generation: int | None
    converged: bool
    occurred_at: datetime


class IntentState(NamedTuple):
    """What the strategies asked for: the accepted target per key."""

    position: int
    targets: Map[Key, AcceptedTarget]
    diffs: Map[Key, DiffSummary]

    @classmethod
    def empty(cls) -> IntentState:
        return cls(0, EMPTY, EMPTY)

    def target(self, key: Key) -> AcceptedTarget | None:
        """The latest accepted target of the key (None before the first)."""
        return self.targets.get(key)

    def generation(self, key: Key) -> int:
        """Generation of the accepted target (0 when none): a new one must be above it."""
        accepted = self.targets.get(key)
        return 0 if accepted is None else accepted.generation

    def intents(self, key: Key) -> Map[str, TargetOrder]:
        accepted = self.targets.get(key)
        return EMPTY if accepted is None else accepted.orders

    def intent(self, key: Key, intent_id: str) -> TargetOrder | None:
        return self.intents(key).get(intent_id)

    def oco_group(self, key: Key, group: str) -> tuple[TargetOrder, ...]:
        accepted = self.targets.get(key)
        if accepted is None:
            return ()
        return tuple(accepted.orders[i] for i in accepted.oco.get(group, ()))

    def keys(self) -> Iterator[Key]:
        return iter(self.targets.keys())


def _accept(state: IntentState, position: int, event: TargetPublished) -> IntentState:
    target = event.data.target
    key = target.key
    previous = state.targets.get(key)
    if previous is not None and target.generation <= previous.generation:
        return IntentState(position, state.targets, state.diffs)
    orders = Map((o.id, o) for o in target.orders)
    old = EMPTY if previous is None else previous.orders
    changed = [i for i, o in orders.items() if old.get(i) != o]
    changed += [i for i in old if i not in orders]
    journal = Journal() if previous is None else previous.journal
    groups: dict[str, list[str]] = {}
    for order in target.orders:
        if order.oco_group is not None:
            groups.setdefault(order.oco_group, []).append(order.id)
    accepted = AcceptedTarget(
        target=target,
        event_id=event.event_id,
        generation=target.generation,
        position=position,
        published_at=event.occurred_at,
        orders=orders,
        oco=Map((g, tuple(ids)) for g, ids in groups.items()),
        journal=journal.touch_all(sorted(changed)),
    )
    return IntentState(position, state.targets.set(key, accepted), state.diffs)


def _diff_done(state: IntentState, position: int, event: DiffComputed) -> IntentState:
    summary = DiffSummary(position, event.data.generation, event.data.converged, event.occurred_at)
    return IntentState(position, state.targets, state.diffs.set(event.key, summary))


def apply_intent(state: IntentState, position: int, event: Event) -> IntentState:
    """Fold one event into the intent store (see the package docstring)."""
    if position <= state.position:
        return state
    fold = _INTENT.get(event.type)
    if fold is not None:
        return fold(state, position, event)
    return new_tuple(IntentState, (position, state[1], state[2]))


_INTENT: dict[str, Callable[[IntentState, int, Any], IntentState]] = {
    "TargetPublished": _accept,
    "DiffComputed": _diff_done,
}
