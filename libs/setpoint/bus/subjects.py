"""Every NATS subject Setpoint uses (docs/asyncapi.json). Build subjects here, nowhere else."""

from __future__ import annotations

from setpoint.core.model import Key, Producer, symbol_token

STREAM = "SETPOINT"
EVENTS_ALL = "setpoint.evt.>"


def event_subject(key: Key, producer: Producer, event_type: str) -> str:
    """`setpoint.evt.<account>.<symbol-token>.<producer>.<EventType>`."""
    return f"setpoint.evt.{key.account}.{key.token}.{producer.value}.{event_type}"


def producer_filter(key: Key, producer: Producer) -> str:
    """All subjects of one producer for one key (the optimistic-concurrency scope)."""
    return f"setpoint.evt.{key.account}.{key.token}.{producer.value}.*"


def key_filter(key: Key) -> str:
    return f"setpoint.evt.{key.account}.{key.token}.>"


def target_subject(account: str, symbol: str) -> str:
    """Where targets are published: `setpoint.target.<account>.<symbol-token>`."""
    return f"setpoint.target.{account}.{symbol_token(symbol)}"


TARGET_ALL = "setpoint.target.*.*"


def health_subject(service: str) -> str:
    return f"setpoint.health.{service}"


def status_subject(account: str, symbol: str) -> str:
    """Per-key status published by the differ (read by `setpoint status`)."""
    return f"setpoint.status.{account}.{symbol_token(symbol)}"


STATUS_ALL = "setpoint.status.>"
STATUS_REQUEST = "setpoint.status.request"


def gateway_subject(account: str, command: str) -> str:
    """Executor → gateway request/reply: `setpoint.gw.<account>.<command>`
    (place, cancel, query, fills)."""
    return f"setpoint.gw.{account}.{command}"


def ticker_subject(account: str, symbol: str) -> str:
    """Market data from the gateway: `setpoint.md.<account>.<symbol-token>.ticker`."""
    return f"setpoint.md.{account}.{symbol_token(symbol)}.ticker"


def market_data_subscribe_subject(account: str) -> str:
    """Market-data subscriptions for the gateway of `account`:
    `setpoint.md.<account>.subscribe` (a `MarketDataSubscription`, refreshed by whoever
    wants tickers of symbols that have no target yet)."""
    return f"setpoint.md.{account}.subscribe"


def control_subject(account: str, command: str) -> str:
    """Operator commands (e.g. `kill`): `setpoint.control.<account>.<command>`."""
    return f"setpoint.control.{account}.{command}"
