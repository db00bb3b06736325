"""The executor's side of the gateway commands (NATS request/reply).

`GatewayClient.send(account, command)` returns the gateway's `CommandReply`. When no
gateway listens (`NoRespondersError`), the request certainly reached no venue: it raises
`GatewayUnavailable`. When the gateway does not answer in time the request may have
reached the venue: the reply is a TRANSIENT failure, like a venue timeout.
"""

from __future__ import annotations

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from setpoint.bus import subjects, telemetry
from setpoint.venues.commands import Command, CommandReply
from setpoint.venues.errors import Outcome, VenueFailure


class GatewayUnavailable(Exception):
    """No gateway answers for the account: the command was not sent anywhere."""


class GatewayClient:
    def __init__(self, nc: NATS, timeout_s: float) -> None:  # float-ok
        self.nc, self.timeout_s = nc, timeout_s

    async def send(self, account: str, command: Command) -> CommandReply:
        subject = subjects.gateway_subject(account, command.command)
        body = command.model_dump_json().encode()
        try:
            msg = await self.nc.request(
                subject, body, timeout=self.timeout_s, headers=telemetry.inject()
            )
        except NoRespondersError:
            raise GatewayUnavailable(f"no gateway for account {account}") from None
        except NatsTimeout:
            failure = VenueFailure(Outcome.TRANSIENT, None, "the gateway did not answer in time")
            return CommandReply.failure(failure)
        return CommandReply.model_validate_json(msg.data)
