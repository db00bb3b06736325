"""Where the commands' tables go: a terminal, or a pipe or file.

On a terminal the tables fit its width and long cells wrap (`fold`); anywhere else they
take the width their cells need. Either way an id is printed whole, never cut with an
ellipsis: the ids printed are the ones pasted into `setpoint explain`.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import TextIO

from rich.console import Console
from rich.table import Table

from setpoint.core.numeric import at_increment, strict_decimal

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


CONDITION_STYLES = {
    "converged": "green",
    "drifting": "yellow",
    "unverified": "magenta",
    "degraded": "red",
}
"""The colour of each key condition in `status` and `up`."""


def condition(text: str) -> str:
    """A key condition as rich markup in its colour (`CONDITION_STYLES`). A console that
    is not a terminal writes no colour, so a pipe or a file gets the plain word."""
    style = CONDITION_STYLES.get(text)
    return text if style is None else f"[{style}]{text}[/{style}]"


def decimal(value: str | Decimal | None, increment: Decimal | None) -> str:
    """A decimal (or its JSON string) at a market's precision: prices at the tick,
    quantities at the step (`numeric.at_increment`; nothing dropped); `-` for None."""
    if value is None:
        return "-"
    number = value if isinstance(value, Decimal) else strict_decimal(value)
    return at_increment(number, increment)
