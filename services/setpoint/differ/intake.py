"""Target intake: the pure validation of one published target (docs/strategies.md,
"publish JSON").

`validate_target` turns the raw bytes of a request on `setpoint.target.<account>.<token>`
into a `TargetState`, or into a `Rejection` whose `error` reads `"<field path>: <why>"`
(`orders[0].price: 64000.005 is not a multiple of the tick 0.01`). It does no I/O: the
caller passes what it knows (the configured accounts, the account's markets from the last
`MarketsLoaded`, the last accepted generation of the key) and decides what to append.

Checks, in order: the subject's account is configured; the body is a JSON object with at
most `max_orders_per_target` orders that matches the schema (every price and quantity a
decimal string, never a JSON number; required fields present; no unknown fields); its
account and symbol match the subject; the markets are loaded and know the symbol; the
generation is above the last accepted one; intent ids are unique; each order is
well-formed for its type (a limit order has a price, a market order none, post-only only
on GTC limits) and sits on the market's tick, step, minimum quantity and minimum notional
(market orders: notional is checked by the risk limits at placement); a position target
sits on the step. The first failed check is the error; `Rejection.errors` lists every
failed check, in the same order (the first is `error`). Checking goes on past a failure
where the rest can still be judged: every schema error of the body; both the account and
the symbol against the subject; the generation, every order (each of its checks) and the
position once the market is known. It stops at an unknown account, a body that is not a
JSON object, too many orders, a schema error (nothing further can be read) and a market
that is not known.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from setpoint.config import AccountConfig
from setpoint.core.errors import InvalidTarget as _Invalid
from setpoint.core.model import (
    MarketInfo,
    OrderType,
    TargetOrder,
    TargetState,
    TimeInForce,
    symbol_token,
)
from setpoint.core.numeric import is_multiple


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused target. `generation` and `strategy` are whatever could be read from the
    body (for the `TargetRejected` event), None when unreadable."""

    error: str
    generation: int | None = None
    strategy: str | None = None
    errors: tuple[str, ...] = field(default=(), compare=False)
    """Every failed check, `error` first (module docstring); () means just `error`."""

    @property
    def all_errors(self) -> tuple[str, ...]:
        return self.errors or (self.error,)


def validate_target(
    raw: bytes,
    subject_account: str,
    subject_token: str,
    accounts: Mapping[str, AccountConfig],
    markets: Mapping[str, MarketInfo] | None,
    last_generation: int | None,
    *,
    decoded: dict[str, Any] | None = None,
) -> TargetState | Rejection:
    """Validate one target body published on `setpoint.target.<subject_account>.<token>`.

    `markets` are the subject account's markets by unified symbol (None: no
    `MarketsLoaded` yet); `last_generation` is the key's last accepted generation (None:
    none yet); `decoded` is `json.loads(raw)` when the caller has it and it is an object
    (it is not decoded again). Returns the target (expires_at normalised to UTC) or a
    `Rejection`.
    """
    body: Any = None
    found: list[str] = []
    try:
        account = accounts.get(subject_account)
        if account is None:
            raise _Invalid("account", f"unknown account {subject_account!r}")
        body = _load_json(raw) if decoded is None else decoded
        _check_count(body.get("orders"), account.max_orders_per_target)
        target = _parse_model(raw, found)
        if target is None:
            return _rejection(found, body)  # nothing more can be read
        found += _subject_errors(target, subject_account, subject_token)
        market = _market(target, markets)
        found += _generation_errors(target.generation, last_generation)
        found += _order_errors(target, market, account.max_orders_per_target)
        found += _position_errors(target, market)
        if not found:
            return target
    except _Invalid as exc:
        found.append(exc.message)
    return _rejection(found, body)


def _rejection(found: list[str], body: Any) -> Rejection:
    generation: int | None = None
    strategy: str | None = None
    if isinstance(body, dict):
        value = body.get("generation")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            generation = value
        name = body.get("strategy")
        if isinstance(name, str) and 0 < len(name) <= 64:
            strategy = name
    return Rejection(found[0], generation, strategy, tuple(found))


def _load_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Invalid("body", f"invalid JSON ({_first_line(exc)})") from None
    if not isinstance(body, dict):
        raise _Invalid("body", f"must be a JSON object, not {type(body).__name__}")
    return body


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _parse_model(raw: bytes, found: list[str]) -> TargetState | None:
    """Schema check in pydantic's strict JSON mode: decimals must be strings (the `Dec`
    validator refuses JSON numbers), flags JSON booleans, generation a JSON integer.
    Every schema error is added to `found` and None returned (nothing more can be read);
    an `expires_at` without an offset is added and checking goes on."""
    try:
        target = TargetState.model_validate_json(raw)
    except ValidationError as exc:
        found += [": ".join(_describe(e)) for e in exc.errors(include_url=False)]
        return None
    if target.expires_at is not None:
        if target.expires_at.tzinfo is None:
            found.append("expires_at: needs a UTC offset (RFC 3339, e.g. ...T12:00:00Z)")
        else:
            target = target.model_copy(update={"expires_at": target.expires_at.astimezone(UTC)})
    return target


