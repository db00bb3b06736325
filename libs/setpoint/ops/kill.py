"""`setpoint kill --account A [--flatten [--all] | --resume]`: the kill switch.

Sends a NATS request on `setpoint.control.<account>.kill` with
`{"mode": "liquidate_only" | "flatten" | "flatten_all" | "normal", "reason": "..."}`. The
differ appends `AccountModeChanged` for the account and answers `{"ok": true, "account",
"mode", "event_id"}` (or `{"ok": false, "error"}`); this command prints the answer.

* plain `kill`: liquidate-only. Nothing new is sent that does not reduce a position;
  orders that reduce stay working (at most the position's size); positions are left as
  they are.
* `--flatten`: every order of ours on the account is cancelled and every position driven
  to zero by the differ and the executor (`core.effective`, "flatten"); `--all` also
  cancels foreign orders on the account. The command then follows the log and prints, per
  key, what was cancelled, closed and what remains (`core.flatten`) until the account is
  flat or `--wait` seconds have passed. The account stays in flatten (a liquidate-only)
  until `--resume`, and the system keeps closing what is left after the command returns.

Exit status: 0 when the differ confirmed (with `--flatten`: and the account is flat), 1
when it refused (with `--flatten`: or something is left at the end of `--wait`, printed),
2 when no differ answered (or the log cannot be read).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from setpoint.bus.credentials import operator_options
from setpoint.bus.subjects import control_subject
from setpoint.config import load_settings
from setpoint.ops.exits import FAILED, NOBODY_ANSWERED, OK, USAGE

HELP = {
    "flatten": "also cancel every order of ours on the account and close every position "
    "with reduce-only IOC orders; prints the progress and stays in liquidate-only until "
    "--resume (plain kill only stops what would grow a position, and closes nothing)",
    "all": "with --flatten: cancel foreign orders on the account too",
    "wait": "with --flatten: seconds to follow the progress before reporting what is left",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Put an account in liquidate-only (no order that would grow a position; reducing "
        "orders keep working). --flatten also cancels our orders and closes every position."
    )
    parser.add_argument("--account", required=True, help="the account to stop")
    parser.add_argument("--resume", action="store_true", help="back to normal mode (undo a kill)")
    parser.add_argument("--flatten", action="store_true", help=HELP["flatten"])
    parser.add_argument("--all", action="store_true", help=HELP["all"])
    parser.add_argument("--wait", type=float, default=60.0, help=HELP["wait"])
    parser.add_argument("--reason", default="", help="recorded in the AccountModeChanged event")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the differ")


def kill_mode(resume: bool, flatten: bool = False, cancel_foreign: bool = False) -> str:
    """The account mode a kill command asks for."""
    if resume:
        return "normal"
    if flatten:
        return "flatten_all" if cancel_foreign else "flatten"
    return "liquidate_only"


def kill_request(
    resume: bool, reason: str, flatten: bool = False, cancel_foreign: bool = False
) -> bytes:
    """The request body of a kill (or flatten, or resume) command."""
    mode = kill_mode(resume, flatten, cancel_foreign)
    return json.dumps({"mode": mode, "reason": reason or f"setpoint kill ({mode})"}).encode()


async def send_kill(
    url: str,
    account: str,
    resume: bool,
    reason: str,
    wait_s: float,  # float-ok
    *,
    flatten: bool = False,
    cancel_foreign: bool = False,
    **options: Any,
) -> Any:
    """Send the command; returns the differ's decoded answer. Raises TimeoutError when no
    differ answers and OSError-like errors when NATS is unreachable."""
    body = kill_request(resume, reason, flatten, cancel_foreign)
    import nats
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout

    client = await nats.connect(
        url.split(","),  # every server of a cluster
        name="setpoint-kill",
        connect_timeout=max(1, int(wait_s)),
        allow_reconnect=False,
        **options,
    )
    try:
        msg = await client.request(control_subject(account, "kill"), body, timeout=wait_s)
    except (NatsTimeout, NoRespondersError):
        raise TimeoutError("no differ answered") from None
    finally:
        await client.close()
    return json.loads(msg.data)


def _usage(args: argparse.Namespace) -> str | None:
    if args.all and not args.flatten:
        return "--all only goes with --flatten"
    if args.resume and args.flatten:
        return "--resume and --flatten contradict each other"
    if args.wait < 0:
        return f"--wait is a number of seconds, not {args.wait}"
    return None


def main(config: str | None, args: argparse.Namespace) -> int:
    problem = _usage(args)
    if problem is not None:
        print(f"setpoint kill: {problem}", file=sys.stderr)
        return USAGE
    settings = load_settings(config)
    sending = send_kill(
        settings.nats.url, args.account, args.resume, args.reason, args.timeout,
        flatten=args.flatten, cancel_foreign=args.all, **operator_options(settings.nats),
    )  # fmt: skip
    try:
        reply = asyncio.run(sending)
    except TimeoutError:
        print(f"no differ answered on {control_subject(args.account, 'kill')}")
        return NOBODY_ANSWERED
    except Exception as exc:  # any connection failure is reported, not raised
        print(f"cannot reach NATS at {settings.nats.url}: {exc}")
        return NOBODY_ANSWERED
    print(json.dumps(reply), flush=True)
    if not (isinstance(reply, dict) and reply.get("ok")):
        return FAILED
    if not args.flatten:
        return OK
    from setpoint.ops.flatten import follow
    from setpoint.ops.logread import run_on_log

    deadline = time.monotonic() + args.wait
    following = follow(config, args.account, str(reply["event_id"]), args.all, deadline)
    return run_on_log("kill", following)
