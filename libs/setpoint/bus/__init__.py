"""NATS wiring: subjects, codecs, telemetry propagation, the embedded server, raw replies,
the work queue and the frame every service process runs in.

The names below are its public surface (`subjects`, `messages` and `telemetry` are used as
modules). Each is loaded from its module on first use: `import setpoint.bus` imports
neither nats-py nor the configuration.
"""

from typing import TYPE_CHECKING

from setpoint.core.lazy import lazy_names

if TYPE_CHECKING:
    from setpoint.bus.cluster import EmbeddedCluster
    from setpoint.bus.connect import (
        NatsServerTooOld,
        NatsUnavailable,
        connect_nats,
        nats_connection,
    )
    from setpoint.bus.embedded import EmbeddedNats, NatsServerNotFound
    from setpoint.bus.replies import NoResponders, Replies, dispatch_table
    from setpoint.bus.runtime import UsageError, run_service, serve, until_stopped
    from setpoint.bus.workqueue import KeyRunner, QueueShutDown, WorkQueue

_WHERE = {
    "connect_nats": "connect",
    "nats_connection": "connect",
    "NatsUnavailable": "connect",
    "NatsServerTooOld": "connect",
    "EmbeddedCluster": "cluster",
    "EmbeddedNats": "embedded",
    "NatsServerNotFound": "embedded",
    "NoResponders": "replies",
    "Replies": "replies",
    "dispatch_table": "replies",
    "UsageError": "runtime",
    "run_service": "runtime",
    "serve": "runtime",
    "until_stopped": "runtime",
    "KeyRunner": "workqueue",
    "QueueShutDown": "workqueue",
    "WorkQueue": "workqueue",
}
"""Public name -> the module of this package that defines it."""

__all__ = [
    "EmbeddedCluster",
    "EmbeddedNats",
    "KeyRunner",
    "NatsServerNotFound",
    "NatsServerTooOld",
    "NatsUnavailable",
    "NoResponders",
    "QueueShutDown",
    "Replies",
    "UsageError",
    "WorkQueue",
    "connect_nats",
    "dispatch_table",
    "nats_connection",
    "run_service",
    "serve",
    "until_stopped",
]

__getattr__ = lazy_names(__name__, _WHERE)
