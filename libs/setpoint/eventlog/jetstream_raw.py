"""Raw NATS I/O for the JetStream adapter: a pull feed and a request mux, both fed
straight from the protocol parser.

nats-py turns every incoming message into a `Msg` (headers parsed into a dict), queues it
for a subscription task, and only then calls back; for a replay that costs more than
validating the event, and for an append it adds a task hop and a `wait_for` to each
round trip. Here an inbox's subscription id is registered in a small dispatch table that
wraps the client's `_process_msg` (installed once per client; every other message goes
through unchanged), so our messages arrive as raw bytes: a `Feed` collects stored messages
in a list that its reader drains in batches, and `Replies` resolves request futures
(the table and `Replies` live in `setpoint.bus.replies`).

Contract of `Feed.batches(stop)`: yields lists (never empty; the messages as they arrived,
a few hundred at a time) of `Raw(sequence, subject, data, headers)`, every message of the
filter from `start` once, in stream order; with `stop` it ends after the message at `stop`
(or after one that had nothing pending behind it when it was delivered), without it it
never ends. A feed made with `held` drops, as
they arrive, the messages at or below `held()` (the reader has them already), so they
wake nobody.
Each consumer is named (`sp<random hex>`), so that its creation subject carries its filter
(`$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>`) and a server can allow a reader the
filters of its own accounts only (`setpoint.bus.permissions`).
A consumer lost on the server (deleted, server restarted, no message and no heartbeat
for `stall_s`) is recreated from the last sequence yielded + 1, so nothing is skipped or
repeated. Its creation is asked again of the new server as soon as the client reconnects
(`across_reconnects`): a server shutting down ends the pull requests (409) and then never
answers, so waiting out the request's timeout would hold the reader for seconds after the
server is back. In a cluster the consumer may live on another server than the client's,
and a pull request can find no responder there for a moment (status 503: the other
server's interest has not reached ours yet, or it is restarting): the consumer is then made
again after a short backoff, up to `UNREACHABLE_TRIES` times in a row before the read
fails. `close()` is idempotent.

This leans on one private detail of nats-py 2.x (`Client._process_msg(sid, subject,
reply, data, headers)`, called by its protocol parser); `pyproject.toml` pins nats-py < 3.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Final, NamedTuple, TypeVar

import orjson
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.errors import ConnectionClosedError
from nats.js import api

from setpoint.bus.replies import NoResponders as NoResponders
from setpoint.bus.replies import Replies as Replies
from setpoint.bus.replies import dispatch_table
from setpoint.bus.workqueue import backoff_delay
from setpoint.core.errors import FeedError as FeedError

BATCH: Final = 1024
EXPIRES_S: Final = 30.0
HEARTBEAT_S: Final = 5.0
RECONNECT_CHECK_S: Final = 0.5
ANSWER_CHECK_S: Final = 0.05
UNREACHABLE_TRIES: Final = 20
"""Pull requests in a row answered 503 (no responder) before a read fails (about 15 s)."""

T = TypeVar("T")


class Raw(NamedTuple):
    sequence: int
    pending: int
    subject: bytes
    data: bytes
    headers: bytes | None


def ack_position(reply: bytes) -> tuple[int, int]:
    """(stream sequence, pending) from a `$JS.ACK...` reply subject (v1 or v2 form)."""
    tokens = reply.split(b".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[8])
    return int(tokens[7]), int(tokens[10])


def header_value(headers: bytes | None, name: str) -> str | None:
    """One header's value from a raw NATS header block (None when absent)."""
    if not headers:
        return None
    wanted = name.lower().encode()
    for line in headers.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == wanted:
            return value.strip().decode()
    return None


def reconnects(nc: NATS) -> int:
    """How many times the client has reconnected so far."""
    return int(nc.stats.get("reconnects", 0))


