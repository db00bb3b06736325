"""The project refers only to documents it ships.

The meaning of a target and the reconciliation rules are in docs/semantics.md; the
interfaces in docs/strategies.md, docs/events.md, docs/operations.md, docs/services.md and
docs/simulator.md. Internal design files that users do not have (upper-case names such as
the semantics, contracts and style documents kept outside the repository) must not be
named by the README, the docs or the shipped code (libs, services, bench, proto, deploy):
a reader could not follow the link. Tests are not scanned, so that scratch files in a
working tree do not fail the suite.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("README.md", "docs", "libs", "services", "bench", "proto", "deploy")
TEXT_SUFFIXES = frozenset({".py", ".md", ".json", ".toml", ".yaml", ".yml", ".proto", ".txt"})
TEXT_NAMES = frozenset({"Dockerfile"})
# Built from parts, so that a grep for the names does not find this file.
_INTERNAL = "|".join(("CONTRACTS", "SEMANTICS", "STYLE"))
_DESIGN_DIR = re.escape("shared/" + "design/")
FORBIDDEN = re.compile(rf"\b(?:{_INTERNAL})\.md\b|\bSEMANTICS\s*§|{_DESIGN_DIR}")


def _text_files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        top = ROOT / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        files.extend(
            path
            for path in candidates
            if path.is_file()
            and "__pycache__" not in path.parts
            and (path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES)
        )
    return files


def _references(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if FORBIDDEN.search(line)
    ]


def test_the_scan_sees_the_project() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in _text_files()}
    assert {"README.md", "docs/semantics.md", "libs/setpoint/core/diff.py"} <= names


@pytest.mark.parametrize(
    "line",
    [
        "see SEMANTICS" + ".md §4",
        "(SEMANTICS" + " §1)",
        "the JSON of CONTRACTS" + ".md",
        "house STYLE" + ".md",
        "../shared/" + "design/CONTRACTS" + ".md",
    ],
)
def test_the_pattern_catches_internal_names(line: str) -> None:
    assert FORBIDDEN.search(line)


@pytest.mark.parametrize("line", ["docs/semantics.md §4", "(semantics §1)", "STYLE_GUIDE"])
def test_the_pattern_spares_our_own_docs(line: str) -> None:
    assert not FORBIDDEN.search(line)


def test_no_reference_to_internal_design_files() -> None:
    found = [ref for path in _text_files() for ref in _references(path)]
    assert not found, "internal design files named (point to docs/ instead):\n" + "\n".join(found)
