"""The intake desk: target intake and the kill switch (the appends of producer `intake`).

`IntakeDesk.target(account, token, raw)` answers a request on
`setpoint.target.<account>.<token>` (docs/strategies.md, "publish JSON"):

* an account that is not configured is answered and counted (`unknown_account`), never
  logged, so nobody can fill the log with junk;
* otherwise `intake.validate_target` decides, and `TargetPublished` or `TargetRejected` is
  appended under the subject's key with producer `intake`, checked against the last intake
  position of that key (optimistic concurrency). A lost race (another differ appended
  first) re-reads the key from the log and validates again, so the reply always states
  what the log holds; a "maybe written" answer of the log is retried with the same event
  id (appends are idempotent) before anything is replied;
* the reply is `{"accepted": true, "generation": N}` or `{"accepted": false, "error",
  "errors"}`: `error` the first failed check, `errors` every one of them (`intake`);
  a log failure's reply has `error` alone.

`IntakeDesk.kill(account, raw)` appends `AccountModeChanged` (`{"mode": "liquidate_only"
| "normal", "reason"}`) under (account, None) and answers `{"ok": true, "account", "mode",
"event_id"}` or `{"ok": false, "error"}`.

After each append the desk calls `appended(position, event)`, which lets the service fold
its own event at once (the fast path from target to decision).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from setpoint.bus import telemetry
from setpoint.bus.workqueue import backoff_delay
from setpoint.config import Settings
from setpoint.core.events import (
    AccountMode,
    AccountModeChanged,
    AccountModeChangedData,
    Event,
    TargetPublished,
    TargetPublishedData,
    TargetRejected,
    TargetRejectedData,
)
from setpoint.core.model import Key, Producer, TargetState, symbol_token
from setpoint.differ.intake import Rejection, validate_target
from setpoint.differ.view import DifferView, symbol_for_token
from setpoint.eventlog.port import ConcurrencyConflict, EventLog, EventLogError, LogUnavailable

log = logging.getLogger("setpoint.differ")

APPEND_TRIES = 5


class IntakeDesk:
    """See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        event_log: EventLog,
        view: DifferView,
        appended: Callable[[int, Event], None],
        counters: dict[str, int],
    ) -> None:
        self.settings, self.log, self.view = settings, event_log, view
        self._appended, self.counters = appended, counters
        self._known: dict[Key, tuple[int, int]] = {}
        self._metrics = telemetry.metrics()

    async def target(self, account: str, token: str, raw: bytes) -> dict[str, Any]:
        """Handle one target body; returns the reply (module docstring)."""
        if account not in self.settings.accounts:
            self._count("unknown_account", "?")  # never a label per junk account name
            error = f"account: unknown account {account!r}"
            return {"accepted": False, "error": error, "errors": [error]}
        body = _decoded(raw)
        key = Key(account, self._symbol(account, token, body))
        for _ in range(APPEND_TRIES):
            expected, generation = self._intake_state(key)
            result = validate_target(
                raw, account, token, self.settings.accounts, self.view.markets(account),
                generation or None, decoded=body,
            )  # fmt: skip
            event = _intake_event(key, result)
            try:
                position = await self._append_one(key, event, expected)
            except ConcurrencyConflict:
                await self._refresh_intake(key)
                continue
            except EventLogError as exc:
                return {"accepted": False, "error": f"log: {exc}; the target was not recorded"}
            self._appended(position, event)
            return self._intake_done(key, position, generation, result)
        return {"accepted": False, "error": "log: too many concurrent appends; retry"}

    async def _append_one(self, key: Key, event: Event, expected: int) -> int:
        """Append one intake event; a "maybe written" answer is retried with the same
        event id (appends are idempotent), so the outcome is known before replying."""
        for attempt in range(APPEND_TRIES):
            try:
                return (await self.log.append(key, event.producer, [event], expected))[-1]
            except LogUnavailable:
                if attempt == APPEND_TRIES - 1:
                    raise
                await asyncio.sleep(backoff_delay(attempt, 0.05, 1.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def _intake_done(
        self, key: Key, position: int, generation: int, result: TargetState | Rejection
    ) -> dict[str, Any]:
        if isinstance(result, Rejection):
            self._known[key] = (position, generation)
            self._count("rejected", key.account)
            return {"accepted": False, "error": result.error, "errors": list(result.all_errors)}
        self._known[key] = (position, result.generation)
        self._count("accepted", key.account)
        return {"accepted": True, "generation": result.generation}

    def _intake_state(self, key: Key) -> tuple[int, int]:
        """(expected intake position, last accepted generation) as far as known here."""
        position, generation = self._known.get(key, (0, 0))
        return (
            max(position, self.view.expected(key, Producer.INTAKE)),
            max(generation, self.view.intent.generation(key)),
        )

    async def _refresh_intake(self, key: Key) -> None:
        """After a lost race: the key's intake position and generation from the log."""
        records = await self.log.read(key)
        generation = max(
            (
                r.event.data.target.generation
                for r in records
                if isinstance(r.event, TargetPublished)
            ),
            default=0,
        )
        position = await self.log.last_position(key, Producer.INTAKE)
        self._known[key] = (position, generation)

    def _symbol(self, account: str, token: str, body: dict[str, Any] | None) -> str:
        """The unified symbol events for this subject are filed under: the body's symbol
        when its token is the subject's, else the account's market with that token, else
        the token itself. `body`: the decoded body (None when it is not a JSON object)."""
        symbol = None if body is None else body.get("symbol")
        if isinstance(symbol, str) and 0 < len(symbol) <= 64 and symbol_token(symbol) == token:
            return symbol
        known = symbol_for_token(self.view, account, token)
        return token if known is None else known

    def _count(self, outcome: str, account: str) -> None:
        self.counters[outcome] += 1
        self._metrics.targets.add(1, {"account": account, "outcome": outcome})

    async def kill(self, account: str, raw: bytes) -> dict[str, Any]:
        """Append AccountModeChanged for the account; returns the reply (module docstring)."""
        if account not in self.settings.accounts:
            return {"ok": False, "error": f"account: unknown account {account!r}"}
        try:
            body = json.loads(raw or b"{}")
            data = AccountModeChangedData(
                mode=AccountMode(body.get("mode", "liquidate_only")),
                reason=str(body.get("reason", "")),
            )
        except (ValueError, AttributeError) as exc:
            return {"ok": False, "error": f"body: {exc}"}
        key = Key(account, None)
        event = AccountModeChanged.create(key, Producer.INTAKE, data)
        for _ in range(APPEND_TRIES):
            expected = await self.log.last_position(key, Producer.INTAKE)
            try:
                position = await self._append_one(key, event, expected)
            except ConcurrencyConflict:
                continue
            except EventLogError as exc:
                return {"ok": False, "error": f"log: {exc}"}
            self._appended(position, event)
            log.warning("account %s is now %s (%s)", account, data.mode.value, data.reason)
            return {"ok": True, "account": account, "mode": data.mode.value,
                    "event_id": event.event_id}  # fmt: skip
        return {"ok": False, "error": "log: too many concurrent appends; retry"}


def _decoded(raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None (invalid JSON or not an object): decoded once
    for both the symbol and the validation."""
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        body = json.loads(raw)
        return body if isinstance(body, dict) else None
    return None


def _intake_event(key: Key, result: TargetState | Rejection) -> Event:
    trace = telemetry.current_traceparent()
    if isinstance(result, Rejection):
        data = TargetRejectedData(
            generation=result.generation, strategy=result.strategy, error=result.error
        )
        return TargetRejected.create(key, Producer.INTAKE, data, traceparent=trace)
    data_ok = TargetPublishedData(target=result)
    return TargetPublished.create(key, Producer.INTAKE, data_ok, traceparent=trace)
