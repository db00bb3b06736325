"""`setpoint up` as a user runs it: in an empty directory (the built-in demo), on free
ports, then Ctrl-C. Every child that was started is gone afterwards.

Services that exist are required to become ready; a service whose module is not there yet
must at least be reported by `up`, which keeps going. With all of them there, the demo
grid's target must reach the differ (a key with a generation in the status).
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from urllib.request import urlopen

import pytest
from tests.processes import alive, start_up, stop_up

from setpoint.bus.embedded import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHILDREN = ("sim", "sim-okx", "gateway", "executor", "differ", "strategy", "console")
"""The demo's children: a simulator per venue (Binance and OKX dialects), the services."""


class Output:
    """The lines `setpoint up` prints, read on a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, pattern: str, within: float) -> str:
        """Wait for a line matching `pattern` (re.search); fail after `within` seconds."""
        deadline = time.monotonic() + within
        for line in self.lines:
            if re.search(pattern, line):
                return line
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; got:\n" + "\n".join(self.lines))

    def rest(self, within: float) -> None:
        with suppress(AssertionError):
            self.until(r"^\Z(?!x)x", within)  # never matches: drain until the end


def _exists(service: str) -> bool:
    return importlib.util.find_spec(f"setpoint.{service}.main") is not None


def _environment(ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETPOINT_")}
    return env | {
        "SETPOINT_NATS__URL": f"nats://127.0.0.1:{ports['nats']}",
        "SETPOINT_SIM__PORT": str(ports["sim"]),
        "SETPOINT_ACCOUNTS__DEMO__BASE_URL": f"http://127.0.0.1:{ports['sim']}",
        "SETPOINT_SIMS__OKX__PORT": str(ports["okx"]),
        "SETPOINT_ACCOUNTS__DEMO-OKX__BASE_URL": f"http://127.0.0.1:{ports['okx']}",
        "SETPOINT_CONSOLE__PORT": str(ports["console"]),
        "PYTHONUNBUFFERED": "1",
    }


def _differ_serves_metrics(cwd: Path) -> None:
    """The targets file names one port per service; the differ's answers with its metrics."""
    targets = json.loads((cwd / ".setpoint" / "prometheus" / "targets.json").read_text())
    by_service = {group["labels"]["service"]: group["targets"][0] for group in targets}
    assert set(by_service) == {"gateway", "executor", "differ", "strategy"}
    assert len(set(by_service.values())) == 4
    with urlopen(f"http://{by_service['differ']}/metrics", timeout=5) as reply:
        assert "setpoint_key_converged" in reply.read().decode()


def _second_up_is_refused(
    first: subprocess.Popen[str], ports: dict[str, int], tmp_path: Path
) -> None:
    """Another `setpoint up` on the same NATS says so and exits, leaving the first alone."""
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = subprocess.run(
        [sys.executable, "-m", "setpoint", "up", "--no-status"],
        cwd=second_dir, env=_environment(ports), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 1, second.stdout + second.stderr
    assert "already answer" in second.stdout
    assert first.poll() is None


def _no_seed_leaks(data_dir: Path, lines: list[str]) -> None:
    """`up` is secure by default: every identity has an owner-only nkey seed, and no seed
    appears in `up`'s output or any child's log."""
    seeds = {p.stem: p for p in (data_dir / "security" / "creds").glob("*.nk")}
    assert {"admin", "gateway", "executor", "differ", "strategy"} <= set(seeds)
    texts = ["\n".join(lines)] + [p.read_text() for p in (data_dir / "logs").glob("*.log")]
    for path in seeds.values():
        assert path.stat().st_mode & 0o077 == 0, path
        seed = path.read_text().strip()
        assert all(seed not in text for text in texts), path.name


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output, dict[str, int]]]:
    ports = {"nats": free_port(), "sim": free_port(), "okx": free_port(), "console": free_port()}
    env = _environment(ports)
    process = start_up(tmp_path, env, subprocess.PIPE, "--ready-timeout", "40")
    try:
        yield process, Output(process), ports
    finally:
        stop_up(process)


