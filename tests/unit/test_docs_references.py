"""The project refers only to documents it ships.

The meaning of a target and the reconciliation rules are in docs/semantics.md; the
interfaces in docs/strategies.md, docs/events.md, docs/operations.md, docs/services.md and
docs/simulator.md. Internal design files that users do not have (upper-case names such as
the semantics, contracts and style documents kept outside the repository) must not be
named by the README, the docs or the shipped code (libs, services, bench, proto, deploy):
a reader could not follow the link. Tests are not scanned, so that scratch files in a
working tree do not fail the suite.

A section sign names a section of docs/semantics.md and says so: "docs/semantics.md §4",
"[semantics.md](semantics.md) §4", or a list after one ("docs/semantics.md §1, §2");
a bare "§4" (or "semantics §4") elsewhere leaves the reader guessing which document is
meant. docs/semantics.md itself numbers its sections and may say "§4". The help text of
every CLI command (and subcommand) is held to both rules.
"""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

from setpoint.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("README.md", "docs", "libs", "services", "bench", "proto", "deploy")
TEXT_SUFFIXES = frozenset({".py", ".md", ".json", ".toml", ".yaml", ".yml", ".proto", ".txt"})
TEXT_NAMES = frozenset({"Dockerfile"})
# Built from parts, so that a grep for the names does not find this file.
_INTERNAL = "|".join(("CONTRACTS", "SEMANTICS", "STYLE"))
_DESIGN_DIR = re.escape("shared/" + "design/")
FORBIDDEN = re.compile(rf"\b(?:{_INTERNAL})\.md\b|\bSEMANTICS\s*§|{_DESIGN_DIR}")
NAMED_SECTIONS = re.compile(r"semantics\.md\)?\s+§\d+(?:\s*(?:,|and|or)\s*§\d+)*")
"""A section reference that names its document (and any list of sections after it)."""
OWN_SECTIONS = "docs/semantics.md"
"""The one file whose bare "§N" are its own sections."""


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


def bare_sections(text: str) -> list[str]:
    """The "§N" of `text` that name no document (whitespace, line breaks included, is
    normalised first, so a reference broken over two lines still counts as named)."""
    flat = NAMED_SECTIONS.sub("", " ".join(text.split()))
    return [m.group(0) for m in re.finditer(r".{0,30}§\s*\d+", flat)]


def help_texts() -> dict[str, str]:
    """`setpoint COMMAND [SUB] --help` of every command, by command line."""
    texts: dict[str, str] = {}

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        texts[name] = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    walk(f"{name} {sub}", child)

    for name, (module_name, help_text) in COMMANDS.items():
        parser = argparse.ArgumentParser(prog=f"setpoint {name}", description=help_text)
        importlib.import_module(module_name).add_arguments(parser)
        walk(f"setpoint {name}", parser)
    return texts


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


@pytest.mark.parametrize(
    "text",
    [
        "docs/semantics.md §4",
        "(docs/semantics.md §1, §2, §4 one action)",
        "([semantics.md](semantics.md) §4; the pure function",
        "(semantics.md\n  §2): a position target",
        "docs/semantics.md §1 and §3",
    ],
)
def test_named_sections_are_not_bare(text: str) -> None:
    assert bare_sections(text) == []


@pytest.mark.parametrize(
    "text", ["(semantics §1)", "see §4", "Position (§2): delta", "SEMANTICS §3"]
)
def test_bare_sections_are_found(text: str) -> None:
    assert bare_sections(text)


def test_no_bare_section_reference() -> None:
    found = [
        f"{path.relative_to(ROOT)}: ...{ref}"
        for path in _text_files()
        if path.relative_to(ROOT).as_posix() != OWN_SECTIONS
        for ref in bare_sections(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not found, "a section named without its document (docs/semantics.md §N):\n" + (
        "\n".join(found)
    )


def test_cli_help_texts_point_at_our_own_docs() -> None:
    texts = help_texts()
    assert {"setpoint explain", "setpoint target set", "setpoint init"} <= set(texts)
    found = [
        f"{name}: {line.strip()}"
        for name, text in texts.items()
        for line in text.splitlines()
        if FORBIDDEN.search(line)
    ]
    found += [f"{name}: ...{ref}" for name, text in texts.items() for ref in bare_sections(text)]
    assert not found, "CLI help names internal files or bare sections:\n" + "\n".join(found)


def test_no_reference_to_internal_design_files() -> None:
    found = [ref for path in _text_files() for ref in _references(path)]
    assert not found, "internal design files named (point to docs/ instead):\n" + "\n".join(found)
