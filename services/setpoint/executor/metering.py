"""The executor's gauges, read from its projection when the metrics are collected.

Pure functions of what the executor already holds (`actual`, the newest plan per key,
the plans it finished, the submissions it sent but has not folded yet):

* `actions_pending`: actions of a key's newest plan not yet sent (no write-ahead event of
  theirs in the projection nor sent meanwhile); 0 once the plan has run;
* `orders_inflight` / `cancels_pending`: orders of the key with a submission / a cancel
  in flight (written ahead, no venue answer folded yet).

Every key the executor has a plan for reports, with 0 when nothing is pending, so a
series falls back to 0 rather than disappearing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from setpoint.bus.telemetry import Reading
from setpoint.core.events import Action, ActionKind, DiffComputed
from setpoint.core.model import Key
from setpoint.core.projections import ActualState, KeyActual


def actions_pending(
    actual: ActualState,
    plans: Mapping[Key, DiffComputed],
    done: Mapping[Key, str],
    submitted: Collection[str],
) -> list[Reading]:
    """Per key: the newest plan's actions not sent yet (module docstring)."""
    out: list[Reading] = []
    for key, plan in plans.items():
        count = 0
        if done.get(key) != plan.event_id:
            held = actual.key(key)
            count = sum(1 for a in plan.data.actions if not _sent(held, a, submitted))
        out.append((float(count), _labels(key)))  # float-ok
    return out


def _sent(held: KeyActual, action: Action, submitted: Collection[str]) -> bool:
    if action.kind is ActionKind.CANCEL:
        record = held.orders.get(action.client_order_id)
        live = action.client_order_id in held.live
        return record is None or record.pending is not None or not live
    return action.client_order_id in submitted or action.client_order_id in held.orders


def in_flight(actual: ActualState, keys: Collection[Key], kind: str) -> list[Reading]:
    """Per key (those in `keys` and any with something in flight): orders whose pending
    action is `kind` ("submit" or "cancel")."""
    out: list[Reading] = []
    for key, held in actual.keys.items():
        if held.pending or key in keys:
            count = sum(1 for pending in held.pending.values() if pending == kind)
            out.append((float(count), _labels(key)))  # float-ok
    return out


def _labels(key: Key) -> dict[str, str]:
    return {"account": key.account, "symbol": key.symbol or ""}
