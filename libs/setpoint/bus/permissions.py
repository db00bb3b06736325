"""Who may publish and subscribe to what on NATS: the one policy, and the nats-server
configuration rendered from it (docs/operations.md, "Security").

Pure: values in, values (and the configuration text) out; no I/O.

Each identity is a server-config user with an nkey (its public key here; the seed stays in
the identity's own credential file). An identity has a `Kind` and, for a strategy, the
trading accounts it is granted. `grants(identity, layout)` names its subjects exactly:

* every identity subscribes to its own inbox only, `_INBOX.<public key>.>` (clients set
  their inbox prefix to `inbox_prefix(public key)`), so nobody reads another's replies;
* reading the log is `read_log_subjects`: stream info, consumer create/next/delete and
  the message gets; a strategy's consumer creation is allowed only with a filter under
  its own accounts (`$JS.API.CONSUMER.CREATE.<stream>.*.<root>.<account>.>`);
* appending is publishing to `<root>.*.*.<producer>.*`, for the producers of the
  identity's service only;
* the partition leases (`lease_subjects`, differ, executor and gateway only): reading
  the key-value bucket `SETPOINT_LEASES` whole (stream info, message gets, the watch's
  consumer and its flow-control replies) and writing the keys of the identity's own
  group, `$KV.SETPOINT_LEASES.<group>.>`; the bucket itself is made by the admin;
* the projection snapshots (`snapshot_subjects`, differ, executor and gateway only): the
  object store bucket `SETPOINT_SNAPSHOTS` (stream `OBJ_SETPOINT_SNAPSHOTS`): reading and
  writing objects, and purging that stream's old chunks (what replacing an object does);
  the bucket itself is made by the admin;
* the admin has no restriction at all; nobody else may create, update, delete or purge a
  stream (`$JS.API.STREAM.CREATE|UPDATE|DELETE|PURGE...` are granted to nobody else).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from setpoint.bus import subjects

INBOX: Final = "_INBOX"
JS_API: Final = "$JS.API"
DEFAULT_ROOT: Final = "setpoint.evt"
LEASE_BUCKET: Final = "SETPOINT_LEASES"
SNAPSHOT_BUCKET: Final = "SETPOINT_SNAPSHOTS"


class Kind(StrEnum):
    """The kinds of identity: one per service, plus people and their tools."""

    ADMIN = "admin"
    DIFFER = "differ"
    EXECUTOR = "executor"
    GATEWAY = "gateway"
    STRATEGY = "strategy"
    AUDITOR = "auditor"
    CONSOLE = "console"


SERVICE_KINDS: Final = (Kind.GATEWAY, Kind.EXECUTOR, Kind.DIFFER, Kind.STRATEGY)


@dataclass(frozen=True)
class Identity:
    """One NATS user: a name for people, its kind, its nkey's public key, and (strategies)
    the trading accounts it may target."""

    name: str
    kind: Kind
    public_key: str
    accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    """Where the log lives: the stream's name and the root of its subjects."""

    stream: str = subjects.STREAM
    root: str = DEFAULT_ROOT


@dataclass(frozen=True)
class Grants:
    """The subjects an identity may publish and subscribe to; `responses`: it may answer
    the requests it receives (publish to their reply subject, once)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    responses: bool = False


@dataclass(frozen=True)
class ServerTls:
    """The server's certificate and key; `ca`, when given, is also sent in the config."""

    cert: str
    key: str
    ca: str | None = None


def inbox_prefix(public_key: str) -> str:
    """The inbox prefix a client of this identity must use (`_INBOX.<public key>`)."""
    return f"{INBOX}.{public_key}"


