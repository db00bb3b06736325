"""Moved to `setpoint.testing.synthetic` (test data builders are not an operator command);
this name stays so that existing imports keep working."""

from setpoint.testing.synthetic import (
    KEYS,
    START,
    ChainBuilder,
    GridWorkload,
    Placed,
    cancel_action,
    fill_data,
    market,
    markets_loaded,
    place_action,
    submitted_data,
    synthetic_log,
    write,
)

__all__ = [
    "KEYS",
    "START",
    "ChainBuilder",
    "GridWorkload",
    "Placed",
    "cancel_action",
    "fill_data",
    "market",
    "markets_loaded",
    "place_action",
    "submitted_data",
    "synthetic_log",
    "write",
]
