"""`setpoint up`: the whole system on this machine, one status view, Ctrl-C stops it all.

1. NATS: if nothing answers at `nats.url` (and it is local, `nats.embedded` true), the
   bundled nats-server with JetStream, store `<data_dir>/nats`.
2. The venue simulator for every account whose `base_url` is a local address where
   nothing answers yet: `setpoint run sim --sim NAME` when `[sims.NAME]` has that port
   (child `sim-NAME`), else `setpoint run sim --port P` (child `sim` on `[sim]`'s port,
   `sim-P` on another), in the dialect of the account's venue
   (`venues.capabilities`). One gateway process serves every account, one gateway (its
   own ccxt clients and rate limits) per account inside it.
3. The four services (`setpoint run gateway|executor|differ|strategy`), then the web
   console (`setpoint run console`, its URL printed once it is ready), each its own
   process; `up` waits for each to answer `setpoint.health.<service>` before the next.
   With the built-in demo configuration (or a file saying `demo = true`, as `setpoint
   init` writes), SETPOINT_DEMO_KEY / SETPOINT_DEMO_SECRET / SETPOINT_DEMO_PASSPHRASE
   default to the simulator's demo-key / demo-secret / demo-passphrase in the children's
   environment.
   Each service serves its metrics on its own port (`ops.scrape_targets`), written to
   `<data_dir>/prometheus/targets.json` for Prometheus' file-based service discovery.
4. The status view (rich, on a terminal; plain lines with `--no-status` or when stdout is
   not a terminal) until SIGINT or SIGTERM; then every child is stopped (SIGTERM, SIGKILL
   after `--grace` seconds), services first, NATS last. A child that crashes is reported
   and restarted with backoff; one that never starts is reported and given up.

If services already answer on the NATS in use, `up` refuses to start a second copy.

`--cluster N` (N > 1): N bundled nats-servers clustered on this host instead of one
(`setpoint.bus.cluster.local_nodes`: the first answers at `nats.url`, the others on the
next ports, routes on port + 2000, each its own store `<data_dir>/nats/n<i>`), all started
before `up` waits for them to report JetStream healthy; the log's stream gets
`eventlog.replicas` copies (min(N, 3) when left at 1) and every child is given the whole
server list (`SETPOINT_NATS__URL`, comma-separated) and that count.

Secure by default (docs/operations.md, "Security"): when `up` starts the bundled server it
first makes the identities and the server configuration in `<data_dir>/security`
(`setpoint.ops.security`; owner-only files), starts the server with it, connects itself as
the admin, creates (or checks) the event log's stream and, with `leases.enabled`, the
leases' key-value bucket (`eventlog.replicas` copies, max age `leases.ttl_s`) and, with
`eventlog.snapshots`, the snapshots' object store bucket, the admin's step, and hands each
service only its own credential (`SETPOINT_NATS__CREDENTIALS=file:...`). `--tls` (or
`nats.tls = true`) also requires TLS of every client, with `nats.tls_cert`/`tls_key`, or a
development CA and certificate generated there (clients get `SETPOINT_NATS__TLS_CA`).
`--insecure`: no identities, no TLS, a server anyone who reaches the port may use (tests).
A server that was already running is used as it is: its own authorization applies.

Logs: `<data_dir>/logs/<child>.log`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError

from setpoint.bus.cluster import Node, client_url, healthy, local_nodes, standalone_config
from setpoint.bus.connect import connect_nats
from setpoint.bus.credentials import ADMIN, client_options, operator_options
from setpoint.bus.embedded import answers, host_port, server_binary
from setpoint.bus.messages import Health, KeyStatus
from setpoint.bus.subjects import STATUS_REQUEST, health_subject
from setpoint.config import Settings, config_path, load_settings
from setpoint.core.errors import (
    ConfigError,
    EventLogError,
    LeasesMisconfigured,
    NatsUnavailable,
)
from setpoint.ops import output
from setpoint.ops.scrape_targets import metrics_ports, write_targets
from setpoint.ops.security import Prepared, prepare_server
from setpoint.ops.supervisor import ChildSpec, ChildState, Supervisor
from setpoint.venues.capabilities import rules

SERVICES = ("gateway", "executor", "differ", "strategy", "console")
METERED = SERVICES[:4]
"""The services that export metrics (the console serves pages, not metrics)."""
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
DEMO_ENV = {
    "SETPOINT_DEMO_KEY": "demo-key",
    "SETPOINT_DEMO_SECRET": "demo-secret",
    "SETPOINT_DEMO_PASSPHRASE": "demo-passphrase",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-status", action="store_true", help="plain log lines, no live view")
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds a child gets to stop before it is killed (default 10)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for each service's health answer (default 60)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="no identities and no TLS: anyone who reaches the NATS port may do anything",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="require TLS of every NATS client (a development certificate unless "
        "nats.tls_cert and nats.tls_key are set)",
    )
    parser.add_argument(
        "--cluster",
        type=cluster_size,
        default=1,
        metavar="N",
        help="run N clustered nats-servers (JetStream replicated; 3 survives the loss of "
        "one) instead of one (default 1)",
    )


MAX_CLUSTER = 7


def cluster_size(text: str) -> int:
    """`--cluster`'s value: a whole number from 1 to MAX_CLUSTER."""
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of servers") from None
    if not 1 <= size <= MAX_CLUSTER:
        raise argparse.ArgumentTypeError(f"a local cluster has 1 to {MAX_CLUSTER} servers")
    return size


