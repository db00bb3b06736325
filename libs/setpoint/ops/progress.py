"""A progress bar on stderr for long reads of the log; silent when stderr is not a terminal.

Updating a rich bar costs far more than folding an event, so `LogProgress.at(position)` only
redraws every `every` events; it is safe to call once per event.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)


def interactive(stream: TextIO | None = None) -> bool:
    """True when `stream` (default stderr) is a terminal a person is looking at."""
    target = sys.stderr if stream is None else stream
    return bool(getattr(target, "isatty", lambda: False)())


class LogProgress:
    """`with LogProgress("audit", total=head) as bar: ... bar.at(position)`.

    With `enabled=None` the bar shows only when stderr is a terminal; when disabled every
    call is a no-op, so scripts and pipes see nothing on stderr."""

    def __init__(
        self, label: str, total: int, *, enabled: bool | None = None, every: int = 8192
    ) -> None:
        self.enabled = interactive() if enabled is None else enabled
        self._total = max(total, 1)
        self._every = every
        self._next = every
        self._label = label
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> LogProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("events"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=self._total)
        return self

    def at(self, position: int) -> None:
        """The read has reached log position `position`."""
        if position < self._next:
            return
        self._next = position + self._every
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=position)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
