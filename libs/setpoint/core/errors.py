"""Every exception Setpoint defines, in one tree.

The public place to import them from is `setpoint.errors`; the tree lives here, inside the
pure core, because the core raises some of them and imports nothing outside itself. Each
class is also importable from the module that raised it before the tree existed.

Errors::

    SetpointError
    ├── ConfigError                  the configuration cannot be used
    │   ├── SecretUnavailable        a secret reference does not resolve
    │   └── UsageError               arguments contradict the configuration (exit 2)
    ├── InvalidValue (ValueError)    a value from outside breaks its contract
    │   ├── NotADecimal              not a decimal string (floats and JSON numbers refused)
    │   ├── EventParseError          wire bytes that are not an event of the catalog
    │   └── SnapshotFormatError      a projection snapshot this release cannot read
    ├── NewerSchema                  the log holds an event newer than this release reads
    ├── InvalidTarget                a target field breaks the contract (differ intake)
    ├── EventLogError                anything an EventLog raises (see eventlog.port)
    │   ├── ConcurrencyConflict      the (key, producer) stream moved on since `expected`
    │   ├── LogUnavailable           the backend cannot be reached (transient)
    │   ├── LogMisconfigured         the backend's layout conflicts with ours
    │   └── WorkerFailed             an offload child process exited or sent garbage
    ├── BusError                     NATS: the server, requests, JetStream reads
    │   ├── LeasesMisconfigured      the lease bucket is missing and may not be made here
    │   ├── NatsUnavailable (RuntimeError)     nothing answers and none may be started
    │   │   └── NatsRefused          the server refused our credential or TLS setup
    │   ├── NatsServerTooOld (RuntimeError)    the server found is too old
    │   ├── NatsServerNotFound (RuntimeError)  no nats-server binary installed
    │   ├── NoConnection             no NATS server at the url (`setpoint status`)
    │   ├── NoResponders             nobody listens on a request's subject
    │   ├── GatewayUnavailable       no gateway answers a command (it was not sent)
    │   ├── FeedError                the server refused a JetStream pull request
    │   └── WrongLastSequence        an append's expected last subject sequence is stale
    ├── VenueError                   a venue call failed; `failure` classifies it
    ├── QueueShutDown                the work queue was shut down; no more keys will come
    └── SimulatorError               the venue simulator's own refusals
        ├── ApiError                 an error answer in Binance's shape
        │   └── OkxError             an error answer in OKX's shape (the okx dialect)
        ├── Rejected                 a command the matching engine refused
        ├── InsufficientBalance      a lock asked for more than the free balance
        ├── BadRule (ValueError)     a fault rule that cannot be understood
        ├── BadBody (ValueError)     a malformed control request
        └── ControlError (RuntimeError)  the control API answered 400 (test client)

Classes that were a ValueError or a RuntimeError before the tree still are (callers and
pydantic validators catch them as such). `VenueFailure` with its `Outcome`, and the
simulator's `Reason`, are the values those errors carry; they live here so the errors
that carry them can. Messages are the contract callers print: keep them word for word.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from setpoint.core.model import Key, Producer

__all__ = [
    "ApiError",
    "BadBody",
    "BadRule",
    "BusError",
    "ConcurrencyConflict",
    "ConfigError",
    "ControlError",
    "EventLogError",
    "EventParseError",
    "FeedError",
    "GatewayUnavailable",
    "InsufficientBalance",
    "InvalidTarget",
    "InvalidValue",
    "LeasesMisconfigured",
    "LogMisconfigured",
    "LogUnavailable",
    "NatsRefused",
    "NatsServerNotFound",
    "NatsServerTooOld",
    "NatsUnavailable",
    "NewerSchema",
    "NoConnection",
    "NoResponders",
    "NotADecimal",
    "OkxError",
    "Outcome",
    "QueueShutDown",
    "Reason",
    "Rejected",
    "SecretUnavailable",
    "SetpointError",
    "SimulatorError",
    "SnapshotFormatError",
    "UsageError",
    "VenueError",
    "VenueFailure",
    "WorkerFailed",
    "WrongLastSequence",
]


class SetpointError(Exception):
    """Base of every exception Setpoint defines."""


# --- configuration and usage --------------------------------------------------------


class ConfigError(SetpointError):
    """The configuration cannot be used as given."""


class SecretUnavailable(ConfigError):
    """A secret reference could not be resolved. The message never holds the secret."""


class UsageError(ConfigError):
    """Raised by a `build` for arguments that contradict the configuration; reported like
    an argparse error (usage line, exit status 2)."""


# --- values from outside ------------------------------------------------------------


class InvalidValue(SetpointError, ValueError):
    """A value that came from outside (wire, file, request) breaks its contract."""


class NotADecimal(InvalidValue):
    """A value that must be a decimal string (or a Decimal) was something else."""


class EventParseError(InvalidValue):
    """Wire bytes that are not a valid event of this catalog. `reason` says why, briefly."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SnapshotFormatError(InvalidValue):
    """A projection snapshot body this release cannot read (an unknown tag or type, a bad
    shape): the snapshot is ignored and the projection rebuilt from the log."""


