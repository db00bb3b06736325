"""Child processes of `setpoint up`: start, watch, restart with backoff, stop cleanly.

Contract:
- Each child runs in its own session (its own process group), stdout and stderr appended to
  its log file; Ctrl-C in the terminal reaches only `setpoint up`, which decides the order
  of shutdown. On Linux a child also gets SIGTERM when `setpoint up` dies without stopping
  it (parent-death signal), so even `kill -9` of `up` leaves nothing behind for long.
- `poll()` notices exits: a child that exits is restarted after a backoff (1 s, doubling,
  at most `max_backoff_s`); one that exits `max_failures` times in a row without ever
  having been marked ready is given up (`FAILED`) and reported with the tail of its log.
  `mark_ready` resets the count.
- `stop(names, grace_s)` sends SIGTERM to the process groups, waits up to `grace_s`, then
  sends SIGKILL to whatever is left, and reaps every process: after it returns, none of
  those children (nor anything in their process groups) is left running.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class ChildState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    BACKOFF = "backoff"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ChildSpec:
    """How to run one child. `env` replaces the environment when given."""

    name: str
    argv: tuple[str, ...]
    log_file: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None


@dataclass
class Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    state: ChildState = ChildState.STARTING
    restarts: int = 0
    failures: int = 0
    next_start_at: float = 0.0  # float-ok
    exit_code: int | None = None
    pids: list[int] = field(default_factory=list)
    """Every pid this child has had (for tests and reports)."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


class Supervisor:
    """See the module docstring. Not thread-safe; call from one loop."""

    def __init__(
        self,
        *,
        max_failures: int = 3,
        base_backoff_s: float = 1.0,  # float-ok
        max_backoff_s: float = 30.0,  # float-ok
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children: dict[str, Child] = {}
        self.max_failures = max_failures
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.clock = clock

    def add(self, spec: ChildSpec) -> Child:
        """Register and start a child."""
        child = Child(spec)
        self.children[spec.name] = child
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        spec = child.spec
        spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log_file, "ab") as out:
            out.write(
                f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: "
                f"{' '.join(spec.argv)}\n".encode()
            )
            out.flush()
            child.process = subprocess.Popen(
                list(spec.argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(spec.env) if spec.env is not None else None,
                cwd=spec.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        child.pids.append(child.process.pid)
        child.state, child.exit_code = ChildState.STARTING, None

    def mark_ready(self, name: str) -> None:
        child = self.children[name]
        if child.state is ChildState.STARTING:
            child.state, child.failures = ChildState.READY, 0

    def poll(self) -> list[str]:
        """Handle exits and due restarts; returns one line per thing that happened."""
        notes: list[str] = []
        now = self.clock()
        for child in self.children.values():
            if child.state in (ChildState.STARTING, ChildState.READY):
                notes += self._check_exit(child, now)
            elif child.state is ChildState.BACKOFF and now >= child.next_start_at:
                child.restarts += 1
                self._spawn(child)
                notes.append(f"{child.name}: restarted (pid {child.pid}, restart {child.restarts})")
        return notes

    def _check_exit(self, child: Child, now: float) -> list[str]:  # float-ok
        assert child.process is not None
        code = child.process.poll()
        if code is None:
            return []
        child.exit_code = code
        child.failures += 1
        what = f"{child.name}: exited with status {code}"
        if child.state is ChildState.STARTING and child.failures >= self.max_failures:
            child.state = ChildState.FAILED
            return [
                f"{what}; failed to start {child.failures} times, giving up. "
                f"Last lines of {child.spec.log_file}:",
                *tail(child.spec.log_file),
            ]
        delay = min(self.max_backoff_s, self.base_backoff_s * 2 ** (child.failures - 1))
        child.state, child.next_start_at = ChildState.BACKOFF, now + delay
        return [f"{what}; restarting in {delay:g}s"]

    def stop(self, names: Iterable[str] | None = None, grace_s: float = 10.0) -> None:  # float-ok
        """Terminate, then kill after `grace_s`, the named children (all when None)."""
        chosen = [self.children[n] for n in (names if names is not None else self.children)]
        running = [c for c in chosen if c.process is not None and c.process.poll() is None]
        for child in running:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in running:
            assert child.process is not None
            with suppress(subprocess.TimeoutExpired):
                child.process.wait(max(0.0, deadline - time.monotonic()))
        for child in chosen:
            _signal_group(child, signal.SIGKILL)  # stragglers, and anything they left behind
            if child.process is not None:
                child.process.wait()
                _wait_group_gone(child.process.pid)
            child.state = ChildState.STOPPED


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a hook that makes the child get SIGTERM if `setpoint up` dies without
    stopping it (e.g. SIGKILL); None elsewhere. Children are spawned from the main thread,
    whose exit is what the kernel watches."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return hook


def _signal_group(child: Child, sig: signal.Signals) -> None:
    if child.process is None:
        return
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, sig)


def _wait_group_gone(pgid: int, timeout_s: float = 5.0) -> None:  # float-ok
    """Wait until no live process (zombies aside) is left in the group (Linux /proc)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _group_members(pgid):
        time.sleep(0.02)


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def tail(path: Path, lines: int = 8) -> list[str]:
    """The last lines of a log file, indented, for a report."""
    try:
        text = path.read_bytes()[-4096:].decode("utf-8", "replace")
    except OSError:
        return []
    return ["    " + line for line in text.splitlines()[-lines:]]
