"""Risk limits per account (docs/semantics.md §3): an action that breaks one is not executed.

`screen(actions, ...)` keeps the actions that pass and returns a `RiskReason` for each one
dropped (the differ service records them as `RiskRejected`). Cancels always pass. Rules:

* ``max_order_notional``: price * quantity * contract size of a place/amend (a market order
  is valued at the last price; unknown last price → the rule cannot pass it);
* ``price_band``: a limit price more than `price_band_bps` away from the last price
  (unknown last price → the rule cannot pass it);
* ``max_open_orders``: live orders - cancels - amends' old orders + places + amends' new
  orders must stay within `max_open_orders_per_key`; places beyond it are dropped in plan
  order (amends replace one order by one and never add).

An amend that fails a rule is dropped whole: the old order keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from setpoint.core.events import Action, ActionKind, RiskReason
from setpoint.core.model import MarketInfo

__all__ = ["RiskLimits", "check_action", "screen"]

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The account's limits; None = no limit."""

    max_order_notional: Decimal | None = None
    max_open_orders_per_key: int | None = None
    price_band_bps: int | None = None

    @property
    def none(self) -> bool:
        return (
            self.max_order_notional is None
            and self.max_open_orders_per_key is None
            and self.price_band_bps is None
        )


NO_LIMITS = RiskLimits()


def check_action(
    action: Action,
    limits: RiskLimits,
    last_price: Decimal | None,
    market: MarketInfo | None = None,
) -> RiskReason | None:
    """The first per-action rule `action` breaks (notional, price band), or None."""
    if action.kind is ActionKind.CANCEL or action.quantity is None:
        return None
    price = action.price if action.price is not None else last_price
    if limits.max_order_notional is not None:
        size = market.contract_size if market is not None else Decimal(1)
        if price is None:
            return _reason(action, "max_order_notional", "no price to value the order at")
        notional = price * action.quantity * size
        if notional > limits.max_order_notional:
            detail = f"notional {notional} above {limits.max_order_notional}"
            return _reason(action, "max_order_notional", detail)
    if limits.price_band_bps is not None and action.price is not None:
        if last_price is None or last_price <= 0:
            return _reason(action, "price_band", "no last price to check the band against")
        away = abs(action.price - last_price) / last_price * _BPS
        if away > limits.price_band_bps:
            detail = f"price {action.price} is {away:.1f} bps from {last_price}"
            return _reason(action, "price_band", detail)
    return None


def _reason(action: Action, rule: str, detail: str) -> RiskReason:
    return RiskReason(intent_id=action.intent_id, rule=rule, detail=detail)


def screen(
    actions: Iterable[Action],
    limits: RiskLimits,
    *,
    live_count: int,
    last_price: Decimal | None,
    market: MarketInfo | None = None,
) -> tuple[tuple[Action, ...], tuple[RiskReason, ...]]:
    """Split `actions` (in plan order) into those to execute and reasons for the others."""
    if limits.none:
        return tuple(actions), ()
    kept: list[Action] = []
    reasons: list[RiskReason] = []
    ordered = list(actions)
    open_count = live_count - sum(1 for a in ordered if a.kind is ActionKind.CANCEL)
    cap = limits.max_open_orders_per_key
    for action in ordered:
        reason = check_action(action, limits, last_price, market)
        if reason is None and action.kind is ActionKind.PLACE and cap is not None:
            if open_count >= cap:
                reason = _reason(action, "max_open_orders", f"{cap} open orders already")
            else:
                open_count += 1
        if reason is None:
            kept.append(action)
        else:
            reasons.append(reason)
    return tuple(kept), tuple(reasons)
