"""Setpoint's exceptions: the one public place to import them from.

    from setpoint.errors import LogUnavailable, SetpointError

The tree, drawn at the top of `setpoint.core.errors` (where it lives, so the pure core can
raise them), has `SetpointError` at its root and one branch per concern: configuration and
usage, values from outside, the event log, the bus, the venue, the simulator.
"""

from setpoint.core import errors as _tree
from setpoint.core.errors import *  # noqa: F403  (the one list of names: the tree's __all__)

__all__ = _tree.__all__
