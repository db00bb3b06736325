"""The executor's side of the gateway commands (NATS request/reply).

`GatewayClient.send(account, command)` returns the gateway's `CommandReply`. When no
gateway listens (no responders), the request certainly reached no venue: it raises
`GatewayUnavailable`. When the gateway does not answer in time the request may have
reached the venue: the reply is a TRANSIENT failure, like a venue timeout.

Requests go through one reply inbox of this client (`bus.replies.Replies`,
opened on first use, closed by `close()`): the answer is taken straight from the protocol
parser, without nats-py's per-request `Msg` and timeout task.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS

from setpoint.bus import subjects, telemetry
from setpoint.bus.replies import NoResponders, Replies
from setpoint.core.errors import GatewayUnavailable as GatewayUnavailable
from setpoint.venues.commands import Command, CommandReply
from setpoint.venues.errors import Outcome, VenueFailure


class GatewayClient:
    def __init__(self, nc: NATS, timeout_s: float) -> None:  # float-ok
        self.nc, self.timeout_s = nc, timeout_s
        self._replies: Replies | None = None
        self._lock = asyncio.Lock()

    async def _mux(self) -> Replies:
        async with self._lock:
            if self._replies is None:
                self._replies = await Replies(self.nc).start()
            return self._replies

    async def send(self, account: str, command: Command) -> CommandReply:
        subject = subjects.gateway_subject(account, command.command)
        body = command.model_dump_json().encode()
        mux = self._replies or await self._mux()
        try:
            # no trace context to carry (tracing off, no traceparent): a plain message,
            # which both ends handle without a header block
            headers = telemetry.inject() or None
            data, _ = await mux.request(subject, body, headers, self.timeout_s)
        except NoResponders:
            raise GatewayUnavailable(f"no gateway for account {account}") from None
        except TimeoutError:
            failure = VenueFailure(Outcome.TRANSIENT, None, "the gateway did not answer in time")
            return CommandReply.failure(failure)
        return CommandReply.model_validate_json(data)

    async def close(self) -> None:
        """Stop listening for answers (idempotent); a later `send` opens the inbox again."""
        replies, self._replies = self._replies, None
        if replies is not None:
            await replies.close()
