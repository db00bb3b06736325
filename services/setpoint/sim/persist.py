"""The simulator's state file (`sim.state_file`): the engine survives a restart.

Without a state file the simulator starts from the configured balances and prices with an
empty book every time: a restart loses every order, trade and position (docs/simulator.md).
With one, the whole engine (book, orders, trades, balances, positions, prices, the next
ids) is written at most once a second while it changes and at stop, and read back at start.
The file is private to the
simulator (a versioned pickle of its own objects, written by it alone: not a format to
edit or to accept from elsewhere); it is replaced atomically, so a crash leaves the last
complete state. A file that cannot be read is an error at start, never a silent reset.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from setpoint.core.errors import ConfigError
from setpoint.sim.engine import Engine

FORMAT = 1


def load(path: Path) -> Engine | None:
    """The engine saved in `path`; None when there is no such file (first start)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        saved = pickle.loads(raw)  # our own file: see the module docstring
    except Exception as exc:
        raise ConfigError(
            f"sim.state_file {path}: not a simulator state file ({type(exc).__name__}); "
            "move it away to start from the configured balances"
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ConfigError(
            f"sim.state_file {path}: written by another version of the simulator; "
            "move it away to start from the configured balances"
        )
    engine = saved.get("engine")
    if not isinstance(engine, Engine):
        raise ConfigError(f"sim.state_file {path}: holds no engine")
    return engine


def save(path: Path, engine: Engine) -> None:
    """Write `engine` to `path` atomically (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as out:
        pickle.dump({"format": FORMAT, "engine": engine}, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