def cluster_settings(settings: Settings, size: int) -> Settings:
    """The settings of a run with a local cluster of `size`: every node's url in
    `nats.url`, the stream's replica count (min(size, 3) unless configured); SystemExit
    when the configuration names other servers or more replicas than servers."""
    if size == 1:
        return settings
    data_dir = Path(settings.nats.data_dir).resolve()
    nodes = local_nodes(settings.nats.url, size, data_dir / "nats")
    urls = tuple(node.url for node in nodes)
    if len(settings.nats.servers) > 1 and settings.nats.servers != urls:
        raise SystemExit(
            f"setpoint up: --cluster {size} runs its servers at {', '.join(urls)}, but "
            f"nats.url names {', '.join(settings.nats.servers)}: name only the first, or these"
        )
    replicas = settings.eventlog.replicas if settings.eventlog.replicas > 1 else min(size, 3)
    if replicas > size:
        raise SystemExit(
            f"setpoint up: eventlog.replicas = {replicas} needs at least that many servers "
            f"(--cluster {size})"
        )
    return settings.model_copy(update={
        "nats": settings.nats.model_copy(update={"url": client_url(nodes), "urls": ()}),
        "eventlog": settings.eventlog.model_copy(update={"replicas": replicas}),
    })  # fmt: skip


def main(config: str | None, args: argparse.Namespace) -> int:
    settings = load_settings(config)
    path = config_path(config)
    if args.insecure and args.tls:
        raise SystemExit("setpoint up: --insecure and --tls exclude each other")
    settings = cluster_settings(settings, args.cluster)
    security = None
    if not args.insecure and not answers(settings.nats.url):
        tls = args.tls or settings.nats.tls
        security = prepare_server(settings, tls=tls, cluster=args.cluster)
    elif args.cluster > 1 and not answers(settings.nats.url):
        _write_open_configs(_nodes(settings, args.cluster))
    plan = make_plan(settings, path, dict(os.environ), security, cluster=args.cluster)
    write_targets(plan.data_dir, settings.telemetry.metrics_host, plan.metrics_ports)
    console = Console(live=sys.stdout.isatty() and not args.no_status)
    return asyncio.run(Up(settings, plan, console, args.grace, args.ready_timeout).run())


