"""The ccxt side: exchange factory, error classification, commands, simulator conformance.

The names below are its public surface; each is loaded from its module on first use, so
`import setpoint.venues` does not import ccxt (a caller pays for it when it touches
`classify` or the exchange factory).
"""

from typing import TYPE_CHECKING

from setpoint.core.lazy import lazy_names

if TYPE_CHECKING:
    from setpoint.venues.commands import (
        AmendCommand,
        CancelCommand,
        Command,
        CommandReply,
        FillsCommand,
        PlaceCommand,
        QueryCommand,
        parse_command,
    )
    from setpoint.venues.errors import Outcome, VenueFailure, classify, redact
    from setpoint.venues.exchange import Credentials, create_rest, create_stream, credentials
    from setpoint.venues.ratelimit import RateLimiter

_WHERE = {
    "AmendCommand": "commands",
    "CancelCommand": "commands",
    "Command": "commands",
    "CommandReply": "commands",
    "FillsCommand": "commands",
    "PlaceCommand": "commands",
    "QueryCommand": "commands",
    "parse_command": "commands",
    "Outcome": "errors",
    "VenueFailure": "errors",
    "classify": "errors",
    "redact": "errors",
    "Credentials": "exchange",
    "create_rest": "exchange",
    "create_stream": "exchange",
    "credentials": "exchange",
    "RateLimiter": "ratelimit",
}
"""Public name -> the module of this package that defines it."""

__all__ = [
    "AmendCommand",
    "CancelCommand",
    "Command",
    "CommandReply",
    "Credentials",
    "FillsCommand",
    "Outcome",
    "PlaceCommand",
    "QueryCommand",
    "RateLimiter",
    "VenueFailure",
    "classify",
    "create_rest",
    "create_stream",
    "credentials",
    "parse_command",
    "redact",
]

__getattr__ = lazy_names(__name__, _WHERE)
