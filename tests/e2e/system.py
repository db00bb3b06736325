"""The whole system as separate processes, driven only through public contracts.

`System` starts a nats-server (JetStream, temp store), writes a config file, runs
`setpoint run sim|gateway|executor|differ` as subprocesses (output to files), and offers
what a user has: target requests over NATS, the simulator's control API and
`GET /_sim/state`, and a read of the event log (anyone may replay it). Services can be
stopped, SIGKILLed and started again.

`dialect` is the venue the account `e2e` trades (`binance` or `okx`: the simulator speaks
its API, the account is that exchange with the demo passphrase); `second`, the dialect of
a second account (`SECOND`) on a second simulator (`[sims.second]`, `setpoint run sim
--sim second`), for scenarios across two venues.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp
import nats
from nats.aio.client import Client as NATS

from setpoint.bus import subjects
from setpoint.bus.embedded import EmbeddedNats, free_port, terminate
from setpoint.core.events import Event
from setpoint.core.ids import IdScheme, account_prefix, intent_hash
from setpoint.core.model import Key
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.venues.capabilities import id_scheme

ACCOUNT = "e2e"
SECOND = "e2e-two"
API_KEY = "demo-key"
SECRET = "demo-secret"
PASSPHRASE = "demo-passphrase"
SERVICES = ("sim", "sim-second", "gateway", "executor", "differ")
DIALECTS = ("binance", "okx")


class _UpDown(Protocol):
    async def up(self) -> None: ...
    async def down(self) -> None: ...


Running = TypeVar("Running", bound=_UpDown)


@asynccontextmanager
async def running(system: Running) -> AsyncIterator[Running]:
    """`system` brought up for the block and down after it, also when `up` fails half way
    (what it did start is stopped)."""
    try:
        await system.up()
        yield system
    finally:
        await system.down()


def order(intent: str, side: str, price: str, quantity: str) -> dict[str, Any]:
    """One order of a target request (the intake's wire shape)."""
    return {"id": intent, "side": side, "price": price, "quantity": quantity}


ACCOUNT_SETTINGS: dict[str, object] = {
    "zombie_policy": "ignore",
    "zombie_scope": "keys",
    "reconcile_interval_s": 1,
    "in_flight_timeout_s": 1,
    "not_found_retries": 2,
    "not_found_min_age_s": 0.5,
    "venue_timeout_s": 1.5,
    "rate_limit_per_s": 1000,
    "ticker_interval_s": 1,
}
"""Short intervals so that faults resolve within a test (see `config_text`)."""


def account_text(name: str, dialect: str, sim_port: int, secret_file: Path, lines: str) -> str:
    """An account of the e2e system on the simulator at `sim_port` speaking `dialect`."""
    passphrase = f'passphrase = "file:{secret_file.with_name("passphrase")}"\n'
    return f"""
[accounts.{name}]
exchange = "{dialect}"
base_url = "http://127.0.0.1:{sim_port}"
api_key = "env:SETPOINT_E2E_API_KEY"
secret = "file:{secret_file}"
{passphrase if dialect == "okx" else ""}{lines}
"""


def _toml(value: object) -> str:
    """A setting's value in TOML (JSON's scalars and strings are TOML's; a table inline)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def config_text(
    nats_url: str,
    sim_port: int,
    secret_file: Path,
    data_dir: Path,
    sim_extra: str = "",
    account: dict[str, object] | None = None,
    dialect: str = "binance",
    second: tuple[str, int] | None = None,
) -> str:
    """The e2e configuration; `second`: (dialect, port) of a second account and simulator."""
    settings = {**ACCOUNT_SETTINGS, **(account or {})}
    lines = "\n".join(f"{k} = {_toml(v)}" for k, v in settings.items())
    accounts = account_text(ACCOUNT, dialect, sim_port, secret_file, lines)
    sims = f"""
[sim]
port = {sim_port}
dialect = "{dialect}"
{sim_extra}
"""
    if second is not None:
        accounts += account_text(SECOND, second[0], second[1], secret_file, lines)
        sims += f"""
[sims.second]
port = {second[1]}
dialect = "{second[0]}"
{sim_extra}
"""
    return f"""
[nats]
url = "{nats_url}"
embedded = false
data_dir = "{data_dir}"

[eventlog]
backend = "jetstream"
{accounts}{sims}"""


async def eventually(
    check: Callable[[], Awaitable[Any]], within: float = 20.0, what: str = "condition"
) -> Any:
    """Poll `check` until it returns something truthy (a deadline, not a timing claim)."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within}s")
        await asyncio.sleep(0.1)


