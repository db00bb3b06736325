"""The executor's conversation with the venue: send an action's command through the
gateway, interpret the reply, look the order up when the answer is unknown, record it.

Contract:

* `carry_out` is called only once the action's write-ahead event (`OrderSubmitted` /
  `CancelSubmitted`) is recorded; it sends the command and appends the venue's answer as
  a fact, `OrderPlaced` / `OrderRejected` / `OrderCancelled` (through `record`, see
  `writeahead.WriteAhead.record_facts`).
* An answer that leaves open whether the request happened leads to queries by client
  order id (`venues.settle`); when those do not settle it, nothing is appended: the order
  stays in flight and the gateway's reconciliation resolves it (semantics §4). Never a
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
* `resolve_unanswered` (at start) queries every submission of ours with no answer in the
  log (a crash between the write-ahead and the answer) and records what the venue holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from setpoint.bus import telemetry
from setpoint.config import Settings
from setpoint.core.events import Action, ActionKind, Event, new_event_id
from setpoint.core.model import Key
from setpoint.core.projections import ActualState
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

    def _adopted(self, key: Key, found: VenueOrder) -> Event:
        record = self._actual().order(key, found.client_order_id or "")
        correlation = record.correlation_id if record is not None else None
        cause = records.Cause(key, correlation or new_event_id(), None, None)
        return records.placed(cause, found)