@dataclass(frozen=True)
class Plan:
    """What `up` will start, in order. `nats` is None when a server already answers, or
    when `up` runs a cluster: then `nodes` are its servers (`nats-n1`, ...)."""

    data_dir: Path
    nats: ChildSpec | None
    sims: tuple[ChildSpec, ...]
    services: tuple[ChildSpec, ...]
    sim_urls: dict[str, str] = field(default_factory=dict)
    security: Prepared | None = None
    metrics_ports: dict[str, int] = field(default_factory=dict)
    nodes: tuple[tuple[ChildSpec, Node], ...] = ()


def make_plan(
    settings: Settings,
    path: Path | None,
    environ: dict[str, str],
    security: Prepared | None = None,
    cluster: int = 1,
) -> Plan:
    """The children for this configuration (pure but for checking which ports answer).
    With `security`, the server runs with its configuration and each service gets its own
    credential (and the CA). With `cluster` > 1 (and `cluster_settings`), the nodes of a
    local cluster instead of one server, and every child learns the server list."""
    data_dir = Path(settings.nats.data_dir).resolve()
    logs = data_dir / "logs"
    env = dict(environ)
    nodes = _node_specs(settings, cluster, logs, security)
    if cluster > 1:
        env["SETPOINT_NATS__URL"] = settings.nats.url
        env["SETPOINT_EVENTLOG__REPLICAS"] = str(settings.eventlog.replicas)
    if path is not None:
        env["SETPOINT_CONFIG"] = str(path.resolve())
    if path is None or settings.demo:
        for name, value in DEMO_ENV.items():
            env.setdefault(name, value)
    setpoint = (sys.executable, "-m", "setpoint")
    ports = metrics_ports(settings, METERED)
    sims = {
        name: (args, url)
        for port, url, exchange in _local_venues(settings)
        for name, args in [_sim_child(settings, port, exchange)]
    }
    return Plan(
        data_dir=data_dir,
        nats=None if cluster > 1 else _nats_spec(settings, data_dir, logs, security),
        sims=tuple(
            ChildSpec(name, (*setpoint, "run", "sim", *args), logs / f"{name}.log", env)
            for name, (args, _) in sims.items()
        ),
        services=tuple(
            ChildSpec(
                svc,
                (*setpoint, "run", svc),
                logs / f"{svc}.log",
                _own(env, svc, security) | _metrics_env(ports.get(svc)),
            )
            for svc in SERVICES
        ),
        sim_urls={name: url for name, (_, url) in sims.items()},
        security=security,
        metrics_ports=ports,
        nodes=nodes,
    )


def _nodes(settings: Settings, cluster: int) -> tuple[Node, ...]:
    data_dir = Path(settings.nats.data_dir).resolve()
    return local_nodes(settings.nats.url, cluster, data_dir / "nats")


def _open_config(node: Node) -> Path:
    """Where a node's configuration without authorization goes (`--insecure`)."""
    return Path(node.store_dir).with_suffix(".conf")


def _write_open_configs(nodes: tuple[Node, ...]) -> None:
    """Each node's configuration without client authorization (`--insecure`)."""
    for node in nodes:
        Path(node.store_dir).mkdir(parents=True, exist_ok=True)
        _open_config(node).write_text(standalone_config(node, nodes))


def _node_specs(
    settings: Settings, cluster: int, logs: Path, security: Prepared | None
) -> tuple[tuple[ChildSpec, Node], ...]:
    """The nodes of a local cluster to start (none when one already answers)."""
    if cluster <= 1 or answers(settings.nats.url):
        return ()
    nodes = _nodes(settings, cluster)
    configs = security.nodes if security is not None else tuple(map(_open_config, nodes))
    return tuple(
        (ChildSpec(f"nats-{node.name}", (server_binary(), "-c", str(config)),
                   logs / f"nats-server-{node.name}.log"), node)
        for node, config in zip(nodes, configs, strict=True)
    )  # fmt: skip


def _metrics_env(port: int | None) -> dict[str, str]:
    return {} if port is None else {"SETPOINT_TELEMETRY__METRICS_PORT": str(port)}


