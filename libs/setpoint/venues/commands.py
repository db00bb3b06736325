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
* `fills` answers every trade of the symbol since `since` (all of them when None).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeAlias

from pydantic import AwareDatetime

from setpoint.core.events import OrderSubmittedData
from setpoint.core.model import Frozen, OrderType, Side, TimeInForce
from setpoint.core.numeric import PositiveDec
from setpoint.core.reconcile import VenueFill, VenueOrder
from setpoint.venues.errors import Outcome, VenueFailure

PLACE = "place"
CANCEL = "cancel"
QUERY = "query"
FILLS = "fills"
COMMANDS = (PLACE, CANCEL, QUERY, FILLS)


class PlaceCommand(Frozen):
    command: Literal["place"] = "place"
    symbol: str
    client_order_id: str
    side: Side
    type: OrderType
    price: PositiveDec | None = None
    quantity: PositiveDec
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False

    @classmethod
    def of_submitted(cls, symbol: str, submitted: OrderSubmittedData) -> PlaceCommand:
        """The place of the order its write-ahead `OrderSubmitted` records: every order
        field (`ORDER_FIELDS`) is the record's, so the venue is asked for exactly what
        the log says was submitted."""
        return cls(symbol=symbol, **submitted.model_dump(include=set(ORDER_FIELDS)))


class CancelCommand(Frozen):
    """Cancel by venue id when known, else by client order id (at least one is set)."""

    command: Literal["cancel"] = "cancel"
    symbol: str
    order_id: str | None = None
    client_order_id: str | None = None


class QueryCommand(Frozen):
    command: Literal["query"] = "query"
    symbol: str
    client_order_id: str


class FillsCommand(Frozen):
    command: Literal["fills"] = "fills"
    symbol: str
    since: AwareDatetime | None = None


ORDER_FIELDS = frozenset(PlaceCommand.model_fields) - {"command", "symbol"}
"""The fields a place shares with its write-ahead record, `OrderSubmittedData` (same
names, same types): the one description of an order to place."""

Command: TypeAlias = PlaceCommand | CancelCommand | QueryCommand | FillsCommand


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
    }
    return models[command].model_validate_json(raw)
