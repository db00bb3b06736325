"""The supervisor of `setpoint up` with real (tiny) child processes and a fake clock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.processes import alive

from setpoint.ops.supervisor import ChildSpec, ChildState, Supervisor

pytestmark = pytest.mark.timeout(60)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _spec(tmp_path: Path, name: str, code: str) -> ChildSpec:
    return ChildSpec(name, (sys.executable, "-c", code), tmp_path / f"{name}.log")


def _first_number(log: Path) -> int:
    """The first whole line of digits the child wrote to its log."""
    while True:
        for line in log.read_text().splitlines(keepends=True):
            if line.strip().isdigit() and line.endswith("\n"):
                return int(line)
        time.sleep(0.05)


def _wait_exit(supervisor: Supervisor, name: str) -> None:
    process = supervisor.children[name].process
    assert process is not None
    process.wait(30)


def test_crash_is_reported_and_restarted_with_backoff(tmp_path: Path) -> None:
    clock = Clock()
    supervisor = Supervisor(clock=clock, max_failures=10)
    supervisor.add(_spec(tmp_path, "crashy", "print('boom'); raise SystemExit(3)"))
    delays = []
    for _ in range(3):
        _wait_exit(supervisor, "crashy")
        (note,) = supervisor.poll()
        assert note.startswith("crashy: exited with status 3; restarting in")
        child = supervisor.children["crashy"]
        assert child.state is ChildState.BACKOFF
        delays.append(child.next_start_at - clock.now)
        assert supervisor.poll() == []  # not yet due
        clock.now = child.next_start_at
        (restarted,) = supervisor.poll()
        assert restarted.startswith("crashy: restarted")
    assert delays == [1.0, 2.0, 4.0]
    assert supervisor.children["crashy"].restarts == 3
    assert "boom" in (tmp_path / "crashy.log").read_text()
    supervisor.stop()


def test_a_child_that_never_starts_is_given_up_with_its_log(tmp_path: Path) -> None:
    clock = Clock()
    supervisor = Supervisor(clock=clock, max_failures=2)
    supervisor.add(_spec(tmp_path, "broken", "import no_such_module_here"))
    _wait_exit(supervisor, "broken")
    supervisor.poll()
    clock.now += 60
    supervisor.poll()
    _wait_exit(supervisor, "broken")
    notes = supervisor.poll()
    assert "giving up" in notes[0]
    assert any("no_such_module_here" in line for line in notes[1:])
    assert supervisor.children["broken"].state is ChildState.FAILED
    clock.now += 600
    assert supervisor.poll() == []


def test_ready_resets_the_failure_count(tmp_path: Path) -> None:
    supervisor = Supervisor(clock=Clock(), max_failures=1)
    supervisor.add(_spec(tmp_path, "svc", "raise SystemExit(1)"))
    supervisor.mark_ready("svc")
    _wait_exit(supervisor, "svc")
    (note,) = supervisor.poll()
    assert "restarting" in note  # a crash after ready is always restarted
    supervisor.stop()


def test_stop_kills_what_ignores_sigterm_and_its_group(tmp_path: Path) -> None:
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    polite = "import time; print('up', flush=True); time.sleep(120)"
    supervisor = Supervisor()
    supervisor.add(_spec(tmp_path, "stubborn", stubborn))
    supervisor.add(_spec(tmp_path, "polite", polite))
    grandchild = _first_number(tmp_path / "stubborn.log")
    pids = [c.pid for c in supervisor.children.values()]
    supervisor.stop(grace_s=0.5)
    assert all(c.state is ChildState.STOPPED for c in supervisor.children.values())
    for pid in [*pids, grandchild]:
        assert pid is not None
        assert not alive(pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from setpoint.ops.supervisor import ChildSpec, Supervisor\n"
        "s = Supervisor()\n"
        "c = s.add(ChildSpec('sleeper', (sys.executable, '-c', 'import time; time.sleep(120)'),"
        f" Path({str(tmp_path / 'sleeper.log')!r})))\n"
        "print(c.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 20
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
