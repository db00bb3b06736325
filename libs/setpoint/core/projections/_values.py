"""What every projection module builds with: the empty map and a fast NamedTuple maker."""

from __future__ import annotations

from typing import Any

from immutables import Map

EMPTY: Map[Any, Any] = Map()
"""The empty map every store and index starts from (immutable: one serves them all)."""
new_tuple = tuple.__new__
"""`new_tuple(Record, values)` builds a NamedTuple without its Python-level `__new__`
(the hot folds make several per event); `values` must have every field, in order."""
