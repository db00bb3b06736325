"""`python -m bench NAME [ARGS...]`: import `bench.NAME` and call its `main(ARGS)`.

A tiny registry by convention: every module of this package with a `main(argv) -> int`
is a benchmark (`eventlog`, and later `kernel`, `sim`, `differ`, `e2e`, `audit`, ...).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    """Names of the benchmark modules present in this package."""
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m bench NAME [ARGS...]; NAME in: " + ", ".join(available()))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in available():
        print(f"no benchmark {name!r}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{name}")
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
