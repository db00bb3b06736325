"""The `setpoint` command.

Each command lives in its own module exposing `add_arguments(parser)` and
`main(settings_path, args) -> int`; only the module of the command being run is imported,
so `setpoint audit` never pays for ccxt.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol

from setpoint.ops.exits import CONFIG_ERRORS, INTERRUPTED, OK, USAGE, exit_status

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("setpoint.ops.init", "write a commented setpoint.toml (demo, binance or okx)"),
    "up": ("setpoint.ops.up", "run the whole system on this machine (demo config if none)"),
    "run": ("setpoint.ops.run", "run one service in the foreground"),
    "target": ("setpoint.ops.target", "publish a target (`target set`)"),
    "status": ("setpoint.ops.status", "per-key status of the running system"),
    "kill": ("setpoint.ops.kill", "put an account in liquidate-only mode (--flatten: close all)"),
    "replay": ("setpoint.ops.replay", "rebuild the projections from the log as of a point"),
    "audit": ("setpoint.ops.audit", "replay the whole log and check its invariants"),
    "orders": ("setpoint.ops.orders", "recent orders per key: the ids to give `explain`"),
    "explain": (
        "setpoint.ops.explain",
        "the causal chain of an order (client, venue or intent id)",
    ),
    "export": ("setpoint.ops.export", "write the log as jsonl or parquet"),
    "creds": ("setpoint.ops.creds", "issue, list and revoke NATS credentials"),
    "log": ("setpoint.ops.logstream", "the log's stream: `log migrate` to eventlog.replicas"),
}


class CommandModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def main(self, config: str | None, args: argparse.Namespace) -> int: ...


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="setpoint", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML config file (default ./setpoint.toml)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    known, rest = top.parse_known_args(argv)
    if known.version:
        from importlib.metadata import version

        print(f"setpoint {version('setpoint')}")
        return OK
    if known.command is None:
        top.print_help()
        return USAGE
    module_name, help_text = COMMANDS[known.command]
    module: CommandModule = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"setpoint {known.command}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return module.main(known.config, args)
    except CONFIG_ERRORS as exc:  # one line naming the field, never a traceback
        print(f"setpoint {known.command}: configuration: {exc}", file=sys.stderr)
        return exit_status(exc)
    except KeyboardInterrupt:
        return INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
