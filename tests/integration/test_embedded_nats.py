"""Connecting to NATS: the bundled server when none answers, the version check, the factory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest

from setpoint.bus.connect import (
    NatsServerTooOld,
    NatsUnavailable,
    check_server_version,
    connect_nats,
    embedded_server,
    nats_connection,
    parse_version,
)
from setpoint.bus.embedded import answers, bundled_version, free_port, host_port, server_binary
from setpoint.config import Settings
from setpoint.core.events import AccountMode, AccountModeChanged, AccountModeChangedData
from setpoint.core.model import Key, Producer
from setpoint.eventlog.factory import open_event_log
from setpoint.eventlog.jetstream import JetStreamEventLog
from setpoint.eventlog.memory import InMemoryEventLog
from setpoint.eventlog.port import NO_EVENTS, LogMisconfigured

pytestmark = pytest.mark.nats


def settings(
    url: str, data_dir: Path, *, embedded: bool = True, backend: str = "jetstream"
) -> Settings:
    return Settings(
        nats={"url": url, "embedded": embedded, "data_dir": str(data_dir)},  # type: ignore[arg-type]
        eventlog={"backend": backend},  # type: ignore[arg-type]
    )


def free_url() -> str:
    return f"nats://127.0.0.1:{free_port()}"


async def test_the_bundled_server_starts_when_none_answers_and_stops_with_the_client(
    tmp_path: Path,
) -> None:
    url = free_url()
    nc = await connect_nats(settings(url, tmp_path), name="test")
    server = embedded_server(nc)
    assert server is not None
    assert nc.is_connected
    assert (tmp_path / "nats" / "jetstream").is_dir()
    assert (tmp_path / "nats-server.log").is_file()
    await nc.close()
    assert embedded_server(nc) is None
    assert not answers(url)


async def test_a_server_that_answers_is_used_as_it_is(nats_url: str, tmp_path: Path) -> None:
    async with nats_connection(settings(nats_url, tmp_path), name="test") as nc:
        assert embedded_server(nc) is None
        assert parse_version(str(nc.connected_server_version)) >= (2, 11, 0)
    assert answers(nats_url)
    assert not (tmp_path / "nats").exists()


async def test_no_server_is_started_when_embedded_is_off(tmp_path: Path) -> None:
    with pytest.raises(NatsUnavailable, match=r"nats\.embedded is false"):
        await connect_nats(settings(free_url(), tmp_path, embedded=False), name="test")


async def test_no_server_is_started_for_a_remote_address(tmp_path: Path) -> None:
    remote = "nats://192.0.2.1:4222"  # TEST-NET-1: never answers
    with pytest.raises(NatsUnavailable, match="not local"):
        await connect_nats(settings(remote, tmp_path), name="test")


@pytest.mark.parametrize("version", ["2.10.22", "v2.9.0", "1.4.1", "2.10.99-beta"])
def test_a_server_older_than_2_11_is_refused_with_what_to_do(version: str) -> None:
    with pytest.raises(NatsServerTooOld, match=r"needs 2\.11 or newer.*Upgrade"):
        check_server_version(version, "nats://example:4222")


@pytest.mark.parametrize("version", ["2.11.0", "2.12.3", "<nats server v2.15.1>", "3.0.0"])
def test_a_recent_server_passes(version: str) -> None:
    check_server_version(version, "nats://example:4222")


def test_the_bundled_server_is_recent_enough() -> None:
    check_server_version(bundled_version(), "the bundled nats-server")


def test_a_version_must_be_a_version() -> None:
    with pytest.raises(ValueError, match="not a nats-server version"):
        parse_version("unknown")


async def test_the_factory_opens_jetstream_on_a_bundled_server(tmp_path: Path) -> None:
    url = free_url()
    log = await open_event_log(settings(url, tmp_path))
    assert isinstance(log, JetStreamEventLog)
    event = AccountModeChanged.create(
        Key("demo", None), Producer.DIFFER, AccountModeChangedData(mode=AccountMode.NORMAL)
    )
    assert await log.append(event.key, Producer.DIFFER, [event], NO_EVENTS) == [1]
    await log.close()
    assert not answers(url)
    again = await open_event_log(settings(url, tmp_path))  # the same store, the same stream
    assert [r.event for r in await again.read(event.key)] == [event]
    await again.close()


async def test_the_factory_opens_memory_and_refuses_eventstoredb(tmp_path: Path) -> None:
    memory = await open_event_log(settings(free_url(), tmp_path, backend="memory"))
    assert isinstance(memory, InMemoryEventLog)
    with pytest.raises(LogMisconfigured, match="not available"):
        await open_event_log(settings(free_url(), tmp_path, backend="eventstoredb"))


async def test_a_server_without_jetstream_is_refused_with_what_to_do() -> None:
    url = free_url()
    _, port = host_port(url)
    server = await asyncio.create_subprocess_exec(
        server_binary(),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),  # no -js
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        while not answers(url, 0.2):
            assert server.returncode is None, "nats-server exited"
            await asyncio.sleep(0.02)
        nc = await nats.connect(url)
        with pytest.raises(LogMisconfigured, match="JetStream is not enabled"):
            await JetStreamEventLog.open(nc)
        await nc.close()
    finally:
        server.terminate()
        await server.wait()
