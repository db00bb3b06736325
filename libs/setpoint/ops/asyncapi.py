"""The AsyncAPI document of every NATS subject Setpoint uses, made by FastStream's generator.

`build_spec()` declares one FastStream `NatsBroker` publisher per subject of
`setpoint.bus.subjects` with its payload model (targets and their replies, one channel per
event type on the log, per-key status, health, market data, gateway commands and replies,
operator control) and returns the AsyncAPI 3.0 document as a dict. Subject tokens written
`*` are the wildcards the description of each channel names.

`python -m setpoint.ops.asyncapi [PATH]` writes it (default `docs/asyncapi.json`);
tests/unit/ops/test_ops_asyncapi.py checks that the committed file is the generator's
output, so regenerate it after changing a payload model.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from setpoint.bus import subjects
from setpoint.bus.messages import Health, KeyStatus, MarketDataSubscription, Ticker
from setpoint.core.events import EVENT_TYPES
from setpoint.core.model import Frozen, TargetState

DEFAULT_PATH = Path("docs/asyncapi.json")
SERVER = "nats://127.0.0.1:4222"
_KEY = "`<account>.<symbol-token>` (symbol token: `/` and `:` replaced by `-`)"


class TargetReply(Frozen):
    """The differ's answer to a target: `{"accepted": true, "generation": 7}` or
    `{"accepted": false, "error": "<field path>: <why>"}`."""

    accepted: bool
    generation: int | None = None
    error: str | None = None


class StatusReply(Frozen):
    """The differ's answer on `setpoint.status.request`."""

    keys: tuple[KeyStatus, ...]


class ControlRequest(Frozen):
    """An operator command (`setpoint kill`): the account mode to switch to."""

    mode: Literal["normal", "liquidate_only", "flatten", "flatten_all"]
    reason: str = ""


Channel = tuple[str, str, type[BaseModel], str]
"""(title, subject, payload model, description)."""

_SERVICE_CHANNELS: tuple[Channel, ...] = (
    ("target", subjects.target_subject("*", "*"), TargetState,
     f"Publish a target for {_KEY}; request/reply, answered with TargetReply."),
    ("target.reply", "_INBOX.>", TargetReply, "The reply to a target request."),
    ("status.key", "setpoint.status.*.*", KeyStatus,
     f"Per-key status published by the differ on every change, for {_KEY}."),
    ("status.request", subjects.STATUS_REQUEST, StatusReply,
     "Request (empty body): the differ answers with every key's status."),
    ("health", subjects.health_subject("*"), Health,
     "Request (empty body) to setpoint.health.<service> (differ, executor, gateway, "
     "strategy): answered once the service is ready."),
    ("marketdata.ticker", subjects.ticker_subject("*", "*"), Ticker,
     f"Ticker of {_KEY}, published by the gateway."),
    ("marketdata.subscribe", subjects.market_data_subscribe_subject("*"),
     MarketDataSubscription,
     "Published (no reply) by the strategy host, refreshed: tickers wanted for symbols "
     "that have no target yet."),
    ("control.kill", subjects.control_subject("*", "kill"), ControlRequest,
     "Operator command to an account's differ (setpoint kill): request/reply."),
)  # fmt: skip


def _gateway_channels() -> list[Channel]:
    """Executor -> gateway commands and the gateway's reply."""
    from setpoint.venues import commands as gw

    commands: dict[str, type[BaseModel]] = {
        "place": gw.PlaceCommand, "cancel": gw.CancelCommand,
        "query": gw.QueryCommand, "fills": gw.FillsCommand,
    }  # fmt: skip
    out: list[Channel] = [
        (f"gateway.{name}", subjects.gateway_subject("*", name), model,
         f"Executor -> gateway request for one account: {name}.")
        for name, model in commands.items()
    ]  # fmt: skip
    out.append(("gateway.reply", "_INBOX.>", gw.CommandReply, "The gateway's answer."))
    return out


def _event_channels() -> list[Channel]:
    """One channel per event type of the log."""
    return [
        (f"event.{event_type}", f"{subjects.EVENTS_ALL[:-1]}*.*.*.{event_type}", model,
         f"Event log (stream {subjects.STREAM}): "
         f"setpoint.evt.<account>.<symbol-token>.<producer>.{event_type}.")
        for event_type, model in sorted(EVENT_TYPES.items())
    ]  # fmt: skip


def _channels() -> list[Channel]:
    """Every channel of the document."""
    return [*_SERVICE_CHANNELS, *_gateway_channels(), *_event_channels()]


def build_spec() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a JSON-ready dict (deterministic for one code base)."""
    from faststream.nats import NatsBroker
    from faststream.specification import AsyncAPI

    broker = NatsBroker(SERVER)
    for title, subject, model, description in _channels():
        broker.publisher(subject, schema=model, title=title, description=description)
    spec = AsyncAPI(
        broker,
        title="Setpoint",
        version=version("setpoint"),
        description="Every NATS subject Setpoint uses and its payload.",
        schema_version="3.0.0",
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    return document


def render(document: dict[str, Any]) -> str:
    """The committed text form: sorted keys, two-space indent, final newline."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    path.write_text(render(build_spec()))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
