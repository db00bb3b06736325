"""Exit statuses of the `setpoint` commands, and the one table from errors to them.

    OK                0  done; `audit`: the log is clean; `status`: every service ready
    FAILED            1  done, and the answer is no: audit violations, a target rejected,
                         an order `explain` does not know, a kill not applied, `status`:
                         some services did not answer or are not ready
    CANNOT_READ       2  a log command (`audit`, `replay`, `explain`, `export`) cannot open
                         or read the log
    USAGE             2  arguments that cannot be used (argparse's status; also a service's
                         `UsageError`, reported by `setpoint run` like an argparse error),
                         and a configuration that cannot be used (`ConfigError`: one line
                         on stderr naming the field and the problem, from every command)
    NOBODY_ANSWERED   2  `target set`, `kill`: no differ answered the request
    NOTHING_ANSWERED  3  `status`: nothing answered at all (no server at the url, no service)
    INTERRUPTED     130  Ctrl-C (128 + SIGINT, as a shell reports it)

`exit_status(exc)` is the status an error ends a command with; `READ_ERRORS` are the errors
that end a log command with CANNOT_READ (one line on stderr, no traceback).
"""

from typing import Final

from setpoint.core.errors import (
    ConfigError,
    EventLogError,
    NatsServerTooOld,
    NatsUnavailable,
    NoConnection,
    UsageError,
)

__all__ = [
    "CANNOT_READ",
    "CONFIG_ERRORS",
    "FAILED",
    "INTERRUPTED",
    "NOBODY_ANSWERED",
    "NOTHING_ANSWERED",
    "OK",
    "READ_ERRORS",
    "USAGE",
    "exit_status",
]

OK: Final = 0
FAILED: Final = 1
CANNOT_READ: Final = 2
USAGE: Final = 2
NOBODY_ANSWERED: Final = 2
NOTHING_ANSWERED: Final = 3
INTERRUPTED: Final = 130

CONFIG_ERRORS: Final = (ConfigError,)
"""What ends any command with USAGE and one line naming the field: a configuration that
cannot be used (`setpoint.cli`)."""

READ_ERRORS: Final = (NatsUnavailable, NatsServerTooOld, EventLogError, OSError)
"""What ends a log command with CANNOT_READ: no NATS, an old one, the log itself, a file."""

_BY_ERROR: Final[tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int], ...]] = (
    (NoConnection, NOTHING_ANSWERED),
    (UsageError, USAGE),
    (ConfigError, USAGE),
    (READ_ERRORS, CANNOT_READ),
)


def exit_status(exc: BaseException) -> int:
    """The status `exc` ends a command with. `exc` is one of the kinds in the table above
    (ValueError otherwise: an error without a status is a bug to surface, not to map)."""
    for kind, status in _BY_ERROR:
        if isinstance(exc, kind):
            return status
    raise ValueError(f"no exit status for {type(exc).__name__}")