def _own(env: dict[str, str], service: str, security: Prepared | None) -> dict[str, str]:
    """The environment of one service: with `security`, its own credential and the CA."""
    if security is None:
        return env
    own = dict(env, SETPOINT_NATS__CREDENTIALS=f"file:{security.creds[service]}")
    if security.ca is not None:
        own["SETPOINT_NATS__TLS_CA"] = str(security.ca)
    return own


def _nats_spec(
    settings: Settings, data_dir: Path, logs: Path, security: Prepared | None
) -> ChildSpec | None:
    url = settings.nats.url
    if answers(url):
        return None
    host, port = host_port(url)
    if not settings.nats.embedded or host not in LOCAL_HOSTS:
        raise SystemExit(
            f"setpoint up: nothing answers at {url} and no server may be "
            "started here (nats.embedded is false or the url is not local)"
        )
    store = data_dir / "nats"
    argv: tuple[str, ...] = (server_binary(), "-js", "-a", host, "-p", str(port), "-sd", str(store))
    if security is not None:  # its configuration says listen and store itself
        argv = (server_binary(), "-c", str(security.config))
    return ChildSpec("nats", argv, logs / "nats-server.log")


def _local_venues(settings: Settings) -> list[tuple[int, str, str]]:
    """(port, base_url, exchange) of each distinct local venue address where nothing
    answers (the exchange of the first account there)."""
    found: dict[int, tuple[str, str]] = {}
    for account in settings.accounts.values():
        if not account.base_url:
            continue
        parsed = urlparse(account.base_url)
        if parsed.hostname in LOCAL_HOSTS and parsed.port and parsed.port not in found:
            found[parsed.port] = (account.base_url, account.exchange)
    return [(p, u, x) for p, (u, x) in found.items() if not answers(f"tcp://127.0.0.1:{p}", 0.3)]


def _sim_child(settings: Settings, port: int, exchange: str) -> tuple[str, tuple[str, ...]]:
    """The child's name and `setpoint run sim` arguments for a simulator on `port`: the
    `[sims.NAME]` with that port, else `[sim]` on `port` in the venue's dialect."""
    for name, sim in settings.sims.items():
        if sim.port == port:
            return f"sim-{name}", ("--sim", name)
    name = "sim" if port == settings.sim.port else f"sim-{port}"
    dialect = rules(exchange).dialect
    if dialect is None or dialect == settings.sim.dialect:
        return name, ("--port", str(port))
    return name, ("--port", str(port), "--dialect", dialect)


# --------------------------------------------------------------------------- the run


