"""Fault injection rules (docs/simulator.md, `POST /_sim/faults`).

A rule matches requests by exact `method` and URL `path` (either may be left out), fires
with `probability` (default 1, drawn from a seeded RNG) on at most `count` matching
requests (default unlimited). The first rule that matches and fires wins. `delay_ms`
defaults to 30,000 for `timeout_after_accept` and 1,000 for `delay`.
Probabilities draw from `random.Random(seed)`: the seed of `POST /_sim/faults` when given,
else the one in force (the random-walk seed, or 0), so a run is reproducible.

`ws_drop` and `listen_key_expire` act on the user-data streams: with a method or path they
fire on matching requests like the others; without both they fire once, when installed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from setpoint.core.errors import BadRule as BadRule


class FaultKind(StrEnum):
    TIMEOUT_AFTER_ACCEPT = "timeout_after_accept"
    DROP_AFTER_ACCEPT = "drop_after_accept"
    STATUS_UNKNOWN_AFTER_ACCEPT = "status_unknown_after_accept"
    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    RATE_LIMIT_429 = "rate_limit_429"
    DELAY = "delay"
    WS_DROP = "ws_drop"
    LISTEN_KEY_EXPIRE = "listen_key_expire"


STREAM_KINDS = frozenset({FaultKind.WS_DROP, FaultKind.LISTEN_KEY_EXPIRE})
DEFAULT_DELAY_MS = {FaultKind.TIMEOUT_AFTER_ACCEPT: 30_000, FaultKind.DELAY: 1_000}


@dataclass(slots=True)
class FaultRule:
    kind: FaultKind
    method: str | None = None
    path: str | None = None
    probability: float = 1.0  # float-ok
    count: int | None = None
    delay_ms: int | None = None

    @property
    def delay_s(self) -> float:  # float-ok
        return (
            self.delay_ms if self.delay_ms is not None else DEFAULT_DELAY_MS.get(self.kind, 0)
        ) / 1000

    @property
    def unfiltered(self) -> bool:
        return self.method is None and self.path is None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and (
            self.path is None or self.path == path
        )


def parse_rule(raw: Any, index: int) -> FaultRule:
    """One rule from its JSON form; raises BadRule naming the offending field."""
    if not isinstance(raw, dict):
        raise BadRule(f"rules[{index}]: must be an object")
    unknown = set(raw) - {"kind", "method", "path", "probability", "count", "delay_ms"}
    if unknown:
        raise BadRule(f"rules[{index}]: unknown fields {sorted(unknown)}")
    try:
        kind = FaultKind(str(raw.get("kind")))
    except ValueError:
        raise BadRule(f"rules[{index}].kind: one of {[k.value for k in FaultKind]}") from None
    probability = raw.get("probability", 1)
    count = raw.get("count")
    delay = raw.get("delay_ms")
    if not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
        raise BadRule(f"rules[{index}].probability: a number in [0, 1]")
    for name, value in (("count", count), ("delay_ms", delay)):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise BadRule(f"rules[{index}].{name}: a non-negative integer")
    method, path = raw.get("method"), raw.get("path")
    for name, value in (("method", method), ("path", path)):
        if value is not None and not isinstance(value, str):
            raise BadRule(f"rules[{index}].{name}: a string")
    return FaultRule(kind, method, path, float(probability), count, delay)  # float-ok


class Faults:
    """The active rules and the seeded RNG that decides probabilities."""

    def __init__(self, seed: int = 0) -> None:
        self.rules: list[FaultRule] = []
        self._rng = random.Random(seed)

    def install(self, rules: list[FaultRule], seed: int | None = None) -> None:
        if seed is not None:
            self._rng = random.Random(seed)
        self.rules.extend(rules)

    def clear(self) -> None:
        self.rules.clear()

    def active(self) -> list[dict[str, Any]]:
        """The rules that can still fire (count not used up), in their JSON form with the
        count left: what `GET /_sim/faults` answers."""
        return [
            {"kind": r.kind.value, "method": r.method, "path": r.path,
             "probability": r.probability, "count": r.count, "delay_ms": r.delay_ms}
            for r in self.rules
            if r.count != 0
        ]  # fmt: skip

    def take(
        self, method: str, path: str, kinds: frozenset[FaultKind] | None = None
    ) -> FaultRule | None:
        """The rule that fires for this request, its count used up by one; None if none."""
        for rule in self.rules:
            if kinds is not None and rule.kind not in kinds:
                continue
            if rule.count == 0 or not rule.matches(method, path):
                continue
            if rule.kind in STREAM_KINDS and rule.unfiltered:
                continue  # fired once, when installed
            if rule.probability < 1 and self._rng.random() >= rule.probability:
                continue
            return self._use(rule)
        return None

    def fire_unfiltered(self, kind: FaultKind) -> int:
        """Fire every stream rule of `kind` without method/path: such a rule fires once, when
        installed, and is then spent. Returns how many fired."""
        fired = 0
        for rule in self.rules:
            if rule.kind is kind and rule.unfiltered and rule.count != 0:
                if rule.probability >= 1 or self._rng.random() < rule.probability:
                    fired += 1
                rule.count = 0
        return fired

    def _use(self, rule: FaultRule) -> FaultRule:
        if rule.count is not None:
            rule.count -= 1
        return rule
