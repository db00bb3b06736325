"""The import rules of docs/architecture.md ("What may import what"), checked on the source.

Every `import` and `from ... import` statement of libs/setpoint, services/setpoint and bench
is read with `ast` (at any depth: inside functions and `if TYPE_CHECKING:` blocks too), so a
rule cannot be dodged by importing late. Imports by string (`importlib.import_module`, as
`setpoint.cli` and `setpoint.ops.run` load commands and services) are not statements and
are not checked. Tests are not checked: they may reach any module they test.

1. Each package of `setpoint` imports only the packages `MAY_IMPORT` names for it; a
   service (`services/setpoint/<svc>`) never imports another service.
2. `setpoint.core` imports nothing of Setpoint outside itself, and of the rest only the
   standard library (without asyncio and the I/O modules) and `PURE_THIRD_PARTY`.
3. Only `setpoint.eventlog` imports the JetStream adapter modules; the exceptions are
   named in `ADAPTER_USERS`, each with why.

Two neighbours keep the rest of "One house" true: each package's `__all__` names exist and
importing the packages stays light; every exception class is defined in the one tree.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = frozenset(
    p.name for p in (ROOT / "services" / "setpoint").iterdir() if (p / "__init__.py").is_file()
)
SERVICE_MAY_IMPORT = frozenset(
    {"core", "errors", "config", "settings_core", "bus", "eventlog", "venues"}
)
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "errors": frozenset({"core"}),
    "config": frozenset({"core"}),
    "settings_core": frozenset({"core", "config"}),
    "bus": frozenset({"core", "errors", "config"}),
    "eventlog": frozenset({"core", "errors", "config", "bus"}),
    "venues": frozenset({"core", "errors", "config", "bus"}),
    "testing": frozenset({"core", "errors", "eventlog"}),
    "ops": frozenset(
        {"core", "errors", "config", "settings_core", "bus", "eventlog", "venues", "testing"}
    ),
    "console": frozenset({"core", "errors", "config", "settings_core", "bus", "eventlog", "ops"}),
    "cli": frozenset({"ops"}),
    "__main__": frozenset({"cli"}),
} | {service: SERVICE_MAY_IMPORT for service in SERVICES}
"""Package (or top-level module) of `setpoint` -> the other ones it may import."""

PURE_THIRD_PARTY = frozenset({"pydantic", "pydantic_core", "immutables", "orjson"})
NOT_IN_CORE = frozenset(
    {"asyncio", "socket", "ssl", "subprocess", "multiprocessing", "threading", "selectors"}
)
"""Standard modules the pure core does without (I/O, concurrency)."""

ADAPTERS = frozenset({"setpoint.eventlog.jetstream", "setpoint.eventlog.jetstream_raw"})
ADAPTER_USERS: dict[str, str] = {
    "setpoint.ops.audit": "the offloaded audit ships raw JetStream entries (`read_all_raw`) "
    "to its worker process; no other backend has a raw read",
    "bench.eventlog": "measures the JetStream adapter itself",
    "bench._raw_reader": "measures the adapter's raw pull feed against nats-py's",
    "bench.differ": "opens the adapter on the benchmark's own connection and stream",
    "bench.audit": "opens the adapter on the benchmark's own connection and stream",
    "bench.restart": "opens the adapter on the benchmark's own connection and stream",
}


def module_name(path: Path) -> str:
    """`libs/setpoint/core/diff.py` -> `setpoint.core.diff`; `bench/audit.py` -> `bench.audit`."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] in ("libs", "services"):
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_of(module: str) -> str | None:
    """The `setpoint` package (or top-level module) `module` belongs to; None outside."""
    parts = module.split(".")
    return parts[1] if parts[0] == "setpoint" and len(parts) > 1 else None


def imported(source: str, module: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, module) for every module a statement of `source` imports; `from m import n`
    also yields `m.n` (n may be a module). Relative imports are resolved from `module`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*anchor, *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def broken_rules(module: str, source: str, is_package: bool = False) -> list[str]:
    """What in `source` (the text of `module`) breaks the rules (module docstring)."""
    found: dict[tuple[int, str], str] = {}  # one per statement and rule
    mine = package_of(module)
    for line, target in imported(source, module, is_package):
        where = f"{module}:{line} imports {target}"
        theirs = package_of(target)
        allowed = MAY_IMPORT.get(mine or "", frozenset())
        if mine is not None and theirs not in (None, mine, *allowed):
            found.setdefault((line, "package"), f"{where}: {mine} may not import {theirs}")
        if mine == "core" and theirs is None and not _pure(target):
            found.setdefault((line, "pure"), f"{where}: the core imports no I/O, no impure library")
        if target in ADAPTERS and mine != "eventlog" and module not in ADAPTER_USERS:
            found.setdefault(
                (line, "adapter"), f"{where}: only setpoint.eventlog imports the JetStream adapter"
            )
    return list(found.values())


