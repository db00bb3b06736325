"""`setpoint target set [--account A] [--symbol S] --file target.json`: publish a target by hand.

The file holds the target JSON of docs/strategies.md ("publish JSON"; `-` reads stdin).
The subject's account and symbol are the options, or the body's `account` and `symbol`
when an option is left out; the body's fields default to the options when it leaves them
out. When the two name different ones, the differ rejects the target (the subject
decides). The differ's reply is printed as JSON (`error`, the first problem, and
`errors`, every one, when rejected); exit status 0 when accepted, 1 when rejected, 2 when
nobody answered or the account or symbol is given nowhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from setpoint.bus import subjects, telemetry
from setpoint.bus.credentials import operator_options
from setpoint.bus.embedded import answers
from setpoint.config import Settings, load_settings
from setpoint.ops.exits import FAILED, NOBODY_ANSWERED, OK, USAGE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    set_ = sub.add_parser("set", help="publish a target and print the differ's reply")
    set_.add_argument("--account", help="default: the body's account")
    set_.add_argument("--symbol", help="unified symbol, e.g. BTC/USDT (default: the body's symbol)")
    set_.add_argument("--file", required=True, help="JSON target body, or - for stdin")
    set_.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")


def main(config: str | None, args: argparse.Namespace) -> int:
    settings = load_settings(config)
    try:
        body, account, symbol = _body(args.file, args.account, args.symbol)
    except (OSError, ValueError) as exc:
        print(f"setpoint target set: {exc}", file=sys.stderr)
        return USAGE
    reply = asyncio.run(publish(settings, account, symbol, body, args.timeout))
    if reply is None:
        print(
            "setpoint target set: no differ answered (is `setpoint up` running?)", file=sys.stderr
        )
        return NOBODY_ANSWERED
    print(json.dumps(reply))
    return OK if reply.get("accepted") is True else FAILED


def _body(path: str, account: str | None, symbol: str | None) -> tuple[bytes, str, str]:
    """The file's JSON object with `account` and `symbol` filled in from the options when
    absent, and the subject's account and symbol (the options, else the body's)."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object")
    subject = []
    for name, option in (("account", account), ("symbol", symbol)):
        if option is not None:
            value.setdefault(name, option)
        given = option if option is not None else value.get(name)
        if not isinstance(given, str) or not given:
            raise ValueError(f'no {name}: give --{name} or a "{name}" string in {path}')
        subject.append(given)
    return json.dumps(value).encode(), subject[0], subject[1]


async def publish(
    settings: Settings,
    account: str,
    symbol: str,
    body: bytes,
    wait_s: float,  # float-ok
) -> dict[str, Any] | None:
    """Request the target on its subject; the reply as a dict, None if nobody answered.

    Connects to the configured NATS without starting a server: a target needs a differ."""
    import nats
    from nats.errors import NoRespondersError, NoServersError
    from nats.errors import TimeoutError as NatsTimeout

    if not await asyncio.to_thread(answers, settings.nats.url):
        return None

    async def quiet(_: Exception) -> None:
        return None

    try:
        nc = await asyncio.wait_for(
            nats.connect(
                list(settings.nats.servers),
                name="setpoint-target",
                allow_reconnect=False,
                max_reconnect_attempts=0,
                error_cb=quiet,
                **operator_options(settings.nats),
            ),
            5,
        )
    except (TimeoutError, NoServersError, OSError):
        return None
    try:
        tracer = telemetry.tracer("setpoint.ops")
        with tracer.start_as_current_span("target.set"):
            reply = await nc.request(
                subjects.target_subject(account, symbol),
                body,
                timeout=wait_s,
                headers=telemetry.inject(),
            )
    except (NoRespondersError, NatsTimeout):
        return None
    finally:
        await nc.close()
    try:
        answer = json.loads(reply.data)
    except ValueError:
        return {"accepted": False, "error": f"unreadable reply: {reply.data[:200]!r}"}
    return answer if isinstance(answer, dict) else {"accepted": False, "error": str(answer)}
