"""What `setpoint up` keeps in `<data_dir>/security` (the directory 0700, every file 0600):

    identities.json          name, kind, accounts and public key of every identity (no seed)
    creds/<name>.nk          the identity's nkey seed: its credential, handed to one process
    server.json              how the server listens (host, port, store, TLS files, cluster size)
    nats-server.conf         rendered from the policy (`setpoint.bus.permissions`)
    nats-server.pid          the running server's pid (written by the server)
    tls/                     the development CA and certificate (`setpoint up --tls`)

With a cluster (`setpoint up --cluster N`) each node has its own `nats-server-<node>.conf`
and `.pid` (`setpoint.bus.cluster.local_nodes`: the same identities and grants, its own
ports and store), the nodes log in to each other's routes with a generated password
(`route-password`), and with TLS the routes use the server certificate both ways.

`prepare_server(settings, tls=...)` makes the service identities (admin, gateway, executor,
differ, and the strategy host with the accounts of the configured strategies) unless they
exist, keeps their keys across starts, and writes the configuration for this start.
`issue(...)` adds or rescopes an identity (a strategy, an auditor, a console) and
`revoke(name)` removes one; both render the configuration again and ask a running server to
reload it (SIGHUP), after which the revoked identity can no longer connect.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import nkeys

from setpoint.bus.cluster import RouteTls, local_nodes, node_lines
from setpoint.bus.credentials import ADMIN, security_dir, seed_file
from setpoint.bus.embedded import host_port
from setpoint.bus.permissions import Identity, Kind, Layout, ServerTls, render_server_config
from setpoint.config import Settings
from setpoint.core.errors import UsageError
from setpoint.ops.devtls import make_dev_tls
from setpoint.ops.private import private_dir, write_private

IDENTITIES: Final = "identities.json"
SERVER: Final = "server.json"
CONFIG: Final = "nats-server.conf"
PID: Final = "nats-server.pid"
ROUTE_PASSWORD: Final = "route-password"
NAME_PATTERN: Final = "letters, digits, '-' and '_'"


@dataclass(frozen=True)
class Prepared:
    """The server configuration to start with, each identity's credential, the CA."""

    config: Path
    creds: dict[str, Path]
    ca: Path | None
    nodes: tuple[Path, ...] = ()
    """In a cluster, every node's configuration (`config` is the first's)."""


def new_seed() -> str:
    """A fresh nkey user seed."""
    return bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)).decode()


def public_key(seed: str) -> str:
    key = nkeys.from_seed(bytearray(seed.encode())).public_key
    return bytes(key).decode()


def check_name(name: str) -> str:
    """An identity name: non-empty, letters, digits, '-' and '_' (it names a file)."""
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise UsageError(f"identity name {name!r}: use {NAME_PATTERN}")
    return name


def load_identities(data_dir: Path) -> dict[str, Identity]:
    path = security_dir(data_dir) / IDENTITIES
    if not path.is_file():
        return {}
    found = {}
    for item in json.loads(path.read_text()):
        identity = Identity(item["name"], Kind(item["kind"]), item["public_key"],
                            tuple(item.get("accounts", ())))  # fmt: skip
        found[identity.name] = identity
    return found


def _save_identities(data_dir: Path, identities: dict[str, Identity]) -> None:
    rows = [
        {"name": i.name, "kind": i.kind.value, "public_key": i.public_key,
         "accounts": list(i.accounts)}
        for i in sorted(identities.values(), key=lambda i: i.name)
    ]  # fmt: skip
    write_private(security_dir(data_dir) / IDENTITIES, json.dumps(rows, indent=2) + "\n")


def ensure_identity(
    data_dir: Path, identities: dict[str, Identity], name: str, kind: Kind,
    accounts: tuple[str, ...] = (),
) -> Identity:  # fmt: skip
    """The identity `name` with this kind and these accounts: its key kept when it exists
    (and its credential file is there), else a new one with its credential file."""
    check_name(name)
    known = identities.get(name)
    creds = seed_file(data_dir, name)
    if known is not None and creds.is_file():
        identity = Identity(name, kind, known.public_key, accounts)
    else:
        seed = new_seed()
        write_private(creds, seed + "\n")
        identity = Identity(name, kind, public_key(seed), accounts)
    identities[name] = identity
    return identity


def service_identities(settings: Settings) -> list[tuple[str, Kind, tuple[str, ...]]]:
    """The identities `setpoint up` runs with: the admin (itself and the operator's
    commands), one per service; the strategy host gets its strategies' accounts; the web
    console reads."""
    accounts = tuple(sorted({s.account for s in settings.strategies.values()}))
    return [
        (ADMIN, Kind.ADMIN, ()),
        ("gateway", Kind.GATEWAY, ()),
        ("executor", Kind.EXECUTOR, ()),
        ("differ", Kind.DIFFER, ()),
        ("strategy", Kind.STRATEGY, accounts),
        ("console", Kind.CONSOLE, ()),
    ]


