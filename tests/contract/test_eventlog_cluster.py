"""The JetStream log on three clustered nats-servers (`nats_cluster`): the stream keeps three
copies, appends ride through a SIGKILL of the stream leader's server (the client moves to
another server, the append in flight is sent again with the same event id), and a stream
with another replica count is refused by the admin's step and changed only on purpose.

Nothing here asserts timing: a deadline only bounds a wait.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_eventlog import placed

from setpoint.bus.cluster import EmbeddedCluster, stream_leader
from setpoint.bus.connect import connect_nats
from setpoint.config import Settings
from setpoint.core.model import Key, Producer
from setpoint.eventlog.factory import migrate_replicas, open_event_log
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.port import LogMisconfigured

pytestmark = [pytest.mark.nats, pytest.mark.timeout(180)]

KEYS = tuple(Key("demo", f"K{n}/USDT") for n in range(8))
APPENDS_PER_KEY = 30


def settings_for(cluster: EmbeddedCluster, tmp_path: Path, replicas: int) -> Settings:
    return Settings.model_validate(
        {
            "nats": {"url": cluster.url, "embedded": False, "data_dir": str(tmp_path)},
            "eventlog": {"replicas": replicas},
        }
    )


@pytest.fixture
async def replicated(
    nats_cluster: EmbeddedCluster, tmp_path: Path
) -> AsyncIterator[JetStreamEventLog]:
    settings = settings_for(nats_cluster, tmp_path, 3)
    log = await open_event_log(settings, name="test-cluster", admin=True)
    assert isinstance(log, JetStreamEventLog)
    yield log
    await log.close()


async def test_the_stream_keeps_three_copies(
    replicated: JetStreamEventLog, nats_cluster: EmbeddedCluster
) -> None:
    info = await replicated.connection.jetstream().stream_info(replicated.stream)
    assert info.config.num_replicas == 3
    assert replicated.stream_replicas == 3
    assert info.cluster is not None
    assert info.cluster.leader in nats_cluster.servers
    assert len(info.cluster.replicas or []) == 2


async def _chain(
    log: JetStreamEventLog, key: Key, acked: dict[str, int], progress: asyncio.Condition
) -> None:
    """Appends to one key, each expecting the one before (the services' way)."""
    expected = 0
    for n in range(APPENDS_PER_KEY):
        event = placed(key, n=n)
        [expected] = await log.append(key, Producer.GATEWAY, [event], expected)
        acked[event.event_id] = expected
        async with progress:
            progress.notify_all()
        await asyncio.sleep(0.02)


async def _acked_at_least(acked: dict[str, int], count: int, progress: asyncio.Condition) -> None:
    async with progress:
        await progress.wait_for(lambda: len(acked) >= count)


async def test_appends_ride_through_a_sigkill_of_the_stream_leader(
    replicated: JetStreamEventLog, nats_cluster: EmbeddedCluster
) -> None:
    acked: dict[str, int] = {}
    progress = asyncio.Condition()
    writers = [asyncio.create_task(_chain(replicated, key, acked, progress)) for key in KEYS]
    total = len(KEYS) * APPENDS_PER_KEY
    await asyncio.wait_for(_acked_at_least(acked, total // 4, progress), 60)
    leader = stream_leader(nats_cluster.nodes[0], replicated.stream)
    assert leader is not None
    await asyncio.to_thread(nats_cluster.kill, leader)
    await asyncio.wait_for(_acked_at_least(acked, total // 2, progress), 60)
    await asyncio.to_thread(nats_cluster.restart, leader)
    await asyncio.wait_for(asyncio.gather(*writers), 120)  # none raised: every append acked

    assert stream_leader(nats_cluster.nodes[0], replicated.stream) is not None
    stored: dict[str, int] = {}
    for key in KEYS:
        for record in await replicated.read(key):
            assert record.event.event_id not in stored, "an event stored twice"
            stored[record.event.event_id] = record.position
    assert stored == acked  # every acknowledged append is there, where it was acknowledged


async def test_another_replica_count_is_refused_by_the_admin_and_migrated_on_purpose(
    nats_cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    single = settings_for(nats_cluster, tmp_path, 1)
    log = await open_event_log(single, name="test-cluster", admin=True)
    await log.append(KEYS[0], Producer.GATEWAY, [placed(KEYS[0], n=1)], 0)
    await log.close()

    three = settings_for(nats_cluster, tmp_path, 3)
    with pytest.raises(LogMisconfigured, match=r"has 1 replica.*setpoint log migrate"):
        await open_event_log(three, name="test-cluster", admin=True)
    service_view = await open_event_log(three, name="test-cluster")  # a service: warns, works
    assert isinstance(service_view, JetStreamEventLog)
    assert service_view.stream_replicas == 1
    await service_view.close()

    assert await migrate_replicas(three) == (1, 3)
    assert await migrate_replicas(three) == (3, 3)
    log = await open_event_log(three, name="test-cluster", admin=True)
    assert [r.event.event_id for r in await log.read(KEYS[0])] != []  # kept, not recreated
    await log.close()


async def test_a_single_server_cannot_hold_three_copies(nats_url: str, tmp_path: Path) -> None:
    settings = Settings.model_validate({"nats": {"url": nats_url, "embedded": False}})
    nc = await connect_nats(settings, name="test-single")
    suffix = uuid.uuid4().hex[:10]
    try:
        with pytest.raises(LogMisconfigured, match=r"cannot create stream .*replicas"):
            await JetStreamEventLog.open(
                nc, stream=f"R3_{suffix}", subject_root=f"r3{suffix}.evt", replicas=3
            )
    finally:
        await nc.close()
