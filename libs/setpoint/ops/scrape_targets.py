"""Metrics ports of the processes `setpoint up` starts, and the file Prometheus reads.

* `metrics_ports(settings, services)`: one port per service process. From
  `telemetry.metrics_port` when configured, else from `DEFAULT_BASE` (9464), the i-th
  service gets base + i; a port already taken on this host is replaced by a free one
  (so two `up` on one machine, or a busy 9464, still work: the file says which).
* `targets_document(host, ports)`: Prometheus' file-based service discovery format, one
  target group per process with its `service` label (pure).
* `write_targets(data_dir, host, ports)`: writes it to `<data_dir>/prometheus/targets.json`
  (atomically: Prometheus re-reads the file when it changes) and returns the path.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from setpoint.bus.embedded import free_port
from setpoint.config import Settings

__all__ = ["DEFAULT_BASE", "metrics_ports", "targets_document", "write_targets"]

DEFAULT_BASE = 9464
TARGETS_FILE = Path("prometheus") / "targets.json"


def metrics_ports(settings: Settings, services: Sequence[str]) -> dict[str, int]:
    """A distinct metrics port per service (module docstring)."""
    host = settings.telemetry.metrics_host
    base = settings.telemetry.metrics_port or DEFAULT_BASE
    ports: dict[str, int] = {}
    for index, service in enumerate(services):
        wanted = base + index
        taken = set(ports.values())
        ports[service] = wanted if _bindable(host, wanted) else _free_other(host, taken)
    return ports


def _bindable(host: str, port: int) -> bool:
    if port > 65535:
        return False
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_other(host: str, taken: set[int]) -> int:
    while True:
        port = free_port(host)
        if port not in taken:
            return port


def targets_document(host: str, ports: Mapping[str, int]) -> list[dict[str, Any]]:
    """File-based service discovery groups: one per process, labelled `service`."""
    address = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return [
        {"targets": [f"{address}:{port}"], "labels": {"service": service}}
        for service, port in ports.items()
    ]


def write_targets(data_dir: Path, host: str, ports: Mapping[str, int]) -> Path:
    """Write `<data_dir>/prometheus/targets.json` (module docstring); returns its path."""
    path = data_dir / TARGETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(targets_document(host, ports), indent=2) + "\n")
    os.replace(partial, path)
    return path
