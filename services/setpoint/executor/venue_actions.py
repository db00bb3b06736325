"""The executor's conversation with the venue: send an action's command through the
gateway, interpret the reply, look the order up when the answer is unknown, record it.

Contract:

* `carry_out` is called only once the action's write-ahead event (`OrderSubmitted` /
  `CancelSubmitted` / `AmendSubmitted`) is recorded; it sends the command and appends the
  venue's answer as a fact, `OrderPlaced` / `OrderRejected` / `OrderCancelled`, or for an
  in-place amend the order as the venue now holds it (`OrderObserved`, source amend)
  (through `record`, see `writeahead.WriteAhead.record_facts`).
* A native amend (`core.amend`): in place, an answer that is not the amended order
  (refused, or unknown) is followed by a query, whose answer is recorded the same way
  (the staging falls back to cancel-then-place when the venue's order does not show the
  amend); as a replace (an `OrderSubmitted` with `replaces`), the new order is answered
  as a place is, the old one's end recorded first.
* An answer that leaves open whether the request happened leads to queries by client
  order id (`venues.settle`); when those do not settle it, nothing is appended: the order
  stays in flight and the gateway's reconciliation resolves it (docs/semantics.md §4). Never a
  blind retry. A place that could not even be asked about (no gateway left) stays in
  flight too.
* A cancel is idempotent, so a transient answer is sent again (same pauses as the
  queries); a cancel the venue does not know is checked by a query before the order is
  recorded as gone (`not_found`). An order that ended filled is never recorded cancelled.
* No gateway listening for the account: the command certainly reached no venue, so a
  place is closed as a non-terminal `OrderRejected` and a cancel is left unsettled (the
  next plan cancels again).
* Per account, commands go through a token bucket (`rate_limit_per_s`); a rate-limit
  answer from the venue empties it and the same command is sent again, at most
  `RATE_LIMIT_RETRIES` times (the last answer is then the reply). Each re-send counts in
  `setpoint_retries_total{reason="rate_limit"}`, each place whose answer is unknown (and
  so is looked up) in `reason="maybe_happened"`.
* `resolve_unanswered` (at start) queries every submission (and in-place amend) of ours
  with no answer in the log (a crash between the write-ahead and the answer) and records
  what the venue holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from setpoint.bus import telemetry
from setpoint.config import Settings
from setpoint.core.events import Action, ActionKind, AmendSubmitted, Event, new_event_id
from setpoint.core.model import Key
from setpoint.core.numeric import ZERO
from setpoint.core.projections import ActualState, OrderRecord
from setpoint.core.reconcile import VenueOrder
from setpoint.executor import records
from setpoint.executor.gateway_client import GatewayClient, GatewayUnavailable
from setpoint.venues import settle
from setpoint.venues.commands import Command, CommandReply, QueryCommand
from setpoint.venues.errors import Outcome
from setpoint.venues.ratelimit import RateLimiter

log = logging.getLogger(__name__)
RATE_LIMIT_RETRIES = 3
QUERIES = settle.EXECUTOR


class VenueActions:
    """See the module docstring. `actual` gives the newest projection; `record` appends
    facts of a key."""

    def __init__(
        self,
        settings: Settings,
        gateway: GatewayClient,
        actual: Callable[[], ActualState],
        record: Callable[[Key, list[Event]], Awaitable[None]],
    ) -> None:
        self.settings, self.gateway = settings, gateway
        self._actual, self._record = actual, record
        self.limiters = {
            name: RateLimiter(acc.rate_limit_per_s) for name, acc in settings.accounts.items()
        }

    async def carry_out(self, key: Key, action: Action, ahead: Event) -> Event | None:
        """Send one action; append and return the venue's answer as a fact (None when the
        answer is not settled: the action stays in flight)."""
        try:
            if action.kind is ActionKind.CANCEL:
                outcome = await self._cancel(key, action, ahead)
            elif isinstance(ahead, AmendSubmitted):
                outcome = await self._amend_in_place(key, action, ahead)
            elif action.kind is ActionKind.AMEND:
                outcome = await self._replace(key, action, ahead)
            else:
                outcome = await self._place(key, action, ahead)
        except GatewayUnavailable as exc:
            outcome = self._unsent(action, ahead, str(exc))
        if outcome is not None:
            await self._record(key, [outcome])
        return outcome

    def _unsent(self, action: Action, ahead: Event, reason: str) -> Event | None:
        if action.kind is ActionKind.CANCEL:
            return None
        return records.rejected(
            records.Cause.of(ahead), action.client_order_id, reason, None, terminal=False
        )

    async def _send(self, key: Key, command: Command) -> CommandReply:
        limiter = self.limiters[key.account]
        reply = CommandReply(ok=False)
        for attempt in range(RATE_LIMIT_RETRIES):
            if attempt:
                telemetry.metrics().retried("rate_limit")
            await limiter.acquire()
            reply = await self.gateway.send(key.account, command)
            if reply.outcome is not Outcome.RATE_LIMITED:
                return reply
            limiter.penalize(1.0)
        return reply

    async def _place(self, key: Key, action: Action, ahead: Event) -> Event | None:
        started = time.perf_counter()
        reply = await self._send(key, records.place_command(key, action))
        coid = action.client_order_id
        log.debug("place %s: gateway answered in %.3f ms", coid,
                  (time.perf_counter() - started) * 1000)  # fmt: skip
        if reply.ok and reply.order is not None:
            return records.placed(records.Cause.of(ahead), reply.order)
        if not settle.in_the_reply(reply.outcome):
            return records.rejected(
                records.Cause.of(ahead), coid, reply.reason, reply.code, reply.terminal
            )
        telemetry.metrics().retried("maybe_happened")
        try:
            found = await self.query(key, coid)
        except GatewayUnavailable:  # the place may have reached the venue: stay in flight
            log.warning("place %s: answer unknown and no gateway to ask; left in flight", coid)
            return None
        return None if found is None else records.placed(records.Cause.of(ahead), found)

    async def _amend_in_place(
        self, key: Key, action: Action, ahead: AmendSubmitted
    ) -> Event | None:
        """A native in-place amend: the answer, or when the venue refused it or the answer
        is unknown, what a query finds (`amended`: the staging compares it with what was
        asked and falls back to cancel-then-place when the amend did not happen). None
        when nothing settled it (the amend stays pending for reconciliation)."""
        d = ahead.data
        cause = records.Cause.of(ahead)
        command = records.amend_command(key, action, d.order_id, d.filled)
        reply = await self._send(key, command)
        if reply.ok and reply.order is not None:
            return records.amended(cause, reply.order)
        log.info("amend %s: %s; querying", d.client_order_id, reply.outcome)
        try:
            found = await self.query(key, d.client_order_id)
        except GatewayUnavailable:
            return None
        return None if found is None else records.amended(cause, found)

    async def _replace(self, key: Key, action: Action, ahead: Event) -> Event | None:
        """A native replace (`OrderSubmitted` with `replaces` written ahead): the new
        order as placed, the old one's end recorded first; a refusal is the new order's
        non-terminal `OrderRejected` (the staging cancels the old order, then the intent's
        next attempt is placed); an unknown answer is settled by a query of the new order,
        as for a place."""
        assert action.replaces is not None
        cause = records.Cause.of(ahead)
        record = self._actual().order(key, action.replaces)
        order_id = action.order_id or (record.order_id if record is not None else None)
        reply = await self._send(key, records.amend_command(key, action, order_id, ZERO))
        coid = action.client_order_id
        if reply.ok and reply.order is not None:
            if reply.replaced is not None:
                old = self._closed(ahead, action.replaces, reply.replaced)
                if old is not None:
                    await self._record(key, [old])
            return records.placed(cause, reply.order)
        if not settle.in_the_reply(reply.outcome):
            return records.rejected(cause, coid, reply.reason, reply.code, terminal=False)
        telemetry.metrics().retried("maybe_happened")
        try:
            found = await self.query(key, coid)
        except GatewayUnavailable:
            return None
        return None if found is None else records.placed(cause, found)

    async def query(self, key: Key, coid: str) -> VenueOrder | None:
        """The venue's order for `coid` (`venues.settle.EXECUTOR` looks); None when that
        did not settle it (the order then stays in flight for reconciliation). Raises
        GatewayUnavailable when no gateway can be asked."""
        assert key.symbol is not None
        command = QueryCommand(symbol=key.symbol, client_order_id=coid)

        async def look() -> VenueOrder | None:
            reply = await self._send(key, command)
            return reply.order if reply.ok else None

        return await settle.settle(look, QUERIES)

    async def _cancel(self, key: Key, action: Action, ahead: Event) -> Event | None:
        """Cancel (idempotent, so a transient answer is retried); a cancel the venue
        does not know is checked by a query before the order is recorded as gone."""
        coid = action.client_order_id
        order_id = records.venue_order_id(self._actual(), key, action)
        command = records.cancel_command(key, coid, order_id)
        for attempt in range(QUERIES.attempts):
            reply = await self._send(key, command)
            if reply.ok and reply.order is not None:
                return self._closed(ahead, coid, reply.order)
            if reply.outcome is not Outcome.TRANSIENT:
                break
            await QUERIES.pause(attempt)
        if reply.outcome in settle.REFUSED:
            return None
        assert key.symbol is not None
        probe = await self._send(key, QueryCommand(symbol=key.symbol, client_order_id=coid))
        if probe.ok and probe.order is not None:
            return self._closed(ahead, coid, probe.order)
        if probe.outcome is Outcome.NOT_FOUND:
            return records.cancelled(records.Cause.of(ahead), coid, None, not_found=True)
        return None

    def _closed(self, ahead: Event, coid: str, order: VenueOrder) -> Event | None:
        """OrderCancelled when the venue's order ended without a complete fill."""
        if order.status.is_open or order.filled >= order.quantity:
            return None
        return records.cancelled(records.Cause.of(ahead), coid, order)

    async def resolve_unanswered(self, owns: Callable[[Key], bool] = lambda key: True) -> None:
        """Query every submission of ours (of the keys `owns` names) that has no answer in
        the log (a crash between the write-ahead and the answer) and record what the
        venue holds; stops at the first one no gateway can be asked about."""
        for key, key_actual in list(self._actual().keys.items()):
            if not owns(key):
                continue
            for ref, pending in key_actual.pending.items():
                order = key_actual.orders.get(ref)
                if pending == "amend" and order is not None:
                    if not await self._resolve_amend(order):
                        return
                    continue
                if pending != "submit" or order is None or order.status is not None:
                    continue
                if order.key.account not in self.settings.accounts or order.client_order_id is None:
                    continue
                try:
                    found = await self.query(order.key, order.client_order_id)
                except GatewayUnavailable:
                    return
                if found is not None:
                    await self._record(order.key, [self._adopted(order.key, found)])

    async def _resolve_amend(self, order: OrderRecord) -> bool:
        """An in-place amend written ahead with no answer: what the venue holds is its
        answer. False when no gateway can be asked."""
        if order.key.account not in self.settings.accounts or order.client_order_id is None:
            return True
        try:
            found = await self.query(order.key, order.client_order_id)
        except GatewayUnavailable:
            return False
        if found is not None:
            cause = records.Cause(order.key, order.correlation_id or new_event_id(), None, None)
            await self._record(order.key, [records.amended(cause, found)])
        return True

    def _adopted(self, key: Key, found: VenueOrder) -> Event:
        record = self._actual().order(key, found.client_order_id or "")
        correlation = record.correlation_id if record is not None else None
        cause = records.Cause(key, correlation or new_event_id(), None, None)
        return records.placed(cause, found)