async def across_reconnects(nc: NATS, ask: Callable[[], Awaitable[T]]) -> T:
    """The answer of `ask()` (one request to the server), asked again at once each time
    the client reconnects before it is answered: the server it went to (shutting down, or
    gone with the old connection) will not answer it, and its own timeout would hold the
    caller for nothing. Otherwise the answer or error of `ask()` as it comes (its timeout
    too). An abandoned request may still be carried out (buffered while reconnecting): it
    must be harmless twice, like the creation of an ephemeral consumer that expires."""
    while True:
        before = reconnects(nc)
        task = asyncio.ensure_future(ask())
        try:
            while reconnects(nc) == before:
                done, _ = await asyncio.wait({task}, timeout=ANSWER_CHECK_S)
                if done:
                    return task.result()
        finally:
            if not task.done():
                task.cancel()
                task.add_done_callback(lambda t: t.cancelled() or t.exception())


class Feed:
    """One ephemeral pull consumer over `filter_subject` from `start` (module docstring)."""

    def __init__(
        self,
        nc: NATS,
        stream: str,
        filter_subject: str,
        start: int,
        *,
        stall_s: float = 15.0,  # float-ok
        held: Callable[[], int] | None = None,
        request_timeout: float = 5.0,  # float-ok: consumer creation, as the log's requests
    ) -> None:
        self._nc, self._stream, self._filter = nc, stream, filter_subject
        self._request_timeout = request_timeout
        self._held = held
        self._last = start - 1
        self._stall_s = stall_s
        self._buffer: list[Raw] = []
        self._waiter: asyncio.Future[bool] | None = None
        """While the reader waits (`_wait`): resolved True by what arrives, False when the
        check interval is up."""
        self._requested = self._received = 0
        self._lost = False
        self._error: str | None = None
        self._unreachable = 0
        self._sub: Subscription | None = None
        self._consumer: str | None = None
        self._reconnects_at_create = 0

    async def open(self) -> Feed:
        inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(inbox)
        dispatch_table(self._nc)[self._sub._id] = self._on_message
        self._inbox = inbox
        await self._create_consumer()
        return self

    async def _create_consumer(self) -> None:
        config = api.ConsumerConfig(
            name=f"sp{secrets.token_hex(8)}",
            ack_policy=api.AckPolicy.NONE,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self._last + 1,
            filter_subject=self._filter,
            inactive_threshold=max(self._stall_s * 2, 30.0),
            mem_storage=True,
            num_replicas=1,
        )
        info = await across_reconnects(self._nc, lambda: self._add_consumer(config))
        self._consumer = info.name
        self._requested = self._received = 0
        self._lost = False

    async def _add_consumer(self, config: api.ConsumerConfig) -> api.ConsumerInfo:
        self._reconnects_at_create = self._reconnects()
        return await self._nc.jsm(timeout=self._request_timeout).add_consumer(self._stream, config)

    def _on_message(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        """Called by the parser for every message on our inbox; never blocks."""
        if headers is not None and headers[8:9] == b" ":  # "NATS/1.0 <status>"
            self._on_status(headers[9:12])
        else:
            sequence, pending = ack_position(reply)
            self._received += 1
            self._unreachable = 0
            if self._held is not None and sequence <= self._held():
                # the reader holds it already: no buffering, and no wake-up unless the
                # reader must ask for more (these count against the pull requests)
                if self._requested - self._received < BATCH:
                    self._wake()
                return
            self._buffer.append(Raw(sequence, pending, subject, data, headers))
            if pending == 0 or len(self._buffer) == 1:
                self._wake()
            return
        self._wake()

    def _wake(self) -> None:
        """Wake the reader if it waits (a wake-up while it does not is not kept: it waits
        only with an empty buffer, and looks at what it must do first)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _on_status(self, code: bytes) -> None:
        if code == b"100":  # idle heartbeat: the consumer is alive
            return
        if code in (b"404", b"408"):  # pull request ended: assume nothing is outstanding
            self._requested = self._received
        elif code == b"409":  # consumer deleted, leadership change, limits: start again
            self._lost = True
        elif code == b"503" and self._unreachable < UNREACHABLE_TRIES:  # module docstring
            self._unreachable += 1
            self._lost = True
        else:
            self._error = f"pull request refused with status {code.decode(errors='replace')}"

    async def _pull(self) -> None:
        """Keep about two batches requested ahead of what has arrived."""
        if self._requested - self._received >= BATCH:
            return
        request = {
            "batch": BATCH,
            "expires": int(EXPIRES_S * 1e9),
            "idle_heartbeat": int(HEARTBEAT_S * 1e9),
        }
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self._stream}.{self._consumer}"
        await self._nc.publish(subject, orjson.dumps(request), reply=self._inbox)
        self._requested += BATCH

    async def _wait(self) -> None:
        """Wait for something to arrive; mark the consumer lost after `stall_s` of silence
        (messages dropped as held are not silence: they arrive without waking us), or as
        soon as the client has reconnected since the consumer was made (a restarted server
        may have lost it, and its pull requests are gone with the old connection)."""
        silent_since = time.monotonic()
        loop = asyncio.get_running_loop()
        while True:
            received = self._received
            waiter = self._waiter = loop.create_future()
            check = loop.call_later(min(self._stall_s, RECONNECT_CHECK_S), _time_up, waiter)
            try:
                if await waiter:
                    return
            finally:
                check.cancel()
                self._waiter = None
            if self._reconnects() != self._reconnects_at_create:
                self._lost = True
                return
            if self._received != received:
                silent_since = time.monotonic()
            elif time.monotonic() - silent_since >= self._stall_s:
                self._lost = True
                return

    def _reconnects(self) -> int:
        return reconnects(self._nc)

    async def _restart(self) -> None:
        self._delete_consumer()
        self._buffer.clear()
        await self._create_consumer()

    async def batches(self, stop: int | None) -> AsyncGenerator[list[Raw], None]:
        """See the module docstring: one step of the reader per few hundred messages
        instead of one per message."""
        while True:
            if self._error is not None:
                raise FeedError(self._error)
            if self._nc.is_closed:
                raise ConnectionClosedError
            if self._lost:
                if self._unreachable:
                    await asyncio.sleep(backoff_delay(self._unreachable - 1, 0.05, 1.0))
                await self._restart()
            await self._pull()
            if not self._buffer:
                await self._wait()
                continue
            batch, self._buffer = self._buffer, []
            fresh, done = self._fresh(batch, stop)
            if fresh:
                yield fresh
            if done:
                return

    def _fresh(self, batch: list[Raw], stop: int | None) -> tuple[list[Raw], bool]:
        """The messages of `batch` after the last one yielded (in increasing order), through
        `stop`; and whether the read is done. Per-message work stays in C where it can."""
        sequences = [raw.sequence for raw in batch]
        first = sequences[0]
        if first > self._last and sequences == list(range(first, first + len(batch))):
            fresh = batch  # the usual case: contiguous and new
        else:  # gaps (a filter), or repeats from a consumer that was replaced
            fresh, sequences, last = [], [], self._last
            for raw in batch:
                if raw.sequence > last:
                    last = raw.sequence
                    fresh.append(raw)
                    sequences.append(last)
            if not fresh:
                return fresh, False
        if stop is None:
            self._last = sequences[-1]
            return fresh, False
        cut = bisect.bisect_left(sequences, stop) + 1
        pending = [raw.pending for raw in fresh]
        if 0 in pending:
            cut = min(cut, pending.index(0) + 1)
        if cut <= len(fresh):
            self._last = sequences[cut - 1]
            return fresh[:cut], True
        self._last = sequences[-1]
        return fresh, False

    def _delete_consumer(self) -> None:
        if self._consumer is None or self._nc.is_closed:
            return
        subject = f"$JS.API.CONSUMER.DELETE.{self._stream}.{self._consumer}"
        self._consumer = None
        task = asyncio.ensure_future(self._nc.publish(subject, b""))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def close(self) -> None:
        if self._sub is None:
            return
        sub, self._sub = self._sub, None
        dispatch_table(self._nc).pop(sub._id, None)
        self._delete_consumer()
        if not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def _time_up(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