def prepare_server(settings: Settings, *, tls: bool, cluster: int = 1) -> Prepared:
    """Identities, TLS files and the configuration for the server `setpoint up` starts
    (for each of the `cluster` nodes when more than one)."""
    data_dir = Path(settings.nats.data_dir).resolve()
    private_dir(security_dir(data_dir))
    identities = load_identities(data_dir)
    for name, kind, accounts in service_identities(settings):
        ensure_identity(data_dir, identities, name, kind, accounts)
    _save_identities(data_dir, identities)
    server_tls, ca = _server_tls(settings, data_dir) if tls else (None, None)
    host, port = host_port(settings.nats.url)
    server = {
        "host": host, "port": port, "store_dir": str(data_dir / "nats"),
        "stream": settings.eventlog.stream,
        "tls": None if server_tls is None else [server_tls.cert, server_tls.key, server_tls.ca],
        "cluster": cluster, "ca": None if ca is None else str(ca),
    }  # fmt: skip
    write_private(security_dir(data_dir) / SERVER, json.dumps(server, indent=2) + "\n")
    configs = render_all(data_dir)
    creds = {name: seed_file(data_dir, name) for name in identities}
    return Prepared(configs[0], creds, ca, configs if cluster > 1 else ())


def _route_password(data_dir: Path) -> str:
    """The password the nodes of a cluster log in to each other's routes with (made once)."""
    path = security_dir(data_dir) / ROUTE_PASSWORD
    if not path.is_file():
        write_private(path, secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def _server_tls(settings: Settings, data_dir: Path) -> tuple[ServerTls, Path | None]:
    nats = settings.nats
    if nats.tls_cert and nats.tls_key:
        ca = Path(nats.tls_ca) if nats.tls_ca else None
        return ServerTls(nats.tls_cert, nats.tls_key), ca
    host, _ = host_port(nats.url)
    made = make_dev_tls(security_dir(data_dir) / "tls", [host])
    return ServerTls(str(made.cert), str(made.key)), made.ca


def render(data_dir: Path) -> Path:
    """Write `nats-server.conf` (each node's, in a cluster) from `server.json` and
    `identities.json`; the (first) path."""
    return render_all(data_dir)[0]


def render_all(data_dir: Path) -> tuple[Path, ...]:
    """`render`, returning every configuration written (one per node in a cluster)."""
    folder = security_dir(data_dir)
    server = json.loads((folder / SERVER).read_text())
    tls = None if server["tls"] is None else ServerTls(*server["tls"])
    size = int(server.get("cluster", 1))
    identities = load_identities(data_dir).values()
    if size <= 1:
        text = render_server_config(
            identities,
            host=server["host"], port=server["port"], store_dir=server["store_dir"],
            layout=Layout(stream=server["stream"]), tls=tls, pid_file=str(folder / PID),
        )  # fmt: skip
        return (write_private(folder / CONFIG, text),)
    url = f"nats://{server['host']}:{server['port']}"
    nodes = local_nodes(url, size, Path(server["store_dir"]))
    routes = None if tls is None else _route_tls(tls, server.get("ca"))
    password = _route_password(data_dir)
    written = []
    for node in nodes:
        text = render_server_config(
            identities, host=node.host, port=node.port, store_dir=node.store_dir,
            layout=Layout(stream=server["stream"]), tls=tls,
            pid_file=str(folder / f"nats-server-{node.name}.pid"),
            extra=node_lines(node, nodes, route_password=password, tls=routes),
        )  # fmt: skip
        written.append(write_private(folder / f"nats-server-{node.name}.conf", text))
    return tuple(written)


def _route_tls(tls: ServerTls, ca: str | None) -> RouteTls:
    """The routes use the server certificate both ways; the nodes check it with the CA."""
    if ca is None:
        raise UsageError(
            "TLS between the nodes of a cluster needs the CA that signed nats.tls_cert: "
            "set nats.tls_ca"
        )
    return RouteTls(tls.cert, tls.key, ca)


def issue(data_dir: Path, name: str, kind: Kind, accounts: tuple[str, ...]) -> Identity:
    """Add (or rescope) identity `name`; render the configuration and reload the server."""
    _require_prepared(data_dir)
    if kind is Kind.ADMIN:
        raise UsageError("an admin credential is made by `setpoint up` only")
    identities = load_identities(data_dir)
    identity = ensure_identity(data_dir, identities, name, kind, accounts)
    _save_identities(data_dir, identities)
    render(data_dir)
    return identity


def revoke(data_dir: Path, name: str) -> Identity:
    """Remove identity `name` and its credential file; render the configuration again."""
    _require_prepared(data_dir)
    identities = load_identities(data_dir)
    identity = identities.pop(check_name(name), None)
    if identity is None:
        raise UsageError(f"no identity named {name!r} in {security_dir(data_dir)}")
    if identity.kind is Kind.ADMIN:
        raise UsageError("the admin identity cannot be revoked (delete the security folder)")
    _save_identities(data_dir, identities)
    seed_file(data_dir, name).unlink(missing_ok=True)
    render(data_dir)
    return identity


def reload_server(data_dir: Path) -> int | None:
    """SIGHUP to the running server (every node of a cluster; their pid files); the (first)
    pid, or None when none runs."""
    folder = security_dir(data_dir)
    pids = [_reload(path) for path in [folder / PID, *sorted(folder.glob("nats-server-*.pid"))]]
    return next((pid for pid in pids if pid is not None), None)


def _reload(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"nats-server" not in command:  # a stale pid file: that pid is someone else's
            return None
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return None
    return pid


def _require_prepared(data_dir: Path) -> None:
    if not (security_dir(data_dir) / SERVER).is_file():
        raise UsageError(
            f"no server configuration in {security_dir(data_dir)}: run `setpoint up` once "
            "(it makes the identities and the configuration) before issuing credentials"
        )
