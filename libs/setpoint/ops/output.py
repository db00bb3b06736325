"""Where the commands' tables go: a terminal, or a pipe or file.

On a terminal the tables fit its width and long cells wrap (`fold`); anywhere else they
take the width their cells need. Either way an id is printed whole, never cut with an
ellipsis: the ids printed are the ones pasted into `setpoint explain`.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.table import Table

WIDE = 100_000
"""The width off a terminal: wide enough that no table is ever narrowed."""


def console(file: TextIO | None = None) -> Console:
    """A console for `file` (stdout by default), widened when it is not a terminal."""
    out = file or sys.stdout
    if out.isatty():
        return Console(file=out)
    return Console(file=out, width=WIDE, soft_wrap=False)


def whole(table: Table) -> Table:
    """`table` with every column wrapping (`fold`) instead of ending in an ellipsis."""
    for column in table.columns:
        column.overflow = "fold"
    return table
