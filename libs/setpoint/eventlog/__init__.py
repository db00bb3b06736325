"""The EventLog port and its adapters (memory, jetstream, eventstoredb)."""

from setpoint.eventlog.port import (
    ANY,
    NO_EVENTS,
    ConcurrencyConflict,
    EventLog,
    EventLogError,
    LogMisconfigured,
    LogUnavailable,
    Quarantined,
    Recorded,
)

__all__ = [
    "ANY",
    "NO_EVENTS",
    "ConcurrencyConflict",
    "EventLog",
    "EventLogError",
    "LogMisconfigured",
    "LogUnavailable",
    "Quarantined",
    "Recorded",
]
