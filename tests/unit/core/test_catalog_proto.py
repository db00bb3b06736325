"""proto/setpoint/v1/events.proto describes the same catalog as setpoint.core.events.

Walks every event model and every model or enum it reaches and compares, by name: the
events, the messages, each message's fields (and whether they are repeated or optional,
and which message or enum they hold) and each enum's values. A small regex parser reads
the .proto (flat messages and enums, no nesting, which the file keeps to).
"""

from __future__ import annotations

import enum
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import BaseModel

from setpoint.core.events import EVENT_TYPES

PROTO = Path(__file__).parents[3] / "proto" / "setpoint" / "v1" / "events.proto"
SCALARS = {"string", "int32", "int64", "bool", "double", "bytes"}


@dataclass(frozen=True)
class Field:
    label: str  # "", "optional" or "repeated"
    type: str


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def parse_proto(text: str) -> tuple[dict[str, dict[str, Field]], dict[str, list[str]]]:
    """Messages (name → field name → Field) and enums (name → value names)."""
    body = _strip_comments(text)
    messages: dict[str, dict[str, Field]] = {}
    enums: dict[str, list[str]] = {}
    for kind, name, inner in re.findall(r"\b(message|enum)\s+(\w+)\s*\{([^{}]*)\}", body):
        if kind == "enum":
            enums[name] = re.findall(r"(\w+)\s*=\s*\d+\s*;", inner)
            continue
        fields = re.findall(r"(?:(repeated|optional)\s+)?([\w.]+)\s+(\w+)\s*=\s*\d+\s*;", inner)
        messages[name] = {field: Field(label, kind_) for label, kind_, field in fields}
    return messages, enums


CATALOG = parse_proto(PROTO.read_text())


def _unwrap(annotation: object) -> tuple[object, str]:
    """(the innermost type, "repeated" | "optional" | "") of a field annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        leaf, label = _unwrap(inner[0])
        return leaf, label or ("optional" if len(inner) < len(typing.get_args(annotation)) else "")
    if origin in (tuple, list):
        return _unwrap(typing.get_args(annotation)[0])[0], "repeated"
    return annotation, ""


def _named(leaf: object) -> str | None:
    """The proto type name a model or enum must have (None for scalars and literals)."""
    if isinstance(leaf, type) and issubclass(leaf, (BaseModel, enum.Enum)):
        return leaf.__name__
    return None


def reachable() -> tuple[dict[str, type[BaseModel]], dict[str, type[enum.Enum]]]:
    """Every model and enum the catalog reaches, by name."""
    models: dict[str, type[BaseModel]] = {}
    enums: dict[str, type[enum.Enum]] = {}
    todo: list[type[BaseModel]] = list(EVENT_TYPES.values())
    while todo:
        model = todo.pop()
        if model.__name__ in models:
            continue
        models[model.__name__] = model
        for info in model.model_fields.values():
            leaf, _ = _unwrap(info.annotation)
            if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                todo.append(leaf)
            elif isinstance(leaf, type) and issubclass(leaf, enum.Enum):
                enums[leaf.__name__] = leaf
    return models, enums


MODELS, ENUMS = reachable()


def test_every_event_has_a_message_and_every_event_message_an_event() -> None:
    messages, _ = CATALOG
    events_in_proto = {m for m, fields in messages.items() if "type" in fields and "data" in fields}
    assert events_in_proto == set(EVENT_TYPES)


def test_every_message_is_a_model_of_the_catalog() -> None:
    messages, enums = CATALOG
    assert set(messages) == set(MODELS), "messages on one side only"
    assert set(enums) == set(ENUMS), "enums on one side only"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fields_match(name: str) -> None:
    messages, _ = CATALOG
    proto_fields = messages.get(name, {})
    model_fields = MODELS[name].model_fields
    assert set(proto_fields) == set(model_fields), f"{name}: fields on one side only"
    for field, info in model_fields.items():
        leaf, label = _unwrap(info.annotation)
        proto = proto_fields[field]
        assert proto.label == label, f"{name}.{field}: {proto.label!r} vs {label!r}"
        named = _named(leaf)
        if named is None:
            assert proto.type in SCALARS, f"{name}.{field}: {proto.type} is not a scalar"
        else:
            assert proto.type == named, f"{name}.{field}: {proto.type} vs {named}"


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_enum_values_match(name: str) -> None:
    _, enums = CATALOG
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper() + "_"
    in_proto = {v.removeprefix(prefix) for v in enums.get(name, [])} - {"UNSPECIFIED"}
    assert in_proto == {member.value.upper() for member in ENUMS[name]}


def test_the_parser_sees_a_difference() -> None:
    messages, _ = parse_proto("message A { string x = 1; // y\n repeated B b = 2; }")
    assert messages == {"A": {"x": Field("", "string"), "b": Field("repeated", "B")}}
