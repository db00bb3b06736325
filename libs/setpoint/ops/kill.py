"""`setpoint kill --account A [--resume]`: the kill switch.

Sends a NATS request on `setpoint.control.<account>.kill` with
`{"mode": "liquidate_only" | "normal", "reason": "..."}`. The differ appends
`AccountModeChanged` for the account and answers `{"ok": true, "account", "mode"}` (or
`{"ok": false, "error"}`); this command prints the answer. Exit status: 0 when the differ
confirmed, 1 when it refused, 2 when no differ answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from setpoint.bus.credentials import operator_options
from setpoint.bus.subjects import control_subject
from setpoint.config import load_settings
from setpoint.ops.exits import FAILED, NOBODY_ANSWERED, OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", required=True, help="the account to stop")
    parser.add_argument("--resume", action="store_true", help="back to normal mode (undo a kill)")
    parser.add_argument("--reason", default="", help="recorded in the AccountModeChanged event")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the differ")


def kill_request(resume: bool, reason: str) -> bytes:
    """The request body of a kill (or resume) command."""
    mode = "normal" if resume else "liquidate_only"
    return json.dumps({"mode": mode, "reason": reason or f"setpoint kill ({mode})"}).encode()


async def send_kill(
    url: str,
    account: str,
    resume: bool,
    reason: str,
    wait_s: float,  # float-ok
    **options: Any,
) -> Any:
    """Send the command; returns the differ's decoded answer. Raises TimeoutError when no
    differ answers and OSError-like errors when NATS is unreachable."""
    import nats
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout

    client = await nats.connect(
        url,
        name="setpoint-kill",
        connect_timeout=max(1, int(wait_s)),
        allow_reconnect=False,
        **options,
    )
    try:
        msg = await client.request(
            control_subject(account, "kill"), kill_request(resume, reason), timeout=wait_s
        )
    except (NatsTimeout, NoRespondersError):
        raise TimeoutError("no differ answered") from None
    finally:
        await client.close()
    return json.loads(msg.data)


def main(config: str | None, args: argparse.Namespace) -> int:
    settings = load_settings(config)
    try:
        reply = asyncio.run(
            send_kill(
                settings.nats.url,
                args.account,
                args.resume,
                args.reason,
                args.timeout,
                **operator_options(settings.nats),
            )
        )
    except TimeoutError:
        print(f"no differ answered on {control_subject(args.account, 'kill')}")
        return NOBODY_ANSWERED
    except Exception as exc:  # any connection failure is reported, not raised
        print(f"cannot reach NATS at {settings.nats.url}: {exc}")
        return NOBODY_ANSWERED
    print(json.dumps(reply))
    return OK if isinstance(reply, dict) and reply.get("ok") else FAILED
