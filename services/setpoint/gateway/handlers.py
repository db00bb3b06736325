"""The gateway's command handlers: NATS request → venue call → `CommandReply`.

Contract (see `venues.commands`): a place always carries the command's client order id;
a "duplicate" answer or a transient failure of a place is followed by one query by client
order id, so that the reply says what the venue holds whenever it can. Each request is
handled in its own task, started straight from the NATS parser (`bus.replies.Served`): a
slow venue call never holds up the next command. Commands are
paced by their sender (the executor): their venue calls are counted in the account's
bucket but never wait for it (`Venue`, `pace=False`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from nats.aio.client import Client as NATS
from pydantic import ValidationError

from setpoint.bus import subjects, telemetry
from setpoint.bus.replies import Request, Served
from setpoint.core.reconcile import VenueOrder
from setpoint.gateway.venue import Venue, VenueError
from setpoint.venues import (
    AmendCommand,
    CancelCommand,
    Command,
    CommandReply,
    FillsCommand,
    Outcome,
    PlaceCommand,
    QueryCommand,
    VenueFailure,
    parse_command,
    settle,
)

log = logging.getLogger(__name__)
_REFUSALS = frozenset({Outcome.REJECTED, Outcome.FATAL})
"""Venue errors of a place that count as the order rejected."""
_tracer = telemetry.tracer("setpoint.gateway")


class CommandHandlers:
    """Answers `setpoint.gw.<account>.<command>` for one account."""

    def __init__(
        self,
        nc: NATS,
        account: str,
        venue: Venue,
        on_filled: Callable[[VenueOrder], Awaitable[None]] | None = None,
    ) -> None:
        self.nc, self.account, self.venue = nc, account, venue
        self.on_filled = on_filled
        self._served: Served | None = None
        self._orders = telemetry.metrics().orders

    async def start(self) -> None:
        subject = subjects.gateway_subject(self.account, "*")
        self._served = await Served(self.nc, subject, self._handle).start()

    async def stop(self) -> None:
        """Stop answering commands (idempotent)."""
        served, self._served = self._served, None
        if served is not None:
            await served.stop()
            for task in list(served.tasks):
                task.cancel()

    async def _handle(self, msg: Request) -> None:
        command_name = msg.subject.rsplit(".", 1)[-1]
        context = telemetry.extract(msg.headers)
        with _tracer.start_as_current_span(f"gateway.{command_name}", context=context):
            try:
                command = parse_command(command_name, msg.data)
            except (ValidationError, KeyError) as exc:
                failure = VenueFailure(Outcome.FATAL, None, f"bad command: {exc}"[:300])
                await _reply(msg, CommandReply.failure(failure))
                return
            await _reply(msg, await self.execute(command))

    async def execute(self, command: Command) -> CommandReply:
        """Carry out one command against the venue; never raises a venue error. Places
        and cancels count in `setpoint_orders_total` (placed, cancelled, rejected)."""
        try:
            if isinstance(command, PlaceCommand):
                return self._counted(command.symbol, "placed", await self._place(command))
            if isinstance(command, CancelCommand):
                reply = await self._answer(await self.venue.cancel(command, pace=False))
                return self._counted(command.symbol, "cancelled", reply)
            if isinstance(command, AmendCommand):
                return await self._amend(command)
            if isinstance(command, QueryCommand):
                return await self._query(command.symbol, command.client_order_id)
            return await self._fills(command)
        except VenueError as exc:
            reply = CommandReply.failure(exc.failure)
            if isinstance(command, PlaceCommand) and exc.outcome in _REFUSALS:
                self._counted(command.symbol, "rejected", reply)
            return reply

    def _counted(self, symbol: str, outcome: str, reply: CommandReply) -> CommandReply:
        """Count `outcome` for an answered command (a place whose answer is unknown is not
        counted) and return the reply."""
        if reply.ok or outcome == "rejected":
            attributes = {"account": self.account, "symbol": symbol, "outcome": outcome}
            self._orders.add(1, attributes)
        return reply

    async def _answer(self, order: VenueOrder, duplicate: bool = False) -> CommandReply:
        """Reply with `order`; fills it already has are recorded first, so that nobody
        sees the order closed before its fills are in the log (an IOC hedge must follow
        what was executed, never what was asked)."""
        if order.filled > 0 and self.on_filled is not None:
            await self.on_filled(order)
        return _ok(order=order, duplicate=duplicate)

    async def _place(self, command: PlaceCommand) -> CommandReply:
        try:
            return await self._answer(await self.venue.place(command, pace=False))
        except VenueError as exc:
            if not settle.at_the_venue(exc.outcome):
                raise
            log.info("place %s: %s; querying", command.client_order_id, exc.outcome.value)
            first = exc.failure

        async def look() -> VenueOrder | None:  # a failed query settles nothing
            try:
                return await self.venue.query(command.symbol, command.client_order_id, pace=False)
            except VenueError:
                return None

        order = await settle.settle(look, settle.GATEWAY)
        if order is None:
            return CommandReply.failure(first)
        return await self._answer(order, duplicate=first.outcome is Outcome.DUPLICATE)

    async def _amend(self, command: AmendCommand) -> CommandReply:
        """A native amend (`Venue.amend`); fills the answer shows are recorded first, as
        for a place. A venue without a native amend for the symbol is a FATAL answer."""
        try:
            amended = await self.venue.amend(command, pace=False)
        except ValueError as exc:
            return CommandReply.failure(VenueFailure(Outcome.FATAL, None, str(exc)))
        if amended.replaced is not None and amended.replaced.filled > 0 and self.on_filled:
            await self.on_filled(amended.replaced)
        reply = await self._answer(amended.order)
        return reply.model_copy(update={"replaced": amended.replaced})

    async def _query(self, symbol: str, client_order_id: str) -> CommandReply:
        order = await self.venue.query(symbol, client_order_id, pace=False)
        if order is None:
            failure = VenueFailure(Outcome.NOT_FOUND, None, "no such order at the venue")
            return CommandReply.failure(failure)
        return _ok(order=order)

    async def _fills(self, command: FillsCommand) -> CommandReply:
        fills = await self.venue.fills(command.symbol, command.since, pace=False)
        return _ok(fills=tuple(fills))


def _ok(**fields: object) -> CommandReply:
    return CommandReply(ok=True, answered_at=datetime.now(UTC), **fields)  # type: ignore[arg-type]


async def _reply(msg: Request, reply: CommandReply) -> None:
    if msg.reply:
        await msg.respond(reply.model_dump_json().encode())
