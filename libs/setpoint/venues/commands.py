"""Request/reply messages between the executor and the gateway of one account.

The executor sends a command as JSON in a NATS request to
`setpoint.gw.<account>.<command>` (`bus.subjects.gateway_subject`); the gateway answers
with a `CommandReply`. Every price and quantity is a decimal string on the wire.

Contract of the gateway's answers:

* `place` always sends the command's client order id to the venue, so a repeat of the
  same command can never create a second order: the venue answers "duplicate" and the
  gateway answers with the existing order (`ok`, `duplicate=True`) after querying it.
* `ok=False` carries the classified `Outcome` (see `venues.errors`): TRANSIENT means the
  request may have happened and the caller must `query` before deciding anything.
* `query` answers `ok` with the order, or `outcome=NOT_FOUND`; a failed query is
  TRANSIENT, never NOT_FOUND.
* `amend` (only where the venue amends natively: `venues.capabilities`) answers `ok`
  with the order as the venue now holds it (in place: the same order, new price and total
  size; a replace: the new order, and the old one's final state in `replaced`); a refusal
  is REJECTED / NOT_FOUND (the caller falls back to cancel-then-place), TRANSIENT means
  the amend may have happened (query before deciding).
* `fills` answers every trade of the symbol since `since` (all of them when None).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, TypeAlias

from pydantic import AwareDatetime

from setpoint.core.events import OrderSubmittedData
from setpoint.core.model import Frozen, OrderType, Side
from setpoint.core.numeric import ZERO, NonNegativeDec, PositiveDec
from setpoint.core.reconcile import VenueFill, VenueOrder
from setpoint.venues.capabilities import AmendStyle
from setpoint.venues.errors import Outcome, VenueFailure

PLACE = "place"
CANCEL = "cancel"
QUERY = "query"
FILLS = "fills"
AMEND = "amend"
COMMANDS = (PLACE, CANCEL, QUERY, FILLS, AMEND)


class PlaceCommand(OrderSubmittedData):
    """A place: the order its write-ahead `OrderSubmitted` records (one description of an
    order, so the venue is asked for exactly what the log says was submitted) and the
    symbol. A place built by hand, with no intent, is attempt 1."""

    intent_id: str | None = None
    attempt: int = 1
    command: Literal["place"] = "place"
    symbol: str

    @classmethod
    def of_submitted(cls, symbol: str, submitted: OrderSubmittedData) -> PlaceCommand:
        """The place of the order `submitted` records: every one of its fields."""
        # `dict(iter(...))`: `dict(model)` first asks the model for `keys`, which pydantic
        # answers with an AttributeError built on its slow path (a third of this call)
        return cls(symbol=symbol, **dict(iter(submitted)))


class CancelCommand(Frozen):
    """Cancel by venue id when known, else by client order id (at least one is set)."""

    command: Literal["cancel"] = "cancel"
    symbol: str
    order_id: str | None = None
    client_order_id: str | None = None


class AmendCommand(Frozen):
    """A native amend of a resting order (`gateway.venue.Venue.amend`). `remaining` is
    what the intent still wants open (intent quantity less what every attempt filled,
    this order's `filled` included, as known when decided); `new_client_order_id` the
    next attempt's id, used where the venue's amend is a new order (`venue_quantity`)."""

    command: Literal["amend"] = "amend"
    symbol: str
    order_id: str | None = None
    client_order_id: str
    new_client_order_id: str
    side: Side
    type: OrderType = OrderType.LIMIT
    price: PositiveDec
    remaining: PositiveDec
    filled: NonNegativeDec = ZERO
    post_only: bool = False

    def venue_quantity(self, style: AmendStyle) -> Decimal:
        """The size the venue is sent: an in-place amend takes the order's new *total*
        (its fills included; the venue leaves total - its fills open, so a fill racing the
        amend never over-fills the intent); a replace is a new order for `remaining`."""
        if style is AmendStyle.IN_PLACE:
            return self.remaining + self.filled
        return self.remaining


class QueryCommand(Frozen):
    command: Literal["query"] = "query"
    symbol: str
    client_order_id: str


class FillsCommand(Frozen):
    command: Literal["fills"] = "fills"
    symbol: str
    since: AwareDatetime | None = None


ORDER_FIELDS = frozenset(OrderSubmittedData.model_fields)
"""The fields a place shares with its write-ahead record, `OrderSubmittedData` (same
names, same types): the one description of an order to place."""

Command: TypeAlias = PlaceCommand | CancelCommand | QueryCommand | FillsCommand | AmendCommand


class CommandReply(Frozen):
    """The gateway's answer (see the module docstring)."""

    ok: bool
    outcome: Outcome | None = None
    code: str | None = None
    reason: str = ""
    terminal: bool = False
    duplicate: bool = False
    order: VenueOrder | None = None
    fills: tuple[VenueFill, ...] = ()
    answered_at: datetime | None = None
    replaced: VenueOrder | None = None
    """An amend done as a replace: the old order's final state (`order` is the new one)."""

    @classmethod
    def failure(cls, failure: VenueFailure) -> CommandReply:
        return cls(
            ok=False,
            outcome=failure.outcome,
            reason=failure.reason,
            code=failure.code,
            terminal=failure.terminal,
        )


def parse_command(command: str, raw: bytes) -> Command:
    """Validate a request body for `command`; raises pydantic's ValidationError."""
    models: dict[str, type[Command]] = {
        PLACE: PlaceCommand,
        CANCEL: CancelCommand,
        QUERY: QueryCommand,
        FILLS: FillsCommand,
        AMEND: AmendCommand,
    }
    return models[command].model_validate_json(raw)