class Up:
    """The running `setpoint up`: supervisor, readiness checks, status view, shutdown."""

    def __init__(
        self,
        settings: Settings,
        plan: Plan,
        console: Console,
        grace_s: float,  # float-ok
        ready_timeout_s: float,  # float-ok
    ) -> None:
        self.settings, self.plan, self.console = settings, plan, console
        self.grace_s, self.ready_timeout_s = grace_s, ready_timeout_s
        self.supervisor = Supervisor()
        self.stop = asyncio.Event()
        self.nc: NATS | None = None
        self.probes = {spec.name: _port_probe(url) for spec, url in self._port_children()}
        for spec, node in plan.nodes:  # ready: JetStream of the cluster has its leader
            self.probes[spec.name] = _node_probe(node)

    def _port_children(self) -> list[tuple[ChildSpec, str]]:
        found = [(spec, self.plan.sim_urls[spec.name]) for spec in self.plan.sims]
        if self.plan.nats is not None:
            found.append((self.plan.nats, self.settings.nats.url))
        return found

    async def run(self) -> int:
        """Start, watch until SIGINT/SIGTERM, stop. 0, or 1 when NATS could not be had."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        try:
            if not await self._start_all():
                return 1
            if not self.stop.is_set():
                self.console.line("all started; Ctrl-C stops everything")
                await self._watch()
        finally:
            await self._shutdown()
        return 0

    def _on_signal(self) -> None:
        if self.stop.is_set():  # a second Ctrl-C: no more grace
            self.grace_s = 0
        self.stop.set()

    async def _start_all(self) -> bool:
        """Start every child in order; False when NATS is not there to build on, or when
        services already answer on it (a second `setpoint up` would run everything twice)."""
        if self.plan.nodes:
            if not await self._start_cluster():
                return False
        elif self.plan.nats is not None:
            await self._start_and_wait(self.plan.nats)
            nats_state = self.supervisor.children["nats"].state
            if nats_state is not ChildState.READY and not self.stop.is_set():
                self.console.line(f"nats: did not start; see {self.plan.nats.log_file}")
                return False
        else:
            self.console.line(f"nats: using the server at {self.settings.nats.url}")
        if self.stop.is_set():
            return True
        if not await self._connect_as_admin():
            return False
        running = [svc for svc in SERVICES if await service_ready(self.nc, svc)]
        if running:
            self.console.line(
                f"{', '.join(running)} already answer(s) on {self.settings.nats.url}: another "
                "`setpoint up` (or a deployment) runs there; stop it first"
            )
            return False
        if not await self._prepare_log():
            return False
        for spec in (*self.plan.sims, *self.plan.services):
            if self.stop.is_set():
                break
            await self._start_and_wait(spec)
        return True

    async def _start_cluster(self) -> bool:
        """Start every node of the local cluster, then wait for each (a node is healthy
        only once a majority runs); False when one did not become ready."""
        for spec, _ in self.plan.nodes:
            child = self.supervisor.add(spec)
            self.console.line(f"{spec.name}: started (pid {child.pid}), log {spec.log_file}")
        for spec, _ in self.plan.nodes:
            await self._wait_ready(spec)
            if self.supervisor.children[spec.name].state is not ChildState.READY:
                if not self.stop.is_set():
                    self.console.line(f"{spec.name}: did not start; see {spec.log_file}")
                return False
        return True

    async def _connect_as_admin(self) -> bool:
        """Connect as the admin (the credential made for the server we started, else the
        operator's); False, said in one line, when the server refuses us."""
        security, nats_config = self.plan.security, self.settings.nats
        try:
            if security is None:
                options = operator_options(nats_config)
            else:
                ca = None if security.ca is None else str(security.ca)
                admin = f"file:{security.creds[ADMIN]}"
                options = client_options(
                    nats_config.model_copy(update={"credentials": admin, "tls_ca": ca})
                )
            self.nc = await connect_nats(self.settings, name="setpoint-up", **options)
        except (NatsUnavailable, ConfigError) as exc:
            self.console.line(
                f"{exc}. If another `setpoint up` (or a deployment) already answers there "
                "with its own identities, stop it first"
            )
            return False
        return True

    async def _prepare_log(self) -> bool:
        """The admin's step: create the event log's stream, or check the existing one."""
        from setpoint.eventlog.factory import open_event_log

        try:
            event_log = await open_event_log(self.settings, nc=self.nc, admin=True)
        except EventLogError as exc:
            self.console.line(f"event log: {exc}")
            return False
        await event_log.close()
        return await self._prepare_leases() and await self._prepare_snapshots()

    async def _prepare_leases(self) -> bool:
        """The admin's step for leases (`leases.enabled`): look up the key-value bucket,
        create it when missing, as the stream."""
        from setpoint.bus.leases import BUCKET, open_bucket

        leases, replicas = self.settings.leases, self.settings.eventlog.replicas
        if not leases.enabled or self.nc is None:
            return True
        try:
            await open_bucket(self.nc, leases.ttl_s, replicas)
        except LeasesMisconfigured as exc:
            self.console.line(f"leases: {exc}")
            return False
        self.console.line(f"leases: bucket {BUCKET} ready")
        return True

    async def _prepare_snapshots(self) -> bool:
        """The admin's step for projection snapshots (`eventlog.snapshots`): make the
        object store bucket when missing, with the stream's replica count. A failure is
        reported and the services start without snapshots (they rebuild from the log)."""
        from setpoint.eventlog.snapshots import BUCKET, ObjectSnapshotStore

        config = self.settings.eventlog
        if not config.snapshots or self.nc is None or config.backend != "jetstream":
            return True
        try:
            await ObjectSnapshotStore(self.nc, BUCKET, config.replicas).open()
        except Exception as exc:  # optional: the services rebuild from the log without it
            self.console.line(f"snapshots: bucket {BUCKET} not made ({exc!r})")
            return True
        self.console.line(f"snapshots: bucket {BUCKET} ready")
        return True

    async def _start_and_wait(self, spec: ChildSpec) -> None:
        """Start a child; wait until it is ready, given up, timed out, or we are stopped."""
        child = self.supervisor.add(spec)
        self.console.line(f"{spec.name}: started (pid {child.pid}), log {spec.log_file}")
        await self._wait_ready(spec)

    async def _wait_ready(self, spec: ChildSpec) -> None:
        """Until the started child is ready, given up, timed out, or we are stopped."""
        child = self.supervisor.children[spec.name]
        deadline = asyncio.get_running_loop().time() + self.ready_timeout_s
        while not self.stop.is_set():
            self.poll()
            if child.state is ChildState.FAILED:
                return
            if child.state is ChildState.STARTING and await self._is_ready(spec.name):
                self._ready(spec.name)
                return
            if asyncio.get_running_loop().time() > deadline:
                self.console.line(
                    f"{spec.name}: not ready after {self.ready_timeout_s:g}s; "
                    "going on without waiting for it"
                )
                return
            await self._sleep(0.2)

    async def _is_ready(self, name: str) -> bool:
        probe = self.probes.get(name)
        if probe is not None:
            return await asyncio.to_thread(probe)
        return await service_ready(self.nc, name)

    def _ready(self, name: str) -> None:
        self.supervisor.mark_ready(name)
        self.console.line(f"{name}: ready")
        if name == "console":
            self.console.line(f"console: open {console_url(self.settings)}")

    def poll(self) -> None:
        for note in self.supervisor.poll():
            self.console.line(note)

    async def _sleep(self, seconds: float) -> None:  # float-ok
        with suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def _watch(self) -> None:
        """Until stopped: restarts, readiness of restarted children, the status view."""
        while not self.stop.is_set():
            self.poll()
            for child in list(self.supervisor.children.values()):
                if child.state is ChildState.STARTING and await self._is_ready(child.name):
                    self._ready(child.name)
            keys = await request_status(self.nc)
            self.console.show(self.supervisor, keys, await self._healths())
            await self._sleep(1.0)

    async def _healths(self) -> dict[str, str]:
        """Each running service's health in a few words (`ready`, `not ready (log:
        resuming since ...)`, `no answer`)."""
        found: dict[str, str] = {}
        for child in self.supervisor.children.values():
            if child.name in SERVICES and child.state is ChildState.READY:
                health = await service_health(self.nc, child.name)
                found[child.name] = "no answer" if health is None else health.summary()
        return found

    async def _shutdown(self) -> None:
        self.console.close()
        self.console.line("stopping...")
        started = [s.name for s in (*self.plan.sims, *self.plan.services)]
        names = [n for n in reversed(started) if n in self.supervisor.children]
        await asyncio.to_thread(self.supervisor.stop, names, self.grace_s)
        if self.nc is not None and not self.nc.is_closed:
            with suppress(Exception):
                await self.nc.close()
        servers = [n for n in self.supervisor.children if n == "nats" or n.startswith("nats-")]
        if servers:
            await asyncio.to_thread(self.supervisor.stop, servers, self.grace_s)
        for child in self.supervisor.children.values():
            pids = ", ".join(map(str, child.pids))
            self.console.line(f"{child.name}: stopped (pids {pids})")
        self.console.line("stopped")


def console_url(settings: Settings) -> str:
    """The web console's address as configured (its token, if any, is never printed)."""
    host = settings.console.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{settings.console.port}/"


def _port_probe(url: str) -> Callable[[], bool]:
    return lambda: answers(url, 0.3)


def _node_probe(node: Node) -> Callable[[], bool]:
    return lambda: healthy(node, 0.3)


async def service_health(nc: NATS | None, service: str) -> Health | None:
    """The service's answer on its health subject; None when it does not answer."""
    if nc is None or not nc.is_connected:
        return None
    try:
        reply = await nc.request(health_subject(service), b"", timeout=0.5)
        return Health.model_validate_json(reply.data)
    except (NatsError, ValueError):
        return None


async def service_ready(nc: NATS | None, service: str) -> bool:
    """True when the service answers its health subject with `ready: true`."""
    health = await service_health(nc, service)
    return health is not None and health.ready


async def request_status(nc: NATS | None) -> list[KeyStatus] | None:
    """Every key's status from the differ; None when it does not answer."""
    if nc is None or not nc.is_connected:
        return None
    try:
        reply = await nc.request(STATUS_REQUEST, b"", timeout=0.8)
        body = json.loads(reply.data)
        return [KeyStatus.model_validate(k, strict=False) for k in body.get("keys", [])]
    except (NatsError, ValueError, AttributeError):
        return None


# --------------------------------------------------------------------------- the view


def key_row(status: KeyStatus, *, styled: bool = False) -> tuple[str, ...]:
    """One key as table cells: key, generation, condition, orders, position (at the
    market's step), last recon. `styled`: the condition in its colour as rich markup
    (the live view); plain text otherwise (the lines printed off a terminal)."""
    condition = output.condition(status.condition.value) if styled else status.condition.value
    if status.reasons:
        condition += f" ({', '.join(status.reasons)})"
    last = status.last_reconciliation.strftime("%H:%M:%S") if status.last_reconciliation else "-"
    positions = (
        output.decimal(p, status.step) for p in (status.position_target, status.position_actual)
    )
    return (
        f"{status.account} {status.symbol}",
        str(status.generation) if status.generation is not None else "-",
        condition,
        f"{status.open_orders_target} / {status.open_orders_venue}",
        " / ".join(positions),
        last,
    )


KEY_COLUMNS = (
    "key",
    "gen",
    "condition",
    "orders target/venue",
    "position target/actual",
    "last recon",
)


class Console:
    """Lines and the status view: a rich Live table on a terminal, else plain lines
    (a key's line is printed again only when it changes)."""

    def __init__(self, live: bool) -> None:
        self.live_mode = live
        self.live: Any = None
        self.printed: dict[str, str] = {}

    def line(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text, markup=False, highlight=False)
        else:
            print(f"setpoint up: {text}", flush=True)

    def show(
        self,
        supervisor: Supervisor,
        keys: list[KeyStatus] | None,
        healths: Mapping[str, str] | None = None,
    ) -> None:
        healths = healths or {}
        if self.live_mode:
            self._show_live(supervisor, keys, healths)
            return
        for service, health in healths.items():  # a change of health ("ready" said already)
            previous = self.printed.get(service, "ready")
            self.printed[service] = health
            if previous != health:
                self.line(f"{service}: {health}")
        for status in keys or []:
            row = " | ".join(key_row(status))
            name = f"{status.account}/{status.symbol}"
            if self.printed.get(name) != row:
                self.printed[name] = row
                self.line(f"status {row}")

    def _show_live(
        self, supervisor: Supervisor, keys: list[KeyStatus] | None, healths: Mapping[str, str]
    ) -> None:
        from rich.console import Group
        from rich.live import Live
        from rich.table import Table

        children = Table("process", "pid", "state", "restarts", "health", title="setpoint up")
        for child in supervisor.children.values():
            children.add_row(
                child.name, str(child.pid or "-"), child.state.value, str(child.restarts),
                healths.get(child.name, "-"),
            )  # fmt: skip
        status = Table(*KEY_COLUMNS, title="keys")
        for key in keys or []:
            status.add_row(*key_row(key, styled=True))
        if keys is None:
            status.caption = "no answer from the differ on setpoint.status.request"
        view = Group(children, status)
        if self.live is None:
            self.live = Live(view, refresh_per_second=2, transient=False)
            self.live.start()
        else:
            self.live.update(view)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
