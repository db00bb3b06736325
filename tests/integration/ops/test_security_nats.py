"""Identities and permissions against a real nats-server running the generated config.

One server for the module, started from the configuration `setpoint up` would write
(`setpoint.ops.security.prepare_server`), with the saved v1 log (account `e2e`) loaded by
the admin, a strategy credential `alpha` issued for account `e2e` and an auditor `aud`.
Every refusal is the server's: the client sees a permissions violation, and the log and
the subjects it guards are unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from ops_cli import setpoint
from tests.fixtures.logs.saved_log import HERE, entries

from setpoint.bus.connect import connect_nats
from setpoint.bus.credentials import client_options, seed_file
from setpoint.bus.embedded import answers, free_port, host_port, server_binary
from setpoint.bus.leases import KeyLeases, open_bucket
from setpoint.bus.permissions import Kind
from setpoint.config import NatsConfig, Settings
from setpoint.core.errors import LeasesMisconfigured, NatsRefused
from setpoint.core.partitions import partition_name
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.ops.security import issue, new_seed, prepare_server

pytestmark = pytest.mark.nats

SAVED = HERE / "v1-8b10bd6.jsonl.gz"
OTHER = "other"


@dataclass
class Server:
    root: Path
    url: str
    process: subprocess.Popen[bytes]
    ca: Path | None = None

    def config(self, name: str | None, *, credentials: str | None = None) -> Path:
        """A config file connecting as identity `name` (or with `credentials`)."""
        ref = credentials or (f"file:{seed_file(self.root, name)}" if name else None)
        lines = [f'[nats]\nurl = "{self.url}"\nembedded = false\ndata_dir = "{self.root}"']
        if ref is not None:
            lines.append(f'credentials = "{ref}"')
        if self.ca is not None:
            lines.append(f'tls_ca = "{self.ca}"')
        path = self.root / f"{name or 'custom'}.toml"
        path.write_text("\n".join(lines) + '\n\n[eventlog]\nbackend = "jetstream"\n')
        return path

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_server(root: Path, *, tls: bool) -> Server:
    url = f"nats://127.0.0.1:{free_port()}"
    settings = Settings(
        nats=NatsConfig(url=url, data_dir=str(root)),
        strategies={"g": {"kind": "grid", "account": "e2e", "symbol": "BTC/USDT"}},
    )
    prepared = prepare_server(settings, tls=tls)
    out = open(root / "nats-server.log", "wb")  # noqa: SIM115  (closed with the process)
    process = subprocess.Popen([server_binary(), "-c", str(prepared.config)], stdout=out,
                               stderr=subprocess.STDOUT)  # fmt: skip
    for _ in range(200):
        if answers(url, 0.1):
            return Server(root, url, process, prepared.ca)
        assert process.poll() is None, (root / "nats-server.log").read_text()
        subprocess.run(["sleep", "0.05"], check=True)
    raise AssertionError("the secured nats-server did not answer")


@dataclass
class Client:
    nc: NATS
    errors: list[str] = field(default_factory=list)

    async def violations(self) -> list[str]:
        await self.nc.flush()
        await asyncio.sleep(0.2)  # the server's -ERR follows the refused message
        return [e for e in self.errors if "permissions violation" in e]


async def connect(server: Server, name: str) -> Client:
    client = Client(None)  # type: ignore[arg-type]

    async def on_error(exc: Exception) -> None:
        client.errors.append(str(exc).lower())

    options = client_options(
        NatsConfig(credentials=f"file:{seed_file(server.root, name)}",
                   tls_ca=None if server.ca is None else str(server.ca))
    )  # fmt: skip
    client.nc = await nats.connect(server.url, error_cb=on_error, **options)
    return client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("secured")
    found = start_server(root, tls=False)
    issue(root, "alpha", Kind.STRATEGY, ("e2e",))
    issue(root, "aud", Kind.AUDITOR, ())
    subprocess.run(["kill", "-HUP", str(found.process.pid)], check=True)
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture(scope="module")
async def loaded(server: Server) -> Server:
    """The admin creates the stream and loads the saved log into it."""
    admin = await connect(server, "admin")
    try:
        log = await JetStreamEventLog.open(admin.nc)
        await log.close()
        js = admin.nc.jetstream()
        for entry in entries(SAVED):
            await js.publish(entry.subject, entry.data.encode(), stream=log.stream)
    finally:
        await admin.nc.close()
    return server


async def head(server: Server) -> int:
    admin = await connect(server, "admin")
    try:
        return int((await admin.nc.jetstream().stream_info("SETPOINT")).state.last_seq)
    finally:
        await admin.nc.close()


async def test_a_strategy_cannot_target_another_account(loaded: Server) -> None:
    before = await head(loaded)
    watcher = await connect(loaded, "admin")
    seen: list[Msg] = []

    async def on_target(msg: Msg) -> None:
        seen.append(msg)

    await watcher.nc.subscribe("setpoint.target.>", cb=on_target)
    await watcher.nc.flush()
    alpha = await connect(loaded, "alpha")
    try:
        await alpha.nc.publish(f"setpoint.target.{OTHER}.BTC-USDT", b"{}")
        await alpha.nc.publish("setpoint.target.e2e.BTC-USDT", b"{}")  # its own: delivered
        assert any(OTHER in v for v in await alpha.violations())
        await watcher.nc.flush()
        await asyncio.sleep(0.2)
        assert [m.subject for m in seen] == ["setpoint.target.e2e.BTC-USDT"]
    finally:
        await alpha.nc.close()
        await watcher.nc.close()
    assert await head(loaded) == before


async def test_a_strategy_cannot_write_delete_or_play_gateway(loaded: Server) -> None:
    before = await head(loaded)
    alpha = await connect(loaded, "alpha")
    try:
        await alpha.nc.publish("setpoint.evt.e2e.BTC-USDT.gateway.FillObserved", b"{}")
        await alpha.nc.publish("$JS.API.STREAM.DELETE.SETPOINT", b"", reply="_INBOX.x")
        await alpha.nc.publish("$JS.API.STREAM.PURGE.SETPOINT", b"", reply="_INBOX.x")
        await alpha.nc.publish("setpoint.gw.e2e.place", b"{}")
        await alpha.nc.subscribe("setpoint.gw.e2e.place")
        violations = await alpha.violations()
    finally:
        await alpha.nc.close()
    for refused in ("setpoint.evt.e2e", "stream.delete", "stream.purge", 'publish to "setpoint.gw'):
        assert any(refused in v for v in violations), (refused, violations)
    assert any("subscription" in v and "setpoint.gw" in v for v in violations), violations
    assert await head(loaded) == before


async def test_a_strategy_follows_its_own_account_only(loaded: Server) -> None:
    alpha = await connect(loaded, "alpha")
    try:
        own = await JetStreamEventLog.open(alpha.nc, account="e2e")
        records = [r async for r in own.read_all()]
        await own.close()
        assert records
        assert {r.event.account for r in records} == {"e2e"}
        assert not await alpha.violations()
        other = JetStreamEventLog(alpha.nc, account=OTHER, timeout=1)
        with pytest.raises(Exception):  # noqa: B017  (refused: no answer)
            async for _ in other.read_all():
                pass
        await other.close()
        assert any(f"setpoint.evt.{OTHER}" in v for v in await alpha.violations())
    finally:
        await alpha.nc.close()


async def test_an_auditor_replays_and_audits_but_cannot_write(loaded: Server) -> None:
    config = loaded.config("aud")
    code, out, err = await setpoint(config, "audit", "--json")
    assert code in (0, 1), err  # the saved log's own verdict; read to the end either way
    assert '"clean"' in out
    code, out, err = await setpoint(config, "replay", "--json")
    assert code == 0, err
    before = await head(loaded)
    aud = await connect(loaded, "aud")
    try:
        await aud.nc.publish("setpoint.evt.e2e.BTC-USDT.intake.TargetPublished", b"{}")
        await aud.nc.publish("setpoint.target.e2e.BTC-USDT", b"{}")
        violations = await aud.violations()
    finally:
        await aud.nc.close()
    assert len(violations) == 2, violations
    assert await head(loaded) == before


def run_service(config: Path, service: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "setpoint", "--config", str(config), "run", service],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_service_with_a_wrong_credential_says_why_and_stops(
    server: Server, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.nk"
    seed = new_seed()
    stranger.write_text(seed)
    done = run_service(server.config(None, credentials=f"file:{stranger}"), "executor")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stderr
    assert "refused the connection: authorization violation" in errors[0]
    garbage = tmp_path / "garbage.nk"
    garbage.write_text("not-a-seed-" + seed[:20])
    done = run_service(server.config(None, credentials=f"file:{garbage}"), "executor")
    assert done.returncode == 1
    assert f"file:{garbage}: not an nkey user seed" in done.stderr
    for text in (done.stdout, done.stderr):
        assert seed not in text
        assert seed[:20] not in text


@pytest.fixture
async def fresh_differ(tmp_path: Path) -> AsyncIterator[NATS]:
    """The differ's connection to a server of its own on which the admin made nothing."""
    fresh = start_server(tmp_path, tls=False)
    try:
        differ = await connect(fresh, "differ")
        try:
            yield differ.nc
        finally:
            await differ.nc.close()
    finally:
        fresh.stop()