def read_log_subjects(layout: Layout, accounts: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The JetStream API subjects a reader of the log publishes to. `accounts` None: the
    whole log; else consumers only with a filter under those accounts, and no message get
    that is not filtered by subject."""
    api, stream = JS_API, layout.stream
    common = (
        f"{api}.STREAM.INFO.{stream}",
        f"{api}.CONSUMER.MSG.NEXT.{stream}.*",
        f"{api}.CONSUMER.INFO.{stream}.*",
        f"{api}.CONSUMER.DELETE.{stream}.*",
    )
    if accounts is not None:
        scoped = [f"{api}.CONSUMER.CREATE.{stream}.*.{layout.root}.{a}.>" for a in accounts]
        scoped += [f"{api}.DIRECT.GET.{stream}.{layout.root}.{a}.>" for a in accounts]
        return (*common, *scoped)
    return (
        *common,
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.DIRECT.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}.>",
        f"{api}.STREAM.MSG.GET.{stream}",
    )


def lease_subjects(group: str, bucket: str = LEASE_BUCKET) -> tuple[str, ...]:
    """What a holder of leases in `group` publishes to (`setpoint.bus.leases`): the
    bucket's stream info, direct and plain message gets, the watch's ordered consumer
    (create, info; its deliveries come to the inbox, its flow-control requests are
    answered on `$JS.FC.<stream>.>`), and writes (put, create, update, delete) of the
    keys under `<group>.` only."""
    stream = f"KV_{bucket}"
    return (*_bucket_reads(stream), f"$KV.{bucket}.{group}.>")


def _bucket_reads(stream: str) -> tuple[str, ...]:
    """Reading a key-value or object store bucket's stream `stream`: its info, direct and
    plain message gets, an ordered consumer (create, info; deliveries to the inbox, flow
    control answered on `$JS.FC.<stream>.>`)."""
    api = JS_API
    return (
        f"{api}.STREAM.INFO.{stream}",
        f"{api}.DIRECT.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}.>",
        f"{api}.STREAM.MSG.GET.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.INFO.{stream}.*",
        f"$JS.FC.{stream}.>",
    )


def snapshot_subjects(bucket: str = SNAPSHOT_BUCKET) -> tuple[str, ...]:
    """What a service keeping projection snapshots publishes to (`eventlog.snapshots`):
    the object store's stream info, message gets, the ordered consumer a get reads the
    chunks with, the chunk and meta subjects, and the purge of replaced chunks (of this
    bucket's stream only: the log's stream is never purged)."""
    stream = f"OBJ_{bucket}"
    return (
        *_bucket_reads(stream),
        f"{JS_API}.CONSUMER.DELETE.{stream}.*",
        f"{JS_API}.STREAM.PURGE.{stream}",
        f"$O.{bucket}.>",
    )


def append_subjects(layout: Layout, producers: Iterable[str]) -> tuple[str, ...]:
    """Appending as these producers: `<root>.*.*.<producer>.*` each."""
    return tuple(f"{layout.root}.*.*.{producer}.*" for producer in producers)


def grants(identity: Identity, layout: Layout = Layout()) -> Grants | None:
    """What `identity` may do (module docstring); None for the admin (everything)."""
    if identity.kind is Kind.ADMIN:
        return None
    inbox = f"{inbox_prefix(identity.public_key)}.>"
    build = _GRANTS[identity.kind]
    publish, subscribe, responses = build(identity, layout)
    return Grants(tuple(publish), (inbox, *subscribe), responses)


_Parts = tuple[tuple[str, ...], tuple[str, ...], bool]


def _differ(identity: Identity, layout: Layout) -> _Parts:
    publish = (
        *append_subjects(layout, ("intake", "differ")),
        *read_log_subjects(layout),
        subjects.status_subject("*", "*"),
        *lease_subjects("differ"),
        *snapshot_subjects(),
    )
    subscribe = (
        subjects.TARGET_ALL,
        subjects.ticker_subject("*", "*"),
        subjects.control_subject("*", "kill"),
        subjects.STATUS_REQUEST,
        subjects.health_subject("differ"),
    )
    return publish, subscribe, True


def _executor(identity: Identity, layout: Layout) -> _Parts:
    publish = (
        *append_subjects(layout, ("executor",)),
        *read_log_subjects(layout),
        subjects.gateway_subject("*", "*"),
        *lease_subjects("executor"),
        *snapshot_subjects(),
    )
    subscribe = (subjects.ticker_subject("*", "*"), subjects.health_subject("executor"))
    return publish, subscribe, True


def _gateway(identity: Identity, layout: Layout) -> _Parts:
    publish = (
        *append_subjects(layout, ("gateway",)),
        *read_log_subjects(layout),
        subjects.ticker_subject("*", "*"),
        *lease_subjects("gateway"),
        *snapshot_subjects(),
    )
    subscribe = (
        subjects.gateway_subject("*", "*"),
        subjects.market_data_subscribe_subject("*"),
        subjects.health_subject("gateway"),
    )
    return publish, subscribe, True


def _strategy(identity: Identity, layout: Layout) -> _Parts:
    accounts = identity.accounts
    publish = (
        *(subjects.target_subject(a, "*") for a in accounts),
        *(subjects.market_data_subscribe_subject(a) for a in accounts),
        *read_log_subjects(layout, accounts),
    )
    subscribe = (
        *(subjects.ticker_subject(a, "*") for a in accounts),
        *(subjects.status_subject(a, "*") for a in accounts),
        subjects.health_subject("strategy"),
    )
    return publish, subscribe, True


def _auditor(identity: Identity, layout: Layout) -> _Parts:
    return read_log_subjects(layout), (), False


def _console(identity: Identity, layout: Layout) -> _Parts:
    publish = (
        *read_log_subjects(layout),
        subjects.STATUS_REQUEST,
        subjects.health_subject("*"),
    )
    subscribe = (subjects.STATUS_ALL, "setpoint.md.>", subjects.health_subject("console"))
    return publish, subscribe, True


_GRANTS: Final = {
    Kind.DIFFER: _differ,
    Kind.EXECUTOR: _executor,
    Kind.GATEWAY: _gateway,
    Kind.STRATEGY: _strategy,
    Kind.AUDITOR: _auditor,
    Kind.CONSOLE: _console,
}


# --------------------------------------------------------------------------- the config


def render_server_config(
    identities: Iterable[Identity],
    *,
    host: str,
    port: int,
    store_dir: str,
    layout: Layout = Layout(),
    tls: ServerTls | None = None,
    pid_file: str | None = None,
    extra: Sequence[str] = (),
) -> str:
    """The nats-server configuration: listen address, JetStream store, TLS (required of
    every client when given) and one nkey user per identity with its grants; `extra`
    lines (a cluster node's name and routes, `setpoint.bus.cluster.node_lines`) follow the
    store."""
    lines = server_lines(
        "# Generated by Setpoint from its permission policy; edits are overwritten.",
        f"{host}:{port}",
        store_dir,
        extra,
        pid_file,
    )
    if tls is not None:
        lines += _tls_block(tls)
    lines += ["authorization {", "  users = ["]
    for identity in sorted(identities, key=lambda i: i.name):
        lines += _user_block(identity, grants(identity, layout))
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def server_lines(
    comment: str, listen: str, store_dir: str, extra: Sequence[str], pid_file: str | None
) -> list[str]:
    """How every nats-server configuration of ours begins: `comment`, the client `listen`
    address (`host:port`), the JetStream store, `extra` lines, then the pid file if any."""
    lines = [
        comment,
        f"listen: {_quote(listen)}",
        f"jetstream {{ store_dir: {_quote(store_dir)} }}",
        *extra,
    ]
    if pid_file is not None:
        lines.append(f"pid_file: {_quote(pid_file)}")
    return lines


def _tls_block(tls: ServerTls) -> list[str]:
    block = ["tls {", f"  cert_file: {_quote(tls.cert)}", f"  key_file: {_quote(tls.key)}"]
    if tls.ca is not None:
        block.append(f"  ca_file: {_quote(tls.ca)}")
    return [*block, "  timeout: 5", "}"]


def _user_block(identity: Identity, found: Grants | None) -> list[str]:
    head = f"    # {identity.name} ({identity.kind.value})"
    if found is None:
        return [head, f"    {{ nkey: {_quote(identity.public_key)} }}"]
    responses = "    allow_responses: true" if found.responses else None
    body = [
        f"    {{ nkey: {_quote(identity.public_key)}, permissions: {{",
        f"      publish: {{ allow: {_list(found.publish)} }}",
        f"      subscribe: {{ allow: {_list(found.subscribe)} }}",
    ]
    if responses is not None:
        body.append("  " + responses)
    return [head, *body, "    } }"]


def _quote(text: str) -> str:
    """A double-quoted string in the server's config syntax (JSON quoting is accepted)."""
    return json.dumps(text)


def _list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(_quote(item) for item in items) + "]"
