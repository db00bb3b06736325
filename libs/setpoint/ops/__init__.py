"""Operator and auditor commands behind the `setpoint` CLI (one module per command, named
in `setpoint.cli.COMMANDS`, each with `add_arguments(parser)` and `main(config, args)`).

The names below are what other code may use besides the commands (the functions `audit`,
`replay` and `explain` are reached through their modules: a module name is never also a
name here). Each is loaded from its module on first use; the exit statuses
(`setpoint.ops.exits`, small and pure) are imported at once.
"""

from typing import TYPE_CHECKING

from setpoint.core.lazy import lazy_names
from setpoint.ops import exits as _exits
from setpoint.ops.exits import *  # noqa: F403  (its names are the exit statuses' __all__)

if TYPE_CHECKING:
    from setpoint.ops.export import export_jsonl, export_parquet
    from setpoint.ops.kill import send_kill
    from setpoint.ops.logread import opened_log, print_json, run_on_log, stream
    from setpoint.ops.progress import LogProgress
    from setpoint.ops.replay import Until, snapshot
    from setpoint.ops.supervisor import ChildSpec, ChildState, Supervisor

_WHERE = {
    "export_jsonl": "export",
    "export_parquet": "export",
    "send_kill": "kill",
    "opened_log": "logread",
    "print_json": "logread",
    "run_on_log": "logread",
    "stream": "logread",
    "LogProgress": "progress",
    "Until": "replay",
    "snapshot": "replay",
    "ChildSpec": "supervisor",
    "ChildState": "supervisor",
    "Supervisor": "supervisor",
}
"""Public name -> the module of this package that defines it."""

__all__ = [
    "ChildSpec",
    "ChildState",
    "LogProgress",
    "Supervisor",
    "Until",
    "export_jsonl",
    "export_parquet",
    "opened_log",
    "print_json",
    "run_on_log",
    "send_kill",
    "snapshot",
    "stream",
]
__all__ += _exits.__all__

__getattr__ = lazy_names(__name__, _WHERE)
