"""`setpoint log migrate`: give the event log's stream the configured replica count.

A stream is created with `eventlog.replicas` copies; one that exists with another count is
never recreated (services warn, `setpoint up` refuses). After adding servers to a cluster
(or before taking some away), set `eventlog.replicas` and run this once, as the operator
(`nats.credentials`, else the admin credential `setpoint up` made): JetStream changes the
stream in place, copying it to the new servers (or dropping copies) while it keeps
accepting appends. Prints `stream S: R1 -> R2 replica(s)`; exit status 0, 1 when the
servers cannot hold that many copies, 3 when NATS cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio

from setpoint.bus.credentials import operator_options
from setpoint.config import load_settings
from setpoint.core.errors import EventLogError, NatsRefused, NatsUnavailable
from setpoint.ops.exits import FAILED, NOTHING_ANSWERED, OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("migrate", help="change the stream's replica count to eventlog.replicas")


def main(config: str | None, args: argparse.Namespace) -> int:
    from setpoint.eventlog.factory import migrate_replicas

    loaded = load_settings(config)  # never starts a server: the log to change is elsewhere
    settings = loaded.model_copy(
        update={"nats": loaded.nats.model_copy(update={"embedded": False})}
    )
    stream = settings.eventlog.stream
    try:
        before, after = asyncio.run(migrate_replicas(settings, **operator_options(settings.nats)))
    except (NatsUnavailable, NatsRefused) as exc:
        print(f"setpoint log: {exc}")
        return NOTHING_ANSWERED
    except EventLogError as exc:
        print(f"setpoint log: {exc}")
        return FAILED
    if before == after:
        print(f"stream {stream}: already {after} replica(s)")
    else:
        print(f"stream {stream}: {before} -> {after} replica(s)")
    return OK
