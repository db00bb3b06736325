"""Which names changed, by sequence number: the bounded journal each accepted target and
each key's actual state keep, so the differ re-plans only what changed since its last plan.

Names are intent ids, and `orphan_name(ref)` for an order that serves no intent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from setpoint.core.projections._values import new_tuple

__all__ = ["JOURNAL_SIZE", "Journal", "orphan_name"]

JOURNAL_SIZE = 4096
"""How many recent intent changes a key's journal remembers (see `Journal.since`)."""


_Node = tuple[int, str, Any]
"""(seq, name, previous node of the same segment or None)."""


class Journal(NamedTuple):
    """A bounded, persistent record of which names (intent ids) changed, by sequence number.

    `seq` grows by one per change; `touch` is O(1) and returns a new journal. `since(s)`
    returns the names changed after `s`, or None when the changes after `s` are no longer
    all remembered (at least the last `JOURNAL_SIZE` are): the caller then recomputes
    everything. Two journals are equal when they hold the same sequence of names.
    """

    seq: int = 0
    head: _Node | None = None
    older: _Node | None = None
    """Head of the previous segment (segments of `JOURNAL_SIZE` changes; two are kept)."""

    def touch(self, name: str) -> Journal:
        seq = self[0] + 1
        if seq % JOURNAL_SIZE == 1:
            return new_tuple(Journal, (seq, (seq, name, None), self[1]))
        return new_tuple(Journal, (seq, (seq, name, self[1]), self[2]))

    def touch_all(self, names: Iterable[str]) -> Journal:
        journal = self
        for name in names:
            journal = journal.touch(name)
        return journal

    def _walk(self) -> Iterator[_Node]:
        node = self.head
        while node is not None:
            yield node
            node = node[2]
        node = self.older
        while node is not None:
            yield node
            node = node[2]

    def since(self, seq: int) -> frozenset[str] | None:
        if seq > self.seq:
            return None
        names: set[str] = set()
        lowest = self.seq + 1
        for node in self._walk():
            if node[0] <= seq:
                return frozenset(names)
            names.add(node[1])
            lowest = node[0]
        return frozenset(names) if seq >= lowest - 1 else None

    def __eq__(self, other: object) -> bool:  # iterative: the nodes nest thousands deep
        if not isinstance(other, Journal):
            return NotImplemented
        if self.seq != other.seq:
            return False
        return [n[:2] for n in self._walk()] == [n[:2] for n in other._walk()]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.seq)

    def __repr__(self) -> str:
        return f"Journal(seq={self.seq})"


def orphan_name(ref: str) -> str:
    """Journal name of an order that serves no intent (adopted, or ours but unknown)."""
    return "\x00" + ref
