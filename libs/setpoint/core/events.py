"""The event catalog: every fact Setpoint records, as frozen pydantic models.

Each event is an envelope (docs/events.md, "The envelope") whose `data` has a type of its own.
`parse_event` turns wire bytes into the right class or raises `EventParseError`;
`Event.to_json()` is the wire form. Every price, quantity and fee is a `Dec`.

docs/events.md says who writes each event, when, and what it means;
proto/setpoint/v1/events.proto describes the same catalog (a test keeps them in step).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self, TypeAlias, Union

import orjson
from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError

from setpoint.core.errors import EventParseError as EventParseError
from setpoint.core.model import (
    Frozen,
    Key,
    MarketInfo,
    Name,
    OrderType,
    Producer,
    Side,
    TargetState,
    TimeInForce,
)
from setpoint.core.numeric import ZERO, Dec, NonNegativeDec, PositiveDec

SCHEMA_VERSION: Literal[1] = 1
"""The version of an event that names no worker (every event of a one-instance system)."""
WORKER_SCHEMA_VERSION: Literal[2] = 2
"""The version of an event whose envelope names its `worker` (a `DiffComputed`,
`OrderSubmitted` or `CancelSubmitted` written by a partitioned instance: docs/events.md).
Version 1 upcasts to it without change: an event without `worker` has none (None)."""
KNOWN_SCHEMA_VERSION = WORKER_SCHEMA_VERSION
"""The highest `schema_version` this release reads."""

EventId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
_NAMESPACE = uuid.UUID("6f1f6c2e-3b1d-4a53-9a57-5e7470696e74")


def new_event_id() -> str:
    return str(uuid.uuid4())


def stable_event_id(*parts: str) -> str:
    """A deterministic event id (UUIDv5) for facts that may be observed more than once,
    e.g. a fill seen on the websocket and again over REST."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def fill_event_id(venue: str, symbol: str, trade_id: str) -> str:
    """The event id of the `FillObserved` for one venue trade, whoever observes it
    (websocket, REST, reconciliation, after a restart): the log's idempotent append then
    keeps it once. The symbol is part of it because venues number trades per symbol
    (Binance does), so one trade id can name two different fills."""
    return stable_event_id(venue, symbol, trade_id)


_new_key = tuple.__new__


def utcnow() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- enums


