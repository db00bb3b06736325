"""Projections as plain values and back: the body of a snapshot (`eventlog.snapshots`).

`to_plain(value)` turns a projection (`IntentState`, `ActualState`, `PortfolioState`, and
what the services keep beside them: dicts, sets, lists of these values) into JSON values
only: str, int, bool, None and lists. `from_plain(plain)` gives back a value equal
(`==`) to the original, so folding on from a restored state gives what the fold would
have given without the snapshot. `dumps` / `loads` are the same as bytes (orjson).

Format: a scalar str, int, bool or None is itself; everything else is a list whose first
element is a tag: `["D", "1.50"]` a Decimal (its exact text), `["T", iso]` a datetime,
`["S", days, seconds, microseconds]` a timedelta, `["U", ...]` a tuple, `["L", ...]` a
list, `["M", k, v, k, v, ...]` an immutables Map (`["K", k, ...]` one whose values are all
None, `["K2", a, b, ...]` such a map whose keys are all pairs of strings `(a, b)`),
`["d", k, v, ...]` a dict, `["F", ...]` a set or frozenset, `["E", type, value]` an enum
member, `["N", type, field, ...]` a NamedTuple (fields in declaration order),
`["A", type, field, ...]` a frozen dataclass, `["P", type, json]` a pydantic value,
`["V", json]` an event (its own codec, `Event.to_json` / `parse_event`),
`["J", seq, head, older]` a `Journal` (each segment as `[seq, name]` pairs, newest first).
Only the types in `TYPES` are written or read; any other value raises
`SnapshotFormatError`.

`SCHEMA` is a digest of every registered type's name and fields (and each enum's
values): a release that changes any of them reads no snapshot of an older layout (the
reader compares the digests and rebuilds from the log instead).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from immutables import Map
from pydantic import BaseModel, ValidationError

from setpoint.core import events as ev
from setpoint.core import model
from setpoint.core.errors import SnapshotFormatError
from setpoint.core.projections import actual, intents, orders, portfolio, purge
from setpoint.core.projections.journal import Journal, _Node

__all__ = [
    "FORMAT",
    "SCHEMA",
    "SnapshotFormatError",
    "dumps",
    "expect",
    "from_plain",
    "loads",
    "to_plain",
]

FORMAT = 2
"""The version of the tagged layout above and of what the projections keep: 2 since the
folds forget trade ids, closed orders' counts and finished intents after the purge buffer
(`projections.purge`), so a snapshot of version 1 (which remembers them for ever) is
ignored, never resumed from."""


_TUPLES: tuple[type, ...] = (
    model.Key, intents.IntentState, intents.DiffSummary, actual.ActualState,
    actual.KeyActual, actual.AccountActual, actual.ReconcileSummary, orders.OrderRecord,
    orders.IntentProgress, orders.Backoff, purge.ClosedQueue, portfolio.PortfolioState,
    portfolio.KeyPortfolio, portfolio.AccountPortfolio, portfolio.LossClock,
)  # fmt: skip
_DATACLASSES: tuple[type, ...] = (intents.AcceptedTarget,)
_MODELS: tuple[type[BaseModel], ...] = (
    model.TargetState, model.TargetOrder, model.MarketInfo, ev.AssetBalance,
    ev.MarginObservedData, ev.ReconciliationCompletedData, ev.DiffComputedData,
)  # fmt: skip
_ENUMS: tuple[type[enum.Enum], ...] = (
    ev.AccountMode, ev.Wallet, ev.OrderStatus, ev.Origin, model.Side, model.OrderType,
    model.TimeInForce, model.Producer,
)  # fmt: skip

TYPES: dict[str, type] = {t.__name__: t for t in (*_TUPLES, *_DATACLASSES, *_MODELS, *_ENUMS)}
"""Every type a snapshot may hold, by name."""


def _schema() -> str:
    parts = [f"format {FORMAT}", f"event schema {ev.SCHEMA_VERSION}"]
    for t in _TUPLES:
        parts.append(f"{t.__name__}{t._fields}")  # type: ignore[attr-defined]
    for d in _DATACLASSES:
        parts.append(f"{d.__name__}{[f.name for f in dataclasses.fields(d)]}")
    for m in _MODELS:
        parts.append(f"{m.__name__}{orjson.dumps(m.model_json_schema()).decode()}")
    for e in _ENUMS:
        parts.append(f"{e.__name__}{[x.value for x in e]}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


SCHEMA = _schema()


# --------------------------------------------------------------------------- writing


_PLAIN = frozenset({str, int, bool, type(None)})
"""The types that are their own plain value (checked inline on the hot paths)."""


def to_plain(value: Any) -> Any:
    """`value` as JSON values (module docstring); SnapshotFormatError for a type outside
    `TYPES`."""
    writer = _WRITERS.get(type(value))
    if writer is None:
        raise SnapshotFormatError(f"a snapshot cannot hold a {type(value).__name__}")
    return writer(value)


def _scalar(value: Any) -> Any:
    return value


def _named_writer(t: type) -> Callable[[Any], Any]:
    name = t.__name__

    def write(value: tuple[Any, ...]) -> list[Any]:
        return ["N", name, *[(v if type(v) in _PLAIN else to_plain(v)) for v in value]]

    return write


def _dataclass_writer(t: type) -> Callable[[Any], Any]:
    name, fields = t.__name__, [f.name for f in dataclasses.fields(t)]
    return lambda value: ["A", name, *[to_plain(getattr(value, f)) for f in fields]]


def _model_writer(t: type) -> Callable[[Any], Any]:
    name = t.__name__
    return lambda value: ["P", name, value.model_dump_json()]


def _enum_writer(t: type) -> Callable[[Any], Any]:
    name = t.__name__
    return lambda value: ["E", name, value.value]


def _event_classes(base: type) -> list[type]:
    found: list[type] = []
    sub: type
    for sub in base.__subclasses__():
        found += [sub, *_event_classes(sub)]
    return found


def _map(value: Map[Any, Any]) -> list[Any]:
    if all(v is None for v in value.values()):  # a set kept as a map (live, fills, ...)
        if all(type(k) is tuple and len(k) == 2 and type(k[0]) is type(k[1]) is str
               for k in value):  # fmt: skip
            return ["K2", *[part for k in value for part in k]]
        return ["K", *[(k if type(k) in _PLAIN else to_plain(k)) for k in value]]
    out: list[Any] = ["M"]
    for k, v in value.items():
        out.append(to_plain(k))
        out.append(to_plain(v))
    return out


def _tuple(value: tuple[Any, ...]) -> list[Any]:
    if all(type(x) is str for x in value):
        return ["U", *value]
    return ["U", *[(x if type(x) in _PLAIN else to_plain(x)) for x in value]]


def _dict(value: dict[Any, Any]) -> list[Any]:
    out: list[Any] = ["d"]
    for k, v in value.items():
        out.append(to_plain(k))
        out.append(to_plain(v))
    return out


def _journal(value: Journal) -> list[Any]:
    return ["J", value.seq, _segment(value.head), _segment(value.older)]


def _segment(node: _Node | None) -> list[Any]:
    out = []
    while node is not None:
        out.append([node[0], node[1]])
        node = node[2]
    return out


_WRITERS: dict[type, Callable[[Any], Any]] = {
    str: _scalar,
    int: _scalar,
    bool: _scalar,
    type(None): _scalar,
    Decimal: lambda v: ["D", str(v)],
    datetime: lambda v: ["T", v.isoformat()],
    timedelta: lambda v: ["S", v.days, v.seconds, v.microseconds],
    tuple: _tuple,
    list: lambda v: ["L", *[(x if type(x) in _PLAIN else to_plain(x)) for x in v]],
    set: lambda v: ["F", *sorted(((x if type(x) in _PLAIN else to_plain(x)) for x in v), key=repr)],
    frozenset: lambda v: [
        "F",
        *sorted(((x if type(x) in _PLAIN else to_plain(x)) for x in v), key=repr),
    ],
    Map: _map,
    dict: _dict,
    Journal: _journal,
}
_WRITERS |= {t: _named_writer(t) for t in _TUPLES}
_WRITERS |= {t: _dataclass_writer(t) for t in _DATACLASSES}
_WRITERS |= {t: _model_writer(t) for t in _MODELS}
_WRITERS |= {t: _enum_writer(t) for t in _ENUMS}
_WRITERS |= {t: (lambda v: ["V", v.to_json().decode()]) for t in _event_classes(ev.EventBase)}


def dumps(value: Any) -> bytes:
    """`to_plain(value)` as JSON bytes."""
    return orjson.dumps(to_plain(value))


# --------------------------------------------------------------------------- reading


def from_plain(plain: Any) -> Any:
    """The value `to_plain` made `plain` from; SnapshotFormatError when it is not one."""
    if not isinstance(plain, list):
        if plain is None or type(plain) in (str, int, bool):
            return plain
        raise SnapshotFormatError(f"unexpected {type(plain).__name__} in a snapshot")
    try:
        return _READERS[plain[0]](plain)
    except SnapshotFormatError:
        raise
    except (
        KeyError,
        IndexError,
        ArithmeticError,
        TypeError,
        ValueError,
        ValidationError,
        ev.EventParseError,
    ) as exc:
        raise SnapshotFormatError(f"unreadable snapshot value {str(plain)[:80]}: {exc!r}") from exc


def _pairs(plain: list[Any]) -> list[tuple[Any, Any]]:
    items = [(x if type(x) in _PLAIN else from_plain(x)) for x in plain[1:]]
    if len(items) % 2:
        raise SnapshotFormatError("a map without a value for its last key")
    return list(zip(items[::2], items[1::2], strict=True))


def _typed(plain: list[Any], kind: type) -> type:
    found = TYPES[plain[1]]
    if not issubclass(found, kind):
        raise SnapshotFormatError(f"{plain[1]} is not a {kind.__name__}")
    return found


def _named(plain: list[Any]) -> Any:
    t = _typed(plain, tuple)
    fields = [(x if type(x) in _PLAIN else from_plain(x)) for x in plain[2:]]
    if len(fields) != len(t._fields):  # type: ignore[attr-defined]
        raise SnapshotFormatError(f"{plain[1]} with {len(fields)} fields")
    return tuple.__new__(t, fields)


def _dataclass(plain: list[Any]) -> Any:
    t = _typed(plain, object)
    if not dataclasses.is_dataclass(t):
        raise SnapshotFormatError(f"{plain[1]} is not a dataclass")
    return t(*[(x if type(x) in _PLAIN else from_plain(x)) for x in plain[2:]])


def _model(plain: list[Any]) -> Any:
    t = _typed(plain, BaseModel)
    return t.model_validate_json(plain[2])  # type: ignore[attr-defined]


def _enum(plain: list[Any]) -> Any:
    return _typed(plain, enum.Enum)(plain[2])


def _read_journal(plain: list[Any]) -> Journal:
    _, seq, head, older = plain
    return Journal(seq, _nodes(head), _nodes(older))


def _nodes(pairs: list[list[Any]]) -> _Node | None:
    node: _Node | None = None
    for seq, name in reversed(pairs):
        node = (int(seq), str(name), node)
    return node


_READERS: dict[str, Callable[[list[Any]], Any]] = {
    "D": lambda p: Decimal(p[1]),
    "T": lambda p: datetime.fromisoformat(p[1]),
    "S": lambda p: timedelta(days=p[1], seconds=p[2], microseconds=p[3]),
    "U": lambda p: tuple([(x if type(x) in _PLAIN else from_plain(x)) for x in p[1:]]),
    "L": lambda p: [(x if type(x) in _PLAIN else from_plain(x)) for x in p[1:]],
    "F": lambda p: {(x if type(x) in _PLAIN else from_plain(x)) for x in p[1:]},
    "M": lambda p: Map(_pairs(p)),
    "K2": lambda p: Map(((a, b), None) for a, b in zip(p[1::2], p[2::2], strict=True)),
    "K": lambda p: Map((from_plain(x), None) for x in p[1:]),
    "d": lambda p: dict(_pairs(p)),
    "E": _enum,
    "N": _named,
    "A": _dataclass,
    "P": _model,
    "V": lambda p: ev.parse_event(p[1]),
    "J": _read_journal,
}


def loads(raw: bytes) -> Any:
    """The value `dumps` wrote; SnapshotFormatError when `raw` is not such a body."""
    try:
        plain = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SnapshotFormatError(f"a snapshot body is not JSON: {exc}") from exc
    return from_plain(plain)


def expect(state: Any, *types: type | tuple[type, ...]) -> tuple[Any, ...]:
    """`state` as the tuple of `len(types)` values of those types that a service's
    `capture` made; SnapshotFormatError otherwise (a restore never takes a state of
    another shape)."""
    if not isinstance(state, tuple) or len(state) != len(types):
        raise SnapshotFormatError(f"a snapshot state of {len(types)} values expected")
    for n, (value, kind) in enumerate(zip(state, types, strict=True)):
        if not isinstance(value, kind):
            raise SnapshotFormatError(f"value {n} is a {type(value).__name__}, not {kind}")
    return state