async def test_a_restricted_service_needs_the_stream_made_by_the_admin(fresh_differ: NATS) -> None:
    log = JetStreamEventLog(fresh_differ, timeout=1)
    with pytest.raises(Exception, match="may not create streams"):
        await log.ensure_stream()


LEASES = Settings(leases={"enabled": True, "ttl_s": 1, "partitions": 4})


async def test_a_differ_holds_and_renews_its_leases_a_strategy_is_refused(server: Server) -> None:
    admin = await connect(server, "admin")
    try:
        await open_bucket(admin.nc, LEASES.leases.ttl_s, 1)  # `setpoint up`'s step
    finally:
        await admin.nc.close()
    differ = await connect(server, "differ")
    gained: list[int] = []

    async def on_gained(partition: int) -> None:
        gained.append(partition)

    partitions = KeyLeases(differ.nc, LEASES, "differ", on_gained)
    leases = partitions.leases
    assert leases is not None
    try:
        await leases.start()
        assert leases.held() == {partition_name(p) for p in range(4)}
        tokens = {name: leases.token(name) for name in leases.held()}
        for _ in range(3):  # renewals keep the same tenures
            await leases.round()
        assert {name: leases.token(name) for name in leases.held()} == tokens
        await leases.stop()  # gives back: revision-checked deletes
        assert not await differ.violations()
    finally:
        await differ.nc.close()
    alpha = await connect(server, "alpha")
    try:
        await alpha.nc.publish("$KV.SETPOINT_LEASES.differ.l.p000", b"alpha")
        with pytest.raises(Exception):  # noqa: B017  (refused: no answer)
            await alpha.nc.jetstream(timeout=1).key_value("SETPOINT_LEASES")
        violations = await alpha.violations()
    finally:
        await alpha.nc.close()
    assert any("$kv.setpoint_leases.differ" in v for v in violations), violations
    assert any("kv_setpoint_leases" in v for v in violations), violations