class InvalidTarget(SetpointError):
    """A published target breaks the contract; `message` is `"<field path>: <why>"`."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.message = f"{path}: {why}"


# --- the event log ------------------------------------------------------------------


class NewerSchema(SetpointError):
    """A service met a log entry whose `schema_version` is above what this release reads
    (a newer release wrote it during a rolling upgrade). It stops rather than misread it;
    never an `EventLogError`, so no reader resumes past it."""

    def __init__(self, position: int, subject: str, version: int, known: int) -> None:
        super().__init__(
            f"log entry {position} on {subject} has schema_version {version}, newer than "
            f"this release of Setpoint reads (up to {known}); upgrade this service "
            "(during a rolling upgrade, upgrade every reader before the writers)"
        )
        self.position, self.version = position, version


class EventLogError(SetpointError):
    """Base of every error an EventLog raises."""


class ConcurrencyConflict(EventLogError):
    def __init__(self, key: Key, producer: Producer, expected: int, actual: int) -> None:
        super().__init__(
            f"{producer.value} stream of {key} is at {actual}, not at the expected {expected}"
        )
        self.key, self.producer, self.expected, self.actual = key, producer, expected, actual


class LogUnavailable(EventLogError):
    """The backend did not answer; the append may or may not have happened."""


class LogMisconfigured(EventLogError):
    """The backend's existing layout conflicts with what Setpoint needs."""


class WorkerFailed(EventLogError):
    """The child process exited, or sent something that is not a frame (the read that
    it was part of failed)."""


# --- the bus (NATS, JetStream) ------------------------------------------------------


class BusError(SetpointError):
    """NATS did not do what was asked: no server, nobody listening, a refused read."""


class LeasesMisconfigured(BusError):
    """The leases' key-value bucket does not exist and this client may not create it (an
    admin's step: `setpoint up`), or cannot be opened (one line why)."""


class NatsUnavailable(BusError, RuntimeError):
    """Nothing answers at the configured url and no server may be started here."""


class NatsRefused(NatsUnavailable):
    """The NATS server refused this client: its credential or TLS setup (one line why)."""


class NatsServerTooOld(BusError, RuntimeError):
    """The server found is older than Setpoint needs."""


class NatsServerNotFound(BusError, RuntimeError):
    """No nats-server executable is installed (the message says how to get one)."""


class NoConnection(BusError):
    """No NATS server at the url."""


class NoResponders(BusError):
    """Nobody listens on the subject of a request (e.g. no stream takes it)."""


class GatewayUnavailable(BusError):
    """No gateway answers for the account: the command was not sent anywhere."""


class FeedError(BusError):
    """The server refused a pull request (the status line says why)."""


class WrongLastSequence(BusError):
    """JetStream refused an append: the subject's last sequence is `actual`, not the one
    the append expected (the JetStream adapter turns it into ConcurrencyConflict)."""

    def __init__(self, actual: int) -> None:
        super().__init__(actual)
        self.actual = actual


# --- the venue ----------------------------------------------------------------------


class Outcome(StrEnum):
    """What a venue error means for the order it concerned (tree in `venues.errors`)."""

    TRANSIENT = "transient"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"
    FATAL = "fatal"

    @property
    def maybe_happened(self) -> bool:
        """True when the request may have taken effect at the venue: query before acting."""
        return self in (Outcome.TRANSIENT, Outcome.DUPLICATE)


@dataclass(frozen=True, slots=True)
class VenueFailure:
    """A classified venue error."""

    outcome: Outcome
    code: str | None
    reason: str
    terminal: bool = False
    """For REJECTED: the venue refused the order itself as invalid, so its intent is
    consumed. False for a refusal that may pass later (funds, limits)."""


class VenueError(SetpointError):
    """A venue call failed; `failure` says what it means."""

    def __init__(self, failure: VenueFailure) -> None:
        super().__init__(failure.reason)
        self.failure = failure

    @property
    def outcome(self) -> Outcome:
        return self.failure.outcome


# --- services -----------------------------------------------------------------------


class QueueShutDown(SetpointError):
    """The queue was shut down; no more keys will come."""


# --- the venue simulator ------------------------------------------------------------


class SimulatorError(SetpointError):
    """A refusal of the venue simulator (its engine, its REST facade, its control API)."""


class ApiError(SimulatorError):
    """An error answer in Binance's shape."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.data: dict[str, Any] | None = None  # extra detail some answers carry

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            body["data"] = self.data
        return body


class OkxError(ApiError):
    """An error answer in OKX v5's shape: `{"code": "<code>", "msg", "data": rows}` (the
    code a string, as OKX sends it), with its HTTP status."""

    def __init__(
        self, code: str, msg: str, status: int = 400, rows: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(status, int(code), msg)
        self.rows = rows or []

    def body(self) -> dict[str, Any]:
        return {"code": str(self.code), "msg": self.msg, "data": self.rows}


class Reason(StrEnum):
    """Why the engine refused a command; the REST facade maps these to Binance codes."""

    UNKNOWN_SYMBOL = "unknown_symbol"
    BAD_PARAMETER = "bad_parameter"
    FILTER = "filter"
    DUPLICATE = "duplicate"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    WOULD_TAKE = "would_take"
    REDUCE_ONLY = "reduce_only"
    UNKNOWN_ORDER = "unknown_order"  # cancel of an order that is not open
    NO_SUCH_ORDER = "no_such_order"  # query of an order that never existed


class Rejected(SimulatorError):
    """A command the engine refused. Nothing changed."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail


class InsufficientBalance(SimulatorError):
    """A lock asked for more than the free balance."""


class BadRule(SimulatorError, ValueError):
    """A rule that cannot be understood; the message names the field."""


class BadBody(SimulatorError, ValueError):
    """The control request is malformed; the message names the field."""


class ControlError(SimulatorError, RuntimeError):
    """The control API answered 400 (the message is its `error`)."""
