"""A second process for one long read of the log, and the frames the two exchange.

Reading the whole log costs, per event, a few microseconds in the NATS client and more in
validating the event, then whatever the reader does with it (a fold, a check); in one
process on one core these add up. On a machine with two cores one process can read raw
entries from JetStream while another parses and folds them, in log order, so that the
fold stays whole and serial. This module is the plumbing; `setpoint.ops.audit` uses it.

Contract:

* `Worker.start(module)` runs `python -m module` (the same interpreter) with its stdin and
  stdout as pipes and its stderr inherited. `send(obj)` writes one frame (a 4-byte
  little-endian length, then the pickle) and waits while more than `buffer_bytes` are
  queued for the child: the reader can never be more than that ahead of the child, so
  memory stays bounded. `receive()` reads one frame. A child that exits or breaks the
  protocol raises `WorkerFailed` in either call.
* `async with await Worker.start(...) as worker:` owns the child. Leaving the block
  normally closes the child's stdin and waits up to `grace_s` for it to exit; leaving it
  by an exception or a cancellation (Ctrl-C) kills it at once. No child outlives the
  block.
* The child (`child_frames`, `child_send`) reads frames with blocking reads; it ignores
  SIGINT (the parent decides when it ends), ends quietly at the end of its stdin (the
  parent closed it, or died), and dies of a broken pipe if it writes to a parent that is
  gone, so it never hangs on a closed parent.

Frames are pickles between two processes of one program over a private pipe; nothing else
can write to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import struct
import sys
from collections.abc import Iterator
from types import TracebackType
from typing import IO, Any, Final

from setpoint.core.errors import WorkerFailed as WorkerFailed

HEADER: Final = struct.Struct("<I")
BUFFER_BYTES: Final = 16 << 20
"""How far the sender may run ahead of the child (bytes queued in the pipe and in this
process); about 25,000 events of the log."""
PIPE_BYTES: Final = 1 << 20
READ_AHEAD_BYTES: Final = 4 << 20
"""How much of the child's output this process reads ahead of `receive`."""
_F_SETPIPE_SZ: Final = 1031  # Linux fcntl: grow a pipe's kernel buffer


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Worker:
    """One child process speaking frames (module docstring)."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        module: str,
        grace_s: float = 10.0,  # float-ok
    ) -> None:
        self._process = process
        self._module = module
        self._grace_s = grace_s
        assert process.stdin is not None
        assert process.stdout is not None
        self._stdin = process.stdin
        self._stdout = process.stdout

    @classmethod
    async def start(
        cls,
        module: str,
        *,
        buffer_bytes: int = BUFFER_BYTES,
        grace_s: float = 10.0,  # float-ok
    ) -> Worker:
        """Start `python -m module` (module docstring)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=READ_AHEAD_BYTES,
        )
        worker = cls(process, module, grace_s)
        try:
            transport = worker._stdin.transport
            transport.set_write_buffer_limits(high=buffer_bytes)
            _grow_pipe(transport.get_extra_info("pipe"))
        except BaseException:
            await worker.kill()
            raise
        return worker

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has ended (negative: killed by that signal)."""
        return self._process.returncode

    async def send(self, message: Any) -> None:
        """Write one frame; wait while the child is more than `buffer_bytes` behind."""
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._stdin.write(HEADER.pack(len(body)))
            self._stdin.write(body)
            await self._stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise await self._failed("stopped reading") from exc

    async def receive(self) -> Any:
        """Read one frame from the child."""
        try:
            (size,) = HEADER.unpack(await self._stdout.readexactly(HEADER.size))
            return pickle.loads(await self._stdout.readexactly(size))
        except asyncio.IncompleteReadError as exc:
            raise await self._failed("ended its output") from exc
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise await self._failed(f"sent a broken frame ({exc})") from exc

    async def _failed(self, what: str) -> WorkerFailed:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await self._process.wait()
        code = self._process.returncode
        status = "is still running" if code is None else f"exited with status {code}"
        return WorkerFailed(f"worker process {self._module} {what} and {status}")

    async def __aenter__(self) -> Worker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.kill()

    async def close(self) -> None:
        """Close the child's stdin and wait for it to exit (killed after `grace_s`)."""
        self._stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await self._stdin.wait_closed()
        try:
            async with asyncio.timeout(self._grace_s):
                await self._process.wait()
        except TimeoutError:
            await self.kill()

    async def kill(self) -> None:
        """Kill the child and reap it (shielded: it completes even when cancelled)."""
        await asyncio.shield(self._kill())

    async def _kill(self) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        self._stdin.close()
        await self._process.wait()


def _grow_pipe(pipe: Any) -> None:
    """Give the pipe a 1 MB kernel buffer where Linux allows it (fewer wake-ups)."""
    if pipe is None or not sys.platform.startswith("linux"):
        return
    import fcntl

    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)


# ------------------------------------------------------------------ the child's side


def child_setup() -> None:
    """Call first in a worker's `main`: leave Ctrl-C to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def child_exit() -> Iterator[None]:
    """Around a worker's body: a parent that went away ends the child quietly (status 1),
    without a traceback or a complaint at exit about the unflushed stdout."""
    try:
        yield
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


def child_frames(source: IO[bytes] | None = None) -> Iterator[Any]:
    """The frames on stdin, in order, until its end (the parent closed it or died)."""
    stream = sys.stdin.buffer if source is None else source
    while True:
        head = stream.read(HEADER.size)
        if len(head) < HEADER.size:
            return
        (size,) = HEADER.unpack(head)
        body = stream.read(size)
        if len(body) < size:
            return
        yield pickle.loads(body)


def child_send(message: Any, sink: IO[bytes] | None = None) -> None:
    """Write one frame to stdout (BrokenPipeError when the parent is gone)."""
    stream = sys.stdout.buffer if sink is None else sink
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(body)))
    stream.write(body)
    stream.flush()