class OrderStatus(StrEnum):
    """Venue order status, in Binance's words."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class FillSource(StrEnum):
    WS = "ws"
    REST = "rest"
    INFERRED = "inferred"


class ObservationSource(StrEnum):
    WS = "ws"
    REST = "rest"
    QUERY = "query"
    AMEND = "amend"
    """The venue's answer to a native amend (the executor's, after `AmendSubmitted`)."""


class Origin(StrEnum):
    OURS = "ours"
    FOREIGN = "foreign"


class ActionKind(StrEnum):
    PLACE = "place"
    CANCEL = "cancel"
    AMEND = "amend"


class AccountMode(StrEnum):
    """`normal`; `liquidate_only` (orders may only take positions toward zero); `flatten`
    (liquidate-only, and every key's orders cancelled and its position driven to zero);
    `flatten_all` (`flatten`, and foreign orders on the account cancelled too)."""

    NORMAL = "normal"
    LIQUIDATE_ONLY = "liquidate_only"
    FLATTEN = "flatten"
    FLATTEN_ALL = "flatten_all"

    @property
    def liquidating(self) -> bool:
        """Every rule of liquidate-only holds (it, and both flatten modes)."""
        return self is not AccountMode.NORMAL

    @property
    def flattening(self) -> bool:
        return self is AccountMode.FLATTEN or self is AccountMode.FLATTEN_ALL


class ReconcileTrigger(StrEnum):
    STARTUP = "startup"
    RECONNECT = "reconnect"
    PERIODIC = "periodic"
    MANUAL = "manual"
    IN_FLIGHT = "in_flight"
    """The in-flight check: a run over the symbols with submissions unanswered too long."""


class Wallet(StrEnum):
    SPOT = "spot"
    FUTURES = "futures"


# --------------------------------------------------------------------------- values


class Action(Frozen):
    """One venue action of a plan. `amend` cancels `replaces` and places `client_order_id`
    (a venue edit where the venue supports it)."""

    kind: ActionKind
    intent_id: str | None = None
    client_order_id: str
    order_id: str | None = None
    replaces: str | None = None
    attempt: int | None = None
    side: Side | None = None
    type: OrderType | None = None
    price: PositiveDec | None = None
    quantity: PositiveDec | None = None
    time_in_force: TimeInForce | None = None
    post_only: bool = False
    reduce_only: bool = False
    position_order: bool = False
    reason: str = ""


class ReconciliationItem(Frozen):
    """One finding of a reconciliation (docs/semantics.md §4) and what was decided for it."""

    category: Literal["matched", "ghost", "zombie", "in_flight"]
    client_order_id: str | None = None
    order_id: str | None = None
    resolution: str
    detail: str = ""


class ReconciliationReport(Frozen):
    matched: int = 0
    items: tuple[ReconciliationItem, ...] = ()
    errors: tuple[str, ...] = ()
    """Venue queries that failed (nothing was concluded from them) and other problems."""


class RiskReason(Frozen):
    intent_id: str | None = None
    rule: str
    detail: str


class AssetBalance(Frozen):
    asset: str
    free: NonNegativeDec
    locked: NonNegativeDec = ZERO


# --------------------------------------------------------------------------- data


class TargetPublishedData(Frozen):
    target: TargetState


class TargetRejectedData(Frozen):
    generation: int | None = None
    strategy: str | None = None
    error: str


class MarketsLoadedData(Frozen):
    exchange: str
    markets: tuple[MarketInfo, ...]


class DiffComputedData(Frozen):
    generation: int | None
    target_event_id: str | None
    actions: tuple[Action, ...] = ()
    report: ReconciliationReport | None = None
    risk: tuple[RiskReason, ...] = ()
    converged: bool = False


class OrderSubmittedData(Frozen):
    client_order_id: str
    intent_id: str | None
    attempt: int
    side: Side
    type: OrderType
    price: PositiveDec | None = None
    quantity: PositiveDec
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    position_order: bool = False
    replaces: str | None = None

    @classmethod
    def of_action(cls, action: Action) -> OrderSubmittedData:
        """What the executor records when it submits a place (or an amend's place): every
        order field of the action, GTC where it names no time in force. A place without a
        side, type or quantity is a malformed plan: ValueError, never a guessed default."""
        if action.side is None or action.type is None or action.quantity is None:
            raise ValueError(f"action {action.client_order_id} lacks side, type or quantity")
        return cls(
            client_order_id=action.client_order_id,
            intent_id=action.intent_id,
            attempt=action.attempt or 1,
            side=action.side,
            type=action.type,
            price=action.price,
            quantity=action.quantity,
            time_in_force=action.time_in_force or TimeInForce.GTC,
            post_only=action.post_only,
            reduce_only=action.reduce_only,
            position_order=action.position_order,
            replaces=action.replaces,
        )


class OrderPlacedData(Frozen):
    client_order_id: str
    order_id: str
    status: OrderStatus = OrderStatus.NEW
    filled: NonNegativeDec = ZERO
    venue_time: AwareDatetime | None = None


class OrderRejectedData(Frozen):
    client_order_id: str
    reason: str
    code: str | None = None
    terminal: bool = True
    """True when the venue refused the order as invalid: the intent is consumed."""


class CancelSubmittedData(Frozen):
    client_order_id: str
    order_id: str | None = None
    intent_id: str | None = None
    reason: str = ""


class AmendSubmittedData(Frozen):
    """A native in-place amend written ahead: the order `client_order_id` (it keeps its
    ids) is asked for `price` and the new *total* size `quantity`, fills included (what
    it had filled when decided, `filled`, plus what the intent still wants open). The
    amend stands for attempt `attempt` of the intent, whose client order id
    `new_client_order_id` it reserves (placed only if the amend falls back to
    cancel-then-place). Answered by an `OrderObserved` of the order (docs/events.md)."""

    client_order_id: str
    order_id: str | None = None
    intent_id: str | None = None
    attempt: int
    new_client_order_id: str
    price: PositiveDec
    quantity: PositiveDec
    filled: NonNegativeDec = ZERO


class OrderCancelledData(Frozen):
    client_order_id: str | None
    order_id: str | None = None
    filled: NonNegativeDec = ZERO
    reason: Literal["requested", "venue", "expired", "lost", "not_found"] = "requested"


class OrderObservedData(Frozen):
    client_order_id: str | None
    order_id: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce | None = None
    price: PositiveDec | None = None
    quantity: PositiveDec
    filled: NonNegativeDec = ZERO
    status: OrderStatus
    source: ObservationSource
    origin: Origin = Origin.OURS
    adopted: bool = False
    venue_time: AwareDatetime | None = None


class OrderNotFoundData(Frozen):
    client_order_id: str
    consecutive: Annotated[int, Field(ge=1)]


class FillObservedData(Frozen):
    venue: str
    trade_id: str
    order_id: str
    client_order_id: str | None
    side: Side
    price: PositiveDec
    quantity: PositiveDec
    fee: Dec
    fee_currency: str
    liquidity: Liquidity
    source: FillSource
    traded_at: AwareDatetime | None = None
    order_filled: NonNegativeDec | None = None
    """Inferred fills only: the order's filled quantity as the venue reported it. The fill
    brings the order's count up to this much (never past it); real trades of the order that
    come later replace the inferred quantity instead of adding to it (docs/events.md)."""


class PositionObservedData(Frozen):
    quantity: Dec
    entry_price: NonNegativeDec | None = None
    source: ObservationSource = ObservationSource.REST
    fills_net: Dec | None = None
    """The key's running net of counted fills (`KeyActual.fill_net`) that `quantity`
    already includes; fills counted after it are added on top. None: `quantity` replaces
    the position as it stands when the event is folded (docs/events.md)."""


class BalanceObservedData(Frozen):
    wallet: Wallet = Wallet.SPOT
    balances: tuple[AssetBalance, ...]


class MarginPosition(Frozen):
    """One derivative position as the venue's margin account reports it."""

    symbol: str
    quantity: Dec
    """Signed: long > 0, short < 0."""
    entry_price: NonNegativeDec | None = None
    mark_price: NonNegativeDec | None = None
    unrealized_pnl: Dec = ZERO
    leverage: Annotated[int, Field(ge=1)] | None = None
    liquidation_price: NonNegativeDec | None = None
    """None when the venue names none (no position, or too little at risk to liquidate)."""


class SymbolMark(Frozen):
    """The venue's last price of one symbol when the account state was read."""

    symbol: str
    price: PositiveDec


class MarginObservedData(Frozen):
    """The futures wallet of the account (cross margin, in the margin asset), its
    derivative positions, and the last prices of the account's symbols in scope."""

    asset: str
    wallet_balance: Dec
    margin_balance: Dec
    """Wallet balance + unrealised PnL."""
    unrealized_pnl: Dec
    initial_margin: NonNegativeDec
    """Positions' and open orders' initial margin."""
    maintenance_margin: NonNegativeDec
    available_margin: Dec
    """What new orders may still use (negative when the account is short of margin)."""
    positions: tuple[MarginPosition, ...] = ()
    marks: tuple[SymbolMark, ...] = ()


class ReconciliationCompletedData(Frozen):
    trigger: ReconcileTrigger
    ok: bool
    matched: int = 0
    ghosts: int = 0
    zombies: int = 0
    in_flight: int = 0
    inferred_fills: int = 0
    error: str | None = None


class RiskRejectedData(Frozen):
    intent_id: str | None = None
    client_order_id: str | None = None
    rule: str
    detail: str


class AccountModeChangedData(Frozen):
    mode: AccountMode
    reason: str = ""


# --------------------------------------------------------------------------- envelope


class EventBase(Frozen):
    """The envelope every event shares."""

    event_type: ClassVar[str] = ""

    event_id: EventId = Field(default_factory=new_event_id)
    schema_version: Literal[1, 2] = SCHEMA_VERSION
    account: Name
    symbol: str | None
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    correlation_id: EventId
    causation_id: EventId | None = None
    producer: Producer
    traceparent: str | None = None
    worker: str | None = Field(default=None, exclude_if=lambda value: value is None)
    """Who decided this (schema_version 2 only): the instance and lease tenure of a
    partitioned differ or executor, on its `DiffComputed`, `OrderSubmitted` and
    `CancelSubmitted`; absent from the JSON otherwise."""

    @property
    def key(self) -> Key:
        return _new_key(Key, (self.account, self.symbol))  # Key(account, symbol), faster

    @classmethod
    def create(
        cls,
        key: Key,
        producer: Producer,
        data: Any,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        traceparent: str | None = None,
        worker: str | None = None,
    ) -> Self:
        """A new event; with no `correlation_id` the event starts its own chain; with a
        `worker`, of schema_version 2."""
        eid = event_id or new_event_id()
        return cls(
            event_id=eid,
            schema_version=SCHEMA_VERSION if worker is None else WORKER_SCHEMA_VERSION,
            worker=worker,
            account=key.account,
            symbol=key.symbol,
            occurred_at=occurred_at or utcnow(),
            correlation_id=correlation_id or eid,
            causation_id=causation_id,
            producer=producer,
            traceparent=traceparent,
            data=data,  # type: ignore[call-arg]  # every subclass declares `data`
        )

    def to_json(self) -> bytes:
        """`model_dump_json().encode()`, without the round trip through `str`."""
        return self.__pydantic_serializer__.to_json(self)


class TargetPublished(EventBase):
    type: Literal["TargetPublished"] = "TargetPublished"
    data: TargetPublishedData


class TargetRejected(EventBase):
    type: Literal["TargetRejected"] = "TargetRejected"
    data: TargetRejectedData


class MarketsLoaded(EventBase):
    type: Literal["MarketsLoaded"] = "MarketsLoaded"
    data: MarketsLoadedData


class DiffComputed(EventBase):
    type: Literal["DiffComputed"] = "DiffComputed"
    data: DiffComputedData


class OrderSubmitted(EventBase):
    type: Literal["OrderSubmitted"] = "OrderSubmitted"
    data: OrderSubmittedData


class OrderPlaced(EventBase):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    data: OrderPlacedData


class OrderRejected(EventBase):
    type: Literal["OrderRejected"] = "OrderRejected"
    data: OrderRejectedData


class CancelSubmitted(EventBase):
    type: Literal["CancelSubmitted"] = "CancelSubmitted"
    data: CancelSubmittedData


class AmendSubmitted(EventBase):
    type: Literal["AmendSubmitted"] = "AmendSubmitted"
    data: AmendSubmittedData


class OrderCancelled(EventBase):
    type: Literal["OrderCancelled"] = "OrderCancelled"
    data: OrderCancelledData


class OrderObserved(EventBase):
    type: Literal["OrderObserved"] = "OrderObserved"
    data: OrderObservedData


class OrderNotFound(EventBase):
    type: Literal["OrderNotFound"] = "OrderNotFound"
    data: OrderNotFoundData


class FillObserved(EventBase):
    type: Literal["FillObserved"] = "FillObserved"
    data: FillObservedData


class PositionObserved(EventBase):
    type: Literal["PositionObserved"] = "PositionObserved"
    data: PositionObservedData


class BalanceObserved(EventBase):
    type: Literal["BalanceObserved"] = "BalanceObserved"
    data: BalanceObservedData


class MarginObserved(EventBase):
    type: Literal["MarginObserved"] = "MarginObserved"
    data: MarginObservedData


class ReconciliationCompleted(EventBase):
    type: Literal["ReconciliationCompleted"] = "ReconciliationCompleted"
    data: ReconciliationCompletedData


class RiskRejected(EventBase):
    type: Literal["RiskRejected"] = "RiskRejected"
    data: RiskRejectedData


class AccountModeChanged(EventBase):
    type: Literal["AccountModeChanged"] = "AccountModeChanged"
    data: AccountModeChangedData


Event: TypeAlias = Union[  # noqa: UP007  (a discriminated union needs the Union form here)
    TargetPublished,
    TargetRejected,
    MarketsLoaded,
    DiffComputed,
    OrderSubmitted,
    OrderPlaced,
    OrderRejected,
    CancelSubmitted,
    OrderCancelled,
    OrderObserved,
    OrderNotFound,
    FillObserved,
    PositionObserved,
    BalanceObserved,
    ReconciliationCompleted,
    RiskRejected,
    AccountModeChanged,
    MarginObserved,
    AmendSubmitted,
]

EVENT_TYPES: dict[str, type[EventBase]] = {
    cls.model_fields["type"].default: cls
    for cls in Event.__args__  # type: ignore[attr-defined]
}

ORDER_LIFE: frozenset[str] = frozenset(
    {
        "OrderSubmitted",
        "OrderPlaced",
        "OrderRejected",
        "CancelSubmitted",
        "AmendSubmitted",
        "OrderCancelled",
        "OrderObserved",
        "OrderNotFound",
        "FillObserved",
    }
)
"""The event types of one order's life, from its submission to its fills and its end."""

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Annotated[Event, Field(discriminator="type")])
_VALIDATE_JSON = _ADAPTER.validator.validate_json
"""The adapter's core validator, called without `TypeAdapter.validate_json`'s Python
wrapper (which only forwards its defaults): about 0.4 µs less per event read."""


def parse_event(raw: bytes | str) -> Event:
    """Validate wire bytes into an event. Raises `EventParseError` (never anything else)."""
    try:
        event: Event = _VALIDATE_JSON(raw)
        return event
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise EventParseError(f"{where}: {first['msg']}" if where else first["msg"]) from None
    except (ValueError, UnicodeDecodeError) as exc:  # pragma: no cover - defensive
        raise EventParseError(str(exc)) from None


def with_worker(event: Event, worker: str) -> Event:
    """`event` (a `DiffComputed`, `OrderSubmitted` or `CancelSubmitted`) naming the
    instance and lease tenure that decided it: schema_version 2, the same event id."""
    return event.model_copy(update={"worker": worker, "schema_version": WORKER_SCHEMA_VERSION})


def newer_schema(raw: bytes | str) -> int | None:
    """The `schema_version` of an entry that did not parse, when it is above what this
    release reads (`KNOWN_SCHEMA_VERSION`); None for anything else (bad JSON, an unknown
    type of a known version...). Called only on the failure path."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    version = body.get("schema_version") if isinstance(body, dict) else None
    if isinstance(version, int) and not isinstance(version, bool):
        return version if version > KNOWN_SCHEMA_VERSION else None
    return None


def event_from_dict(value: dict[str, Any]) -> Event:
    """Validate a python dict (already decoded JSON) into an event."""
    try:
        return _ADAPTER.validate_python(value, strict=False)
    except ValidationError as exc:
        raise EventParseError(str(exc.errors(include_url=False)[0]["msg"])) from None