def _pure(target: str) -> bool:
    top = target.split(".")[0]
    if top == "setpoint":
        return target == "setpoint"  # `from setpoint import core`: its names are checked
    if top in NOT_IN_CORE:
        return False
    return top in sys.stdlib_module_names or top in PURE_THIRD_PARTY or top == "__future__"


def sources() -> Iterator[Path]:
    for top in ("libs/setpoint", "services/setpoint", "bench"):
        yield from sorted((ROOT / top).rglob("*.py"))


def test_the_source_follows_the_import_rules() -> None:
    found = [
        problem
        for path in sources()
        for problem in broken_rules(
            module_name(path), path.read_text(), is_package=path.name == "__init__.py"
        )
    ]
    assert found == [], "\n".join(found)


def test_every_package_has_a_rule() -> None:
    packages = {p for path in sources() if (p := package_of(module_name(path))) is not None}
    assert packages <= set(MAY_IMPORT), sorted(packages - set(MAY_IMPORT))


def test_each_named_adapter_user_exists() -> None:
    modules = {module_name(path) for path in sources()}
    assert set(ADAPTER_USERS) <= modules, sorted(set(ADAPTER_USERS) - modules)


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("setpoint.differ.service", "from setpoint.executor import plan", "differ may not"),
        ("setpoint.gateway.venue", "import setpoint.sim.engine", "gateway may not"),
        ("setpoint.strategy.host", "from setpoint import differ", "strategy may not"),
        ("setpoint.core.risk", "from setpoint.config import AccountConfig", "core may not"),
        ("setpoint.core.diff", "def f():\n    import asyncio\n", "no I/O"),
        ("setpoint.core.diff", "from nats.aio.client import Client", "no I/O"),
        ("setpoint.core.x", "if TYPE_CHECKING:\n    from setpoint.bus import subjects", "core may"),
        ("setpoint.core.diff", "from ..eventlog import port", "core may not"),
        ("setpoint.ops.replay", "from setpoint.eventlog.jetstream import X", "only setpoint.ev"),
        ("setpoint.ops.replay", "from setpoint.eventlog import jetstream_raw", "only setpoint.ev"),
        ("setpoint.bus.connect", "from setpoint.ops import up", "bus may not"),
        ("bench.kernel", "import setpoint.eventlog.jetstream", "only setpoint.eventlog"),
    ],
)
def test_the_checker_catches(module: str, source: str, broken: str) -> None:
    found = broken_rules(module, source)
    assert len(found) == 1, found
    assert broken in found[0]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("setpoint.core.diff", "from setpoint.core.model import Key\nimport pydantic, decimal"),
        ("setpoint.core", "from . import errors\nfrom .model import Key"),
        ("setpoint.differ.decide", "from setpoint.settings_core import risk_limits"),
        ("setpoint.eventlog.factory", "from setpoint.eventlog.jetstream import X"),
        ("setpoint.ops.audit", "from setpoint.eventlog.jetstream import JetStreamEventLog"),
    ],
)
def test_the_checker_lets_pass(module: str, source: str) -> None:
    assert broken_rules(module, source, is_package=module == "setpoint.core") == []


SURFACES = ("core", "errors", "bus", "eventlog", "venues", "ops", "testing")


@pytest.mark.parametrize("package", SURFACES)
def test_each_public_name_of_a_package_is_there(package: str) -> None:
    module = importlib.import_module(f"setpoint.{package}")
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def test_importing_a_package_imports_nothing_heavy() -> None:
    """`__init__` files load their names on first use: importing the packages that are
    cheap by design pulls in neither nats-py, ccxt, aiohttp nor pydantic."""
    code = (
        "import sys, setpoint.core, setpoint.bus, setpoint.venues, setpoint.ops, setpoint.errors\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'nats', 'ccxt', 'aiohttp', "
        "'pydantic'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def exception_classes(source: str) -> list[str]:
    """Classes of `source` whose base is an exception by its name (`...Error`,
    `...Exception`): the ones the tree must hold."""
    return [
        node.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ClassDef)
        and any(
            (b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "")).endswith(
                ("Error", "Exception")
            )
            for b in node.bases
        )
    ]


def test_every_exception_class_is_defined_in_the_tree() -> None:
    """One tree (`setpoint.core.errors`): an exception of libs/ or services/ is defined
    there, and imported by the module that raised it before the tree."""
    tree = ROOT / "libs" / "setpoint" / "core" / "errors.py"
    found = [
        f"{module_name(path)} defines {name}"
        for path in sources()
        if path != tree and not path.is_relative_to(ROOT / "bench")
        for name in exception_classes(path.read_text())
    ]
    assert found == [], "\n".join(found)


def test_the_exception_checker_catches() -> None:
    source = "class A(ValueError): ...\nclass B(errors.SetpointError): ...\nclass C(Base): ..."
    assert exception_classes(source) == ["A", "B"]
