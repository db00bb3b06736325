"""Saved logs of earlier releases (tests/fixtures/logs) replay and audit as they did.

Each saved log is loaded, entry by entry in log order, into the empty stream of a
nats-server of its own (so every entry gets back its original sequence), then
`setpoint replay --json` and `setpoint audit --json` run as an operator runs them and
must print exactly what the code that wrote the log printed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from ops_cli import setpoint
from tests.fixtures.logs.saved_log import HERE, entries, load_json

from setpoint.bus.embedded import EmbeddedNats, free_port
from setpoint.eventlog.jetstream import JetStreamEventLog

pytestmark = pytest.mark.nats

LOGS = sorted(HERE.glob("*.jsonl.gz"))


def _name(path: Path) -> str:
    return path.name.removesuffix(".jsonl.gz")


async def _load(url: str, path: Path) -> None:
    """Every entry published in order to its subject; each must land at its sequence."""
    nc = await nats.connect(url)
    try:
        log = await JetStreamEventLog.open(nc)
        await log.close()
        js = nc.jetstream()
        for entry in entries(path):
            ack = await js.publish(entry.subject, entry.data.encode(), stream=log.stream)
            assert ack.seq == entry.seq, f"entry {entry.seq} landed at {ack.seq}"
    finally:
        await nc.close()


@pytest.fixture(scope="module", params=LOGS, ids=_name)
async def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Path, Path]]:
    """(the saved log, a config reading its copy on a nats-server of its own)."""
    path: Path = request.param
    root = tmp_path_factory.mktemp(_name(path))
    url = f"nats://127.0.0.1:{free_port()}"
    server = EmbeddedNats(url, root / "store")
    server.start()
    try:
        await _load(url, path)
        config = root / "setpoint.toml"
        config.write_text(
            f'[nats]\nurl = "{url}"\nembedded = false\n\n[eventlog]\nbackend = "jetstream"\n'
        )
        yield path, config
    finally:
        server.stop()


def _saved(path: Path, what: str) -> object:
    return load_json(path.with_name(f"{_name(path)}.{what}.json"))


async def test_replay_prints_what_was_saved(loaded: tuple[Path, Path]) -> None:
    path, config = loaded
    code, out, err = await setpoint(config, "replay", "--json")
    assert code == 0, err
    assert json.loads(out) == _saved(path, "replay")


@pytest.mark.parametrize("workers", ["0", "1"])
async def test_audit_reports_what_was_saved(loaded: tuple[Path, Path], workers: str) -> None:
    path, config = loaded
    code, out, err = await setpoint(config, "audit", "--json", "--workers", workers)
    saved = _saved(path, "audit")
    assert isinstance(saved, dict)
    assert code == (0 if saved["clean"] else 1), err
    assert json.loads(out) == saved
