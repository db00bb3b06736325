"""`open_event_log(settings)`: the EventLog the configuration names.

* `memory` → a fresh InMemoryEventLog (tests and tools; nothing persists);
* `jetstream` → a JetStreamEventLog on `eventlog.stream` with `eventlog.duplicate_window_s`,
  over `nc` when given (the caller keeps owning it), else over a connection of its own
  made by `connect_nats` (which may start the bundled server; `close()` ends both);
* `eventstoredb` → LogMisconfigured: that adapter is not part of this release.

The stream gets `eventlog.replicas` copies when it is created; `admin` (the admin's step,
`setpoint up`) also refuses a stream that has another count (services only warn).
`account` opens a view of one trading account (JetStream: reads filtered to its subjects,
what a strategy's NATS identity is allowed); `connect_options` go to `connect_nats` when
the log makes its own connection (e.g. the operator's credential).
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from setpoint.config import Settings
from setpoint.eventlog.port import EventLog, LogMisconfigured


async def open_event_log(
    settings: Settings,
    *,
    nc: NATS | None = None,
    name: str = "setpoint-eventlog",
    account: str | None = None,
    admin: bool = False,
    **connect_options: Any,
) -> EventLog:
    """Open the configured backend (module docstring). Raises LogMisconfigured for a
    backend that cannot be used and the connect errors of `setpoint.bus.connect`."""
    backend = settings.eventlog.backend
    if backend == "memory":
        from setpoint.eventlog.memory import InMemoryEventLog

        return InMemoryEventLog()
    if backend == "jetstream":
        return await _open_jetstream(settings, nc, name, account, admin, connect_options)
    raise LogMisconfigured(
        f'eventlog.backend = {backend!r} is not available in this release: use "jetstream" '
        '(the default; NATS with JetStream) or "memory" (tests only)'
    )


async def _open_jetstream(
    settings: Settings,
    nc: NATS | None,
    name: str,
    account: str | None,
    admin: bool,
    connect_options: dict[str, Any],
) -> EventLog:
    from setpoint.bus.connect import connect_nats
    from setpoint.eventlog.jetstream import JetStreamEventLog

    owns = nc is None
    client = nc if nc is not None else await connect_nats(settings, name=name, **connect_options)
    try:
        return await JetStreamEventLog.open(
            client,
            stream=settings.eventlog.stream,
            duplicate_window_s=settings.eventlog.duplicate_window_s,
            owns_connection=owns,
            account=account,
            replicas=settings.eventlog.replicas,
            require_replicas=admin,
        )
    except BaseException:
        if owns:
            await client.close()
        raise


async def migrate_replicas(settings: Settings, **connect_options: Any) -> tuple[int, int]:
    """Change the JetStream stream's replica count to `eventlog.replicas` in place, the log
    kept (`JetStreamEventLog.migrate_replicas`); (before, after). LogMisconfigured for
    another backend and when the servers cannot hold that many copies."""
    if settings.eventlog.backend != "jetstream":
        raise LogMisconfigured("only a JetStream log has replicas (eventlog.backend)")
    from setpoint.eventlog.jetstream import JetStreamEventLog

    event_log = await open_event_log(settings, name="setpoint-log", **connect_options)
    try:
        assert isinstance(event_log, JetStreamEventLog)
        return await event_log.migrate_replicas()
    finally:
        await event_log.close()
