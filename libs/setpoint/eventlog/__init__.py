"""The EventLog port and its adapters (memory, jetstream, eventstoredb).

Its public names are the port's (`setpoint.eventlog.port.__all__`).
"""

from setpoint.eventlog import port as _port
from setpoint.eventlog.port import *  # noqa: F403  (the one list of names: the port's __all__)

__all__ = _port.__all__
