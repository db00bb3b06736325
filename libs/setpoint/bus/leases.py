"""Leases in JetStream's key-value store: which instance works on what.

One bucket, `SETPOINT_LEASES`, whose entries live `ttl_s` after their last write (the
bucket's max age). A group of instances (`differ`, `executor`, `gateway`) shares a set of
lease names (the differ's and executor's partitions `p000`..., a gateway's account):

* `<group>.m.<instance>` - the instance is alive (written every round);
* `<group>.l.<name>` - the lease `name`, its value the holder's instance id.

The bucket is made by the admin's step (`setpoint up`, with `leases.enabled`:
`bucket_config`, `eventlog.replicas` copies as the log's stream, max age `ttl_s`); a
service looks it up and creates it only when it is missing and its identity may
(`open_bucket`). Each service's identity may write the keys of its own group only
(`setpoint.bus.permissions.lease_subjects`).

Contract of `Leases` (one per instance and group):

* A round (`round()`, every `ttl_s / 3` in `run()`): say "alive"; renew every lease held
  with an update checked against its last revision (a lease that was taken meanwhile is
  lost, never overwritten; one that lapsed in the store with nobody taking it, because
  this process stalled, is taken again with a create, as a new tenure); read the group's
  leases and members; apply the policy (`core.partitions`: the fair share for
  partitions, first come for a gateway): release
  what it gives back (after `on_lost`, with a delete checked against the revision), claim
  what it takes with a create (one instance wins; the others see it held next round).
* `holds(name)` is True only while the lease is held *and* its local deadline has not
  passed: the moment the last successful write was sent, plus `ttl_s`, minus half a
  renewal interval (renewals are sent together, every `ttl_s / 3`, so a holder whose
  rounds keep up never sees its deadline pass). The store drops the entry `ttl_s` after
  it stored that write, so an instance stops working on a lease before anyone else can
  take it, even if its rounds stall
  (a pause, a lost connection). Work that an instance began before it stopped (and any
  instance that stalls beyond its check) is fenced by the log: every append is checked
  against the last sequence of its (key, producer), so a decision made on what the log
  was before the new holder acted is refused (`ConcurrencyConflict`).
* `token(name)` names the tenure, `<instance>#<revision of the claim>`; decisions carry it
  (`worker`), so the audit can tell two tenures apart.
* `on_gained(name)` is awaited after a claim (the service catches up with the log and
  takes up the keys); `on_lost(name)` is awaited when a lease is given back, found taken
  or lapsed locally.
* `stop()` gives back every lease held and the member entry, so that a clean shutdown
  hands over at once instead of after `ttl_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import KeyValueConfig
from nats.js.errors import APIError, BucketNotFoundError, KeyWrongLastSequenceError
from nats.js.errors import Error as JetStreamError
from nats.js.kv import KeyValue

from setpoint.bus.connect import STREAM_NAME_IN_USE
from setpoint.bus.permissions import LEASE_BUCKET
from setpoint.bus.supervise import Supervisor
from setpoint.config import Settings
from setpoint.core.errors import LeasesMisconfigured
from setpoint.core.model import Key
from setpoint.core.partitions import (
    Policy,
    fair_share,
    first_come,
    partition_name,
    partition_of,
    subject_partition,
)

__all__ = [
    "BUCKET",
    "AccountLeases",
    "KeyLeases",
    "Leases",
    "bucket_config",
    "instance_id",
    "open_bucket",
]

log = logging.getLogger(__name__)
BUCKET = LEASE_BUCKET
_TRANSIENT = (NatsError, JetStreamError, TimeoutError, OSError)


def instance_id(service: str) -> str:
    """A name for this process, unique across machines and restarts:
    `<service>-<host>-<pid>-<4 hex>` (characters a key-value key allows)."""
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:32]
    return f"{service}-{host}-{os.getpid()}-{secrets.token_hex(2)}"


def bucket_config(ttl_s: float, replicas: int, bucket: str = BUCKET) -> KeyValueConfig:  # float-ok
    """The bucket as Setpoint makes it: entries live `ttl_s` after their last write, one
    revision kept, `replicas` copies (`eventlog.replicas`, as the log's stream), reads by
    direct get."""
    return KeyValueConfig(bucket=bucket, ttl=ttl_s, history=1, replicas=replicas, direct=True)


async def open_bucket(
    nc: NATS,
    ttl_s: float,  # float-ok
    replicas: int,
    bucket: str = BUCKET,
) -> KeyValue:
    """The lease bucket: looked up, and created (`bucket_config`) only when it is missing.
    Creating it is an admin's step (`setpoint up` does it before any service starts); a
    client whose identity may not create it gets LeasesMisconfigured saying so. An
    existing bucket is used as it is."""
    js = nc.jetstream()
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        pass
    except NatsTimeout as exc:  # a denied request is not answered
        raise LeasesMisconfigured(
            f"no answer for the key-value bucket {bucket} (its NATS identity may not read "
            'it: see the grants in docs/operations.md, "Security")'
        ) from exc
    try:
        return await js.create_key_value(bucket_config(ttl_s, replicas, bucket))
    except APIError as exc:
        if exc.err_code == STREAM_NAME_IN_USE:  # created meanwhile
            return await js.key_value(bucket)
        raise LeasesMisconfigured(
            f"cannot create the key-value bucket {bucket}: {exc.description}"
        ) from exc
    except NatsTimeout as exc:
        raise LeasesMisconfigured(
            f"the key-value bucket {bucket} (leases) does not exist and this client could "
            "not create it (no answer: its NATS identity may not create streams). An admin "
            "creates it: `setpoint up` with leases.enabled, or any `setpoint` service run "
            "with the admin credential"
        ) from exc


@dataclass(frozen=True, slots=True)
class _Held:
    revision: int
    token: str
    deadline: float  # float-ok: monotonic seconds


Hook = Callable[[str], Awaitable[None]]


class Leases:
    """See the module docstring."""

    def __init__(
        self,
        nc: NATS,
        *,
        group: str,
        names: Collection[str],
        instance: str,
        policy: Policy,
        ttl_s: float,  # float-ok
        on_gained: Hook,
        on_lost: Hook,
        bucket: str = BUCKET,
        replicas: int = 1,
    ) -> None:
        self.nc, self.bucket, self.group = nc, bucket, group
        self.replicas = replicas
        self.names, self.instance = tuple(names), instance
        self.policy, self.ttl_s = policy, ttl_s
        self.renew_s = ttl_s / 3
        self._on_gained, self._on_lost = on_gained, on_lost
        self._held: dict[str, _Held] = {}
        self._kv: KeyValue | None = None
        self._stopped = False

    # ------------------------------------------------------------------ queries

    def holds(self, name: str) -> bool:
        held = self._held.get(name)
        return held is not None and time.monotonic() < held.deadline

    def token(self, name: str) -> str | None:
        held = self._held.get(name)
        return None if held is None else held.token

    def held(self) -> frozenset[str]:
        return frozenset(name for name in self._held if self.holds(name))

    # ------------------------------------------------------------------ rounds

    async def start(self) -> None:
        """Open the bucket (create it when missing and allowed: `open_bucket`) and run a
        first round."""
        self._kv = await open_bucket(self.nc, self.ttl_s, self.replicas, self.bucket)
        await self.round()

    async def run(self) -> None:
        """A round every `renew_s` (counted from the start of the last one) until
        cancelled (a supervised task)."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due = max(due + self.renew_s, loop.time())
            await asyncio.sleep(due - loop.time())
            await self.round()

    async def round(self) -> None:
        """One round (module docstring); a store that does not answer is logged and the
        leases held lapse locally at their deadlines. Nothing after `stop()`."""
        if self._stopped:
            return
        try:
            async with asyncio.timeout(self.renew_s * 2):
                await self._round()
        except _TRANSIENT as exc:
            log.warning("%s leases: round failed (%s: %s)", self.group, type(exc).__name__, exc)
        for name in [n for n in self._held if not self.holds(n)]:
            log.warning("%s lease %s lapsed (not renewed in time)", self.group, name)
            await self._lose(name)

    async def _round(self) -> None:
        kv = self._kv
        assert kv is not None, "start() first"
        await kv.put(f"{self.group}.m.{self.instance}", b"")
        await asyncio.gather(*(self._renew(kv, name) for name in list(self._held)))
        holders, members = await self._snapshot(kv)
        moves = self.policy(self.names, holders, members, self.instance)
        for name in moves.release:
            await self._release(kv, name)
        for name in moves.claim:
            await self._claim(kv, name)

    async def _renew(self, kv: KeyValue, name: str) -> None:
        """Renew a lease held; one that lapsed in the store (this process stalled past
        `ttl_s`) and that nobody took meanwhile is taken again as a new tenure."""
        held = self._held[name]
        sent = time.monotonic()
        try:
            revision = await kv.update(self._key(name), self.instance.encode(), held.revision)
        except KeyWrongLastSequenceError:
            try:
                revision = await kv.create(self._key(name), self.instance.encode())
            except KeyWrongLastSequenceError:
                log.warning("%s lease %s was taken by another instance", self.group, name)
                await self._lose(name)
                return
            token = f"{self.instance}#{revision}"
            log.warning("%s lease %s lapsed unclaimed; taken again (%s)", self.group, name, token)
            self._held[name] = _Held(revision, token, self._deadline(sent))
            await self._on_gained(name)
            return
        self._held[name] = _Held(revision, held.token, self._deadline(sent))

    async def _snapshot(self, kv: KeyValue) -> tuple[dict[str, str], set[str]]:
        """(holder of each lease held, live members) as the store has them now."""
        holders: dict[str, str] = {}
        members: set[str] = set()
        watcher = await kv.watch(f"{self.group}.>", ignore_deletes=True)
        try:
            async for entry in watcher:
                if entry is None:
                    break
                _, kind, name = entry.key.split(".", 2)
                if kind == "m":
                    members.add(name)
                elif kind == "l" and entry.value:
                    holders[name] = entry.value.decode()
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return holders, members

    async def _claim(self, kv: KeyValue, name: str) -> None:
        sent = time.monotonic()
        try:
            revision = await kv.create(self._key(name), self.instance.encode())
        except KeyWrongLastSequenceError:
            return  # another instance was quicker
        token = f"{self.instance}#{revision}"
        self._held[name] = _Held(revision, token, self._deadline(sent))
        log.info("%s lease %s taken (%s)", self.group, name, token)
        await self._on_gained(name)

    async def _release(self, kv: KeyValue, name: str) -> None:
        held = self._held.get(name)
        if held is None:
            return
        await self._lose(name)
        with contextlib.suppress(KeyWrongLastSequenceError):
            await kv.delete(self._key(name), last=held.revision)
        log.info("%s lease %s given back", self.group, name)

    async def _lose(self, name: str) -> None:
        if self._held.pop(name, None) is not None:
            await self._on_lost(name)

    async def stop(self) -> None:
        """Give back every lease and the member entry (module docstring)."""
        self._stopped = True
        kv = self._kv
        if kv is None:
            return
        for name in list(self._held):
            with contextlib.suppress(*_TRANSIENT, KeyWrongLastSequenceError):
                await self._release(kv, name)
        with contextlib.suppress(*_TRANSIENT):
            await kv.delete(f"{self.group}.m.{self.instance}")

    def _key(self, name: str) -> str:
        return f"{self.group}.l.{name}"

    def _deadline(self, sent: float) -> float:  # float-ok
        return sent + self.ttl_s - self.renew_s / 2


class KeyLeases:
    """The keys one instance of a partitioned service works on (differ, executor).

    Off (`leases.enabled` false, or no NATS): every key, and decisions name no worker.
    On: the keys of the partitions it holds (`Leases` under the fair-share policy, group
    = the service's name); `worker(key)` is the tenure token of the key's partition.
    `on_gained(partition)` is awaited when a partition is taken (catch up, take up its
    keys)."""

    def __init__(
        self,
        nc: NATS | None,
        settings: Settings,
        service: str,
        on_gained: Callable[[int], Coroutine[Any, Any, None]],
    ) -> None:
        self.count = settings.leases.partitions
        self.leases: Leases | None = None
        self._taking: set[asyncio.Task[None]] = set()
        if nc is not None and settings.leases.enabled:
            names = [partition_name(p) for p in range(self.count)]

            async def gained(name: str) -> None:  # in a task: a round never waits for it
                task = asyncio.create_task(on_gained(int(name[1:])), name=f"took {name}")
                self._taking.add(task)
                task.add_done_callback(self._took)

            async def lost(name: str) -> None:
                log.info("%s: partition %s no longer held", service, name)

            self.leases = Leases(
                nc, group=service, names=names, instance=instance_id(service),
                policy=fair_share, ttl_s=settings.leases.ttl_s, on_gained=gained, on_lost=lost,
                replicas=settings.eventlog.replicas,
            )  # fmt: skip

    @property
    def partitioned(self) -> bool:
        return self.leases is not None

    def owns(self, key: Key) -> bool:
        return self.leases is None or self.leases.holds(partition_name(self.partition(key)))

    def owns_subject(self, account: str, token: str) -> bool:
        """`owns` for the key a target subject names (before its body is read)."""
        if self.leases is None:
            return True
        return self.leases.holds(partition_name(subject_partition(account, token, self.count)))

    def partition(self, key: Key) -> int:
        return partition_of(key, self.count)

    def worker(self, key: Key) -> str | None:
        """The tenure token to stamp on a decision of `key` (None when off)."""
        if self.leases is None:
            return None
        return self.leases.token(partition_name(self.partition(key)))

    async def start(self, supervisor: Supervisor) -> None:
        """First round, then rounds in a supervised task (nothing when off)."""
        if self.leases is not None:
            await self.leases.start()
            supervisor.spawn("leases", self.leases.run)

    def _took(self, task: asyncio.Task[None]) -> None:
        self._taking.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("taking up a partition failed", exc_info=task.exception())

    async def stop(self) -> None:
        for task in list(self._taking):
            task.cancel()
        if self.leases is not None:
            await self.leases.stop()


class AccountLeases:
    """Active and standby gateways: the account leases of one gateway process.

    Off (`leases.enabled` false): `acquire` returns at once (one gateway per account, as
    always). On: `acquire` claims every account of the process (first come: a lease
    held by a live gateway is never taken from it) and returns once it holds them all;
    meanwhile the process stands by, subscribed to nothing of the accounts, so commands
    reach only the holder. A lease lost afterwards (found taken or lapsed: this process
    stalled) calls `lost(account)`, which stops the process; started again, it stands by.
    """

    def __init__(
        self,
        nc: NATS,
        settings: Settings,
        accounts: Collection[str],
        lost: Callable[[str], None],
    ) -> None:
        self.accounts = tuple(accounts)
        self.leases: Leases | None = None
        if settings.leases.enabled:

            async def gained(name: str) -> None:
                log.info("gateway: active for account %s", name)

            async def on_lost(name: str) -> None:
                lost(name)

            self.leases = Leases(
                nc, group="gateway", names=self.accounts, instance=instance_id("gateway"),
                policy=first_come, ttl_s=settings.leases.ttl_s, on_gained=gained,
                on_lost=on_lost, replicas=settings.eventlog.replicas,
            )  # fmt: skip

    async def acquire(self, supervisor: Supervisor) -> None:
        """Return once every account's lease is held (module docstring)."""
        if self.leases is None:
            return
        await self.leases.start()
        if self.leases.held() != frozenset(self.accounts):
            log.info(
                "gateway standby (%s): another gateway is active; taking over when it stops",
                ", ".join(self.accounts),
            )
        while self.leases.held() != frozenset(self.accounts):
            await asyncio.sleep(self.leases.renew_s)
            await self.leases.round()
        supervisor.spawn("leases", self.leases.run)

    async def stop(self) -> None:
        if self.leases is not None:
            await self.leases.stop()
