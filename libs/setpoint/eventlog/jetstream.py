"""The EventLog on NATS JetStream (docs/events.md, "Where events live").

Layout: one stream (`SETPOINT`) over `setpoint.evt.>`, file storage, deletes and purges
denied, limits retention with no limit, a duplicate window. An event goes to
`setpoint.evt.<account>.<symbol-token>.<producer>.<EventType>` with `Nats-Msg-Id` =
event_id, `Nats-Expected-Stream` = the stream, and (unless `expected` is ANY)
`Nats-Expected-Last-Subject-Sequence` = expected with
`Nats-Expected-Last-Subject-Sequence-Subject` = the producer's filter for the key, so each
producer's appends for a key are checked against its own last sequence. In a batch the
first event expects `expected` and each next one the sequence of the one before it; a
batch is therefore not atomic, but a retry of a partly written batch completes it.
The event's `traceparent` is also sent as a `traceparent` header.

Idempotency: the server checks the expected sequence before its duplicate window, so every
retry of an append with an expected position fails with "wrong last sequence"; the adapter
then reads the producer's events for the key after `expected` and compares event ids:
all ours → success with their positions; a prefix of ours → the rest is appended; anything
else → ConcurrencyConflict. With `expected = ANY`, idempotency rests on the server's
duplicate window alone (`eventlog.duplicate_window_s`): a retry later than that writes
the events again.

Reads use raw pull consumers whose messages go straight from the protocol parser to the
reader (`jetstream_raw`; no fetch loop, no per-message `Msg`): `read_all` stops at the
stream's last sequence as of its start; `subscribe` never stops. Entries that do not parse
are quarantined (`Quarantined(stream sequence, subject, reason, raw)`) and skipped.
For long reads on two cores, `read_all_raw` gives the same entries unparsed, in batches,
for a parser in another process (`setpoint audit`, `setpoint.eventlog.offload`).

Replicas: the stream is created with `replicas` copies (`eventlog.replicas`; more than one
needs a JetStream cluster, which elects a leader per stream and acknowledges an append once
a majority of the copies hold it). An existing stream with another count is used as it is,
with a warning, unless `require_replicas` (the admin's step), which refuses it; the count
changes only by `migrate_replicas` (`setpoint log migrate`), in place, the log kept.

The stream is looked up at open and created only when it is missing (an admin's step:
`setpoint up` does it before any service starts); an identity that may not create it gets
LogMisconfigured saying so, and one that may only read needs nothing but stream info.
`account` makes a view of one trading account: its reads (`read_all`, `subscribe`,
`follow`) and `head` cover `<root>.<account>.>` only, through consumers whose filter is in
their creation subject, so a server can grant a strategy its own accounts and no more.

`subject_root` (default `setpoint.evt`) and `stream` exist so that tests and side-by-side
deployments can use a log of their own on one server; production keeps the defaults.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from typing import Any, Final

import orjson
from nats.aio.client import Client as NATS
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from setpoint.bus import subjects, telemetry
from setpoint.bus.connect import STREAM_NAME_IN_USE, check_server_version
from setpoint.bus.workqueue import backoff_delay
from setpoint.core.errors import WrongLastSequence as _WrongLastSequence
from setpoint.core.events import Event, EventParseError, parse_event
from setpoint.core.model import Key, Producer
from setpoint.eventlog.jetstream_raw import (
    Feed,
    FeedError,
    NoResponders,
    Raw,
    Replies,
    across_reconnects,
    header_value,
)
from setpoint.eventlog.memory import QuarantineMixin, check_batch
from setpoint.eventlog.port import (
    ANY,
    ConcurrencyConflict,
    EventLog,
    EventLogError,
    LogMisconfigured,
    LogUnavailable,
    Quarantined,
    Recorded,
)

log = logging.getLogger(__name__)

DEFAULT_ROOT: Final = "setpoint.evt"
WRONG_LAST_SEQUENCE: Final = 10071


def desired_config(
    name: str,
    root: str,
    duplicate_window_s: float,  # float-ok
    replicas: int = 1,
) -> api.StreamConfig:
    """The stream Setpoint needs (module docstring)."""
    return api.StreamConfig(
        name=name,
        num_replicas=replicas,
        subjects=[f"{root}.>"],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        deny_delete=True,
        deny_purge=True,
        duplicate_window=duplicate_window_s,
        allow_direct=True,
    )


def config_differences(found: api.StreamConfig, wanted: api.StreamConfig) -> list[str]:
    """What in an existing stream conflicts with the layout (empty when it fits)."""
    checks: list[tuple[str, Any, Any]] = [
        ("subjects", sorted(found.subjects or []), sorted(wanted.subjects or [])),
        ("storage", _text(found.storage), _text(wanted.storage)),
        ("retention", _text(found.retention), _text(wanted.retention)),
        ("deny_delete", bool(found.deny_delete), True),
        ("deny_purge", bool(found.deny_purge), True),
        ("max_age", found.max_age or 0, 0),
        ("max_msgs", found.max_msgs or -1, -1),
        ("max_bytes", found.max_bytes or -1, -1),
        ("max_msgs_per_subject", found.max_msgs_per_subject or -1, -1),
    ]
    return [f"{name} is {have!r}, needs {need!r}" for name, have, need in checks if have != need]


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


APPEND_RETRY_S: Final = 10.0
"""How long an append is sent again while the server does not answer (`_publish`)."""


_TYPE_LABELS: dict[str, dict[str, str]] = {}
"""The attributes of `setpoint_events_appended_total` per event type (made once each)."""


def _type_labels(event_type: str) -> dict[str, str]:
    labels = _TYPE_LABELS[event_type] = {"type": event_type}
    return labels


class JetStreamEventLog(QuarantineMixin, EventLog):
    """The port contract on one JetStream stream. Create with `await open(nc, ...)`."""

    def __init__(
        self,
        nc: NATS,
        *,
        stream: str = subjects.STREAM,
        duplicate_window_s: float = 120,  # float-ok
        subject_root: str = DEFAULT_ROOT,
        owns_connection: bool = False,
        timeout: float = 5.0,  # float-ok
        append_retry_s: float = APPEND_RETRY_S,  # float-ok
        account: str | None = None,
        replicas: int = 1,
        require_replicas: bool = False,
    ) -> None:
        super().__init__()
        self._replicas = replicas
        self._require_replicas = require_replicas
        self.stream_replicas = replicas
        """The replica count of the stream as found at open."""
        self._quarantined_positions = set()
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)
        self._stream = stream
        self._root = subject_root
        self._window = duplicate_window_s
        self._owns = owns_connection
        self._timeout = timeout
        self._append_retry_s = append_retry_s
        self._direct = True
        self._account = account
        self._scope = f"{subject_root}.{account}.>" if account else f"{subject_root}.>"
        self._replies: Replies | None = None
        self._replies_lock = asyncio.Lock()
        self._appended = telemetry.metrics().events_appended

    @classmethod
    async def open(cls, nc: NATS, **options: Any) -> JetStreamEventLog:
        """Check the server version, create or verify the stream, return the log.

        Raises LogMisconfigured when an existing stream conflicts with the layout (it is
        never changed) and NatsServerTooOld for a server before 2.11."""
        where = nc.connected_url.geturl() if nc.connected_url else "the connected server"
        check_server_version(str(nc.connected_server_version), where)
        self = cls(nc, **options)
        await self.ensure_stream()
        await self._mux()
        return self

    @property
    def stream(self) -> str:
        return self._stream

    @property
    def subject_root(self) -> str:
        return self._root

    @property
    def connection(self) -> NATS:
        return self._nc

    # ------------------------------------------------------------------ stream

    async def ensure_stream(self) -> None:
        """Create the stream, or check that the existing one fits; idempotent."""
        wanted = desired_config(self._stream, self._root, self._window, self._replicas)
        try:
            info = await self._js.stream_info(self._stream)
        except NotFoundError:
            info = await self._create(wanted)
        except (ServiceUnavailableError, NoRespondersError) as exc:
            raise LogMisconfigured(
                "JetStream is not enabled on the NATS server: start it with `-js` (or stop it "
                "and let Setpoint start its bundled server, nats.embedded = true)"
            ) from exc
        except (NatsTimeout, ConnectionClosedError) as exc:
            raise LogUnavailable(f"no answer for stream info of {self._stream}") from exc
        differences = config_differences(info.config, wanted)
        if differences:
            raise LogMisconfigured(
                f"stream {self._stream} exists with a layout Setpoint cannot use: "
                + "; ".join(differences)
                + ". It is left unchanged: fix it by hand or point eventlog.stream elsewhere."
            )
        if info.config.duplicate_window != self._window:
            log.warning(
                "stream %s keeps its duplicate window of %ss (configured: %ss)",
                self._stream,
                info.config.duplicate_window,
                self._window,
            )
        self._direct = bool(info.config.allow_direct)
        self._check_replicas(int(info.config.num_replicas or 1))

    def _check_replicas(self, found: int) -> None:
        self.stream_replicas = found
        if found == self._replicas:
            return
        text = (
            f"stream {self._stream} has {found} replica(s), eventlog.replicas is "
            f"{self._replicas}: it is left as it is; `setpoint log migrate` changes it"
        )
        if self._require_replicas:
            raise LogMisconfigured(text)
        log.warning("%s", text)

    async def migrate_replicas(self) -> tuple[int, int]:
        """Change the stream's replica count to the configured one, in place (JetStream
        copies the stream to the new servers or drops copies; nothing is recreated);
        (before, after). LogMisconfigured when the servers cannot hold that many."""
        info = await self._js.stream_info(self._stream)
        before = int(info.config.num_replicas or 1)
        if before == self._replicas:
            return before, before
        info.config.num_replicas = self._replicas
        try:
            updated = await self._js.update_stream(info.config)
        except APIError as exc:
            raise LogMisconfigured(
                f"cannot change stream {self._stream} to {self._replicas} replica(s): "
                f"{exc.description}"
            ) from exc
        self.stream_replicas = int(updated.config.num_replicas or 1)
        return before, self.stream_replicas

    async def _create(self, wanted: api.StreamConfig) -> api.StreamInfo:
        try:
            return await self._js.add_stream(wanted)
        except APIError as exc:
            if exc.err_code == STREAM_NAME_IN_USE:  # created meanwhile, with another config
                return await self._js.stream_info(self._stream)
            raise LogMisconfigured(
                f"cannot create stream {self._stream} over {self._root}.>: {exc.description}"
            ) from exc
        except NatsTimeout as exc:  # a denied request is not answered
            raise LogMisconfigured(
                f"stream {self._stream} does not exist and this client could not create it "
                "(no answer: its NATS identity may not create streams). An admin creates it: "
                "`setpoint up`, or any `setpoint` service run with the admin credential"
            ) from exc

    # ------------------------------------------------------------------ subjects

    def _rooted(self, subject: str) -> str:
        if self._root == DEFAULT_ROOT:
            return subject
        return self._root + subject[len(DEFAULT_ROOT) :]

    def _subject(self, event: Event) -> str:
        return self._rooted(subjects.event_subject(event.key, event.producer, event.type))

    # ------------------------------------------------------------------ append

    async def append(
        self, key: Key, producer: Producer, events: Sequence[Event], expected: int
    ) -> list[int]:
        """See the port. Each event appended counts in `setpoint_events_appended_total`
        by its type."""
        positions = await self._append(key, producer, events, expected)
        appended = self._appended
        for event in events:
            appended.add(1, _TYPE_LABELS.get(event.type) or _type_labels(event.type))
        return positions

    async def _append(
        self, key: Key, producer: Producer, events: Sequence[Event], expected: int
    ) -> list[int]:
        check_batch(key, producer, events)
        if not events:
            return []
        if expected == ANY and len(events) == 1:
            return [await self._publish(events[0], None)]
        if expected == ANY:  # no chain to keep: all in flight at once, acked in order
            return list(await asyncio.gather(*(self._publish(e, None) for e in events)))
        return await self._append_checked(key, producer, list(events), expected, expected)

    async def _append_checked(
        self, key: Key, producer: Producer, events: list[Event], expected: int, original: int
    ) -> list[int]:
        positions: list[int] = []
        last = expected
        for index, event in enumerate(events):
            try:
                last = await self._publish(event, last)
            except _WrongLastSequence as exc:
                rest = await self._resolve(key, producer, events[index:], last, original, exc)
                return positions + rest
            positions.append(last)
        return positions

    async def _resolve(
        self,
        key: Key,
        producer: Producer,
        events: list[Event],
        after: int,
        original: int,
        exc: _WrongLastSequence,
    ) -> list[int]:
        """After "wrong last sequence": our own earlier write (a retry) or a real conflict."""
        found = await self._producer_ids_after(key, producer, after, len(events))
        matched = 0
        while matched < len(found) and found[matched][1] == events[matched].event_id:
            matched += 1
        positions = [seq for seq, _ in found[:matched]]
        if matched == len(events):
            return positions
        if matched == 0 or matched < len(found):
            raise ConcurrencyConflict(key, producer, original, exc.actual)
        rest = events[matched:]
        return positions + await self._append_checked(key, producer, rest, positions[-1], original)

    async def _producer_ids_after(
        self, key: Key, producer: Producer, after: int, limit: int
    ) -> list[tuple[int, str]]:
        """(sequence, Nats-Msg-Id) of the producer's first `limit` entries for the key
        after position `after`."""
        flt = self._rooted(subjects.producer_filter(key, producer))
        stop = await self._last_seq(flt)
        out: list[tuple[int, str]] = []
        if stop <= after:
            return out
        async with aclosing(self._messages(flt, after + 1, stop)) as messages:
            async for raw in messages:
                out.append((raw.sequence, header_value(raw.headers, "Nats-Msg-Id") or ""))
                if len(out) >= limit:
                    break
        return out

    async def _mux(self) -> Replies:
        """The request mux of this log (started on first use)."""
        async with self._replies_lock:
            if self._replies is None:
                self._replies = await Replies(self._nc).start()
            return self._replies

    async def _request(
        self, subject: str, payload: bytes, headers: dict[str, str] | None, what: str
    ) -> tuple[bytes, bytes | None]:
        """One request through the mux; LogUnavailable when nobody or nothing answers."""
        mux = self._replies or await self._mux()
        try:
            return await mux.request(subject, payload, headers, self._timeout)
        except NoResponders as exc:
            raise LogUnavailable(f"nobody answers on {subject} (is {self._stream} there?)") from exc
        except (TimeoutError, ConnectionClosedError) as exc:
            raise LogUnavailable(f"no answer {what}") from exc

    def _headers(self, event: Event, expected: int | None) -> dict[str, str]:
        headers = {"Nats-Msg-Id": event.event_id, "Nats-Expected-Stream": self._stream}
        if expected is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expected)
            headers["Nats-Expected-Last-Subject-Sequence-Subject"] = self._rooted(
                subjects.producer_filter(event.key, event.producer)
            )
        if event.traceparent:
            headers["traceparent"] = event.traceparent
        return headers

    async def _publish(self, event: Event, expected: int | None) -> int:
        """Publish one event and return its stream sequence (the original one for a
        duplicate). Raises _WrongLastSequence, LogUnavailable or EventLogError.

        While the server does not answer (a restart, a reconnect) the same message is
        sent again, with the same `Nats-Msg-Id`, for up to `append_retry_s`: the server's
        deduplication makes a retry of a written event return its first position."""
        subject = self._subject(event)
        payload, headers = event.to_json(), self._headers(event, expected)
        what = f"for {event.event_id}: it may have been written"
        deadline = time.monotonic() + self._append_retry_s
        failures = 0
        while True:
            try:
                data, _ = await self._request(subject, payload, headers, what)
                break
            except LogUnavailable:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(backoff_delay(failures, 0.05, 1.0))
                failures += 1
        ack = orjson.loads(data)
        error = ack.get("error")
        if error is None:
            return int(ack["seq"])
        if error.get("err_code") == WRONG_LAST_SEQUENCE:
            raise _WrongLastSequence(_trailing_int(error.get("description", "")))
        raise EventLogError(f"append of {event.event_id} to {subject} refused: {error}")

    # ------------------------------------------------------------------ reads

    async def last_position(self, key: Key, producer: Producer) -> int:
        flt = self._rooted(subjects.producer_filter(key, producer))
        if not self._direct:
            return await self._last_seq(flt)
        request = orjson.dumps({"last_by_subj": flt})
        return await self._direct_last(f"$JS.API.DIRECT.GET.{self._stream}", request, flt)

    async def _direct_last(self, subject: str, request: bytes, what: str) -> int:
        """The stream sequence a direct get of the last message of `what` answers; 0 when
        there is none."""
        _, headers = await self._request(subject, request, None, f"reading the last of {what}")
        sequence = header_value(headers, "Nats-Sequence")
        if sequence is not None:
            return int(sequence)
        if headers is not None and headers[9:12] == b"404":
            return 0
        raise EventLogError(f"unexpected direct-get answer for {what}: {headers!r}")

    async def _last_seq(self, filter_subject: str) -> int:
        """Stream sequence of the last message matching the filter; 0 when there is none."""
        try:
            msg = await self._js.get_last_msg(self._stream, filter_subject, direct=False)
        except NotFoundError:
            return 0
        except APIError as exc:
            if exc.code == 404:
                return 0
            raise EventLogError(f"cannot read the last entry of {filter_subject}: {exc}") from exc
        except (NatsTimeout, ConnectionClosedError) as exc:
            raise LogUnavailable(f"no answer reading {filter_subject}") from exc
        return int(msg.seq or 0)

    async def head(self) -> int:
        """The log's last position (of the account's entries, for an account view); asked
        again of the new server when the client reconnects before the answer
        (`across_reconnects`)."""
        if self._account is not None:
            return await self._last_in_scope()
        try:
            info = await across_reconnects(self._nc, lambda: self._js.stream_info(self._stream))
        except (NatsTimeout, ConnectionClosedError) as exc:
            raise LogUnavailable(f"no answer for stream info of {self._stream}") from exc
        return int(info.state.last_seq)

    async def identity(self) -> str:
        """The stream's name, when it was created and its first sequence: a stream deleted
        and made again, or purged, is another log (`EventLog.identity`)."""
        try:
            info = await across_reconnects(self._nc, lambda: self._js.stream_info(self._stream))
        except (NatsTimeout, ConnectionClosedError) as exc:
            raise LogUnavailable(f"no answer for stream info of {self._stream}") from exc
        created = info.created.isoformat() if info.created is not None else "?"
        return f"{self._stream}@{created}#{info.state.first_seq}"

    async def _last_in_scope(self) -> int:
        """The last position under the account's subjects (a direct get by subject, which a
        server can grant per account); 0 when there is none."""
        subject = f"$JS.API.DIRECT.GET.{self._stream}.{self._scope}"
        return await self._direct_last(subject, b"", self._scope)

    async def read(self, key: Key) -> list[Recorded]:
        flt = self._rooted(subjects.key_filter(key))
        stop = await self._last_seq(flt)
        if stop == 0:
            return []
        return [rec async for rec in self._records(flt, 1, stop)]

    async def read_all(self, from_position: int = 1) -> AsyncIterator[Recorded]:
        stop = await self.head()
        start = max(from_position, 1)
        if stop < start:
            return
        async for rec in self._records(self._scope, start, stop):
            yield rec

    async def read_all_raw(self, from_position: int = 1) -> AsyncGenerator[list[Raw], None]:
        """What `read_all` reads, unparsed: the stored messages from the position through
        the head as of the start, in log order, in batches (never empty). For a reader
        that parses elsewhere (`setpoint.eventlog.offload`); it reports what it could not
        parse with `record_unreadable`."""
        stop = await self.head()
        start = max(from_position, 1)
        if stop < start:
            return
        async with aclosing(self._batches(self._scope, start, stop)) as batches:
            async for batch in batches:
                yield batch

    def record_unreadable(self, entry: Quarantined) -> None:
        """Add an entry that a reader of `read_all_raw` could not parse to `quarantine`
        (once per position, logged), as `read_all` does for its own."""
        self._quarantine(entry.position, entry.subject, entry.reason, entry.raw)

    async def subscribe(self, from_position: int = 1) -> AsyncIterator[Recorded]:
        async for rec in self._records(self._scope, max(from_position, 1), None):
            yield rec

    async def follow(self, from_position: int, held: Callable[[], int]) -> AsyncIterator[Recorded]:
        """`subscribe` that skips the entries at or below `held()` before parsing them
        (e.g. a service's own appends, which it folded already)."""
        async for rec in self._records(self._scope, max(from_position, 1), None, held):
            yield rec

    async def _records(
        self,
        filter_subject: str,
        start: int,
        stop: int | None,
        held: Callable[[], int] | None = None,
    ) -> AsyncIterator[Recorded]:
        """Parsed events of the filter from `start` (less those at or below `held()`);
        bad entries go to the quarantine."""
        parse = parse_event
        async with aclosing(self._batches(filter_subject, start, stop, held)) as batches:
            async for batch in batches:
                for raw in batch:
                    if held is not None and raw.sequence <= held():
                        continue
                    try:
                        event = parse(raw.data)
                    except EventParseError as exc:
                        self._quarantine(raw.sequence, raw.subject.decode(), exc.reason, raw.data)
                        continue
                    yield Recorded(raw.sequence, event)

    async def _messages(
        self,
        filter_subject: str,
        start: int,
        stop: int | None,
        held: Callable[[], int] | None = None,
    ) -> AsyncGenerator[Raw, None]:
        """Stored messages from `start` through `stop` (None: forever), each once, in order
        (less those at or below `held()`, dropped as they arrive)."""
        async with aclosing(self._batches(filter_subject, start, stop, held)) as batches:
            async for batch in batches:
                for raw in batch:
                    yield raw

    async def _batches(
        self,
        filter_subject: str,
        start: int,
        stop: int | None,
        held: Callable[[], int] | None = None,
    ) -> AsyncGenerator[list[Raw], None]:
        """`_messages` in the batches they arrive in."""
        feed = Feed(
            self._nc, self._stream, filter_subject, start, held=held, request_timeout=self._timeout
        )
        try:
            await feed.open()
            async for batch in feed.batches(stop):
                yield batch
        except (FeedError, APIError) as exc:
            raise EventLogError(f"reading {filter_subject} from {start}: {exc!r}") from exc
        except (NatsTimeout, ConnectionClosedError) as exc:
            raise LogUnavailable(f"no answer reading {filter_subject} from {start}") from exc
        finally:
            await feed.close()

    async def close(self) -> None:
        if self._replies is not None:
            replies, self._replies = self._replies, None
            await replies.close()
        if self._owns and not self._nc.is_closed:
            await self._nc.drain()


def _trailing_int(text: str) -> int:
    """`"wrong last sequence: 42"` → 42 (0 when the text ends without a number)."""
    digits = text.rsplit(":", 1)[-1].strip()
    return int(digits) if digits.isdigit() else 0