class System:
    def __init__(
        self,
        root: Path,
        sim_extra: str = "",
        account: dict[str, object] | None = None,
        *,
        metrics: bool = False,
        dialect: str = "binance",
        second: str | None = None,
    ) -> None:
        self.root = root
        self.dialect, self.second = dialect, second
        self.scheme = id_scheme(dialect)
        """How the account's client order ids are written on its venue."""
        self.metrics_ports = (
            {svc: free_port() for svc in ("gateway", "differ", "executor")} if metrics else {}
        )
        """With `metrics`: each service's Prometheus port (`telemetry.metrics_port`)."""
        self.nats_url = f"nats://127.0.0.1:{free_port()}"
        self.sim_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.sim_port}"
        self.base_urls = {ACCOUNT: self.base_url}
        second_sim = None
        if second is not None:
            second_sim = (second, free_port())
            self.base_urls[SECOND] = f"http://127.0.0.1:{second_sim[1]}"
        self.nats_server = EmbeddedNats(self.nats_url, root / "nats", root / "nats.log")
        secret_file = root / "secret"
        secret_file.write_text(SECRET)
        (root / "passphrase").write_text(PASSPHRASE)
        self.config = root / "setpoint.toml"
        self.config.write_text(
            config_text(
                self.nats_url,
                self.sim_port,
                secret_file,
                root,
                sim_extra,
                account,
                dialect,
                second_sim,
            )
        )
        self.env = {**os.environ, "SETPOINT_E2E_API_KEY": API_KEY, "PYTHONUNBUFFERED": "1"}
        self.env.pop("SETPOINT_CONFIG", None)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = {}
        self.nc: NATS | None = None
        self.log: JetStreamEventLog | None = None
        self.http: aiohttp.ClientSession | None = None
        self.generation = 0

    # ------------------------------------------------------------------ processes

    def output(self, service: str) -> Path:
        return self.root / f"{service}.{self.starts.get(service, 0)}.out"

    def spawn(
        self, service: str, *args: str, env: dict[str, str] | None = None, name: str | None = None
    ) -> None:
        """Run `setpoint run <service>`; `name` tells a second instance apart (its output
        file and its handle in `processes`; default: the service)."""
        name = name or service
        self.starts[name] = self.starts.get(name, 0) + 1
        out = open(self.output(name), "wb")  # noqa: SIM115  (closed with the process)
        command = [
            sys.executable,
            "-m",
            "setpoint",
            "--config",
            str(self.config),
            "run",
            service,
            *args,
        ]
        self.processes[name] = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**self.env, **self._metrics_env(name), **(env or {})},
            cwd=self.root,
        )
        out.close()

    def _metrics_env(self, service: str) -> dict[str, str]:
        port = self.metrics_ports.get(service)
        return {} if port is None else {"SETPOINT_TELEMETRY__METRICS_PORT": str(port)}

    async def scrape(self, service: str) -> str:
        """The text of `service`'s /metrics endpoint (with `metrics` only)."""
        assert self.http is not None
        url = f"http://127.0.0.1:{self.metrics_ports[service]}/metrics"
        async with self.http.get(url) as reply:
            assert reply.status == 200, reply.status
            return await reply.text()

    async def wait_ready(self, service: str, within: float = 60.0) -> None:
        async def ready() -> bool:
            process = self.processes[service]
            if process.poll() is not None:
                text = self.output(service).read_text(errors="replace")[-3000:]
                raise AssertionError(f"{service} exited {process.returncode}:\n{text}")
            return "ready" in self.output(service).read_text(errors="replace")

        await eventually(ready, within, f"{service} ready")

    async def start(self, *services: str, env: dict[str, str] | None = None) -> None:
        for service in services:
            self.spawn(service, env=env)
        for service in services:
            await self.wait_ready(service)

    def kill(self, service: str) -> None:
        process = self.processes.pop(service)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self, service: str) -> None:
        process = self.processes.pop(service, None)
        if process is None or process.poll() is not None:
            return
        terminate(process, 10)

    async def restart_server(self, how: signal.Signals, pause_s: float = 0.0) -> None:  # float-ok
        """Stop the nats-server with `how` (SIGTERM or SIGKILL) and start it again on the
        same port and store after `pause_s` without any server."""
        server = self.nats_server
        assert server.process is not None
        server.process.send_signal(how)
        await asyncio.to_thread(server.process.wait, 10)
        server.process = None
        await asyncio.sleep(pause_s)
        await asyncio.to_thread(server.start)

    async def up(self) -> None:
        self.nats_server.start()
        await self.start("sim")
        if self.second is not None:
            self.spawn("sim", "--sim", "second", name="sim-second")
            await self.wait_ready("sim-second")
        await self.start("gateway", "differ", "executor")
        await self.up_clients()

    async def up_clients(self) -> None:
        """The test's own NATS client, log reader and HTTP session (after the services)."""
        self.nc = await nats.connect(self.nats_url)
        self.log = await JetStreamEventLog.open(self.nc)
        self.http = aiohttp.ClientSession()

    async def down(self) -> None:
        extra = [name for name in self.processes if name not in SERVICES]
        for service in [*extra, *reversed(SERVICES)]:
            self.stop(service)
        await self.down_clients()
        self.nats_server.stop()

    async def down_clients(self) -> None:
        """Close what `up_clients` opened (after the services, before the server)."""
        if self.http is not None:
            await self.http.close()
        if self.nc is not None:
            await self.nc.close()

    async def audit(self) -> dict[str, Any]:
        """`setpoint audit --json` over the system's log: its report, which must be clean
        (else the first violations are shown) and exit 0."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "setpoint", "--config", str(self.config), "audit", "--json",
            stdout=asyncio.subprocess.PIPE, env=self.env, cwd=self.root,
        )  # fmt: skip
        out, _ = await process.communicate()
        report: dict[str, Any] = json.loads(out)
        assert report["clean"], json.dumps(report["violations"][:10], indent=1)
        assert process.returncode == 0
        return report

    def outputs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.root.glob("*.out")))

    # ------------------------------------------------------------------ public contracts

    def intent_prefix(self, symbol: str, intent: str, account: str = ACCOUNT) -> str:
        """What every client order id of `intent` on `symbol` starts with at the venue."""
        dialect = self.dialect if account == ACCOUNT else (self.second or self.dialect)
        scheme = id_scheme(dialect)
        dash = "-" if scheme is IdScheme.DASHED else ""
        return f"{account_prefix(account, scheme)}{intent_hash(symbol, intent)}{dash}"

    async def target(
        self,
        symbol: str,
        orders: list[dict[str, Any]],
        *,
        position: str | None = None,
        expires_at: str | None = None,
        account: str = ACCOUNT,
    ) -> int:
        """Publish a target (next generation); returns the generation accepted."""
        assert self.nc is not None
        self.generation += 1
        body = {
            "account": account,
            "symbol": symbol,
            "generation": self.generation,
            "strategy": "e2e",
            "position": position,
            "expires_at": expires_at,
            "orders": [_order(o) for o in orders],
        }
        reply = await self.nc.request(
            subjects.target_subject(account, symbol), json.dumps(body).encode(), timeout=10
        )
        answer = json.loads(reply.data)
        assert answer.get("accepted"), answer
        return self.generation

    async def control(
        self, method: str, path: str, body: Any = None, account: str = ACCOUNT
    ) -> Any:
        """A call of the control API of `account`'s simulator."""
        assert self.http is not None
        url = self.base_urls[account] + path
        async with self.http.request(method, url, json=body) as reply:
            payload = await reply.json()
            assert reply.status == 200, payload
            return payload

    async def venue(self, account: str = ACCOUNT) -> dict[str, Any]:
        result: dict[str, Any] = await self.control("GET", "/_sim/state", account=account)
        return result

    async def open_orders(self, symbol: str, account: str = ACCOUNT) -> list[dict[str, Any]]:
        state = await self.venue(account)
        return [
            o
            for o in state["orders"]
            if o["symbol"] == symbol and o["status"] in ("NEW", "PARTIALLY_FILLED")
        ]

    async def events(
        self, symbol: str | None, kind: str | None = None, account: str = ACCOUNT
    ) -> list[Event]:
        assert self.log is not None
        records = await self.log.read(Key(account, symbol))
        return [r.event for r in records if kind is None or r.event.type == kind]

    async def health(self, service: str) -> dict[str, Any]:
        assert self.nc is not None
        reply = await self.nc.request(subjects.health_subject(service), b"", timeout=5)
        result: dict[str, Any] = json.loads(reply.data)
        return result


def _order(spec: dict[str, Any]) -> dict[str, Any]:
    base = {
        "side": "buy",
        "type": "limit",
        "time_in_force": "GTC",
        "post_only": False,
        "reduce_only": False,
        "oco_group": None,
    }
    return {**base, **spec}