def test_up_runs_the_demo_and_ctrl_c_leaves_nothing_behind(
    up: tuple[subprocess.Popen[str], Output, dict[str, int]], tmp_path: Path
) -> None:
    process, out, ports = up
    out.until(r"nats: ready", 30)
    ready = set()
    for child in CHILDREN:  # each one is either ready or reported, and `up` goes on
        line = out.until(rf"^setpoint up: {child}: (ready|exited|not ready)", 90)
        if line.endswith(": ready"):
            ready.add(child)
        else:
            assert _exists(child) or "exited" in line
    out.until(r"all started", 60)

    with socket.create_connection(("127.0.0.1", ports["nats"]), timeout=2):
        pass
    for sim, port in (("sim", ports["sim"]), ("sim-okx", ports["okx"])):
        if sim in ready:
            with urlopen(f"http://127.0.0.1:{port}/_sim/state", timeout=5) as reply:
                assert "orders" in json.loads(reply.read())
    if "sim-okx" in ready:  # it speaks OKX's API
        with urlopen(f"http://127.0.0.1:{ports['okx']}/api/v5/public/time", timeout=5) as reply:
            assert json.loads(reply.read())["code"] == "0"
    if "gateway" in ready:  # one gateway per account, both venues
        log = (tmp_path / ".setpoint" / "logs" / "gateway.log").read_text()
        assert "gateway ready (demo, demo-okx)" in log
    if ready == set(CHILDREN):
        out.until(r"status demo BTC/USDT \| [1-9]", 60)  # the grid's target reached the differ
        out.until(rf"console: open http://127.0.0.1:{ports['console']}/", 5)
        with urlopen(f"http://127.0.0.1:{ports['console']}/api/overview", timeout=5) as reply:
            assert {k["symbol"] for k in json.loads(reply.read())["keys"]} >= {"BTC/USDT"}

    if "differ" in ready:
        _differ_serves_metrics(tmp_path)

    assert (tmp_path / ".setpoint" / "logs" / "nats-server.log").exists()
    _no_seed_leaks(tmp_path / ".setpoint", out.lines)
    if ready & {"gateway", "executor", "differ", "strategy"}:
        _second_up_is_refused(process, ports, tmp_path)
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0
    out.rest(5)
    pids = [
        int(pid)
        for line in out.lines
        if (match := re.search(r": stopped \(pids ([\d, ]+)\)", line))
        for pid in match.group(1).split(", ")
    ]
    assert len(pids) >= 2  # nats and the simulator at least
    survivors = [pid for pid in pids if alive(pid)]
    assert survivors == [], "\n".join(out.lines)
    assert out.lines[-1] == "setpoint up: stopped"


def _status_code(ports: dict[str, int], cwd: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "setpoint", "status", "--json"],
        cwd=cwd, env=_environment(ports), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return done.returncode


def test_up_restarts_its_nats_server_and_the_services_ride_through(
    up: tuple[subprocess.Popen[str], Output, dict[str, int]], tmp_path: Path
) -> None:
    process, out, ports = up
    started = out.until(r"nats: started \(pid \d+\)", 30)
    nats_pid = int(re.search(r"pid (\d+)", started).group(1))  # type: ignore[union-attr]
    out.until(r"all started", 150)
    deadline = time.monotonic() + 60
    while _status_code(ports, tmp_path) != 0:  # every service ready
        assert time.monotonic() < deadline, "\n".join(out.lines)
        time.sleep(1)

    os.kill(nats_pid, signal.SIGKILL)
    out.until(r"nats: exited", 30)
    out.until(r"nats: restarted", 30)
    deadline = time.monotonic() + 90
    while _status_code(ports, tmp_path) != 0:  # ready again: following the log, caught up
        assert time.monotonic() < deadline, "\n".join(out.lines)
        time.sleep(1)
    assert process.poll() is None
    for child in ("gateway", "executor", "differ", "strategy"):
        assert not any(re.search(rf"{child}: exited", line) for line in out.lines), out.lines
