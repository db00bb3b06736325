"""Child processes in tests: `setpoint up` started in a session of its own, stopped the way
an operator stops it, and whether a process id is still a living process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO


def start_up(
    cwd: Path, env: dict[str, str], stdout: int | IO[str], *options: str
) -> subprocess.Popen[str]:
    """`setpoint up --no-status --grace 8 <options>` in `cwd`, its output (stderr too) to
    `stdout`, as the leader of a new session (so `stop_up` can reach its group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "setpoint", "up", "--no-status", "--grace", "8", *options],
        cwd=cwd, env=env, stdout=stdout, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip


def stop_up(process: subprocess.Popen[str]) -> None:
    """After a failure too: Ctrl-C first so `up` stops its children, SIGKILL to its group as
    a last resort (its children then get SIGTERM from the parent-death signal)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def alive(pid: int) -> bool:
    """`pid` is a process that runs (not gone, not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
