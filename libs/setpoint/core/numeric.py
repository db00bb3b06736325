"""Decimal helpers. No binary float ever touches a price, quantity or fee.

`Dec` is the field type for every price, quantity and fee in the catalog: it accepts a
`Decimal` or a decimal string and rejects `float` (and `int`, `bool`) with a clear error,
and rejects NaN and infinities.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from setpoint.core.errors import NotADecimal as NotADecimal

ZERO = Decimal(0)


def strict_decimal(value: Any) -> Decimal:
    """Parse `value` as a finite Decimal; floats, ints and bools are refused."""
    if type(value) is str:  # the wire form, first: it runs for every decimal of every event
        try:
            result = Decimal(value)  # Decimal() ignores surrounding whitespace itself
        except InvalidOperation:
            raise NotADecimal(f"{value!r} is not a decimal number") from None
        if result.is_finite():
            return result
        raise NotADecimal(f"{value!r} is not a finite number")
    if isinstance(value, (bool, float)):
        raise NotADecimal(f"{value!r} is a binary float; send a decimal string")
    if isinstance(value, int):
        raise NotADecimal(f"{value!r} is a JSON number; send a decimal string")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise NotADecimal(f"{value!r} is not a decimal number") from None
    else:
        raise NotADecimal(f"{type(value).__name__} is not a decimal string")
    if not result.is_finite():
        raise NotADecimal(f"{value!r} is not a finite number")
    return result


def _serialize(value: Decimal) -> str:
    return format(value, "f")


_PARSE = BeforeValidator(strict_decimal)
_TO_JSON = PlainSerializer(_serialize, return_type=str, when_used="json")

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
"""What a decimal looks like on the wire (what `_serialize` writes)."""


def _schema(**notes: str) -> WithJsonSchema:
    """Our JSON schema for a decimal field: a decimal string, whatever pydantic's version
    would say of `Decimal` (it has said "number or string", with and without a pattern)."""
    return WithJsonSchema(
        {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN, **notes}
    )


Dec = Annotated[Decimal, _PARSE, _TO_JSON, _schema()]
"""A finite Decimal; JSON form is a plain decimal string ("64000.00")."""

# The bound comes before the validator so that pydantic checks it in its own decimal
# validator; on top of `Dec` it would add a Python call per field (~0.25 us per value read).
PositiveDec = Annotated[Decimal, Field(gt=0), _PARSE, _TO_JSON, _schema(**{"x-greater-than": "0"})]
NonNegativeDec = Annotated[Decimal, Field(ge=0), _PARSE, _TO_JSON, _schema(**{"x-at-least": "0"})]

Rounding = Literal["down", "up", "nearest"]
_MODES = {"down": ROUND_DOWN, "up": ROUND_UP, "nearest": ROUND_HALF_EVEN}


def round_to(value: Decimal, increment: Decimal, mode: Rounding = "down") -> Decimal:
    """Round `value` to a whole multiple of `increment` (tick or step), keeping its exponent."""
    if increment <= 0:
        return value
    units = (value / increment).to_integral_value(rounding=_MODES[mode])
    return (units * increment).quantize(increment)


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    """True when `value` is a whole multiple of `increment` (always true for increment 0)."""
    if increment <= 0:
        return True
    return (value % increment) == 0


def at_increment(value: Decimal, increment: Decimal | None) -> str:
    """`value` for display with as many decimal places as `increment` (a market's tick for
    prices, its step for quantities) has: `60000` at tick 0.01 is `60000.00`, `0.01` at
    step 0.0001 is `0.0100`. A value with more places than the increment (an average
    price) keeps all of them: no digit is ever dropped. No increment: the plain string."""
    if increment is None or increment <= 0:
        return format(value, "f")
    places = max(0, -increment.normalize().as_tuple().exponent)  # type: ignore[operator]
    own = max(0, -value.normalize().as_tuple().exponent)  # type: ignore[operator]
    return format(value, f".{max(places, own)}f")