async def test_a_gateway_cannot_take_a_differs_lease(server: Server) -> None:
    gateway = await connect(server, "gateway")
    try:
        kv = await open_bucket(gateway.nc, LEASES.leases.ttl_s, 1)
        await gateway.nc.publish("$KV.SETPOINT_LEASES.differ.l.p001", b"gateway")
        await kv.put("gateway.m.gw-1", b"")  # its own group: allowed
        violations = await gateway.violations()
    finally:
        await gateway.nc.close()
    assert len(violations) == 1, violations
    assert "setpoint_leases.differ" in violations[0]


async def test_a_restricted_service_needs_the_lease_bucket_made_by_the_admin(
    fresh_differ: NATS,
) -> None:
    with pytest.raises(LeasesMisconfigured, match="An admin creates it"):
        await open_bucket(fresh_differ, 1, 1)


async def test_tls_works_and_plain_connections_are_refused(tmp_path: Path) -> None:
    secured = start_server(tmp_path, tls=True)
    try:
        client = await connect(secured, "admin")
        assert client.nc.is_connected
        await client.nc.close()
        admin = f"file:{seed_file(tmp_path, 'admin')}"
        plain = Settings(nats=NatsConfig(url=secured.url, embedded=False, credentials=admin))
        with pytest.raises(NatsRefused, match="certificate is not trusted"):
            await connect_nats(plain, name="no CA")  # it must upgrade, and cannot verify
        info, answer = await asyncio.to_thread(plain_protocol, secured.url)
        assert '"tls_required":true' in info
        assert "pong" not in answer  # the server closed the plain connection unanswered
    finally:
        secured.stop()


def plain_protocol(url: str) -> tuple[str, str]:
    """The server's INFO, and what it answers a client that goes on without TLS."""
    host, port = host_port(url)
    with socket.create_connection((host, port), timeout=5) as sock:
        info = sock.recv(4096).decode(errors="replace").replace(" ", "")
        sock.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(4096):
                answer += chunk
    return info, answer.decode(errors="replace").lower()
