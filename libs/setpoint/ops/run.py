"""`setpoint run <service>`: one service in the foreground.

Each service package has a `main` module with `main(config: str | None, argv: list[str])
-> int` that parses its own options (e.g. `setpoint run sim --port 8765 --random-walk 7`).
The web console is `setpoint.console.main` (a package of `libs/`: it reuses the operator
commands' views).
"""

from __future__ import annotations

import argparse
import importlib

SERVICES = ("strategy", "differ", "executor", "gateway", "sim", "console")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("service_args", nargs=argparse.REMAINDER, help="the service's options")


def main(config: str | None, args: argparse.Namespace) -> int:
    module = importlib.import_module(f"setpoint.{args.service}.main")
    result: int = module.main(config, list(args.service_args))
    return result
