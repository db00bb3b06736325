"""Saved logs of earlier releases (tests/fixtures/logs) still read and fold as they did.

Every entry parses with today's `parse_event` (none would be quarantined), sits on the
subject today's layout gives it, and the core projections fold the log to the per-key
state saved with the fixture by the code that wrote it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.fixtures.logs.saved_log import HERE, entries, load_json, summary

from setpoint.bus import subjects
from setpoint.core.events import Event, EventParseError, parse_event
from setpoint.core.projections import rebuild
from setpoint.eventlog.port import Recorded

LOGS = sorted(HERE.glob("*.jsonl.gz"))


def _name(path: Path) -> str:
    return path.name.removesuffix(".jsonl.gz")


def _parsed(path: Path) -> list[Recorded]:
    records = []
    for entry in entries(path):
        try:
            event: Event = parse_event(entry.data)
        except EventParseError as exc:
            where = f"{path.name}: entry {entry.seq} ({entry.subject})"
            pytest.fail(f"{where} would be quarantined: {exc.reason}")
        records.append(Recorded(entry.seq, event))
    return records


def test_there_is_a_saved_log() -> None:
    assert LOGS, f"no saved log in {HERE}"


@pytest.mark.parametrize("path", LOGS, ids=_name)
def test_every_entry_parses_on_its_subject(path: Path) -> None:
    records = _parsed(path)
    assert [r.position for r in records] == list(range(1, len(records) + 1))
    for entry, record in zip(entries(path), records, strict=True):
        event = record.event
        assert entry.subject == subjects.event_subject(event.key, event.producer, event.type)


@pytest.mark.parametrize("path", LOGS, ids=_name)
def test_the_log_folds_to_the_saved_state(path: Path) -> None:
    intent, actual = rebuild(_parsed(path))
    saved = load_json(path.with_name(f"{_name(path)}.state.json"))
    assert summary(intent, actual) == saved