def _describe(error: ErrorDetails) -> tuple[str, str]:
    """A pydantic error as (field path, why) in the contract's words."""
    path = _path(error["loc"])
    kind, msg = error["type"], error["msg"]
    given = error.get("input")
    if kind == "missing":
        return path, "is required"
    if kind == "extra_forbidden":
        return path, "is not a known field"
    if kind in ("greater_than", "greater_than_equal"):
        return path, f"{_show(given)} must be {msg.removeprefix('Input should be ')}"
    if kind == "value_error":
        return path, msg.removeprefix("Value error, ")
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return path, f"{given!r} is not an integer"
    if kind == "bool_type":
        return path, f"{given!r} is not true or false"
    if kind == "enum":
        return path, f"{_show(given)} is not one of {msg.removeprefix('Input should be ')}"
    return path, msg[0].lower() + msg[1:] if msg else kind


def _show(value: Any) -> str:
    return str(value) if isinstance(value, (str, Decimal)) else repr(value)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _subject_errors(target: TargetState, subject_account: str, subject_token: str) -> list[str]:
    found = []
    if target.account != subject_account:
        found.append(
            f"account: {target.account!r} does not match the subject's account {subject_account!r}"
        )
    if symbol_token(target.symbol) != subject_token:
        found.append(
            f"symbol: {target.symbol!r} does not match the subject's symbol token "
            f"{subject_token!r} (expected {symbol_token(target.symbol)!r})"
        )
    return found


def _market(target: TargetState, markets: Mapping[str, MarketInfo] | None) -> MarketInfo:
    if markets is None:
        raise _Invalid(
            "symbol",
            f"markets of account {target.account!r} are not loaded yet "
            "(no MarketsLoaded from its gateway); retry once the gateway is up",
        )
    market = markets.get(target.symbol)
    if market is None:
        raise _Invalid("symbol", f"unknown symbol {target.symbol!r} on account {target.account!r}")
    return market


def _generation_errors(generation: int, last: int | None) -> list[str]:
    if last is not None and generation <= last:
        return [f"generation: {generation} is stale: not above the last accepted generation {last}"]
    return []


def _check_count(orders: Any, limit: int) -> None:
    """Before the schema check, so that an oversized target costs little."""
    if isinstance(orders, list) and len(orders) > limit:
        raise _Invalid("orders", f"{len(orders)} orders, more than max_orders_per_target {limit}")


def _order_errors(target: TargetState, market: MarketInfo, limit: int) -> list[str]:
    _check_count(list(target.orders), limit)
    found: list[str] = []
    seen: dict[str, int] = {}
    for index, order in enumerate(target.orders):
        where = f"orders[{index}]"
        if order.id in seen:
            found.append(
                f"{where}.id: duplicate intent id {order.id!r} (also orders[{seen[order.id]}])"
            )
        else:
            seen[order.id] = index
        found += _one_order_errors(where, order, market)
    return found


def _one_order_errors(where: str, order: TargetOrder, market: MarketInfo) -> list[str]:
    found = _type_errors(where, order)
    qty = order.quantity
    if not is_multiple(qty, market.step):
        found.append(f"{where}.quantity: {qty} is not a multiple of the step {market.step}")
    if qty < market.min_quantity:
        found.append(f"{where}.quantity: {qty} is below the minimum quantity {market.min_quantity}")
    if order.price is None:
        return found  # a market order: its notional is checked against the price when placed
    if not is_multiple(order.price, market.tick):
        found.append(f"{where}.price: {order.price} is not a multiple of the tick {market.tick}")
    notional = order.price * qty * market.contract_size
    if notional < market.min_notional:
        found.append(
            f"{where}: notional {notional} (price x quantity) is below the minimum notional "
            f"{market.min_notional}"
        )
    return found


def _type_errors(where: str, order: TargetOrder) -> list[str]:
    found = []
    if order.type is OrderType.LIMIT and order.price is None:
        found.append(f"{where}.price: a limit order needs a price")
    if order.type is OrderType.MARKET and order.price is not None:
        found.append(f"{where}.price: a market order has no price")
    if order.post_only and (
        order.type is OrderType.MARKET or order.time_in_force is not TimeInForce.GTC
    ):
        found.append(f"{where}.post_only: a post-only order must be a GTC limit order")
    return found


def _position_errors(target: TargetState, market: MarketInfo) -> list[str]:
    if target.position is not None and not is_multiple(target.position, market.step):
        return [f"position: {target.position} is not a multiple of the step {market.step}"]
    return []
