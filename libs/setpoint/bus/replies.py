"""Raw NATS dispatch: messages of our own inboxes handed over as bytes, and a request mux.

nats-py turns every incoming message into a `Msg` (headers parsed into a dict), queues it
for a subscription task, and only then calls back; for a request that adds a task hop and
a `wait_for` to each round trip. Here an inbox's subscription id is registered in a small
dispatch table that wraps the client's `_process_msg` (`dispatch_table`, installed once per
client; every other message goes through unchanged), so our messages arrive as raw
`(subject, reply, data, headers)`. `Replies` resolves request futures from that table;
the JetStream adapter's pull feed (`eventlog.jetstream_raw.Feed`) reads from it too, and
`Served` hands the requests of a hot-path service subject (the gateway's commands, the
target intake) to a handler task straight from the parser, one task hop per request
instead of two.

This leans on one private detail of nats-py 2.x (`Client._process_msg(sid, subject,
reply, data, headers)`, called by its protocol parser); `pyproject.toml` pins nats-py < 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Final

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from setpoint.core.errors import NoResponders as NoResponders

__all__ = [
    "Handler",
    "NoResponders",
    "Replies",
    "Request",
    "Served",
    "dispatch_table",
    "subscribe_raw",
    "unsubscribe_raw",
]

Handler = Callable[[bytes, bytes, bytes, "bytes | None"], None]
"""A raw handler: `(subject, reply, data, headers)`, called on the client's reader task."""

_TABLE_ATTR: Final = "_setpoint_feeds"
log = logging.getLogger(__name__)


def dispatch_table(nc: NATS) -> dict[int, Handler]:
    """The client's table of raw handlers by subscription id (installed on first use)."""
    table: dict[int, Handler] | None = vars(nc).get(_TABLE_ATTR)
    if table is not None:
        return table
    routes: dict[int, Handler] = {}
    original = nc._process_msg

    async def process(sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any) -> None:
        handler = routes.get(sid)
        if handler is None:
            await original(sid, subject, reply, data, headers)
        else:
            handler(subject, reply, data, headers)

    vars(nc)["_process_msg"] = process
    vars(nc)[_TABLE_ATTR] = routes
    return routes


async def subscribe_raw(nc: NATS, subject: str, handler: Handler, queue: str = "") -> Subscription:
    """Subscribe to `subject` (in `queue`, when given) with its messages handed to `handler`
    raw (`dispatch_table`)."""
    sub = await nc.subscribe(subject, queue=queue)
    dispatch_table(nc)[sub._id] = handler
    return sub


async def unsubscribe_raw(nc: NATS, sub: Subscription) -> None:
    """Undo `subscribe_raw`: its handler gets no more messages, and the server is told unless
    the connection is closed already (an error telling it is ignored: we are leaving)."""
    dispatch_table(nc).pop(sub._id, None)
    if not nc.is_closed:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


class Replies:
    """Requests whose replies come back on one wildcard inbox of ours.

    `request` publishes with a reply subject under that inbox and returns the answer's
    `(data, headers)`; raises NoResponders, or TimeoutError after `within_s` seconds."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._futures: dict[bytes, asyncio.Future[tuple[bytes, bytes | None]]] = {}
        self._count = 0
        self._sub: Subscription | None = None

    async def start(self) -> Replies:
        self._sub = await subscribe_raw(self._nc, self._prefix + ".*", self._on_reply)
        return self

    def _on_reply(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        future = self._futures.pop(subject.rpartition(b".")[2], None)
        if future is not None and not future.done():
            future.set_result((data, headers))

    async def request(
        self,
        subject: str,
        payload: bytes,
        headers: dict[str, str] | None,
        within_s: float,  # float-ok
    ) -> tuple[bytes, bytes | None]:
        self._count += 1
        token = str(self._count)
        key = token.encode()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[bytes, bytes | None]] = loop.create_future()
        self._futures[key] = future
        expiry = loop.call_later(within_s, _expire, future)  # one timer, no timeout scope
        try:
            await self._nc.publish(
                subject, payload, reply=f"{self._prefix}.{token}", headers=headers
            )
            data, answer_headers = await future
        finally:
            expiry.cancel()
            self._futures.pop(key, None)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved, also when the publish itself raised
        if answer_headers is not None and answer_headers[9:12] == b"503" and not data:
            raise NoResponders(subject)
        return data, answer_headers

    async def close(self) -> None:
        if self._sub is None:
            return
        sub, self._sub = self._sub, None
        await unsubscribe_raw(self._nc, sub)


def _expire(future: asyncio.Future[tuple[bytes, bytes | None]]) -> None:
    """A request's time is up: its caller gets TimeoutError (unless answered meanwhile)."""
    if not future.done():
        future.set_exception(TimeoutError())


class Request:
    """One request taken raw from the parser (`Served`): its subject, body and headers,
    and `respond` for the answer (nothing is sent when it came without a reply subject)."""

    __slots__ = ("_nc", "data", "headers", "reply", "subject")

    def __init__(
        self, nc: NATS, subject: str, reply: str, data: bytes, headers: dict[str, str] | None
    ) -> None:
        self._nc, self.subject, self.reply, self.data, self.headers = (
            nc, subject, reply, data, headers,
        )  # fmt: skip

    async def respond(self, payload: bytes) -> None:
        if self.reply:
            await self._nc.publish(self.reply, payload)


class Served:
    """Requests on `subject` (in `queue`, when given) handled by `handle(request)`, started
    from the parser (no `Msg`, no subscription queue): each in its own task, or with
    `ordered` one at a time in arrival order (as a nats-py callback runs them), by one task
    that lives while requests wait. `start()` subscribes; `stop()` unsubscribes
    (idempotent). A handler's exception is logged (the next request is still handled)."""

    def __init__(
        self,
        nc: NATS,
        subject: str,
        handle: Callable[[Request], Coroutine[Any, Any, None]],
        queue: str = "",
        *,
        ordered: bool = False,
    ) -> None:
        self._nc, self._subject, self._handle, self._queue = nc, subject, handle, queue
        self._ordered = ordered
        self._waiting: deque[Request] = deque()
        self._draining = False
        self._sub: Subscription | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        """The handlers running now."""

    async def start(self) -> Served:
        self._sub = await subscribe_raw(self._nc, self._subject, self._on_message, self._queue)
        return self

    def _on_message(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        request = Request(self._nc, subject.decode(), reply.decode(), data, header_map(headers))
        if self._ordered:
            self._waiting.append(request)
            if self._draining:
                return  # the running task takes it in its turn
            self._draining = True
            work = self._drain()
        else:
            work = self._one(request)
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _one(self, request: Request) -> None:
        try:
            await self._handle(request)
        except Exception:
            log.exception("handling a request on %s failed", request.subject)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await self._one(self._waiting[0])
                self._waiting.popleft()
        finally:
            self._draining = False

    async def stop(self) -> None:
        """Stop taking requests; the handlers running go on (`tasks`)."""
        if self._sub is None:
            return
        sub, self._sub = self._sub, None
        await unsubscribe_raw(self._nc, sub)


def header_map(raw: bytes | None) -> dict[str, str] | None:
    """The headers of a raw message (`NATS/1.0\\r\\nName: value\\r\\n...`) by name; None
    when it has none."""
    if not raw:
        return None
    out: dict[str, str] = {}
    for line in raw.decode(errors="replace").split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        if colon:
            out[name.strip()] = value.strip()
    return out or None
